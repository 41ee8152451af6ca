"""The watchdog: a tiny /bin/sh process that outlives a SIGKILLed daemon just long enough to
stop every instance's process group, grandchildren included.

While it runs, it is what ends the instances of a daemon that died, and spawns skip the
PR_SET_PDEATHSIG exec (spawn.py: setpriv costs ~1-2 ms of CPU a spawn, as much as the
spawn itself, and it only reaches the main process). Should it exit, spawns take the death
signal again, and a new watchdog is started and told every live group (main.py).

It reads "+PGID" / "-PGID" lines on a pipe whose only writer is the daemon; when the
daemon dies, for any reason, the pipe reaches EOF and the watchdog sends SIGTERM to every
group still listed, then SIGKILL a second later. Where the instances run in cgroups of
their own (descendants.py), a "cPATH" line names the daemon's cgroup, and the watchdog ends
with `cgroup.kill` there, which reaches processes that left their group (setsid, a
daemonizing server), and removes those cgroups; without cgroups such processes are out of
its reach.

The list is kept by awk, in an associative array: O(1) a line, where a shell variable
would be rewritten whole for every "-" (with 1,000 instances that shell fell behind, the
pipe filled, and the daemon's writes blocked). Without awk, the shell keeps it.
"""

from __future__ import annotations

import fcntl
import logging
import os
import subprocess

log = logging.getLogger("procman.watchdog")

F_SETPIPE_SZ = 1031
PIPE_SIZE = 1 << 20

SCRIPT = r"""
trap '' INT TERM HUP PIPE
nl='
'
if command -v awk >/dev/null 2>&1; then
  state=$(awk '
    /^[+]/ { live[substr($0, 2)] = 1 }
    /^-/ { delete live[substr($0, 2)] }
    /^c/ { cg = substr($0, 2) }
    END { printf "x"; for (g in live) printf " %s", g; printf "\n%s.", cg }')
  groups=${state%%"$nl"*}
  groups=${groups#x}
  cg=${state#*"$nl"}
  cg=${cg%.}
else
  groups=""
  cg=""
  while read -r line; do
    case "$line" in
      +*) groups="$groups ${line#+}" ;;
      -*) keep=""; for g in $groups; do [ "$g" = "${line#-}" ] || keep="$keep $g"; done
          groups=$keep ;;
      c*) cg="${line#c}" ;;
    esac
  done
fi
[ -n "$groups" ] || exit 0
for g in $groups; do kill -TERM -"$g" 2>/dev/null; done
sleep 1
for g in $groups; do kill -KILL -"$g" 2>/dev/null; done
[ -n "$cg" ] || exit 0
echo 1 > "$cg/cgroup.kill" 2>/dev/null
for i in 1 2 3 4 5 6 7 8 9 10; do
  for d in "$cg"/run-*; do rmdir "$d" 2>/dev/null; done
  rmdir "$cg" 2>/dev/null && exit 0
  sleep 0.1
done
"""


class Watchdog:
    def __init__(self) -> None:
        self.pid: int | None = None
        self._fd: int | None = None
        self.closed = False  # by close(): the daemon's clean exit

    @property
    def running(self) -> bool:
        """Started and not known to be gone: it will end the instances if we die."""
        return self.pid is not None and self._fd is not None

    def exited(self) -> None:
        """The reaper saw it go."""
        self.pid = None
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def start(self) -> int | None:
        """Start the watchdog; its pid (ours to reap), or None if it cannot run."""
        read_fd, write_fd = os.pipe2(os.O_CLOEXEC)
        try:  # room for a burst of lines (1,000 instances stopping) while the watchdog reads
            fcntl.fcntl(write_fd, F_SETPIPE_SZ, PIPE_SIZE)
        except OSError:
            pass
        try:
            popen = subprocess.Popen(
                ["/bin/sh", "-c", SCRIPT],
                stdin=read_fd,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,  # a signal to the daemon's group does not reach it
                close_fds=True,
            )
        except OSError as exc:
            log.warning("no watchdog (%s): grandchildren may outlive a killed daemon", exc)
            os.close(write_fd)
            return None
        finally:
            os.close(read_fd)
        popen.returncode = 0  # reaped by our own reaper, not by Popen
        self.pid, self._fd = popen.pid, write_fd
        return popen.pid

    @property
    def fd(self) -> int | None:
        """The write end of its pipe, kept open across a daemon update."""
        return self._fd

    def adopt(self, pid: int, fd: int) -> None:
        """The watchdog an older image of this daemon started (`procman update`): same
        pipe, so the groups it was told about stay listed."""
        self.pid, self._fd = pid, fd

    def watch(self, pgid: int) -> None:
        self._send(f"+{pgid}\n")

    def forget(self, pgid: int) -> None:
        self._send(f"-{pgid}\n")

    def cgroup(self, path: object) -> None:
        """The cgroup that holds every instance's: cgroup.kill'ed if the daemon dies."""
        self._send(f"c{path}\n")

    def close(self) -> None:
        """A clean exit: EOF with nothing listed, so the watchdog just exits."""
        self.closed = True
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _send(self, line: str) -> None:
        if self._fd is None:
            return
        try:
            os.write(self._fd, line.encode())
        except OSError as exc:  # the watchdog died: carry on without it
            log.warning("watchdog gone (%s)", exc)
            os.close(self._fd)
            self._fd = None
