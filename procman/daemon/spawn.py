"""The only place that starts processes or signals them.

Each instance runs in its own process group (so the whole group can be signalled) with
stdout and stderr on a pipe each (read apart, so logs can tell them apart), stdin on
/dev/null, and, for a held-socket type, its listener on fd 3 with
LISTEN_FDS/LISTEN_PID/LISTEN_FDNAMES (systemd socket activation).

LISTEN_PID must be the pid of the process that serves. Commands go through /bin/sh -c, and
dash does not exec the last command of a script, so a simple command (no ; & | or newline,
not a shell keyword) is prefixed with `exec` and keeps the shell's pid; the shell sets
LISTEN_PID=$$ itself because the pid is not known before fork. A compound command must end
with `exec server ...` for its server to match LISTEN_PID (see docs/formation.md).

Nothing of ours runs in the child between fork and exec (no preexec_fn): that would force
a fork instead of vfork and start Python in the child, ten times the cost of a spawn. The
listener reaches fd 3 by being on fd 4 in the daemon while Popen runs (STAGE_FD says why)
and the shell moving it to 3. While the watchdog
runs (watchdog.py), it ends the instances of a daemon that died, SIGKILLed or not, and a
spawn is one exec. Without it (it could not start, or died and is being replaced), the
instance gets PR_SET_PDEATHSIG (it dies with the daemon) from util-linux's `setpriv`,
which execs the command in place: ~1-2 ms of CPU a spawn, as much as the rest of it.
Without setpriv, a preexec_fn sets it.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from procman.daemon import limits
from procman.errors import SpawnError
from procman.shell import exec_script, plain_argv

PR_SET_PDEATHSIG = 1
F_SETPIPE_SZ = 1031
PIPE_SIZE = 1 << 20  # fewer wakeups for a chatty child; the kernel caps it at pipe-max-size
# stderr keeps the kernel's default size (64 KiB). Every unprivileged user's pipes share a
# budget (fs.pipe-user-pages-soft, 64 MiB) past which new pipes get two pages, so a second
# 1 MiB pipe per instance would halve how many instances get a big one; and a 200 MB flood
# on stderr measured no slower than on stdout (568 vs 550 MB/s, medians of 8, one run).

LISTEN_FD = 3
# The listener is handed over on fd 4 and moved to 3 by the shell (`exec 3<&4 4<&-`):
# CPython 3.11's _posixsubprocess, told to keep fd 3 open, asks close_range(3, 2), gets
# EINVAL and falls back to closing every other fd one by one in the child (getdents of
# /proc/self/fd, then close() each): with 1,000 socket instances, ~3,000 syscalls in every
# spawn, O(n²) for a start. With fd 4 kept, close_range(3, 3) and the rest do it in three.
STAGE_FD = 4


def _which(name: str) -> str | None:
    """shutil.which without importing shutil (and bz2, lzma...) into the daemon."""
    for folder in os.environ.get("PATH", os.defpath).split(os.pathsep) + ["/usr/bin", "/bin"]:
        path = os.path.join(folder or ".", name)
        if os.access(path, os.X_OK) and not os.path.isdir(path):
            return path
    return None


_SETPRIV = _which("setpriv")
_DEATHSIG = [_SETPRIV, "--pdeathsig", "KILL", "--"] if _SETPRIV else []

# A process group of its own (stop and kill reach the whole group), in the daemon's session:
# with the kernel's autogroup scheduling (sched_autogroup_enabled, the default on desktop
# and many server kernels) every session is a scheduling group of its own, and a session
# per instance made the daemon and each instance wait for each other across groups on a
# busy machine (log throughput halved, HTTP with 2 instances -10 %). Python 3.11's Popen
# takes process_group without a preexec_fn (which would cost vfork); 3.10 keeps setsid.
_OWN_GROUP: dict[str, Any] = (
    {"process_group": 0} if sys.version_info >= (3, 11) else {"start_new_session": True}
)

_prctl: Any
try:
    _prctl = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):  # not Linux
    _prctl = None


def shell_command(cmd: str, listen_pid: bool) -> str:
    """The /bin/sh -c script for cmd: `exec` for simple commands, LISTEN_PID=$$ when needed."""
    script = exec_script(cmd)
    if listen_pid:
        script = f"LISTEN_PID=$$; export LISTEN_PID; {script}"
    return script


def command_argv(cmd: str, listener: bool) -> list[str]:
    """What runs for cmd: its words when it needs no shell, else /bin/sh -c SCRIPT."""
    plain = plain_argv(cmd) if not listener else None  # LISTEN_PID needs the shell's $$
    if plain:
        return plain
    script = shell_command(cmd, listen_pid=listener)
    if listener:  # from STAGE_FD to where systemd's protocol wants it
        script = f"exec {LISTEN_FD}<&{STAGE_FD} {STAGE_FD}<&-; {script}"
    return ["/bin/sh", "-c", script]


def _child_setup(parent: int) -> None:
    """The fallback without setpriv: runs in the child between fork and exec."""
    if _prctl is not None:
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # the daemon died before the prctl
            os._exit(1)


_devnull: int | None = None


def _stdin() -> int:
    """/dev/null for every child's stdin, opened once (Popen's DEVNULL opens and closes
    it at every spawn)."""
    global _devnull
    if _devnull is None:
        _devnull = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
    return _devnull


def _pipe(size: int | None) -> tuple[int, int]:
    """(read end: non-blocking, write end: blocking, for the child), both close-on-exec."""
    read_fd, write_fd = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
    if size is not None:
        try:
            fcntl.fcntl(read_fd, F_SETPIPE_SZ, size)
        except OSError:
            pass
    # The child's end must block: a child writing to a full pipe waits, it does not fail.
    os.set_blocking(write_fd, True)
    return read_fd, write_fd


def spawn_process(
    cmd: str,
    env: dict[str, str],
    cwd: Path,
    listener_fd: int | None = None,
    listener_name: str | None = None,
    deathsig: bool = True,
) -> tuple[subprocess.Popen, int, int]:
    """Start cmd; return (popen, read end of its stdout pipe, read end of its stderr pipe),
    both non-blocking. env is the instance's own dict and is completed here. deathsig: give
    the process PR_SET_PDEATHSIG (through setpriv: one more exec), for when no watchdog runs."""
    if listener_fd is not None:
        env["LISTEN_FDS"] = "1"
        env["LISTEN_FDNAMES"] = listener_name or "listener"
    else:
        env.pop("LISTEN_FDS", None)
        env.pop("LISTEN_FDNAMES", None)
    env.pop("LISTEN_PID", None)
    out_fd, out_write = _pipe(PIPE_SIZE)
    try:
        err_fd, err_write = _pipe(None)
    except OSError:
        os.close(out_fd)
        os.close(out_write)
        raise
    argv = [*(_DEATHSIG if deathsig else ()), *command_argv(cmd, listener_fd is not None)]
    parent = os.getpid()
    saved = _stage(listener_fd) if listener_fd is not None else None
    try:
        popen = subprocess.Popen(
            argv,
            stdin=_stdin(),
            stdout=out_write,
            stderr=err_write,
            cwd=cwd,
            env=env,
            **_OWN_GROUP,
            close_fds=True,
            pass_fds=(STAGE_FD,) if listener_fd is not None else (),
            preexec_fn=None if _SETPRIV or not deathsig else (lambda: _child_setup(parent)),
        )
    except OSError as exc:
        os.close(out_fd)
        os.close(err_fd)
        why = limits.too_many_files(exc) or exc.strerror or exc
        raise SpawnError(f"cannot start {cmd!r} in {cwd}: {why}") from None
    except subprocess.SubprocessError as exc:
        os.close(out_fd)
        os.close(err_fd)
        raise SpawnError(f"cannot start {cmd!r}: {exc}") from None
    finally:
        os.close(out_write)
        os.close(err_write)
        if listener_fd is not None:
            _unstage(saved)
    return popen, out_fd, err_fd


def _stage(listener_fd: int) -> int | None:
    """dup the listener onto STAGE_FD for the child to inherit; returns a copy of what was
    there (the daemon's own fds usually take the low numbers)."""
    try:
        saved = os.dup(STAGE_FD)
    except OSError:
        saved = None
    os.dup2(listener_fd, STAGE_FD)
    return saved


def _unstage(saved: int | None) -> None:
    if saved is None:
        os.close(STAGE_FD)
        return
    os.dup2(saved, STAGE_FD, inheritable=False)
    os.close(saved)


def send_signal(pid: int, sig: int) -> None:
    """sig to one process (an instance's main process); a gone process is not an error."""
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def kill_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass
    except PermissionError:
        pass
    except OSError as exc:
        if exc.errno != errno.ESRCH:
            raise


def spawn_helper(argv: list[str], stdin_fd: int, stdout_fd: int) -> subprocess.Popen:
    """A short-lived helper of the daemon's own (the dry run of `procman update`): stdin
    and stdout (stderr too) on the given fds, its own session, nothing else inherited.
    The caller reaps it through the reaper."""
    return subprocess.Popen(
        argv,
        stdin=stdin_fd,
        stdout=stdout_fd,
        stderr=stdout_fd,
        start_new_session=True,
        close_fds=True,
    )
