"""Each process an instance starts in a cgroup v2 of its own, where the daemon's cgroup is
writable: `<the daemon's cgroup>/procman-<pid>/run-N/` (see descendants.py for why and for
the /proc walk used otherwise). Nothing an instance starts can leave its cgroup; a stop
signals everything listed in `cgroup.procs`, and `cgroup.kill` ends the rest once the main
process is gone, as systemd does."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

from procman.daemon.descendants import Later, Spawn, end_subtree, pgid_of, send

log = logging.getLogger("procman.cgroups")

CLOSE_WAIT = 1.0  # seconds shutdown waits for killed processes to leave their cgroups


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
    started. A SIGKILLed daemon's are ended and removed by the watchdog (watchdog.py).

    Moving a process between cgroups waits for an RCU grace period when none has just
    passed: about a millisecond on an idle box, 10 ms and more on a loaded one, measured
    here. So the daemon never moves right before a fork: it waits "parked" in a fresh, empty
    run-N, forks there (the child is born in its cgroup, with no window to fork outside),
    and only then moves on to the next fresh one, while the new process already runs. A
    burst of spawns pays about one grace period in all. The next one is made before the
    fork, not after the move: a mkdir right after a move cost ~80 µs against ~16 µs
    (1,000 spawns: 110 ms of cgroup work down to 50, measured side by side)."""

    kind = "cgroup"

    def __init__(self, parent: Path, later: Later, keep: set[int]) -> None:
        self.later, self.keep = later, keep
        me = f"procman-{os.getpid()}"
        if parent.parent.name == me and parent.name.startswith("run-"):
            parent = parent.parent.parent  # exec'd in place while parked: ours already
        self.parent = parent
        home = parent / me
        home.mkdir(exist_ok=True)
        if not (home / "cgroup.kill").exists():  # Linux < 5.14
            _rmdir(home)
            raise OSError("no cgroup.kill (Linux 5.14 or later needed)")
        self.root = home
        self.home: Path | None = home
        # str, not Path: a Path keeps its parsed parts, ~1 KiB an instance more (RSS slope)
        self.by_pid: dict[int, str] = {}
        self._me = f"{os.getpid()}\n".encode()  # cgroup.procs holding only the daemon
        self._serial = max([0, *(_serial_of(f) for f in home.glob("run-*"))])
        self.parked: str | None = None  # the empty cgroup the daemon waits in
        self.ready: str | None = None  # the next one, made ahead
        if not self._park():
            _rmdir(home)
            raise OSError("cannot move the daemon into a cgroup of its own")

    def adopt(self, pid: int) -> None:
        """A live instance process found after an exec in place: its cgroup is in /proc."""
        rel = _cgroup_of(pid)
        if rel is not None and Path(rel).parent.name == self.root.name:
            self.by_pid[pid] = str(self.root / Path(rel).name)

    @contextlib.contextmanager
    def placing(self, token: str) -> Iterator[Spawn]:
        # Parked, the daemon forks into the next instance's cgroup: anything else it started
        # meanwhile (`procman update`'s dry run of the installed code, say) is there too, and
        # must not share that instance's cgroup.kill. So a parked cgroup that holds more than
        # the daemon is left to what is in it (ended at shutdown), and the daemon moves on
        # (this move waits before the fork: rare). Also where the last move failed.
        if self.parked is None or not self._only_me(self.parked):
            self._park()
        if self.ready is None:
            self.ready = self._fresh()
        spawn = Spawn(token, self.parked)
        try:
            yield spawn
        finally:
            if spawn.pid is not None and spawn.folder is not None:
                self.by_pid[spawn.pid] = spawn.folder
                self._park()  # leave the child its cgroup; it runs already

    def _only_me(self, folder: str) -> bool:
        try:
            fd = os.open(f"{folder}/cgroup.procs", os.O_RDONLY)
        except OSError:
            return False
        try:
            return os.read(fd, 64) == self._me
        except OSError:
            return False
        finally:
            os.close(fd)

    def _make(self) -> str:
        self._serial += 1
        folder = f"{self.root}/run-{self._serial}"
        os.mkdir(folder)
        return folder

    def _fresh(self) -> str | None:
        """The next cgroup, made ahead; None if it cannot be (the move will say why)."""
        try:
            return self._make()
        except OSError:
            return None

    def _park(self) -> bool:
        """Move the daemon into a fresh empty cgroup (the one made ahead, if any) for the
        next fork."""
        folder, self.ready = self.ready, None
        try:
            folder = folder or self._make()
            _write(f"{folder}/cgroup.procs", "0")
        except OSError as exc:
            if folder is not None:
                _rmdir(folder)
            try:
                _write(self.parent / "cgroup.procs", "0")
            except OSError:  # stuck where we are: never cgroup.kill that one (see _kill)
                pass
            if self.parked is not None:
                log.warning(
                    "cannot move to cgroup %s (%s): new processes get none",
                    folder or self.root,
                    exc,
                )
            self.parked = None
            return False
        self.parked = folder
        return True

    def signal(self, pid: int, sig: int) -> None:
        folder = self.by_pid.get(pid)
        if folder is None:
            return
        if sig == signal.SIGKILL:
            self._kill(folder)
            return
        for member in _members(folder):
            # the group had killpg already; the daemon may be in the cgroup for a moment
            if member not in (pid, os.getpid()) and pgid_of(member) != pid:
                send(member, sig)

    def exited(self, pid: int) -> None:
        folder = self.by_pid.pop(pid, None)
        if folder is not None:
            self._kill(folder)
            self._remove(folder, 0.001)

    def end_all(self) -> int:
        folders = list(self.by_pid.values())
        count = sum(len(_members(folder)) for folder in folders)
        for folder in folders:
            self._kill(folder)
        self.by_pid.clear()
        return count + end_subtree(self.keep)  # anything spawned when no cgroup could be made

    def close(self) -> None:
        """Step back into the daemon's own cgroup and remove ours; what was killed in them
        may take a moment to go."""
        try:
            _write(self.parent / "cgroup.procs", "0")
        except OSError as exc:
            log.warning("cannot move back to %s (%s): cgroups left behind", self.parent, exc)
            return
        self.parked = None
        delay, deadline = 0.001, time.monotonic() + CLOSE_WAIT
        while True:
            left = [f for f in self.root.glob("run-*") if not _rmdir(f)]
            if _rmdir(self.root) or time.monotonic() > deadline:
                if left:
                    log.warning("cgroups left behind: %s", ", ".join(map(str, left)))
                return
            time.sleep(delay)  # shutdown's last step: nothing else waits on the loop
            delay = min(delay * 2, 0.05)

    def _kill(self, folder: str) -> None:
        """cgroup.kill, unless the daemon is in that cgroup (a failed move): then each other
        process in it."""
        members = _members(folder)
        if os.getpid() not in members:
            _kill_cgroup(folder)
            return
        for pid in members:
            if pid != os.getpid():
                send(pid, signal.SIGKILL)

    def _remove(self, folder: str, delay: float) -> None:
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


def _kill_cgroup(folder: str) -> None:
    try:
        _write(f"{folder}/cgroup.kill", "1")
    except OSError:
        pass


def _members(folder: str | Path) -> list[int]:
    try:
        with open(f"{folder}/cgroup.procs", "rb") as f:
            return [int(x) for x in f.read().split()]
    except (OSError, ValueError):
        return []


def _rmdir(folder: str | Path) -> bool:
    try:
        os.rmdir(folder)
        return True
    except FileNotFoundError:
        return True
    except OSError:
        return False


def _write(path: str | Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)
