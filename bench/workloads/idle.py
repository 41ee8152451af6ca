"""Idle footprint with 100 idle instances, every tool in turn: the manager's own memory
(the daemon; for honcho, which has none, its foreground process and the helper process it
forks per child) and its CPU seconds over 20 idle seconds.

Memory: one tool at a time, alone (a tool started beside another Python daemon would share
libpython's pages with it and show a smaller PSS): start 100 children, let it settle,
sample PSS / RSS / USS three times, tear it down; rounds rotated. PSS still depends on what
else on the box maps the same files (other Python processes share libpython); USS does not.
Baselines in the same rotation, each alive only for its own sample: an idle bare
interpreter, and one that imported the stack such a daemon needs (asyncio without ssl,
psutil, json, logging).

CPU: all tools at once, each with its 100 children, over one window of 20 s, from
schedstat (ns) of every thread of the manager's processes: one figure per tool (n=1; the
window's four quarters are in the JSON, to show a periodic timer). A timer with a longer
period than the window (PM2's 30 s worker) may or may not fall inside it. Plus which heavy
modules procman's daemon imports."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import psutil

from bench import side
from bench.adapters import Manager, Spec, announce_argv
from bench.core import Compare, Row, Stats, WorkloadResult
from bench.project import PROGRAMS, PYTHON, Pool

COUNT = 100
WINDOW = 20.0  # seconds
MIB = 1024 * 1024
# ssl is left out: a blocked import (sys.modules["ssl"] = None) still prints an importtime
# line, so OpenSSL is looked for in the daemon's memory map instead.
HEAVY = ("click", "rich", "yaml", "psutil", "asyncio", "dotenv", "ctypes", "logging", "json")
STACK_MODULES = "!ssl,asyncio,psutil,json,logging"  # ssl kept out, as procman.daemon does
SAMPLES_PER_TOOL = 3
CPU_SLICES = 4


def idle_interpreter(pool: Pool, modules: str) -> subprocess.Popen:
    proc = pool.helper(
        [PYTHON, str(PROGRAMS / "idle.py"), modules], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert proc.stdout is not None
    if proc.stdout.readline().strip() != b"ready":
        raise RuntimeError("idle interpreter did not start")
    return proc


def memory(pids: list[int]) -> tuple[float, float, float]:
    """(PSS, RSS, USS) in MiB, summed over the processes."""
    total = [0.0, 0.0, 0.0]
    for pid in pids:
        info = psutil.Process(pid).memory_full_info()
        total[0] += info.pss / MIB
        total[1] += info.rss / MIB
        total[2] += info.uss / MIB
    return total[0], total[1], total[2]


def cpu_seconds(pid: int) -> float:
    """CPU time of every thread, from schedstat (ns; cpu_times() ticks only every 10 ms)."""
    total = 0
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return 0.0
    for task in tasks:
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (OSError, ValueError):
            continue
    return total / 1e9


def mapped_files(pid: int) -> set[str]:
    paths = set()
    for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
        fields = line.split()
        if len(fields) >= 6 and fields[5].startswith("/"):
            paths.add(fields[5])
    return paths


def extension_modules(paths: set[str]) -> list[str]:
    """C extension modules mapped into the process (pure-Python modules do not show here)."""
    return sorted(
        {Path(p).name.split(".")[0] for p in paths if "site-packages" in p or "lib-dynload" in p}
    )


def daemon_imports(pool: Pool) -> dict[str, Any]:
    """Start one daemon the way `procman start` does but under -X importtime, load a
    formation, ask for status, shut down: every module it imported, before and after it
    detached (its stderr then goes to daemon.log)."""
    project = pool.project("imports", "processes:\n  sleeper:\n    cmd: sleep 1000\n")
    before = project.scratch / "importtime.txt"
    subprocess.run(
        [PYTHON, str(PROGRAMS / "importtime_daemon.py"), str(project.dir), str(before)],
        cwd=project.dir, env=project.env, timeout=30, check=True,
    )  # fmt: skip
    project.cli("start")
    project.cli("status")
    project.shutdown()
    text = before.read_text() + (project.home / "daemon.log").read_text()
    names = set()
    for line in text.splitlines():
        if line.startswith("import time:") and "imported package" not in line:
            names.add(line.rsplit("|", 1)[1].strip())
    return {
        "modules": len(names),
        "heavy": {m: m in names for m in HEAVY},
    }


SETTLE = 2.0  # seconds after the 100th child before sampling
BARE = "idle bare python"
STACK = "idle python + asyncio (no ssl), psutil, json, logging"
MODULES = {BARE: "", STACK: STACK_MODULES}


def start_100(m: Manager) -> None:
    m.start(Spec(announce_argv(m.fifo()), count=COUNT))
    m.wait_announced(COUNT, timeout=60)


def baseline_sample(pool: Pool, modules: str) -> tuple[float, float, float]:
    proc = idle_interpreter(pool, modules)
    time.sleep(0.1)
    sample = memory([proc.pid])
    assert proc.stdin is not None
    proc.stdin.close()
    proc.wait(10)
    pool.helpers.remove(proc)
    return sample


def memory_phase(
    pool: Pool, tools: list[str], rounds: int, na: dict[str, str], result: WorkloadResult
) -> dict[str, list[tuple[float, float, float]]]:
    """One tool (or baseline) alive at a time, rotated over rounds."""
    mem: dict[str, list[tuple[float, float, float]]] = {}
    names = [*tools, BARE, STACK]
    for i in range(rounds):
        shift = i % len(names)
        for name in names[shift:] + names[:shift]:
            if name in na:
                continue
            if name in MODULES:
                for _ in range(SAMPLES_PER_TOOL):
                    mem.setdefault(name, []).append(baseline_sample(pool, MODULES[name]))
                continue
            m = side.manager(pool, name)
            if side.setup(name, lambda m=m: start_100(m), na):
                try:
                    time.sleep(SETTLE)
                    for _ in range(SAMPLES_PER_TOOL):
                        mem.setdefault(name, []).append(memory(m.memory_pids()))
                        time.sleep(0.5)
                    if name == "procman":
                        note_procman_daemon(m.memory_pids()[0], result)
                except Exception as exc:
                    if name == "procman":
                        raise
                    na[name] = f"failed: {type(exc).__name__}: {exc}"
            side.release(pool, m, result.leftovers)
    return mem


def note_procman_daemon(pid: int, result: WorkloadResult) -> None:
    daemon = psutil.Process(pid)
    result.extra["daemon_threads"] = daemon.num_threads()
    result.extra["daemon_fds"] = daemon.num_fds()
    mapped = mapped_files(pid)
    result.extra["daemon_extension_modules"] = extension_modules(mapped)
    result.extra["daemon_maps_openssl"] = any(
        "libssl" in Path(p).name or "libcrypto" in Path(p).name for p in mapped
    )


def cpu_phase(
    pool: Pool, tools: list[str], window: float, na: dict[str, str], result: WorkloadResult
) -> dict[str, list[float]]:
    """Every tool at once with its 100 children; CPU ms per 20 s, one sample per slice."""
    managers = {}
    for name in tools:
        if name in na:
            continue
        m = side.manager(pool, name)
        if side.setup(name, lambda m=m: start_100(m), na):
            managers[name] = m
    time.sleep(SETTLE)
    pids = {name: m.memory_pids() for name, m in managers.items()}
    slices: dict[str, list[float]] = {name: [] for name in managers}
    slice_s = window / CPU_SLICES
    start = {name: sum(cpu_seconds(p) for p in ps) for name, ps in pids.items()}
    before = dict(start)
    t_start = t_before = time.monotonic()
    for _ in range(CPU_SLICES):
        time.sleep(slice_s)
        now = time.monotonic()
        for name, ps in pids.items():
            total = sum(cpu_seconds(p) for p in ps)
            slices[name].append(round((total - before[name]) * 1000, 3))
            before[name] = total
        t_before = now
    elapsed = t_before - t_start
    cpu = {name: [(before[name] - start[name]) * 1000 * WINDOW / elapsed] for name in pids}
    result.extra["cpu_ms_per_slice"] = {"slice_s": slice_s, **slices}
    for m in managers.values():
        side.release(pool, m, result.leftovers)
    return cpu


def run(pool: Pool, quick: bool) -> WorkloadResult:
    window = WINDOW / 2 if quick else WINDOW
    rounds = 1 if quick else 2
    result = WorkloadResult("idle")
    tools, na = side.available(pool, "idle")
    mem = memory_phase(pool, tools, rounds, na, result)
    cpu = cpu_phase(pool, tools, window, na, result)

    def stats(key: str, field: int) -> Stats:
        return Stats.of([sample[field] for sample in mem[key]])

    measured = [t for t in tools if t in mem]
    honcho_note = "honcho: its process plus the 100 helper processes it forks, one per child"
    for field, label in ((0, "PSS"), (2, "USS (sharing-independent)"), (1, "RSS")):
        result.compare.append(
            Compare(
                "idle", f"manager {label}, {COUNT} idle instances", "MiB",
                tools={t: stats(t, field) for t in measured},
                na={t: r for t, r in na.items() if t in side.TOOLS},
                baselines={BARE: stats(BARE, field)},
                versus=("supervisord",) if field == 0 else (),
                versus_text="supervisord's", target=1.0 if field == 0 else None,
                note=honcho_note if "honcho" in measured else "",
            )
        )  # fmt: skip
    result.compare.append(
        Compare(
            "idle", f"manager CPU per 20 idle s, {COUNT} instances", "ms",
            tools={t: Stats.of(cpu[t]) for t in tools if cpu.get(t)},
            na={t: r for t, r in na.items() if t in side.TOOLS},
            versus=("supervisord",), versus_text="supervisord's", target=1.0,
            note="all tools idle at once, one window",
        )
    )  # fmt: skip
    result.rows += [
        Row("idle", "(diagnostic) procman daemon PSS vs interpreter with its stack", "MiB",
            stats("procman", 0), stats(STACK, 0), STACK),
        Row("idle", "(diagnostic) procman daemon USS vs interpreter with its stack", "MiB",
            stats("procman", 2), stats(STACK, 2), STACK),
    ]  # fmt: skip
    if quick:
        result.notes.append(f"quick run: CPU measured over {window:g} s, scaled to 20 s")
    result.extra["daemon_imports"] = daemon_imports(pool)
    return result
