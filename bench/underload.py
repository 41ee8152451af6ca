"""An operation on a running formation under steady HTTP load, procman beside PM2 cluster
mode: what `reload` and `update` measure (bench/workloads/reload.py, update.py).

COUNT instances of examples/app.py on held sockets under procman, COUNT workers of
programs/node_app.js under PM2. Each run: steady load (wrk, one thread, 32 connections, or
the bundled generator) for the whole run, the operation at +LEAD_S, timed as a whole CLI
call; the run lasts long enough for the operation to end well inside it. Failed =
connect/read/write errors, timeouts (> 2 s) and non-2xx answers. A steady run (the same
load, no operation) is each manager's baseline in the same rotation. Rounds rotated.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterable
from typing import Any

from bench import load, side
from bench.adapters import Procman, Spec
from bench.core import Compare, Stats, WorkloadResult
from bench.project import PYTHON, Pool
from bench.workloads.http import APP, NODE_APP, free_port, pids_answering

COUNT = 4
LEAD_S = 1.0  # load before the operation starts
TAIL_S = 1.5  # load after it should have ended
MAX_RUN_S = 20.0
STEADY_S = 3.0

Op = Callable[[], float] | None  # a timed operation; None: the steady baseline
#: (the load's figures, pids answering before, after) -> this workload's extra figures
Extra = Callable[[dict[str, Any], set[int], set[int]], dict[str, float]]


class UnderLoad:
    def __init__(self, pool: Pool, workload: str, others: str) -> None:
        """others: why supervisord, circus and honcho are not in this workload."""
        self.pool, self.workload = pool, workload
        self.result = WorkloadResult(workload)
        self.result.extra["load_generator"] = load.generator_version()
        self.tools, self.na = side.available(pool, workload, ("procman", "pm2"))
        for name in ("supervisord", "circus", "honcho"):
            self.na[name] = others
        self.ops: dict[str, tuple[int, Op]] = {}
        self.figures: dict[str, dict[str, list[float]]] = {}

    def procman(self, ops: Callable[[Procman], dict[str, Op]]) -> None:
        port = free_port()
        procman = side.manager(self.pool, "procman")
        assert isinstance(procman, Procman)
        procman.start(Spec([PYTHON, APP], count=COUNT, name="web", port=port,
                           env={"APP_ACCESS_LOG": "0"}))  # fmt: skip
        pids_answering(port, COUNT)
        self.ops.update({name: (port, op) for name, op in ops(procman).items()})

    def pm2(self, ops: Callable[[Any], dict[str, Op]]) -> None:
        node = shutil.which("node")
        if "pm2" not in self.tools:
            return
        if not node:
            self.na["pm2"] = "node is not installed"
            return
        port = free_port()
        pm2 = side.manager(self.pool, "pm2")

        def up() -> None:
            pm2.start(Spec([node, NODE_APP], count=COUNT, name="web", cluster=True,
                           env={"PORT": str(port)}))  # fmt: skip
            pids_answering(port, COUNT)

        if side.setup("pm2", up, self.na):
            self.ops.update({name: (port, op) for name, op in ops(pm2).items()})

    def measure(self, reps: int, critical: Iterable[str], extra: Extra) -> None:
        """Each operation once without load (to size its runs), then reps rounds under it."""
        durations = {}
        for name, (p, op) in self.ops.items():
            if op is not None:
                durations[name] = op()
                pids_answering(p, COUNT)
        self.result.extra["unloaded_durations_s"] = {k: round(v, 3) for k, v in durations.items()}
        runs: list[dict[str, Any]] = []

        def once(name: str) -> float:
            p, op = self.ops[name]
            seconds = STEADY_S
            if op is not None:
                seconds = min(MAX_RUN_S, LEAD_S + 1.3 * durations[name] + TAIL_S)
            before = pids_answering(p, COUNT)
            proc = load.start(self.pool, p, seconds)
            took = None
            if op is not None:
                time.sleep(LEAD_S)  # the load's own lead time, not a synchronisation
                took = op()
            got = load.finish(self.pool, proc, timeout=seconds + 30)
            after = pids_answering(p, COUNT)  # every slot serves again before the next run
            total = got["requests"] + got["failed"]
            row = {
                "failed": float(got["failed"]),
                "failed_pct": 100.0 * got["failed"] / total if total else 0.0,
                "p99_ms": got["latency_ms"]["p99"] or 0.0,
                **extra(got, before, after),
            }
            if took is not None:
                row["duration_s"] = took
                if took > seconds - LEAD_S:
                    self.result.notes.append(
                        f"{name}: took {took:.1f}s, longer than its load ({seconds}s)"
                    )
            runs.append({"op": name, "seconds": seconds, "requests": got["requests"],
                         "errors": got["errors"], **row})  # fmt: skip
            for key, value in row.items():
                self.figures.setdefault(name, {}).setdefault(key, []).append(value)
            return row["failed"]

        runners = {name: (lambda name=name: once(name)) for name in self.ops}
        side.interleave(reps, 0, runners, self.na, critical=tuple(critical))
        self.result.extra["runs"] = runs

    def stats(self, name: str, key: str) -> Stats | None:
        values = self.figures.get(name, {}).get(key)
        return Stats.of(values) if values else None

    def row(
        self, ops: tuple[str, str], metric: str, unit: str, key: str,
        baselines: dict[str, str], **kw: Any,
    ) -> Compare:  # fmt: skip
        """One figure: procman's operation and PM2's (ops), beside the named baselines."""
        tools = {"procman": self.stats(ops[0], key), "pm2": self.stats(ops[1], key)}
        bases = {label: self.stats(name, key) for label, name in baselines.items()}
        return Compare(
            self.workload, metric, unit,
            tools={k: v for k, v in tools.items() if v is not None},
            na={t: r for t, r in self.na.items() if t in side.TOOLS},
            baselines={k: v for k, v in bases.items() if v is not None}, **kw,
        )  # fmt: skip
