"""Open files: the one system limit a formation of 1,000 instances meets first.

Each instance costs the daemon file descriptors for as long as it runs: the read ends of
its stdout and stderr pipes (PIPES_PER_INSTANCE) and, for a `socket: true` type, its
slot's listener. A login shell's soft RLIMIT_NOFILE is often 1024, so the daemon raises
its own soft limit to the hard one at start (raise_soft()). Its children get the soft
limit the daemon was started with back (restore_child(), right after each spawn): a
program that loops over every possible fd, or uses select(), should not see a limit of a
million.

Before a start or scale, check_room() refuses a count the limit cannot hold, naming the
limit and the fix, instead of failing somewhere in the middle of 1,000 spawns; and a spawn
or bind that still meets EMFILE/ENFILE says the same (too_many_files()).
"""

from __future__ import annotations

import errno
import os
import resource
from collections.abc import Iterable

from procman.errors import ErrorCode, ProcmanError

PIPES_PER_INSTANCE = 2  # the read ends of its stdout and stderr pipes
SPARE = 64  # for the control socket's clients, log files, a reload's replacements, ...

FIX = (
    "raise the hard limit where procman is started (ulimit -Hn N in its shell, "
    "LimitNOFILE=N in a systemd unit, nofile in /etc/security/limits.conf) and restart "
    "the daemon (procman kill, then procman start), or run fewer instances"
)

_inherited: int | None = None  # the soft limit the daemon was started with
#: carries it across `procman update` (the daemon execs itself with its raised limit);
#: main.py keeps it out of the instances' environment
ENV = "PROCMAN_NOFILE_SOFT"


def limits() -> tuple[int, int]:
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def raise_soft() -> tuple[int, int]:
    """Soft RLIMIT_NOFILE up to the hard limit; (old soft, new soft)."""
    global _inherited
    soft, hard = limits()
    if _inherited is None:
        carried = os.environ.get(ENV, "")
        _inherited = int(carried) if carried.isdigit() else soft
        os.environ[ENV] = str(_inherited)
    if hard != resource.RLIM_INFINITY and soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):  # a hard limit above the kernel's nr_open
            pass
    return soft, limits()[0]


def restore_child(pid: int) -> None:
    """Give a child the soft limit the daemon started with (best effort: it may be gone)."""
    if _inherited is None or _inherited == limits()[0]:
        return
    try:
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (_inherited, limits()[1]))
    except (OSError, ValueError):
        pass


def open_files() -> int:
    try:
        return len(os.listdir("/proc/self/fd")) - 1  # less listdir's own
    except OSError:
        return 0


def per_instance(socket: bool) -> int:
    return PIPES_PER_INSTANCE + (1 if socket else 0)


def check_room(new_instances: Iterable[tuple[int, bool]]) -> None:
    """Raise if (count, holds a listener) new instances would pass the soft limit."""
    need = sum(count * per_instance(socket) for count, socket in new_instances)
    if not need:
        return
    soft, hard = limits()
    have = open_files()
    if have + need + SPARE <= soft:
        return
    raise ProcmanError(
        f"{_explain(soft, hard)}: the daemon has {have} files open and these instances need "
        f"about {need} more; {FIX}",
        ErrorCode.SPAWN,
    )


def too_many_files(exc: OSError) -> str | None:
    """The message for a spawn or bind that failed for want of file descriptors, or None."""
    if exc.errno == errno.EMFILE:
        soft, hard = limits()
        return f"{_explain(soft, hard)} and all are in use; {FIX}"
    if exc.errno == errno.ENFILE:
        return (
            "the system's table of open files is full (fs.file-max); raise it "
            "(sysctl -w fs.file-max=N) or run fewer instances"
        )
    return None


def _explain(soft: int, hard: int) -> str:
    if soft >= hard:
        return f"the daemon may open {soft} files (RLIMIT_NOFILE, soft = hard limit)"
    return f"the daemon may open {soft} files (RLIMIT_NOFILE; the hard limit is {hard})"
