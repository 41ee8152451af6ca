"""The Spawner that instances call: the environment of a new process, its spawn (through
spawn.py), and the registrations that go with it (the reaper for its exit, the watchdog for
its group, the log hub for its output), plus pid -> instance for whoever needs to ask."""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Callable
from pathlib import Path

from procman.daemon import spawn
from procman.daemon.instance import Instance
from procman.daemon.listeners import HeldSockets
from procman.daemon.logs import LogHub
from procman.daemon.readiness import ReadinessTracker
from procman.daemon.reaper import Reaper
from procman.daemon.watchdog import Watchdog
from procman.errors import SpawnError

log = logging.getLogger("procman.launcher")

EnvFor = Callable[[Instance], dict[str, str]]


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
        readiness: ReadinessTracker | None = None,
    ) -> None:
        self.project, self.env_for, self.held = project, env_for, held
        self.logs, self.reaper, self.watchdog = logs, reaper, watchdog
        self.readiness = readiness
        self.by_pid: dict[int, Instance] = {}

    def spawn(self, inst: Instance) -> int:
        ptype = inst.ptype
        env = self.env_for(inst)
        if self.readiness is not None:
            self.readiness.prepare(inst, env)
        listener = self.held.get(inst.id)
        try:
            popen, fd = spawn.spawn_process(
                ptype.cmd,
                env,
                ptype.cwd or self.project,
                listener.fileno() if listener is not None else None,
                ptype.name,
            )
        except OSError as exc:  # out of fds or memory: a failed start, not a daemon crash
            raise SpawnError(f"cannot start {inst.id}: {exc}") from None
        pid = popen.pid
        # Registered before we return to the loop, so SIGCHLD cannot beat us to it.
        self.adopt(inst, pid, popen)
        self.watchdog.watch(pid)
        self.logs.attach(fd, ptype.name, str(inst.id))
        return pid

    def adopt(self, inst: Instance, pid: int, popen: subprocess.Popen | None = None) -> None:
        """pid is inst's process: its exit goes to inst. Also how the new image of an
        updated daemon takes over a process the old image started (no Popen then, and the
        watchdog knows its group already)."""
        self.by_pid[pid] = inst

        def exited(pid: int, code: int) -> None:
            if popen is not None:
                popen.returncode = code
            self.by_pid.pop(pid, None)
            inst.exited(pid, code)  # which SIGKILLs what is left of the group
            self.watchdog.forget(pid)

        self.reaper.watch(pid, exited)

    def kill_group(self, pid: int, sig: int) -> None:
        spawn.kill_group(pid, sig)

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
