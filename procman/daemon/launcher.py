"""The Spawner that instances call: the environment of a new process, its spawn (through
spawn.py), and the registrations that go with it (the reaper for its exit, the watchdog for
its group, the log hub for its stdout and stderr), plus pid -> instance for whoever needs to ask."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from procman.daemon import conflicts, descendants, limits, spawn
from procman.daemon.instance import Instance
from procman.daemon.listeners import HeldSockets
from procman.daemon.logfiles import ERR, OUT, LogQuery
from procman.daemon.logs import LogHub
from procman.daemon.readiness import ReadinessTracker
from procman.daemon.reaper import Reaper
from procman.daemon.watchdog import Watchdog
from procman.errors import SpawnError
from procman.model import ProcessType

log = logging.getLogger("procman.launcher")

EnvFor = Callable[[Instance], dict[str, str]]
#: What a process keeps of its definition once started: a change here needs a new process.
#: (restart policy, timeouts, readiness and limits apply to the running one at once.)
SPAWN_FIELDS = ("cmd", "env", "port", "socket", "cwd")


@dataclass(slots=True)
class Launch:
    """What one process of an instance was started with: `describe` and `env` show it, and
    `stale` says whether the formation installed since then would start it differently."""

    ptype: ProcessType
    files_env: Mapping[str, str]  # the env files' values then
    argv: list[str]  # what was exec'd (after setpriv)
    cwd: str
    env: Mapping[str, str]  # an EnvOver when this daemon spawned it
    listener: tuple[str, int] | None  # (host, port) of the listener on fd 3
    started: float  # unix time
    stale: bool = False

    def compare(self, ptype: ProcessType, files_env: Mapping[str, str]) -> None:
        if ptype is self.ptype and files_env is self.files_env:
            self.stale = False
            return
        self.stale = files_env != self.files_env or any(
            getattr(ptype, name) != getattr(self.ptype, name) for name in SPAWN_FIELDS
        )


class EnvOver(Mapping[str, str]):
    """A process's environment kept as what it changes in the daemon's base environment,
    which every instance shares: a whole copy per instance was ~1.5 KiB of the daemon's
    memory each (40-odd variables inherited, a dozen of procman's and the formation's)."""

    __slots__ = ("_base", "_own", "_gone")

    def __init__(self, env: Mapping[str, str], base: Mapping[str, str]) -> None:
        self._base = base
        self._own = {k: v for k, v in env.items() if base.get(k) != v}
        self._gone = frozenset(k for k in base if k not in env)

    def __getitem__(self, key: str) -> str:
        if key in self._own:
            return self._own[key]
        if key in self._gone:
            raise KeyError(key)
        return self._base[key]

    def __iter__(self) -> Iterator[str]:
        yield from self._own
        for key in self._base:
            if key not in self._own and key not in self._gone:
                yield key

    def __len__(self) -> int:
        return sum(1 for _ in self)


class Launcher:
    def __init__(
        self,
        project: Path,
        *,
        env_for: EnvFor,
        held: HeldSockets,
        logs: LogHub,
        reaper: Reaper,
        watchdog: Watchdog,
        later: descendants.Later,
        readiness: ReadinessTracker | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.project, self.env_for, self.held = project, env_for, held
        self.logs, self.reaper, self.watchdog = logs, reaper, watchdog
        self.readiness = readiness
        self.by_pid: dict[int, Instance] = {}
        # the watchdogs' pids: never swept as descendants
        self.helpers: set[int] = {watchdog.pid} if watchdog.pid else set()
        self.base_env = env if env is not None else dict(os.environ)  # never changed
        self.tree = descendants.pick(later, self.base_env, self.helpers)
        log.debug("descendants found by %s", self.tree.kind)
        self.rewatch()
        self.files_env: Mapping[str, str] = {}  # of the installed formation

    def rewatch(self) -> None:
        """Tell the watchdog (a new one, if the last died) the cgroup and every live group."""
        if self.watchdog.pid:
            self.helpers.add(self.watchdog.pid)
        if self.tree.home is not None:
            self.watchdog.cgroup(self.tree.home)
        for pgid in self.by_pid:
            self.watchdog.watch(pgid)

    def installed(self, files_env: Mapping[str, str], insts: Iterable[Instance]) -> None:
        """A (re-read) formation is installed: which processes now run an older definition."""
        self.files_env = files_env
        for inst in insts:
            if inst.launched is not None:
                inst.launched.compare(inst.ptype, files_env)

    def spawn(self, inst: Instance) -> int:
        ptype = inst.ptype
        env = self.env_for(inst)
        if self.readiness is not None:
            self.readiness.prepare(inst, env)
        listener = inst.listener = self.held.for_spawn(inst)
        token = env[descendants.RUN_VAR] = os.urandom(6).hex()  # marks what it starts
        try:
            with self.tree.placing(token) as placed:
                # while a watchdog runs it ends the instances if we die (their groups, and
                # the cgroup where there is one): no setpriv exec for the death signal
                popen, out_fd, err_fd = spawn.spawn_process(
                    ptype.cmd,
                    env,
                    ptype.cwd or self.project,
                    listener.fileno() if listener is not None else None,
                    ptype.name,
                    deathsig=not self.watchdog.running,
                )
                placed.pid = popen.pid
        except OSError as exc:  # out of fds or memory: a failed start, not a daemon crash
            why = limits.too_many_files(exc) or exc
            raise SpawnError(f"cannot start {inst.id}: {why}") from None
        pid = popen.pid
        limits.restore_child(pid)
        if listener is not None:
            env["LISTEN_PID"] = str(pid)  # what the shell sets for a simple command
        where = (self.held.host, ptype.port) if listener is not None and ptype.port else None
        argv = spawn.command_argv(ptype.cmd, listener is not None)  # as spawn_process ran it
        spawned = time.time()
        inst.launched = Launch(
            ptype,
            self.files_env,
            argv,
            str(ptype.cwd or self.project),
            EnvOver(env, self.base_env),
            where,
            spawned,
        )
        # Registered before we return to the loop, so SIGCHLD cannot beat us to it.
        self.adopt(inst, pid, popen, (out_fd, err_fd))
        self.watchdog.watch(pid)
        self.logs.attach(out_fd, ptype.name, str(inst.id), OUT)
        self.logs.attach(err_fd, ptype.name, str(inst.id), ERR)
        return pid

    def adopt(
        self,
        inst: Instance,
        pid: int,
        popen: subprocess.Popen | None = None,
        fds: tuple[int, ...] = (),
    ) -> None:
        """pid is inst's process, fds its output pipes: its exit goes to inst. Also how
        the new image of an updated daemon takes over a process the old image started (no
        Popen then, and the watchdog knows its group already)."""
        self.by_pid[pid] = inst
        if popen is None:  # taken over: what it started is found again (cgroup, token)
            self.tree.adopt(pid)
        launched = inst.launched
        spawned = launched.started if launched is not None else 0.0
        port = launched.env.get("PORT") if launched is not None else None

        def exited(pid: int, code: int) -> None:
            if popen is not None:
                popen.returncode = code
            self.by_pid.pop(pid, None)
            try:
                for fd in fds:  # its last words, before anyone looks at the exit
                    self.logs.read_now(fd)
                if conflicts.early(inst):
                    self._diagnose(inst, spawned, port)
            except Exception:  # a diagnosis must never keep the exit from its instance
                log.exception("diagnosing the exit of %s failed", inst.id)
            try:
                inst.exited(pid, code)  # which SIGKILLs what is left of the group
            finally:
                self.tree.exited(pid)  # and what left the group
                self.watchdog.forget(pid)

        self.reaper.watch(pid, exited)

    def _diagnose(self, inst: Instance, spawned: float, env_port: str | None) -> None:
        """An early exit: if its output says the address was in use, who holds the port."""
        lines = self.logs.tail(LogQuery(conflicts.TAIL_LINES, label=str(inst.id)))
        line = conflicts.bind_error([row[2] for row in lines if row[0] >= spawned])
        if line is None:
            inst.port_conflict = None
            return
        port = conflicts.port_of(env_port, inst.ptype, line)
        inst.port_conflict = conflicts.diagnose(inst, line, port, self.held, self.owner)
        self.logs.system(f"{inst.id}: {conflicts.describe(inst.port_conflict)}")

    def kill_group(self, pid: int, sig: int) -> None:
        """sig to pid's process group and to what it started outside the group."""
        spawn.kill_group(pid, sig)
        if pid in self.by_pid:  # not yet reaped; after the exit, tree.exited() does it
            self.tree.signal(pid, sig)

    def signal(self, insts: Iterable[Instance], signum: int, group: bool) -> None:
        """`procman signal`: to each instance's main process, or to its whole group."""
        send = spawn.kill_group if group else spawn.send_signal
        for inst in insts:
            if inst.pid is not None:
                send(inst.pid, signum)

    def kill_all(self) -> None:
        """SIGKILL every instance's process and what it started, now."""
        for pid in list(self.by_pid):
            self.kill_group(pid, signal.SIGKILL)

    def end_all(self, late: Iterable[object] = ()) -> None:
        """Shutdown, once the instances are down (or past their bound: `late`): SIGKILL
        whatever is left, remove our cgroups."""
        if late:
            log.warning("instances still up after their kill_timeout: killing them")
        left = self.tree.end_all()
        if left:
            log.warning("ended %d process(es) left behind by instances", left)
        self.tree.close()

    def owner(self, pid: int) -> Instance | None:
        """The instance whose process is pid or an ancestor of pid."""
        inst = self.by_pid.get(pid)
        if inst is not None:
            return inst
        import psutil

        try:
            for parent in psutil.Process(pid).parents():
                if parent.pid in self.by_pid:
                    return self.by_pid[parent.pid]
        except psutil.Error:
            pass
        return None
