"""Start 100 instances from nothing, every tool in turn: from no daemon (a fresh temp dir
each time) until the tool's start command has returned and all 100 children have announced
themselves on the FIFO (programs/announce.sh), whichever comes last. Each tool's own start:
`procman start`, `pm2 start ecosystem.json`, `supervisord -c conf` (daemonizes, then
spawns), `circusd --daemon circus.ini`, `honcho start -c w=100` (foreground). Teardown is
outside the timing.

Baseline in the same rotation: a Python script that Popens the same 100 children, timed
from its launch to the 100th announcement. Plus, for procman alone: `procman scale w=100`
from 0 on a running daemon (no daemon start in it).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench import side
from bench.adapters import Announcer, Procman, Spec, announce_argv
from bench.core import Compare, Row, Stats, WorkloadResult
from bench.project import PROGRAMS, PYTHON, Pool

COUNT = 100
MS = 1000.0
POPEN = f"Popen {COUNT} × announce.sh (script)"


def start_once(pool: Pool, name: str, leftovers: list[str]) -> float:
    m = side.manager(pool, name)
    try:
        t0 = time.perf_counter()
        cli = m.start(Spec(announce_argv(m.fifo()), count=COUNT))
        done = m.wait_announced(COUNT, timeout=60)
        return max(cli, done - t0) * MS
    finally:
        side.release(pool, m, leftovers)


def popen_many(pool: Pool, count: int = COUNT) -> float:
    scratch = Path(tempfile.mkdtemp(prefix="pmb-popen-", dir="/tmp"))
    announcer = Announcer(scratch)
    try:
        t0 = time.perf_counter()
        proc = pool.helper(
            [PYTHON, str(PROGRAMS / "spawn_many.py"), str(count), *announce_argv(announcer.path)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        )  # fmt: skip
        done = announcer.wait(count, timeout=60 + count / 10)
        assert proc.stdin is not None and proc.stdout is not None
        if proc.stdout.readline().strip() != b"ready":
            raise RuntimeError("spawn_many did not start its children")
        proc.stdin.close()
        proc.wait(30)
        proc.stdout.close()
        pool.helpers.remove(proc)
        return (done - t0) * MS
    finally:
        announcer.close()
        shutil.rmtree(scratch, ignore_errors=True)


def run(pool: Pool, quick: bool) -> WorkloadResult:
    reps, warmup = (2, 0) if quick else (4, 1)
    result = WorkloadResult("start")
    tools, na = side.available(pool, "start")
    leftovers = result.leftovers
    runners: dict[str, Callable[[], float]] = {
        name: (lambda name=name: start_once(pool, name, leftovers)) for name in tools
    }
    runners[POPEN] = lambda: popen_many(pool)
    warm = side.manager(pool, "procman")
    assert isinstance(warm, Procman)
    warm.start(Spec(announce_argv(warm.fifo()), count=0))

    def scale_once() -> float:
        t0 = time.perf_counter()
        cli = warm.scale(COUNT)
        done = warm.wait_announced(COUNT, timeout=60)
        elapsed = max(cli, done - t0)
        warm.scale(0)
        return elapsed * MS

    runners["scale"] = scale_once
    samples = side.interleave(reps, warmup, runners, na)
    peers = tuple(t for t in tools if t != "procman")
    result.compare.append(
        Compare(
            "start", f"start {COUNT} instances from no daemon until all run", "ms",
            tools={t: Stats.of(samples[t]) for t in tools if t in samples},
            na={t: r for t, r in na.items() if t in side.TOOLS},
            baselines={POPEN: Stats.of(samples[POPEN])},
            versus=peers, target=0.75,
        )
    )  # fmt: skip
    result.rows.append(
        Row("start", f"(diagnostic) `procman scale w={COUNT}` from 0, daemon running", "ms",
            Stats.of(samples["scale"]), Stats.of(samples[POPEN]), POPEN)
    )  # fmt: skip
    return result
