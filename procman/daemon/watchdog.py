"""The watchdog: a tiny /bin/sh process that outlives a SIGKILLed daemon just long enough to
stop every instance's process group, grandchildren included.

While it runs, it is what ends the instances of a daemon that died, and spawns skip the
PR_SET_PDEATHSIG exec (spawn.py: setpriv costs ~1-2 ms of CPU a spawn, as much as the
spawn itself, and it only reaches the main process). Should it exit, spawns take the death
signal again, and a new watchdog is started and told every live group (main.py).

Its stdin is a pipe whose only writer is the daemon, and nothing is ever written to it:
when the daemon dies, for any reason, the pipe reaches EOF. The groups to stop are in a
list file beside the control socket, "+PGID" / "-PGID" lines the daemon appends (a write
to a file wakes nobody; a line on the pipe woke the watchdog at every spawn and every exit,
~55 ms of a 1,000-instance start, measured). On EOF the watchdog reads the list, sends
SIGTERM to every group still listed, then SIGKILL a second later, and removes the file.
Where the instances run in cgroups of their own (descendants.py), a "cPATH" line names the
daemon's cgroup, and the watchdog ends with `cgroup.kill` there, which reaches processes
that left their group (setsid, a daemonizing server), and removes those cgroups; without
cgroups such processes are out of its reach.

The list's name carries the daemon's pid (`<socket>.<pid>.watchdog`; an update execs in
place and keeps it): a dead daemon's watchdog may remove its list late, and must never
remove the list of the daemon started after it for the same project.

The file only grows between compactions: past twice the live lines (and a floor), the
daemon writes the live set to a new file and renames it over the list, so a daemon killed
mid-way leaves the old list or the new one, whole. A clean exit removes the file before
closing the pipe: the watchdog finds no list and exits.

The list is read by awk into an associative array (O(1) a line); without awk, the shell
does it.
"""

from __future__ import annotations

import logging
import os
import subprocess

log = logging.getLogger("procman.watchdog")

COMPACT_FLOOR = 4096  # lines the list may hold beyond twice the live ones

SCRIPT = r"""
trap '' INT TERM HUP PIPE
while read -r _; do :; done
list=$1
[ -f "$list" ] || exit 0
nl='
'
if command -v awk >/dev/null 2>&1; then
  state=$(awk '
    /^[+]/ { live[substr($0, 2)] = 1 }
    /^-/ { delete live[substr($0, 2)] }
    /^c/ { cg = substr($0, 2) }
    END { printf "x"; for (g in live) printf " %s", g; printf "\n%s.", cg }' "$list")
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
  done < "$list"
fi
rm -f "$list"
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
    def __init__(self, list_path: str = "") -> None:
        """list_path: beside the control socket; "" for one that is never started."""
        self.list_path = list_path
        self.pid: int | None = None
        self._fd: int | None = None  # the pipe's write end: its EOF is our death
        self._list: int | None = None  # the list file, appended to
        self.closed = False  # by close(): the daemon's clean exit
        # what the list says, for a compaction (bounded by the live groups: forget removes)
        self._live: set[int] = set()
        self._cgroup: str | None = None
        self._lines = 0

    @property
    def running(self) -> bool:
        """Started and not known to be gone: it will end the instances if we die."""
        return self.pid is not None and self._fd is not None and self._list is not None

    def exited(self) -> None:
        """The reaper saw it go."""
        self.pid = None
        self._drop()

    def start(self) -> int | None:
        """Start the watchdog with an empty list; its pid (ours to reap), or None if it
        cannot run. The caller tells it the live groups."""
        self._live.clear()
        self._cgroup, self._lines = None, 0
        try:
            self._list = _create(self.list_path)
        except OSError as exc:
            log.warning("no watchdog (%s): grandchildren may outlive a killed daemon", exc)
            return None
        read_fd, write_fd = os.pipe2(os.O_CLOEXEC)
        try:
            popen = subprocess.Popen(
                ["/bin/sh", "-c", SCRIPT, "procman-watchdog", self.list_path],
                stdin=read_fd,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,  # a signal to the daemon's group does not reach it
                close_fds=True,
            )
        except OSError as exc:
            log.warning("no watchdog (%s): grandchildren may outlive a killed daemon", exc)
            os.close(write_fd)
            self._drop()
            return None
        finally:
            os.close(read_fd)
        popen.returncode = 0  # reaped by our own reaper, not by Popen
        self.pid, self._fd = popen.pid, write_fd
        return popen.pid

    @property
    def fds(self) -> tuple[int, int] | None:
        """The pipe's write end and the list's, kept open across a daemon update."""
        if self._fd is None or self._list is None:
            return None
        return self._fd, self._list

    def adopt(self, pid: int, fd: int, list_fd: int) -> None:
        """The watchdog an older image of this daemon started (`procman update`): same pipe
        and list, so the groups it was told about stay listed."""
        self.pid, self._fd, self._list = pid, fd, list_fd
        try:
            with open(self.list_path) as f:
                lines = f.read().splitlines()
        except OSError as exc:
            log.warning("cannot read the watchdog's list %s (%s)", self.list_path, exc)
            return
        for line in lines:
            kind, rest = line[:1], line[1:]
            if kind == "+" and rest.isdigit():
                self._live.add(int(rest))
            elif kind == "-" and rest.isdigit():
                self._live.discard(int(rest))
            elif kind == "c":
                self._cgroup = rest

    def watch(self, pgid: int) -> None:
        self._live.add(pgid)
        self._send(f"+{pgid}")

    def forget(self, pgid: int) -> None:
        self._live.discard(pgid)
        self._send(f"-{pgid}")

    def cgroup(self, path: object) -> None:
        """The cgroup that holds every instance's: cgroup.kill'ed if the daemon dies."""
        self._cgroup = str(path)
        self._send(f"c{path}")

    def close(self) -> None:
        """A clean exit: no list, then EOF, so the watchdog just exits."""
        self.closed = True
        if self._list is not None:
            _unlink(self.list_path)
        self._drop()

    def _send(self, line: str) -> None:
        if self._list is None:
            return
        try:
            os.write(self._list, f"{line}\n".encode())
            self._lines += 1
            if self._lines > 2 * len(self._live) + COMPACT_FLOOR:
                self._compact()
        except OSError as exc:  # a full disk: new spawns take the death signal instead
            log.warning("cannot write the watchdog's list %s (%s)", self.list_path, exc)
            os.close(self._list)
            self._list = None

    def _compact(self) -> None:
        """The live lines to a new file, renamed over the list: whole either way."""
        assert self._list is not None
        lines = [f"c{self._cgroup}"] if self._cgroup is not None else []
        lines += [f"+{pgid}" for pgid in self._live]
        fresh = f"{self.list_path}.new"
        fd = _create(fresh)
        try:
            os.write(fd, "".join(f"{line}\n" for line in lines).encode())
            os.replace(fresh, self.list_path)
        except OSError:
            os.close(fd)
            _unlink(fresh)
            raise
        os.close(self._list)
        self._list, self._lines = fd, len(lines)

    def _drop(self) -> None:
        for fd in (self._fd, self._list):
            if fd is not None:
                os.close(fd)
        self._fd = self._list = None


def _create(path: str) -> int:
    """An empty list file, ours alone, to append to."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND | os.O_CLOEXEC
    return os.open(path, flags, 0o600)


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
