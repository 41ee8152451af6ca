"""The workloads, in the order a full run takes them. Each one is
`run(pool, quick) -> WorkloadResult`, only starts processes through the pool (or adapters
the pool tears down), and runs every tool that can take part in turn (pool.peers)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bench.core import WorkloadResult
from bench.project import Pool
from bench.workloads import (
    autoscale,
    http,
    idle,
    logs,
    pools,
    reload,
    restart,
    scale,
    start,
    status,
    thousand,
    update,
    watch,
)


@dataclass(frozen=True)
class Workload:
    name: str
    run: Callable[[Pool, bool], WorkloadResult]
    limit: float  # seconds before the workload is abandoned
    summary: str
    peers: tuple[str, ...] = ("pm2", "supervisord", "circus", "honcho")  # who takes part
    on_demand: bool = False  # run only when named (too long for every run)


WORKLOADS: dict[str, Workload] = {
    w.name: w
    for w in (
        Workload("status", status.run, 120, "CLI status round trip, 4 instances"),
        Workload("restart", restart.run, 150, "SIGKILL a child -> its replacement runs"),
        Workload(
            "restart-defaults",
            restart.run_defaults,
            240,
            "SIGKILL one of 4 children -> its replacement runs, default settings",
            ("pm2",),
        ),  # fmt: skip
        Workload("start", start.run, 240, "start 100 instances from no daemon until all run"),
        Workload("scale", scale.run, 150, "scale 2 -> 8 until all run"),
        Workload("idle", idle.run, 240, "100 idle instances: manager memory and CPU"),
        Workload("logs", logs.run, 420, "200 MB of 100-byte lines through each log capture"),
        Workload(
            "http", http.run, 300, "HTTP req/s through the shared port, 1/2/4 instances", ("pm2",)
        ),
        Workload(
            "reload", reload.run, 300, "failed requests and p99 during a rolling reload", ("pm2",)
        ),
        Workload("update", update.run, 300, "the manager upgraded in place under load", ("pm2",)),
        Workload("watch", watch.run, 420, "watch: idle CPU over 20,000 files; write -> reload", ()),
        Workload(
            "autoscale",
            autoscale.run,
            1200,
            "a step of load: time to enough, p99, queue vs cpu",
            (),
        ),
        Workload(
            "pools", pools.run, 300, "PostgreSQL connections scaling 2 → 8: fixed pool vs share", ()
        ),
        Workload(
            "thousand",
            thousand.run,
            3000,
            "1,000 instances: start, status, shutdown, RSS, CPU",
            ("pm2", "supervisord"),
            on_demand=True,
        ),
    )
}
