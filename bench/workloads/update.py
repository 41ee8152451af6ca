"""Upgrading the manager under load: failed requests, instances restarted, and how long it
takes.

- `procman update`: 4 instances of examples/app.py on held sockets; the daemon execs the
  installed code in place and takes the instances over (docs/upgrade.md);
- `procman restart web`: what the same formation pays when its instances restart;
- `pm2 update`: PM2 cluster mode, 4 workers of programs/node_app.js; PM2 saves its list,
  kills its daemon with every app, starts a new daemon and resurrects the list.

Both managers run the version they are: the figures are those of the mechanism, not of a
version change. Each run: steady load (wrk, one thread, 32 connections, or the bundled
generator) for the whole run, the operation at +1 s, timed as a whole CLI call. Failed =
connect/read/write errors, timeouts (> 2 s) and non-2xx answers. "Restarted" = the pids
answering before the run that no longer answer after it. Baselines in the same rotation:
the same load with no operation. Rounds rotated.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
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
UPDATE, RESTART, PM2_UPDATE = "procman update", "procman restart", "pm2 update"
STEADY, PM2_STEADY = "procman, no update", "pm2, no update"


def run(pool: Pool, quick: bool) -> WorkloadResult:
    reps = 2 if quick else 3
    result = WorkloadResult("update")
    result.extra["load_generator"] = load.generator_version()
    tools, na = side.available(pool, "update", ("procman", "pm2"))
    for name in ("supervisord", "circus", "honcho"):
        na[name] = "not in this workload (it compares procman with PM2's own update)"

    port = free_port()
    procman = side.manager(pool, "procman")
    assert isinstance(procman, Procman)
    procman.start(Spec([PYTHON, APP], count=COUNT, name="web", port=port,
                       env={"APP_ACCESS_LOG": "0"}))  # fmt: skip
    pids_answering(port, COUNT)
    ops: dict[str, tuple[int, Callable[[], float] | None]] = {
        UPDATE: (port, lambda: procman.cli("update")),
        RESTART: (port, lambda: procman.cli("restart", "web")),
        STEADY: (port, None),
    }
    node = shutil.which("node")
    if "pm2" in tools and node:
        pm2_port = free_port()
        pm2 = side.manager(pool, "pm2")

        def pm2_up() -> None:
            pm2.start(Spec([node, NODE_APP], count=COUNT, name="web", cluster=True,
                           env={"PORT": str(pm2_port)}))  # fmt: skip
            pids_answering(pm2_port, COUNT)

        if side.setup("pm2", pm2_up, na):
            ops[PM2_UPDATE] = (pm2_port, pm2.update)  # type: ignore[attr-defined]
            ops[PM2_STEADY] = (pm2_port, None)
    elif "pm2" in tools:
        na["pm2"] = "node is not installed"

    # How long each operation takes without load, to size the runs (not kept).
    durations = {}
    for name, (p, op) in ops.items():
        if op is not None:
            durations[name] = op()
            pids_answering(p, COUNT)
    result.extra["unloaded_durations_s"] = {k: round(v, 3) for k, v in durations.items()}
    runs: list[dict[str, Any]] = []
    figures: dict[str, dict[str, list[float]]] = {}

    def once(name: str) -> float:
        p, op = ops[name]
        seconds = STEADY_S
        if op is not None:
            seconds = min(MAX_RUN_S, LEAD_S + 1.3 * durations[name] + TAIL_S)
        before = pids_answering(p, COUNT)
        proc = load.start(pool, p, seconds)
        took = None
        if op is not None:
            time.sleep(LEAD_S)  # the load's own lead time, not a synchronisation
            took = op()
        got = load.finish(pool, proc, timeout=seconds + 30)
        after = pids_answering(p, COUNT)  # every slot serves again before the next run
        total = got["requests"] + got["failed"]
        row = {
            "failed": float(got["failed"]),
            "failed_pct": 100.0 * got["failed"] / total if total else 0.0,
            "restarted": float(len(before - after)),
            "p99_ms": got["latency_ms"]["p99"] or 0.0,
        }
        if took is not None:
            row["duration_s"] = took
            if took > seconds - LEAD_S:
                result.notes.append(f"{name}: took {took:.1f}s, longer than its load ({seconds}s)")
        runs.append({"op": name, "seconds": seconds, "requests": got["requests"],
                     "errors": got["errors"], **row})  # fmt: skip
        for key, value in row.items():
            figures.setdefault(name, {}).setdefault(key, []).append(value)
        return row["failed"]

    runners = {name: (lambda name=name: once(name)) for name in ops}
    side.interleave(reps, 0, runners, na, critical=(UPDATE, RESTART, STEADY))
    result.extra["runs"] = runs

    def stats(name: str, key: str) -> Stats | None:
        values = figures.get(name, {}).get(key)
        return Stats.of(values) if values else None

    def row(metric: str, unit: str, key: str, baselines: dict[str, str], **kw: Any) -> Compare:
        tools_ = {"procman": stats(UPDATE, key), "pm2": stats(PM2_UPDATE, key)}
        bases = {label: stats(name, key) for label, name in baselines.items()}
        return Compare(
            "update", metric, unit,
            tools={k: v for k, v in tools_.items() if v is not None},
            na={t: r for t, r in na.items() if t in side.TOOLS},
            baselines={k: v for k, v in bases.items() if v is not None}, **kw,
        )  # fmt: skip

    result.compare += [
        row(f"requests failed while the manager of {COUNT} instances updates", "requests",
            "failed", {"`procman restart web`": RESTART, "procman, no update": STEADY,
                       "pm2, no update": PM2_STEADY},
            limit=0, limit_stat="max"),
        row(f"instances restarted by the update (of {COUNT})", "instances", "restarted",
            {"`procman restart web`": RESTART}, limit=0, limit_stat="max"),
        row("p99 latency during the update", "ms", "p99_ms",
            {"procman, no update": STEADY, "pm2, no update": PM2_STEADY}),
        row("the update, whole CLI call", "s", "duration_s",
            {"`procman restart web`": RESTART}),
    ]  # fmt: skip
    return result
