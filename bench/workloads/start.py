"""Start 100 instances: `procman start` from no daemon until the command returns (all
running), and `procman scale sleeper=100` from 0 on a running daemon; shutdown / scale back
outside the timing. Baseline: a Python script that Popens 100 `sleep 1000` and reports once
they all exist, timed the same way (process launch to its answer)."""

from __future__ import annotations

import subprocess
import time

from bench.core import Row, Stats, WorkloadResult
from bench.project import PROGRAMS, PYTHON, Pool, Project

COUNT = 100
MS = 1000.0


def formation(instances: int) -> str:
    return f"processes:\n  sleeper:\n    cmd: sleep 1000\n    instances: {instances}\n"


def spawn_many(pool: Pool) -> float:
    t0 = time.perf_counter()
    proc = pool.helper(
        [PYTHON, str(PROGRAMS / "spawn_many.py"), str(COUNT)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert proc.stdin is not None and proc.stdout is not None
    line = proc.stdout.readline()
    elapsed = time.perf_counter() - t0
    if line.strip() != b"ready":
        raise RuntimeError(f"spawn_many said {line!r}")
    proc.stdin.close()
    proc.wait(30)
    proc.stdout.close()
    pool.helpers.remove(proc)
    return elapsed


def running(project: Project) -> int:
    return sum(1 for r in project.instances() if r["state"] == "running")


def run(pool: Pool, quick: bool) -> WorkloadResult:
    reps = 3 if quick else 6
    result = WorkloadResult("start")
    cold = pool.project("start", formation(COUNT))
    warm = pool.project("scale100", formation(0))
    warm.cli("start")
    samples: dict[str, list[float]] = {"start": [], "scale": [], "base": []}
    for _ in range(reps):
        samples["start"].append(cold.cli("start") * MS)
        if running(cold) != COUNT:
            raise RuntimeError(f"start returned with {running(cold)} of {COUNT} running")
        cold.shutdown()
        samples["base"].append(spawn_many(pool) * MS)
        samples["scale"].append(warm.cli("scale", f"sleeper={COUNT}") * MS)
        if running(warm) != COUNT:
            raise RuntimeError(f"scale returned with {running(warm)} of {COUNT} running")
        warm.call("scale", {"counts": {"sleeper": "0"}})
        samples["base"].append(spawn_many(pool) * MS)
    base = Stats.of(samples["base"])
    label = f"Popen {COUNT} × sleep (script)"
    result.rows.append(
        Row("start", f"`procman start`, {COUNT} instances, no daemon", "ms",
            Stats.of(samples["start"]), base, label, 300, "≤ 300 ms")
    )  # fmt: skip
    result.rows.append(
        Row("start", f"`procman scale sleeper={COUNT}` from 0", "ms",
            Stats.of(samples["scale"]), base, label, 300, "≤ 300 ms")
    )  # fmt: skip
    return result
