"""Upgrading the manager under load: failed requests, instances restarted, and how long it
takes.

- `procman update`: 4 instances of examples/app.py on held sockets; the daemon execs the
  installed code in place and takes the instances over (docs/upgrade.md);
- `procman restart web`: what the same formation pays when its instances restart;
- `pm2 update`: PM2 cluster mode, 4 workers of programs/node_app.js; PM2 saves its list,
  kills its daemon with every app, starts a new daemon and resurrects the list.

Both managers run the version they are: the figures are those of the mechanism, not of a
version change. How each run goes is in bench/underload.py. "Restarted" = the pids
answering before the run that no longer answer after it. Baselines in the same rotation:
the same load with no operation.
"""

from __future__ import annotations

from typing import Any

from bench.core import WorkloadResult
from bench.project import Pool
from bench.underload import COUNT, UnderLoad

UPDATE, RESTART, PM2_UPDATE = "procman update", "procman restart", "pm2 update"
STEADY, PM2_STEADY = "procman, no update", "pm2, no update"


def run(pool: Pool, quick: bool) -> WorkloadResult:
    runs = UnderLoad(
        pool, "update", "not in this workload (it compares procman with PM2's own update)"
    )
    runs.procman(lambda procman: {
        UPDATE: lambda: procman.cli("update"),
        RESTART: lambda: procman.cli("restart", "web"),
        STEADY: None,
    })  # fmt: skip
    runs.pm2(lambda pm2: {PM2_UPDATE: pm2.update, PM2_STEADY: None})

    def extra(got: dict[str, Any], before: set[int], after: set[int]) -> dict[str, float]:
        return {"restarted": float(len(before - after))}

    runs.measure(2 if quick else 3, (UPDATE, RESTART, STEADY), extra)
    ops = (UPDATE, PM2_UPDATE)
    runs.result.compare += [
        runs.row(ops, f"requests failed while the manager of {COUNT} instances updates",
            "requests", "failed", {"`procman restart web`": RESTART,
                                   "procman, no update": STEADY, "pm2, no update": PM2_STEADY},
            limit=0, limit_stat="max"),
        runs.row(ops, f"instances restarted by the update (of {COUNT})", "instances",
            "restarted", {"`procman restart web`": RESTART}, limit=0, limit_stat="max"),
        runs.row(ops, "p99 latency during the update", "ms", "p99_ms",
            {"procman, no update": STEADY, "pm2, no update": PM2_STEADY}),
        runs.row(ops, "the update, whole CLI call", "s", "duration_s",
            {"`procman restart web`": RESTART}),
    ]  # fmt: skip
    return runs.result
