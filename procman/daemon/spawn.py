"""The only place that starts processes or signals them.

Each instance runs in its own session (so its whole process group can be signalled) with
stdout and stderr on one pipe, stdin on /dev/null, and, for a held-socket type, its listener
on fd 3 with LISTEN_FDS/LISTEN_PID/LISTEN_FDNAMES (systemd socket activation).

LISTEN_PID must be the pid of the process that serves. Commands go through /bin/sh -c, and
dash does not exec the last command of a script, so a simple command (no ; & | or newline,
not a shell keyword) is prefixed with `exec` and keeps the shell's pid; the shell sets
LISTEN_PID=$$ itself because the pid is not known before fork. A compound command must end
with `exec server ...` for its server to match LISTEN_PID (see docs/formation.md).
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import re
import signal
import subprocess
from pathlib import Path

from procman.errors import SpawnError

PR_SET_PDEATHSIG = 1
F_SETPIPE_SZ = 1031
PIPE_SIZE = 1 << 20  # fewer wakeups for a chatty child; the kernel caps it at pipe-max-size

# VAR=value words, where a value may hold quoted parts ('a b', "a b") and escapes
_VALUE = r"""(?:[^\s'"\\]|\\.|'[^']*'|"(?:[^"\\]|\\.)*")*"""
_ASSIGNMENTS = re.compile(rf"^((?:[A-Za-z_][A-Za-z0-9_]*={_VALUE}\s+)*)(.*)$", re.S)
# ; | & newline ` $( make a compound command; the & of a redirection (2>&1, <&3) does not
_COMPOUND = re.compile(r"[;|\n`]|\$\(|(?<![<>])&")
_KEYWORDS = {"if", "for", "while", "until", "case", "{", "(", "!", "exec", "function"}

try:
    _prctl = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):  # not Linux
    _prctl = None


def shell_command(cmd: str, listen_pid: bool) -> str:
    """The /bin/sh -c script for cmd: `exec` for simple commands, LISTEN_PID=$$ when needed."""
    script = cmd.strip()
    if not _COMPOUND.search(script):
        assignments, rest = _ASSIGNMENTS.match(script).groups()  # type: ignore[union-attr]
        first = rest.split(None, 1)[0] if rest else ""
        if rest and first not in _KEYWORDS and rest[0] not in "({!":
            script = f"{assignments}exec {rest}"
    if listen_pid:
        script = f"LISTEN_PID=$$; export LISTEN_PID; {script}"
    return script


def _child_setup(parent: int, listener_fd: int | None) -> None:
    """Runs in the child between fork and exec: only async-signal-safe-ish calls."""
    if _prctl is not None:
        # The instance dies with the daemon, even if the daemon is SIGKILLed.
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:
            os._exit(1)
    if listener_fd is not None and listener_fd != 3:
        os.dup2(listener_fd, 3)


def spawn_process(
    cmd: str,
    env: dict[str, str],
    cwd: Path,
    listener_fd: int | None = None,
    listener_name: str | None = None,
) -> tuple[subprocess.Popen, int]:
    """Start cmd; return (popen, read end of its output pipe, non-blocking)."""
    env = dict(env) if listener_fd is not None else env
    if listener_fd is not None:
        env["LISTEN_FDS"] = "1"
        env["LISTEN_FDNAMES"] = listener_name or "listener"
        env.pop("LISTEN_PID", None)
    else:
        for key in ("LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"):
            env.pop(key, None) if key in env else None
    read_fd, write_fd = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
    try:
        fcntl.fcntl(read_fd, F_SETPIPE_SZ, PIPE_SIZE)
    except OSError:
        pass
    # The child's end must block: a child writing to a full pipe waits, it does not fail.
    os.set_blocking(write_fd, True)
    parent = os.getpid()
    try:
        popen = subprocess.Popen(
            ["/bin/sh", "-c", shell_command(cmd, listen_pid=listener_fd is not None)],
            stdin=subprocess.DEVNULL,
            stdout=write_fd,
            stderr=write_fd,
            cwd=cwd,
            env=env,
            start_new_session=True,
            close_fds=True,
            pass_fds=(3,) if listener_fd is not None else (),
            preexec_fn=lambda: _child_setup(parent, listener_fd),
        )
    except OSError as exc:
        os.close(read_fd)
        raise SpawnError(f"cannot start {cmd!r} in {cwd}: {exc.strerror or exc}") from None
    except subprocess.SubprocessError as exc:
        os.close(read_fd)
        raise SpawnError(f"cannot start {cmd!r}: {exc}") from None
    finally:
        os.close(write_fd)
    return popen, read_fd


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
