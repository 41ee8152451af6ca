"""How long the settle of `start` on a held socket takes, and how long a failing app takes to
fail (the figures behind docs/formation.md's design decision on it). For each server: the
time from spawn until procman's idle check (procman.daemon.conflicts.idle_mark: every
process asleep, no CPU between two looks 50 ms apart) says it waits for connections on the
SO_REUSEPORT listener it got on fd 3; for Node binding $PORT itself beside that listener,
the time until it exits with EADDRINUSE. Baseline in the same run: `python3 -c pass` from
spawn to exit. Medians of N runs, with the load average.

    .venv/bin/python bench/programs/settle_times.py [N]
"""

from __future__ import annotations

import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

from procman.daemon.conflicts import IDLE_FLOOR, IDLE_POLL, idle_mark

ROOT = Path(__file__).resolve().parents[2]
PROGRAMS = ROOT / "tests" / "programs"
PY = sys.executable
PORT = 18461


def held() -> socket.socket:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(("0.0.0.0", PORT))
    sock.listen(128)
    return sock


def until_exit(argv: list[str]) -> float:
    with held():
        t0 = time.monotonic()
        env = {**os.environ, "PORT": str(PORT)}
        subprocess.run(argv, env=env, cwd=PROGRAMS, capture_output=True, check=False)
        return time.monotonic() - t0


def until_idle(argv: list[str]) -> float:
    with held() as sock:
        os.dup2(sock.fileno(), 3)
        t0 = time.monotonic()
        env = {**os.environ, "PORT": str(PORT), "LISTEN_FDS": "1"}
        proc = subprocess.Popen(
            argv, env=env, cwd=PROGRAMS, pass_fds=(3,),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        last = None
        while True:
            mark = idle_mark(proc.pid)
            if mark is not None and mark == last and time.monotonic() - t0 >= IDLE_FLOOR:
                break
            last = mark
            time.sleep(IDLE_POLL)
        took = time.monotonic() - t0
        proc.terminate()
        proc.wait()
        return took


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 7
    reserve = os.open(os.devnull, os.O_RDONLY)  # fd 3 stays taken between runs
    node = shutil.which("node")
    cases = [
        ("baseline: python3 -c pass, spawn to exit", until_exit, [PY, "-c", "pass"]),
        ("uvicorn --fd 3, spawn to idle", until_idle,
         [PY, "-m", "uvicorn", "--fd", "3", "asgi_app:app"]),
        ("hypercorn --bind fd://3, spawn to idle", until_idle,
         [PY, "-m", "hypercorn", "--bind", "fd://3", "asgi_app:app"]),
        ("gunicorn (LISTEN_FDS), spawn to idle", until_idle,
         [PY, "-m", "gunicorn", "--no-control-socket", "wsgi_app:app"]),
    ]  # fmt: skip
    if node:
        cases += [
            ("node listen({fd: 3}), spawn to idle", until_idle, [node, "node_server.js", "fd"]),
            ("node listen($PORT) on a held port, spawn to EADDRINUSE exit", until_exit,
             [node, "node_server.js"]),
        ]  # fmt: skip
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    print(f"load average {load}, n={runs}")
    base = None
    for name, measure, argv in cases:
        times = [measure(argv) for _ in range(runs)]
        median = statistics.median(times)
        base = base or median
        print(
            f"{name}: median {median * 1000:.0f} ms [{min(times) * 1000:.0f}-"
            f"{max(times) * 1000:.0f}], {median / base:.1f}x the baseline"
        )
    os.close(reserve)


if __name__ == "__main__":
    main()
