"""Log throughput: a child writes 200 MB of 100-byte lines (1 MB blocks) and times itself;
under procman its output goes through the daemon's capture (pipe -> prefix -> log file).
Baselines in the same run: the same child writing to /dev/null and to a regular file, and,
to tell the pipe from procman's own work, through a pipe to a bare Python reader that
appends to a file (raw, and prefixing every line as procman does)."""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from typing import Any

import psutil

from bench.core import Row, Stats, WorkloadResult
from bench.project import PROGRAMS, PYTHON, Pool, Project

MEGABYTES = 200
# glibc's malloc gives each freed 1 MiB+ buffer back to the kernel (munmap / heap trim),
# so every chunk the daemon reads faults its pages in again; these keep them. The same
# as a mallopt(M_MMAP_THRESHOLD / M_TRIM_THRESHOLD) call in the daemon would.
MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": str(8 << 20), "MALLOC_TRIM_THRESHOLD_": str(32 << 20)}


def formation() -> str:
    cmd = f"{PYTHON} {PROGRAMS / 'writer.py'} {MEGABYTES}"
    return (
        f"processes:\n  writer:\n    cmd: {cmd}\n    instances: 0\n    restart: never\n"
        "    min_uptime: 0\n"
    )


def elapsed_of(text: str) -> float:
    for line in reversed(text.splitlines()):
        if line.startswith("elapsed="):
            return float(line.split("=", 1)[1])
    raise RuntimeError(f"no elapsed= line in {text[-300:]!r}")


def under_procman(project: Project) -> tuple[float, dict[str, Any]]:
    """The child's own seconds, and what the daemon spent on it."""
    pid = project.daemon_pid()
    assert pid is not None
    daemon = psutil.Process(pid)
    cpu0 = sum(daemon.cpu_times()[:2])
    events = project.client.stream("events")
    next(events)
    project.call("scale", {"counts": {"writer": "1"}})
    try:
        for event in events:
            if event.get("id") == "writer.1" and event.get("state") in ("exited", "errored"):
                break
    finally:
        events.close()  # type: ignore[attr-defined]
    deadline = time.monotonic() + 30
    while True:
        lines = project.call("logs", {"target": "writer", "lines": 4})["lines"]
        text = "\n".join(text for _, _, text in lines)
        if "elapsed=" in text or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    cpu = sum(daemon.cpu_times()[:2]) - cpu0
    log_file = project.home / "logs" / "writer.log"
    size = log_file.stat().st_size if log_file.exists() else 0
    return elapsed_of(text), {"daemon_cpu_s": round(cpu, 3), "log_file_bytes": size}


def direct(pool: Pool, path: str) -> float:
    with open(path, "wb") as out:
        proc = subprocess.run(
            [PYTHON, str(PROGRAMS / "writer.py"), str(MEGABYTES)],
            env=pool.env,
            stdout=out,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
            check=True,
        )
    return elapsed_of(proc.stderr)


def captured(pool: Pool, path: str, mode: str) -> float:
    """writer | capture.py: the child's output through a pipe to a minimal Python reader."""
    read_fd, write_fd = os.pipe()
    reader = pool.helper(
        [PYTHON, str(PROGRAMS / "capture.py"), path, mode], stdin=read_fd, stdout=subprocess.DEVNULL
    )
    os.close(read_fd)
    try:
        proc = subprocess.run(
            [PYTHON, str(PROGRAMS / "writer.py"), str(MEGABYTES)],
            env=pool.env,
            stdout=write_fd,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
            check=True,
        )
    finally:
        os.close(write_fd)
    reader.wait(60)
    pool.helpers.remove(reader)
    return elapsed_of(proc.stderr)


def run(pool: Pool, quick: bool) -> WorkloadResult:
    reps = 2 if quick else 4
    result = WorkloadResult("logs")
    kinds = ("procman", "tuned", "devnull", "file", "raw", "prefix")
    rates: dict[str, list[float]] = {k: [] for k in kinds}
    runs: list[dict[str, Any]] = []
    scratch = tempfile.mkdtemp(prefix="pmb-logs-", dir="/tmp")
    target = os.path.join(scratch, "out.log")
    try:
        for i in range(reps):
            for kind, env in (("procman", None), ("tuned", MALLOC_ENV)):
                project = pool.project(f"logs{i}", formation(), env)
                project.cli("start")
                seconds, facts = under_procman(project)
                rates[kind].append(MEGABYTES / seconds)
                runs.append({"kind": kind, "seconds": seconds, **facts})
                pool.projects.remove(project)
                result.leftovers.extend(project.teardown())  # frees the 280 MB log at once
            rates["devnull"].append(MEGABYTES / direct(pool, os.devnull))
            rates["file"].append(MEGABYTES / direct(pool, target))
            os.unlink(target)
            for mode in ("raw", "prefix"):
                rates[mode].append(MEGABYTES / captured(pool, target, mode))
                os.unlink(target)
    finally:
        if os.path.exists(target):
            os.unlink(target)
        os.rmdir(scratch)
    result.extra["procman_runs"] = runs
    expected = MEGABYTES * 10**6
    short = [r for r in runs if r["log_file_bytes"] < expected]
    if short:
        result.notes.append(f"log file smaller than the {expected} bytes written: {short}")
    procman = Stats.of(rates["procman"])
    tuned = Stats.of(rates["tuned"])
    result.rows.append(
        Row("logs", f"{MEGABYTES} MB of 100-byte lines", "MB/s", procman,
            Stats.of(rates["file"]), "child > regular file", 600, "≥ 600 MB/s",
            higher_is_better=True)
    )  # fmt: skip
    result.rows.append(
        Row("logs", "(diagnostic) same, vs /dev/null", "MB/s", procman,
            Stats.of(rates["devnull"]), "child > /dev/null", higher_is_better=True)
    )  # fmt: skip
    result.rows.append(
        Row("logs", "(diagnostic) procman, daemon with " + " ".join(MALLOC_ENV), "MB/s",
            tuned, Stats.of(rates["file"]), "child > regular file", higher_is_better=True)
    )  # fmt: skip
    result.rows.append(
        Row("logs", "(diagnostic) same, vs a bare Python pipe reader", "MB/s", procman,
            Stats.of(rates["raw"]), "child | py reader > file", higher_is_better=True)
    )  # fmt: skip
    result.rows.append(
        Row("logs", "(diagnostic) same, vs that reader prefixing lines", "MB/s", procman,
            Stats.of(rates["prefix"]), "child | py reader + prefix > file",
            higher_is_better=True)
    )  # fmt: skip
    return result
