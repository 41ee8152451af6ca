"""What an instance started, including what left its process group: found and ended.

killpg reaches an instance's process group. A descendant that called setsid (or
daemonized with a double fork) has left it; the daemon is its child subreaper, so such a
process stays in the daemon's subtree (re-parented to the daemon when its parents exit),
and this module finds it and ends it with its instance: at stop, restart, a crash, and
shutdown.

Two ways, picked once at start:

- **cgroup v2**, where the daemon's own cgroup is writable (root, or a delegated subtree
  as systemd gives a user service with `Delegate=yes`): each process an instance starts
  runs in a cgroup of its own under `<daemon's cgroup>/procman-<pid>/`. The daemon moves
  itself into the new cgroup for the fork and back right after, so the child is born in it
  (no window in which it could fork outside). Nothing escapes a cgroup: a stop sends its
  signal to every process listed in `cgroup.procs`, and once the main process is gone,
  `cgroup.kill` ends the rest, as systemd does.
- **/proc** otherwise: a walk of /proc/*/stat builds the daemon's subtree. A descendant
  still below its instance's main process belongs to it by ancestry; one re-parented to
  the daemon is recognised by PROCMAN_RUN in its environment (a token each spawn sets,
  inherited by whatever the process starts), or by an earlier walk that saw its ancestry.
  What it cannot attribute (an environment wiped, a token changed) is ended at shutdown.

PROCMAN_CGROUP=0 in the daemon's environment forces the /proc way.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

log = logging.getLogger("procman.descendants")

Later = Callable[[float, Callable[[], None]], Any]  # loop.call_later
RUN_VAR = "PROCMAN_RUN"
CLOSE_WAIT = 1.0  # seconds shutdown waits for killed processes to leave their cgroups


class Spawn:
    """One spawn in progress: its token, and (cgroup tree) the cgroup it is born in."""

    __slots__ = ("token", "folder", "pid")

    def __init__(self, token: str, folder: Path | None = None) -> None:
        self.token, self.folder = token, folder
        self.pid: int | None = None


class Tree(Protocol):
    kind: str
    home: Path | None

    def placing(self, token: str) -> contextlib.AbstractContextManager[Spawn]:
        """Around the spawn of one process; set .pid on what it yields once it exists."""

    def signal(self, pid: int, sig: int) -> None:
        """sig to what pid started that is outside its process group."""

    def exited(self, pid: int) -> None:
        """pid (an instance's main process) is gone: SIGKILL whatever it left, forget it."""

    def end_all(self) -> int:
        """Shutdown: SIGKILL every descendant that is left; how many there were."""

    def close(self) -> None: ...


def pick(later: Later, env: dict[str, str], keep: set[int]) -> Tree:
    """The cgroup tree where the daemon may write its own cgroup, else the /proc walk.
    keep: pids of the daemon's own helpers (the watchdog), never ended."""
    if env.get("PROCMAN_CGROUP", "1").lower() not in ("0", "no", "off", "false"):
        place = own_cgroup()
        if place is not None:
            try:
                return CgroupTree(place, later, keep)
            except OSError as exc:
                log.info("no cgroup of our own under %s (%s): using /proc", place, exc)
    return ProcTree(later, keep)


def end_subtree(keep: set[int]) -> int:
    """SIGKILL every live descendant of the daemon but `keep`; how many."""
    left = [p for p in subtree(os.getpid()).values() if p.pid not in keep]
    for proc in left:
        _signal(proc.pid, signal.SIGKILL)
    return len(left)


# -- cgroup v2 -----------------------------------------------------------------------------


def own_cgroup() -> Path | None:
    """The directory of this process's cgroup v2, if it is mounted and writable by us."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
        mounts = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return None
    rel = next((line[3:] for line in lines if line.startswith("0::")), None)
    if rel is None:
        return None
    for line in mounts:
        left, _, right = line.partition(" - ")
        if right.split(" ", 1)[0] != "cgroup2":
            continue
        fields = left.split()
        root, mount = fields[3], fields[4]
        if not rel.startswith(root.rstrip("/") + "/") and rel != root:
            continue
        folder = Path(mount) / rel[len(root.rstrip("/")) :].lstrip("/")
        procs = folder / "cgroup.procs"
        if os.access(folder, os.W_OK) and os.access(procs, os.W_OK):
            return folder
    return None


class CgroupTree:
    """`<the daemon's cgroup>/procman-<pid>/run-N/`: one cgroup per process an instance
    started. The daemon itself stays in its own cgroup, except for the instant of a fork.
    A SIGKILLed daemon's are ended and removed by the watchdog (watchdog.py)."""

    kind = "cgroup"

    def __init__(self, parent: Path, later: Later, keep: set[int]) -> None:
        self.parent, self.later, self.keep = parent, later, keep
        home = parent / f"procman-{os.getpid()}"  # exists already after an exec in place
        home.mkdir(exist_ok=True)
        if not (home / "cgroup.kill").exists():  # Linux < 5.14
            _rmdir(home)
            raise OSError("no cgroup.kill (Linux 5.14 or later needed)")
        self.root = home
        self.home: Path | None = home
        self.by_pid: dict[int, Path] = {}
        self._serial = max([0, *(_serial_of(f) for f in home.glob("run-*"))])

    def adopt(self, pid: int) -> None:
        """A live instance process found after an exec in place: its cgroup is in /proc."""
        rel = _cgroup_of(pid)
        if rel is not None and Path(rel).parent.name == self.root.name:
            self.by_pid[pid] = self.root / Path(rel).name

    @contextlib.contextmanager
    def placing(self, token: str) -> Iterator[Spawn]:
        self._serial += 1
        folder = self.root / f"run-{self._serial}"
        try:
            folder.mkdir()
            _write(folder / "cgroup.procs", "0")  # the daemon itself, for the fork only
        except OSError as exc:
            log.warning("cannot use cgroup %s (%s); only shutdown ends its strays", folder, exc)
            _rmdir(folder)
            yield Spawn(token)
            return
        spawn = Spawn(token, folder)
        try:
            yield spawn
        finally:
            try:
                _write(self.parent / "cgroup.procs", "0")
            except OSError as exc:  # cannot happen while the parent is ours; say so if it does
                log.error("cannot move the daemon back to %s: %s", self.parent, exc)
            if spawn.pid is None:
                _rmdir(folder)
            else:
                self.by_pid[spawn.pid] = folder

    def signal(self, pid: int, sig: int) -> None:
        folder = self.by_pid.get(pid)
        if folder is None:
            return
        if sig == signal.SIGKILL:
            _kill_cgroup(folder)
            return
        for member in _members(folder):
            if member != pid and _pgid(member) != pid:  # the group had killpg already
                _signal(member, sig)

    def exited(self, pid: int) -> None:
        folder = self.by_pid.pop(pid, None)
        if folder is not None:
            _kill_cgroup(folder)
            self._remove(folder, 0.001)

    def end_all(self) -> int:
        folders = list(self.by_pid.values())
        count = sum(len(_members(folder)) for folder in folders)
        for folder in folders:
            _kill_cgroup(folder)
        self.by_pid.clear()
        return count + end_subtree(self.keep)  # anything spawned when no cgroup could be made

    def close(self) -> None:
        """Remove our cgroups; what was killed in them may take a moment to go."""
        delay, deadline = 0.001, time.monotonic() + CLOSE_WAIT
        while True:
            left = [f for f in self.root.glob("run-*") if not _rmdir(f)]
            if _rmdir(self.root) or time.monotonic() > deadline:
                if left:
                    log.warning("cgroups left behind: %s", ", ".join(map(str, left)))
                return
            time.sleep(delay)  # shutdown's last step: nothing else waits on the loop
            delay = min(delay * 2, 0.05)

    def _remove(self, folder: Path, delay: float) -> None:
        """rmdir once the killed processes are gone (it fails while any is still dying)."""
        if _rmdir(folder) or delay > 1.0:
            return
        self.later(delay, lambda: self._remove(folder, delay * 4))


def _serial_of(folder: Path) -> int:
    tail = folder.name.partition("-")[2]
    return int(tail) if tail.isdigit() else 0


def _cgroup_of(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/cgroup") as f:
            for line in f:
                if line.startswith("0::"):
                    return line[3:].strip()
    except OSError:
        return None
    return None


def _kill_cgroup(folder: Path) -> None:
    try:
        _write(folder / "cgroup.kill", "1")
    except OSError:
        pass


def _members(folder: Path) -> list[int]:
    try:
        return [int(x) for x in (folder / "cgroup.procs").read_text().split()]
    except (OSError, ValueError):
        return []


def _rmdir(folder: Path) -> bool:
    try:
        folder.rmdir()
        return True
    except FileNotFoundError:
        return True
    except OSError:
        return False


def _write(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


# -- /proc ---------------------------------------------------------------------------------


class Proc:
    """One line of /proc/<pid>/stat, the fields we use."""

    __slots__ = ("pid", "ppid", "pgid", "start")

    def __init__(self, pid: int, ppid: int, pgid: int, start: int) -> None:
        self.pid, self.ppid, self.pgid, self.start = pid, ppid, pgid, start


def read_stat(pid: int) -> Proc | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return parse_stat(pid, f.read())
    except OSError:
        return None


def parse_stat(pid: int, data: bytes) -> Proc | None:
    """A live process's ppid, pgid and start time; None for a zombie (the reaper has it)."""
    rest = data[data.rfind(b")") + 2 :].split()  # the name may hold spaces and parentheses
    if len(rest) < 20 or rest[0] in (b"Z", b"X"):
        return None
    return Proc(pid, int(rest[1]), int(rest[2]), int(rest[19]))


def subtree(root: int) -> dict[int, Proc]:
    """Every live process below root (root excluded), by pid."""
    procs: dict[int, Proc] = {}
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        proc = read_stat(int(name))
        if proc is not None:
            procs[proc.pid] = proc
            children.setdefault(proc.ppid, []).append(proc.pid)
    found: dict[int, Proc] = {}
    todo = list(children.get(root, ()))
    while todo:
        pid = todo.pop()
        if pid in procs and pid not in found:
            found[pid] = procs[pid]
            todo.extend(children.get(pid, ()))
    return found


def run_token(pid: int) -> str | None:
    """PROCMAN_RUN from a process's environment, if it is there."""
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            data = f.read()
    except OSError:
        return None
    key = RUN_VAR.encode() + b"="
    for item in data.split(b"\0"):
        if item.startswith(key):
            return item[len(key) :].decode(errors="replace")
    return None


class ProcTree:
    kind = "proc"
    home: Path | None = None

    def __init__(self, later: Later, keep: set[int]) -> None:
        self.later, self.keep = later, keep
        self.me = os.getpid()
        self.leaders: dict[int, str] = {}  # live main process -> its token
        self.seen: dict[tuple[int, int], int] = {}  # (pid, start time) -> leader, from walks

    @contextlib.contextmanager
    def placing(self, token: str) -> Iterator[Spawn]:
        spawn = Spawn(token)
        yield spawn
        if spawn.pid is not None:
            self.leaders[spawn.pid] = token

    def owned(self, leader: int) -> list[Proc]:
        """Walk the daemon's subtree; what leader started (its main process excluded)."""
        tree = subtree(self.me)
        tokens = {token: pid for pid, token in self.leaders.items()}
        mine = []
        for proc in tree.values():
            if proc.pid in self.leaders or proc.pid in self.keep:
                continue
            owner = self._owner(proc, tree, tokens)
            if owner is not None:
                self.seen[(proc.pid, proc.start)] = owner
                if owner == leader:
                    mine.append(proc)
        return mine

    def _owner(self, proc: Proc, tree: dict[int, Proc], tokens: dict[str, int]) -> int | None:
        chain: list[Proc] = []
        at: Proc | None = proc
        while at is not None:  # up to a main process, or to the daemon
            if at.ppid in self.leaders:
                return at.ppid
            chain.append(at)
            at = tree.get(at.ppid)
        for at in chain:  # below the daemon: whose, by an earlier walk or by the token
            known = self.seen.get((at.pid, at.start))
            if known is not None:
                return known
            token = run_token(at.pid)
            if token in tokens:
                return tokens[token]
        return None

    def signal(self, pid: int, sig: int) -> None:
        for proc in self.owned(pid):
            if proc.pgid != pid:  # the group had killpg already
                _signal(proc.pid, sig)

    def exited(self, pid: int) -> None:
        # after the restart that may follow: the walk costs milliseconds, and what the
        # process left is attributed by token or by an earlier walk, not by its ancestry
        self.later(0, lambda: self._reap(pid))

    def _reap(self, pid: int) -> None:
        for proc in self.owned(pid):
            _signal(proc.pid, signal.SIGKILL)
        self.leaders.pop(pid, None)
        self.seen = {k: v for k, v in self.seen.items() if v != pid}

    def end_all(self) -> int:
        self.leaders.clear()
        self.seen.clear()
        return end_subtree(self.keep)

    def close(self) -> None:
        pass


# -- helpers ---------------------------------------------------------------------------------


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except OSError:
        return None


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except OSError:
        pass
