"""`procman update`, the old image's side: is this a moment to hand over, the description
of what runs, does the installed code take it (a dry run), and the exec itself, undone if
it fails. handover.py holds the format both images share and the new image's side."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from procman import __version__
from procman.daemon.handover import (
    FORMAT,
    HELD_SIGNALS,
    Resume,
    Supervisor,
    instance_facts,
    read_all,
)
from procman.errors import ErrorCode, ProcmanError
from procman.model import InstanceState
from procman.plain import to_plain

if TYPE_CHECKING:
    from procman.daemon.notify import NotifySocket
    from procman.daemon.server import ControlServer, Handoff
    from procman.daemon.watchdog import Watchdog

log = logging.getLogger("procman.updater")

CHECK_TIMEOUT = 30.0  # seconds the dry run of the installed code may take
Busy = Callable[[], "str | None"]


def busy(supervisor: Supervisor) -> str | None:
    """Why this is no moment to hand over, or None. A drain, a rollout or a retiring type
    is work under way in a coroutine, and coroutines do not survive an exec."""
    if supervisor.waiters.pending:  # a verb outside the control socket: the foreground start
        return "a verb is still waiting for its instances"
    if supervisor.background:  # a scale-down's drain, a watch or cron refresh
        return "the daemon is still draining, reloading or restarting in the background"
    in_slots = set()
    for group in supervisor.groups.values():
        if not group.defined:
            return f"type {group.name} is being removed"
        for inst in group.instances():
            in_slots.add(id(inst))
            if inst.draining:
                return f"{inst.id} is draining"
            surplus = inst.index >= group.desired
            if surplus and inst.state in (InstanceState.STARTING, InstanceState.RUNNING):
                return f"{inst.id} is being scaled away"
    for inst in supervisor.launcher.by_pid.values():
        if inst.replacement or id(inst) not in in_slots:
            return f"a reload is replacing {inst.id}"
    return None


def describe(supervisor: Supervisor) -> dict[str, Any]:
    """The formation, the counts and every instance, with the fds of listeners and pipes."""
    if supervisor.formation is None:
        formation = source = None
    else:
        formation = to_plain(supervisor.formation)
        source = supervisor.source.to_dict() if supervisor.source else None
    groups = []
    for group in supervisor.groups.values():
        scaler = group.scaler
        groups.append(
            {
                "name": group.name,
                "desired": group.desired,
                "scaler": None
                if scaler is None
                else {
                    "manual": scaler.manual,
                    "target": scaler.target,
                    "last": scaler.last,
                    "decided": scaler.decided,
                    "history": [list(item) for item in scaler.history],
                },
                "instances": [instance_facts(i) for i in group.instances()],
            }
        )
    held = supervisor.held
    owner = {id(sock): iid for iid, sock in held.socks.items()}
    ports = []
    for port, members in held.groups.items():
        ports.append(
            {
                "port": port,
                "attached": members.attached,
                "broken": members.broken,
                # in the kernel's order of the reuseport group, which steering relies on
                "members": [
                    [owner[id(s)].type, owner[id(s)].index, s.fileno()] for s in members.members
                ],
            }
        )
    pipes = [
        {"fd": fd, "type": type_name, "label": label, "stream": stream,
         "partial": partial.decode("latin-1")}
        for fd, type_name, label, stream, partial in supervisor.logs.pipes()
    ]  # fmt: skip
    return {
        "format": FORMAT,
        "version": __version__,
        "pid": os.getpid(),
        "project": str(supervisor.project),
        "monotonic": time.monotonic(),
        "wall": time.time(),
        "formation": formation,
        "source": source,
        "read": [list(stamp) for stamp in supervisor.read],
        "groups": groups,
        "listeners": ports,
        "pipes": pipes,
        "dropped_log_lines": supervisor.logs.dropped_lines,
    }


class Updater:
    """main builds it with the parts whose fds must survive the exec."""

    def __init__(
        self,
        supervisor: Supervisor,
        *,
        server: ControlServer,
        notify: NotifySocket,
        watchdog: Watchdog,
        lock: int,
        foreground: dict[str, Any] | None,
        log_level: int,
        metrics_port: int | None,
    ) -> None:
        self.supervisor, self.server, self.notify = supervisor, server, notify
        self.watchdog, self.lock = watchdog, lock
        self.foreground, self.log_level, self.metrics_port = foreground, log_level, metrics_port
        self.started = time.time()

    async def prepare(self, busy_elsewhere: Busy, started: float) -> Handoff:
        """Check that a hand-over can happen and that the installed code takes it; then
        give the server a Handoff that execs, keeping the caller's connection open."""
        from procman.daemon.server import Handoff

        self._check_quiet(busy_elsewhere)
        self.started = started  # the daemon's start (unix time), for `ping` after the exec
        try:
            description = self.description()
        except TypeError as exc:
            raise ProcmanError(f"cannot describe this daemon for the update: {exc}") from None
        new_version = await self._dry_run(description)

        def take(conn_fd: int, req_id: Any) -> None:
            self._check_quiet(busy_elsewhere)  # the dry run awaited: look again
            self.exec_now(conn_fd, req_id, new_version)

        return Handoff(take)

    def _check_quiet(self, busy_elsewhere: Busy) -> None:
        reason = busy_elsewhere() or busy(self.supervisor)
        if reason:
            raise ProcmanError(
                f'cannot update now: {reason}; run "procman update" again once it is done',
                ErrorCode.FAILED,
            )

    def description(self, reply: dict[str, Any] | None = None) -> dict[str, Any]:
        """describe() plus what only main knows: how it runs and the fds of its parts."""
        watchdog_fds = self.watchdog.fds
        return {
            **describe(self.supervisor),
            "foreground": self.foreground,
            "log_level": self.log_level,
            "metrics_port": self.metrics_port,
            "started": self.started,
            "fds": {
                "lock": self.lock,
                "control": self.server.listening_fd(),
                "notify": self.notify.sock.fileno() if self.notify.sock else None,
                "watchdog": None if watchdog_fds is None else [self.watchdog.pid, *watchdog_fds],
            },
            "reply": reply,
        }

    async def _dry_run(self, description: dict[str, Any]) -> str:
        """`python -m procman.daemon --check-update` on the description: the version it
        would run, or ProcmanError saying why it cannot. Awaited, not waited for: the
        loop goes on serving while the new code imports."""
        from procman.daemon import spawn

        loop = asyncio.get_running_loop()
        stdin = memfd("procman-update-check", json.dumps(description).encode())
        stdout = memfd("procman-update-check-out", b"")
        argv = [sys.executable, "-m", "procman.daemon", "--check-update"]
        try:
            popen = spawn.spawn_helper(argv, stdin, stdout)
        except OSError as exc:
            os.close(stdout)
            raise ProcmanError(f"cannot run {sys.executable}: {exc.strerror or exc}") from None
        finally:
            os.close(stdin)
        done: asyncio.Future[int] = loop.create_future()

        def exited(pid: int, code: int) -> None:
            popen.returncode = code
            if not done.done():
                done.set_result(code)

        self.supervisor.launcher.reaper.watch(popen.pid, exited)
        try:
            code = await asyncio.wait_for(asyncio.shield(done), CHECK_TIMEOUT)
            output = read_all(stdout).decode(errors="replace")
        except asyncio.TimeoutError:
            os.kill(popen.pid, signal.SIGKILL)  # reaped by the reaper, like any child
            raise ProcmanError(
                f"the installed procman did not finish its check within {CHECK_TIMEOUT:g}s; "
                "the daemon carries on unchanged",
                ErrorCode.FAILED,
            ) from None
        finally:
            os.close(stdout)
        lines = output.strip().splitlines()
        try:
            answer = json.loads(lines[-1]) if lines else {}
        except ValueError:
            answer = {}
        if not isinstance(answer, dict):
            answer = {}
        if code == 0 and answer.get("ok"):
            return str(answer.get("version"))
        why = answer.get("error") or (lines[-1] if lines else f"it exited with code {code}")
        raise ProcmanError(
            f"the installed procman cannot take over ({why}); the daemon carries on unchanged",
            ErrorCode.FAILED,
        )

    def exec_now(self, conn_fd: int, req_id: Any, new_version: str) -> None:
        """Exec the installed code with what must survive. Returns only by raising
        ProcmanError, with everything as it was: the exec failed."""
        reply = {
            "fd": conn_fd,
            "id": req_id,
            "old_version": __version__,
            "new_version": new_version,
            "exec_at": time.monotonic(),
        }
        self.supervisor.logs.settle()  # every line handed over is in the files
        description = self.description(reply)
        keep = Resume(description).kept_fds()  # which also reads back what was written
        data_fd = memfd("procman-update", json.dumps(description).encode())
        argv = [sys.executable, "-m", "procman.daemon", "--resume", str(data_fd)]
        log.info("update: exec %s (procman %s -> %s)", " ".join(argv), __version__, new_version)
        try:
            exec_keeping(argv, [*keep, data_fd])
        finally:
            os.close(data_fd)  # reached only when the exec failed


def exec_keeping(argv: list[str], keep: list[int]) -> None:
    """execv with exactly `keep` (besides 0-2) open in the new image and HELD_SIGNALS
    blocked, so a signal in the window waits for the new image's handlers instead of
    killing it (a blocked mask and pending signals survive an exec). On failure, undo
    both and raise ProcmanError."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):
            pass
    old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, HELD_SIGNALS)
    try:
        for fd in keep:
            os.set_inheritable(fd, True)
        os.execv(argv[0], argv)
    except OSError as exc:
        for fd in keep:
            try:
                os.set_inheritable(fd, False)
            except OSError:
                pass
        signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
        raise ProcmanError(
            f"cannot exec {argv[0]}: {exc.strerror or exc}; the daemon carries on unchanged",
            ErrorCode.FAILED,
        ) from None


def memfd(name: str, data: bytes) -> int:
    """An anonymous file holding data, its offset at 0 (where memfd_create is missing, an
    unlinked temporary file)."""
    try:
        fd = os.memfd_create(name)
    except (AttributeError, OSError):
        import tempfile

        with tempfile.TemporaryFile() as tmp:
            fd = os.dup(tmp.fileno())
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
    os.lseek(fd, 0, os.SEEK_SET)
    return fd
