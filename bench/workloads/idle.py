"""Idle footprint: a daemon holding 100 idle `sleep 1000` instances. Its PSS and RSS
(sampled through the window), its CPU seconds over 20 idle seconds, and which heavy modules
the daemon imports. Baselines, sampled interleaved in the same window: an idle bare
interpreter, and one that imported the stack such a daemon needs (asyncio without ssl, as
procman's daemon has it, psutil, json, logging). PSS depends on what else shares the
pages; USS does not."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import psutil

from bench.core import Row, Stats, WorkloadResult
from bench.project import PROGRAMS, PYTHON, Pool

COUNT = 100
WINDOW = 20.0  # seconds
SAMPLES = 5
MIB = 1024 * 1024
# ssl is left out: a blocked import (sys.modules["ssl"] = None) still prints an importtime
# line, so OpenSSL is looked for in the daemon's memory map instead.
HEAVY = ("click", "rich", "yaml", "psutil", "asyncio", "dotenv", "ctypes", "logging", "json")
STACK = "!ssl,asyncio,psutil,json,logging"  # ssl kept out, as procman.daemon does


def idle_interpreter(pool: Pool, modules: str) -> subprocess.Popen:
    proc = pool.helper(
        [PYTHON, str(PROGRAMS / "idle.py"), modules], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert proc.stdout is not None
    if proc.stdout.readline().strip() != b"ready":
        raise RuntimeError("idle interpreter did not start")
    return proc


def memory(pid: int) -> tuple[float, float, float]:
    """(PSS, RSS, USS) in MiB."""
    info = psutil.Process(pid).memory_full_info()
    return info.pss / MIB, info.rss / MIB, info.uss / MIB


def cpu_seconds(pid: int) -> float:
    """CPU time of every thread, from schedstat (ns; cpu_times() ticks only every 10 ms)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
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
    before = project.root / "importtime.txt"
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


def run(pool: Pool, quick: bool) -> WorkloadResult:
    window = WINDOW / 2 if quick else WINDOW
    result = WorkloadResult("idle")
    project = pool.project("idle", f"processes:\n  sleeper:\n    cmd: sleep 1000\n"
                                   f"    instances: {COUNT}\n")  # fmt: skip
    project.cli("start")
    if len(project.instances()) != COUNT:
        raise RuntimeError("not every instance came up")
    pid = project.daemon_pid()
    assert pid is not None
    time.sleep(2.0)  # let the start's garbage settle
    mem: dict[str, list[tuple[float, float, float]]] = {"procman": [], "bare": [], "stack": []}
    cpu0 = cpu_seconds(pid)
    t0 = time.monotonic()
    for i in range(SAMPLES):
        time.sleep(max(0.0, t0 + window * (i + 1) / SAMPLES - time.monotonic() - 0.5))
        # The daemon alone first: a baseline alive beside it would share its pages and
        # lower its PSS. Each baseline lives only for its own sample.
        mem["procman"].append(memory(pid))
        for key, modules in (("bare", ""), ("stack", STACK)):
            proc = idle_interpreter(pool, modules)
            time.sleep(0.1)
            mem[key].append(memory(proc.pid))
            assert proc.stdin is not None
            proc.stdin.close()
            proc.wait(10)
            pool.helpers.remove(proc)
    elapsed = time.monotonic() - t0
    cpu_ms = (cpu_seconds(pid) - cpu0) * 1000 * WINDOW / elapsed
    result.extra["window_s"] = round(elapsed, 2)
    result.extra["daemon_threads"] = psutil.Process(pid).num_threads()
    result.extra["daemon_fds"] = psutil.Process(pid).num_fds()
    mapped = mapped_files(pid)
    result.extra["daemon_extension_modules"] = extension_modules(mapped)
    result.extra["daemon_maps_openssl"] = any(
        "libssl" in Path(p).name or "libcrypto" in Path(p).name for p in mapped
    )

    def stats(key: str, field: int) -> Stats:
        return Stats.of([sample[field] for sample in mem[key]])

    bare = "idle bare python"
    stack = "idle python + asyncio (no ssl), psutil, json, logging"
    result.rows += [
        Row("idle", f"daemon PSS, {COUNT} idle instances", "MiB", stats("procman", 0),
            stats("bare", 0), bare, 16.7, "≤ 16.7 MiB"),
        Row("idle", "(diagnostic) daemon PSS vs interpreter with its stack", "MiB",
            stats("procman", 0), stats("stack", 0), stack),
        Row("idle", "(diagnostic) daemon USS (private, sharing-independent)", "MiB",
            stats("procman", 2), stats("stack", 2), stack),
        Row("idle", "daemon RSS", "MiB", stats("procman", 1), stats("bare", 1), bare),
        Row("idle", "daemon CPU per 20 idle s", "ms", Stats.of([cpu_ms]), None, "", 10, "≤ 10 ms"),
    ]  # fmt: skip
    if quick:
        result.notes.append(f"quick run: CPU measured over {elapsed:.0f} s, scaled to 20 s")
    result.extra["daemon_imports"] = daemon_imports(pool)
    return result
