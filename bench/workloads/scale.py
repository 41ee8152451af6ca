"""`procman scale w=8` from 2 as a whole CLI call (back to 2 outside the timing), against
`python -c pass`."""

from __future__ import annotations

from bench.core import Row, Stats, WorkloadResult
from bench.project import Pool
from bench.workloads.status import python_pass

YAML = """\
processes:
  w:
    cmd: sleep 1000
    instances: 2
"""
MS = 1000.0


# ratio target: 80 ms over python -c pass's 36 ms, both measured earlier on this box


def run(pool: Pool, quick: bool) -> WorkloadResult:
    reps, warmup = (5, 1) if quick else (12, 2)
    result = WorkloadResult("scale")
    project = pool.project("scale", YAML)
    project.cli("start")
    procman: list[float] = []
    base: list[float] = []
    for i in range(warmup + reps):
        a = project.cli("scale", "w=8")
        running = sum(1 for r in project.instances() if r["state"] == "running")
        if running != 8:
            raise RuntimeError(f"scale w=8 returned with {running} running")
        b = python_pass(pool)
        project.call("scale", {"counts": {"w": "2"}})
        if len(project.instances()) != 2:
            raise RuntimeError("scale w=2 left more than 2 instances")
        if i >= warmup:
            procman.append(a * MS)
            base.append(b * MS)
    result.rows.append(
        Row("scale", "`procman scale w=8` from 2", "ms", Stats.of(procman), Stats.of(base),
            "python -c pass", 80, "≤ 80 ms", ratio_target=80 / 36)
    )  # fmt: skip
    return result
