"""Reload under load: requests failed, p99 latency, and how long the operation takes.

- `procman reload web`: 4 instances of examples/app.py on held sockets (rolling: each
  slot's replacement starts on the slot's listener, must be ready and settled, then the old
  one is steered around, drained and stopped);
- `procman restart web`: the same formation stopped and started (no rolling);
- `pm2 reload web`: PM2 cluster mode, 4 workers of programs/node_app.js (graceful stop on
  SIGINT, as PM2's docs ask).

How each run goes is in bench/underload.py. Baselines in the same rotation: the same load
with no operation (steady p99, and the failures a setup has without any reload).
"""

from __future__ import annotations

from typing import Any

from bench.core import WorkloadResult
from bench.project import Pool
from bench.underload import COUNT, UnderLoad

RELOAD, RESTART, PM2_RELOAD = "procman reload", "procman restart", "pm2 reload"
STEADY, PM2_STEADY = "procman, no reload", "pm2, no reload"


def run(pool: Pool, quick: bool) -> WorkloadResult:
    runs = UnderLoad(
        pool, "reload", "not in this workload (the issue compares procman with PM2 cluster mode)"
    )
    runs.procman(lambda procman: {
        RELOAD: lambda: procman.cli("reload", "web"),
        RESTART: lambda: procman.cli("restart", "web"),
        STEADY: None,
    })  # fmt: skip
    runs.pm2(lambda pm2: {PM2_RELOAD: pm2.reload, PM2_STEADY: None})

    def extra(got: dict[str, Any], before: set[int], after: set[int]) -> dict[str, float]:
        return {"max_ms": got["latency_ms"]["max"] or 0.0}

    runs.measure(2 if quick else 3, (RELOAD, RESTART, STEADY), extra)
    ops = (RELOAD, PM2_RELOAD)
    runs.result.compare += [
        runs.row(ops, f"requests failed during a rolling reload of {COUNT}", "requests", "failed",
            {"`procman restart web` (not rolling)": RESTART, "procman, no reload": STEADY,
             "pm2, no reload": PM2_STEADY},
            limit=0, limit_stat="max"),
        runs.row(ops, "the same, as a share of requests", "%", "failed_pct",
            {"`procman restart web`": RESTART}, note="PM2's users report ~2 %"),
        runs.row(ops, "p99 latency during the reload", "ms", "p99_ms",
            {"`procman restart web`": RESTART, "procman, no reload": STEADY,
             "pm2, no reload": PM2_STEADY}),
        runs.row(ops, f"reload of {COUNT} instances, whole CLI call", "s", "duration_s",
            {"`procman restart web`": RESTART}),
    ]  # fmt: skip
    return runs.result
