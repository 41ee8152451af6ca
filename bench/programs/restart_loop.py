"""Baseline for restart latency: the bare supervisor loop, one repetition per input line.

Holds one `sleep 1000`; on each "go" line it SIGKILLs it, reaps it, starts a replacement and
prints the seconds from the kill to Popen returning (Popen returns after exec). With the
argument "procman-spawn" it spawns with procman's own procman.daemon.spawn.spawn_process
(whatever that does today: shell, session, pipe, death signal), to tell the cost of
procman's loop and event from the cost of its spawn.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time


def plain() -> subprocess.Popen:
    return subprocess.Popen(["sleep", "1000"])


def procman_spawn() -> subprocess.Popen:
    from pathlib import Path

    from procman.daemon.spawn import spawn_process

    popen, out_fd, err_fd = spawn_process("sleep 1000", dict(os.environ), Path.cwd())
    os.close(out_fd)
    os.close(err_fd)
    return popen


def main() -> None:
    spawn = procman_spawn if sys.argv[1:] == ["procman-spawn"] else plain
    child = spawn()
    for line in sys.stdin:
        if line.strip() != "go":
            continue
        t0 = time.perf_counter()
        os.kill(child.pid, 9)
        os.waitpid(child.pid, 0)
        child.returncode = -9
        child = spawn()
        elapsed = time.perf_counter() - t0
        sys.stdout.write(f"{elapsed:.9f} {child.pid}\n")
        sys.stdout.flush()
    os.kill(child.pid, 9)
    child.wait()


if __name__ == "__main__":
    main()
