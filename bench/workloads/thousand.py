"""1,000 instances, side by side with PM2 (fork mode, `instances: 1000`) and supervisord
(`numprocs=1000`), every child the announcing sleep:

- start 1,000 from nothing until the start command returned and all 1,000 announced (the
  same children from a bare Popen loop in the same rotation: the floor);
- `status` (the table) and `status --json` (PM2: `pm2 jlist`; supervisorctl has no JSON);
- shutdown: the tool's stop (`procman shutdown`, `pm2 kill`, `supervisorctl shutdown`)
  until the manager and all 1,000 children are gone;
- the manager's RSS with 100 and with 1,000 instances: the slope per added instance;
- procman sampling 1,000 instances every 2 s (`max_memory` set, so it samples), its CPU
  over a 20 s window as % of one core, beside the same daemon idle with nothing that
  samples and, for context, PM2's and supervisord's idle CPU with 1,000.

Rounds rotate the tools (side.interleave). PM2 with 1,000 processes is slow (minutes per
round on this box): its calls get long timeouts, and it runs as many rounds as the others.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import psutil

from bench import side
from bench.adapters import Manager, NotSupported, Procman, Spec, announce_argv
from bench.core import Compare, Row, Stats, WorkloadResult
from bench.project import Pool
from bench.workloads.start import popen_many

COUNT = 1000
SMALL = 100
MS = 1000.0
MIB = 1024 * 1024
PEERS = ("pm2", "supervisord")
POPEN = f"Popen {COUNT} × announce.sh (script)"
WINDOW = 20.0


def rss(m: Manager) -> float:
    total = 0
    for pid in m.memory_pids():
        try:
            total += psutil.Process(pid).memory_info().rss
        except psutil.Error:
            pass
    return total / MIB


def cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            times = psutil.Process(pid).cpu_times()
            total += times.user + times.system
        except psutil.Error:
            pass
    return total


def gone(m: Manager, pids: list[int], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while side.live(pids) or side.live(m.memory_pids()):
        if time.monotonic() > deadline:
            raise RuntimeError(f"{m.name}: {side.live(pids)} children left after shutdown")
        time.sleep(0.005)


class Round:
    """One tool's round: start 1,000, status (table, JSON), RSS, shutdown."""

    def __init__(self, pool: Pool, name: str, out: dict[str, list[float]], leftovers: list[str]):
        self.pool, self.name, self.out, self.leftovers = pool, name, out, leftovers

    def keep(self, what: str, value: float) -> None:
        self.out.setdefault(f"{self.name}:{what}", []).append(value)

    def __call__(self) -> float:
        m = side.manager(self.pool, self.name)
        m.cli_timeout = 600.0
        try:
            t0 = time.perf_counter()
            cli = m.start(Spec(announce_argv(m.fifo()), count=COUNT, fast=True))
            done = m.wait_announced(COUNT, timeout=600)
            started = max(cli, done - t0) * MS
            time.sleep(2.0)  # settle: what the manager does after its children announced
            self.keep("rss", rss(m))
            for _ in range(3):
                self.keep("status", m.status() * MS)
            try:
                for _ in range(3):
                    self.keep("status_json", m.status_json() * MS)
            except NotSupported:
                pass
            pids = list(m.announcer.pids)
            t0 = time.perf_counter()
            m.stop_all()
            gone(m, pids, 120)
            self.keep("shutdown", (time.perf_counter() - t0) * MS)
            return started
        finally:
            side.release(self.pool, m, self.leftovers)


def small_rss(pool: Pool, name: str, leftovers: list[str]) -> float:
    m = side.manager(pool, name)
    m.cli_timeout = 300.0
    try:
        m.start(Spec(announce_argv(m.fifo()), count=SMALL, fast=True))
        m.wait_announced(SMALL, timeout=300)
        time.sleep(2.0)
        return rss(m)
    finally:
        side.release(pool, m, leftovers)


class Sleepers:
    """A procman project of COUNT announcing sleepers, with or without sampling."""

    def __init__(self, pool: Pool, sample: bool) -> None:
        self.helper = side.manager(pool, "procman")  # for its FIFO and its teardown
        argv = announce_argv(self.helper.fifo())
        text = Procman.yaml(self.helper, Spec(argv, count=COUNT, fast=True))  # type: ignore[arg-type]
        if sample:
            text = "sample_interval: 2\n" + text + "    max_memory: 1G\n"
        self.project = pool.project("thousand-sampling" if sample else "thousand-idle", text)
        self.project.cli("start", timeout=300)
        self.helper.wait_announced(COUNT, timeout=300)

    def memory_pids(self) -> list[int]:
        pid = self.project.daemon_pid()
        return [pid] if pid else []


