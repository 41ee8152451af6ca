"""Facts about the machine and the code under test, recorded with every run."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]


def _git(*args: str) -> str:
    """Read-only git queries (--no-optional-locks: not even the index is refreshed)."""
    try:
        out = subprocess.run(
            ["git", "--no-optional-locks", *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip()


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def facts() -> dict[str, Any]:
    dirty = _git("status", "--porcelain", "--untracked-files=no", "--", "procman")
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_count": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "kernel": platform.release(),
        "os": platform.platform(),
        "procman_commit": _git("rev-parse", "--short", "HEAD") or "unknown",
        "procman_dirty": bool(dirty),
        "procman_dirty_files": dirty.splitlines(),
        "psutil": psutil.__version__,
        "sched_autogroup": _sysctl("kernel/sched_autogroup_enabled"),
        "tcp_migrate_req": _sysctl("net/ipv4/tcp_migrate_req"),
    }


def _sysctl(name: str) -> str:
    try:
        return Path("/proc/sys", name).read_text().strip()
    except OSError:
        return "?"


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]
