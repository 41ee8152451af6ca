"""Scale 2 -> 8, every tool that can in turn: the tool's scale command as a whole process,
timed until it returned and the 6 new children announced themselves, whichever is last;
scaled back to 2 outside the timing. `procman scale w=8`, `pm2 scale w 8`,
`circusctl incr w 6`, and supervisord with a pre-declared pool (numprocs=8, 2 started):
`supervisorctl start w:w_02 ... w:w_07`, the only way it scales. Honcho cannot.
Each tool with its fastest settings (as in the restart workload): supervisord's
`startsecs=0` matters here, since `supervisorctl start` waits `startsecs` (default 1 s)
for each process it starts, one after another.
Baseline in the same rotation: `python -c pass`."""

from __future__ import annotations

import time
from collections.abc import Callable

from bench import side
from bench.adapters import Manager, Spec, announce_argv
from bench.core import Compare, Stats, WorkloadResult
from bench.project import Pool
from bench.workloads.status import PASS, python_pass

MS = 1000.0
LOW, HIGH = 2, 8


def runner(m: Manager) -> Callable[[], float]:
    def once() -> float:
        m.announcer.drain()
        t0 = time.perf_counter()
        cli = m.scale(HIGH)
        done = m.wait_announced(HIGH - LOW, timeout=30)
        elapsed = max(cli, done - t0)
        m.scale(LOW)
        side.wait_live(m, LOW)
        return elapsed * MS

    return once


def run(pool: Pool, quick: bool) -> WorkloadResult:
    reps, warmup = (4, 1) if quick else (8, 2)
    result = WorkloadResult("scale")
    tools, na = side.available(pool, "scale")
    runners: dict[str, Callable[[], float]] = {}
    for name in tools:
        m = side.manager(pool, name)

        def start(m: Manager = m) -> None:
            m.start(Spec(announce_argv(m.fifo()), count=LOW, pool_size=HIGH, fast=True))
            m.wait_announced(LOW)

        if side.setup(name, start, na):
            runners[name] = runner(m)
    runners[PASS] = lambda: python_pass(pool) * MS
    samples = side.interleave(reps, warmup, runners, na)
    peers = tuple(t for t in tools if t != "procman")
    result.compare.append(
        Compare(
            "scale", f"scale {LOW} → {HIGH} until all run", "ms",
            tools={t: Stats.of(samples[t]) for t in tools if t in samples},
            na={t: r for t, r in na.items() if t in side.TOOLS},
            baselines={PASS: Stats.of(samples[PASS])},
            versus=peers, target=0.6,
            note="supervisord: numprocs=8 declared, 2 started; scaled with supervisorctl start",
        )
    )  # fmt: skip
    return result