def sampling(pool: Pool, tools: list[str], leftovers: list[str]) -> dict[str, float]:
    """CPU % of one core over WINDOW s with 1,000 idle instances: procman sampling every
    2 s and procman with nothing to sample, then the peers (all alive at once)."""
    out: dict[str, float] = {}
    alive: list[tuple[str, Any]] = []
    peers: list[Manager] = []
    try:
        alive.append(("procman sampling every 2 s", Sleepers(pool, sample=True)))
        alive.append(("procman, no sampling", Sleepers(pool, sample=False)))
        for name in tools:
            if name == "procman":
                continue
            m = side.manager(pool, name)
            m.cli_timeout = 600.0
            peers.append(m)
            m.start(Spec(announce_argv(m.fifo()), count=COUNT, fast=True))
            m.wait_announced(COUNT, timeout=600)
            alive.append((name, m))
        time.sleep(5.0)  # settle
        before = {label: cpu_seconds(m.memory_pids()) for label, m in alive}
        time.sleep(WINDOW)  # the measurement window itself
        for label, m in alive:
            out[label] = 100 * (cpu_seconds(m.memory_pids()) - before[label]) / WINDOW
        return out
    finally:
        for _, m in alive:
            if isinstance(m, Sleepers):
                leftovers.extend(m.project.teardown())
                pool.projects.remove(m.project)
                side.release(pool, m.helper, leftovers)
        for m in peers:
            side.release(pool, m, leftovers)


def run(pool: Pool, quick: bool) -> WorkloadResult:
    reps = 1 if quick else 2
    result = WorkloadResult("thousand")
    tools, na = side.available(pool, "thousand", ("procman", *PEERS))
    extra: dict[str, list[float]] = {}
    runners: dict[str, Callable[[], float]] = {
        name: Round(pool, name, extra, result.leftovers) for name in tools
    }
    runners[POPEN] = lambda: popen_many(pool, COUNT)
    samples = side.interleave(reps, 0, runners, na)
    peers = tuple(t for t in tools if t != "procman")
    got = [t for t in tools if t in samples]

    def stats(what: str, names: list[str]) -> dict[str, Stats]:
        return {n: Stats.of(extra[f"{n}:{what}"]) for n in names if extra.get(f"{n}:{what}")}

    result.compare.append(
        Compare(
            "thousand", f"start {COUNT} instances from no daemon until all run", "ms",
            tools={t: Stats.of(samples[t]) for t in got},
            na={t: r for t, r in na.items() if t in side.TOOLS},
            baselines={POPEN: Stats.of(samples[POPEN])} if POPEN in samples else {},
            versus=peers, target=0.5,
        )
    )  # fmt: skip
    if POPEN in samples and "procman" in samples:
        result.rows.append(
            Row("thousand", f"start {COUNT} vs a bare Popen loop of the same children", "ms",
                Stats.of(samples["procman"]), Stats.of(samples[POPEN]), POPEN,
                ratio_target=1.5)
        )  # fmt: skip
    result.compare.append(
        Compare("thousand", f"`status` (table), {COUNT} instances", "ms",
                tools=stats("status", got), na=dict(na), versus=peers)
    )  # fmt: skip
    json_na = {**na, "supervisord": "supervisorctl has no JSON output"}
    result.compare.append(
        Compare("thousand", f"`status --json` (PM2: `pm2 jlist`), {COUNT} instances", "ms",
                tools=stats("status_json", got), na=json_na, versus=(), limit=150)
    )  # fmt: skip
    result.compare.append(
        Compare("thousand", f"shutdown until the manager and its {COUNT} children are gone",
                "ms", tools=stats("shutdown", got), na=dict(na), versus=peers, limit=2000)
    )  # fmt: skip
    # RSS slope: one run with 100 per tool, against the 1,000-instance rounds' RSS
    slopes: dict[str, Stats] = {}
    details: dict[str, Any] = {}
    for name in got:
        try:
            small = small_rss(pool, name, result.leftovers)
        except Exception as exc:  # a peer that fails here keeps its other figures
            if name == "procman":
                raise
            na[name] = f"failed: {type(exc).__name__}: {exc}"[:300]
            continue
        big = Stats.of(extra[f"{name}:rss"]).median
        slopes[name] = Stats.of([(big - small) * 1024 / (COUNT - SMALL)])
        details[name] = {"rss_mib_100": round(small, 2), "rss_mib_1000": round(big, 2)}
    result.compare.append(
        Compare("thousand", f"manager RSS per added instance, {SMALL} → {COUNT} (KiB)", "KiB",
                tools=slopes, na=dict(na), versus=tuple(p for p in ("supervisord",) if p in got),
                versus_text="supervisord's", target=1.0)
    )  # fmt: skip
    cpu = sampling(pool, got, result.leftovers)
    details["cpu_percent_of_core"] = {k: round(v, 3) for k, v in cpu.items()}
    sampled = cpu.get("procman sampling every 2 s")
    if sampled is not None:
        result.compare.append(
            Compare(
                "thousand", f"manager CPU, {COUNT} idle instances, {WINDOW:g} s window "
                "(procman sampling every 2 s)", "% of a core",
                tools={"procman": Stats.of([sampled]),
                       **{p: Stats.of([cpu[p]]) for p in peers if p in cpu}},
                na=dict(na),
                baselines={"procman, no sampling": Stats.of([cpu["procman, no sampling"]])},
                limit=2.0,
            )
        )  # fmt: skip
    result.extra["thousand"] = details
    return result
