"""The workloads, in the order a full run takes them. Each one is
`run(pool, quick) -> WorkloadResult` and only starts processes through the pool."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bench.core import WorkloadResult
from bench.project import Pool
from bench.workloads import idle, logs, restart, scale, start, status


@dataclass(frozen=True)
class Workload:
    name: str
    run: Callable[[Pool, bool], WorkloadResult]
    limit: float  # seconds before the workload is abandoned
    summary: str


WORKLOADS: dict[str, Workload] = {
    w.name: w
    for w in (
        Workload("restart", restart.run, 90, "SIGKILL -> replacement exec'd (events stream)"),
        Workload("status", status.run, 90, "`procman status` as a whole CLI process"),
        Workload("start", start.run, 150, "start 100 from no daemon; scale 0 -> 100"),
        Workload("scale", scale.run, 90, "`procman scale w=8` from 2, whole CLI"),
        Workload("idle", idle.run, 120, "idle daemon with 100 instances: PSS, RSS, CPU"),
        Workload("logs", logs.run, 150, "200 MB of 100-byte lines through the log capture"),
    )
}
