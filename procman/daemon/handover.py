"""`procman update`, the hand-over: the description both images of the daemon share (its
format, instances as facts) and how the new image takes it over (Resume). updater.py is
the old image's side: when, what it writes down (describe), the dry run, the exec.

Same pid, so the instances stay the daemon's children. Open files survive an exec where
FD_CLOEXEC is off, so the old image clears it on exactly what must stay: the project lock,
the control socket, the `update` caller's connection, the sd_notify socket, the watchdog's
pipe, every held listener and every log pipe. The rest travels as one JSON document (the
formation, counts, every instance with its timers, which fd is which) in a memfd whose
number is the new image's only argument:

    old image (updater.py)                    new image, same pid (main.run with a Resume)
    prepare(): quiet? describe, dry run  ->
    exec_now(): describe again, memfd,        lock, control socket, notify socket and
      block TERM/INT/HUP/CHLD, execv     ==>  watchdog from the Resume; adopt(): groups,
                                              instances, listeners, pipes; finish(): the
                                              signals in, the exec window's zombies reaped
                                              (exits of their instances), `update` answered

The dry run is `python -m procman.daemon --check-update` with a description on its stdin
(check() below): the installed code must import and read it before anything is risked.
See docs/upgrade.md.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import time
from enum import Enum
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol

from procman import __version__, protocol
from procman.errors import ErrorCode, ProcmanError
from procman.model import Formation, InstanceId, InstanceState
from procman.plain import PLAIN, from_plain, to_plain

if TYPE_CHECKING:
    import asyncio

    from procman.config.load import Source
    from procman.daemon.group import Group
    from procman.daemon.instance import Instance
    from procman.daemon.launcher import Launcher
    from procman.daemon.listeners import HeldSockets
    from procman.daemon.logs import LogHub
    from procman.daemon.notify import NotifySocket
    from procman.daemon.readiness import ReadinessTracker
    from procman.daemon.waiters import Waiters
    from procman.daemon.watchdog import Watchdog

log = logging.getLogger("procman.handover")

FORMAT = 1  # of the description; a new image refuses (in the dry run) one it cannot read
#: held from just before the exec until the new image has its handlers and owns every pid
HELD_SIGNALS = frozenset(
    {signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1}
)
#: what the dry run imports: the daemon, and what it imports only when it needs it
CHECK_IMPORTS = ("procman.daemon.main", "procman.config.yamlfile", "dotenv", "psutil")


class Supervisor(Protocol):
    """The supervisor's parts that a hand-over reads (old image) and rebuilds (new image),
    named structurally: only main and the handlers import the supervisor itself."""

    project: Path
    loop: asyncio.AbstractEventLoop
    formation: Formation | None
    source: Source | None
    groups: dict[str, Group]
    held: HeldSockets
    logs: LogHub
    launcher: Launcher
    readiness: ReadinessTracker
    waiters: Waiters
    read: list[Any]  # the formation's files as last read: (path, mtime_ns, size)

    @property
    def background(self) -> int: ...  # tasks under way on the daemon's own initiative

    def instances(self) -> list[Instance]: ...

    def take_over(self, formation: Formation, source: Source) -> None: ...


# -- instances as facts and back -------------------------------------------------------------


def object_fields() -> dict[str, type]:
    """Instance fields that hold a dataclass, carried through plain.py (the others that hold
    objects, such as its timer, probe and callbacks, are the new image's own)."""
    from procman.daemon.launcher import Launch

    return {"launched": Launch}  # what its process was started with: describe, env, stale


def instance_facts(inst: Instance) -> dict[str, Any]:
    """Every plain field of the instance, private ones too, so a field added to Instance
    later travels without a change here, and the dataclasses of object_fields()."""
    fields, carried = {}, object_fields()
    for name, value in vars(inst).items():
        if isinstance(value, Enum):
            fields[name] = value.value
        elif value is None or isinstance(value, PLAIN) or name in carried:
            fields[name] = to_plain(value)
    return {"index": inst.index, "timer_due": inst.timer_due(), "fields": fields}


def restore_instance(inst: Instance, facts: dict[str, Any], shift: float) -> None:
    """Put facts back on a fresh instance; shift moves the old image's clock values onto
    ours (0 on one boot: the monotonic clock is the machine's, not the process's)."""
    fresh, carried = vars(inst), object_fields()
    for name, value in facts["fields"].items():
        if name not in fresh:
            continue  # a field this version no longer has
        current = fresh[name]
        if name in carried and value is not None:
            value = from_plain(carried[name], value)
        elif isinstance(current, Enum):
            value = type(current)(value)
        elif current is not None and not isinstance(current, PLAIN):
            continue  # an object here (this version made it one): leave the fresh one
        setattr(inst, name, value)
    if inst.started_at is not None:
        inst.started_at += shift


def clock_shift(mono: float, wall: float) -> float:
    """What to add to the old image's monotonic times. CLOCK_MONOTONIC counts from boot,
    so across an exec it goes on; should it ever not, map through the wall clock."""
    now = time.monotonic()
    if now >= mono:
        return 0.0
    return (now - (time.time() - wall)) - mono


def read_all(fd: int) -> bytes:
    chunks: list[bytes] = []
    offset = 0
    while True:
        chunk = os.pread(fd, 1 << 20, offset)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        offset += len(chunk)


# -- the new image -------------------------------------------------------------------------


class Resume:
    """The new image's half: the description read and checked (the dry run stops here),
    then the fds taken by main and the rest adopted by adopt()."""

    def __init__(self, data: dict[str, Any]) -> None:
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            found = data.get("format") if isinstance(data, dict) else None
            raise ProcmanError(
                f"hand-over format {found!r} is not the {FORMAT} this procman reads",
                ErrorCode.FAILED,
            )
        from procman.config.load import Source

        self.data = data
        self.project = Path(data["project"])
        self.formation: Formation | None = (
            None if data["formation"] is None else from_plain(Formation, data["formation"])
        )
        self.source = None if data["source"] is None else Source.from_dict(data["source"])
        # None when detached, else how to print in front: plain_sink's arguments
        foreground = data["foreground"]
        self.foreground: dict[str, Any] | None = None
        if foreground is not None:
            self.foreground = {
                "prefix": bool(foreground.get("prefix", True)),
                "quiet": frozenset(foreground.get("quiet", ())),
            }
        self.log_level = int(data["log_level"])
        self.metrics_port: int | None = data["metrics_port"]
        self.started = float(data["started"])  # the daemon's start, unix time
        fds = data["fds"]
        self.lock: int = fds["lock"]
        self.reply: dict[str, Any] | None = data["reply"]
        names = self.formation.names if self.formation else []
        for group in data["groups"]:
            if group["name"] not in names:
                raise ProcmanError(f"type {group['name']} is not in the formation handed over")
        self.exited: list[str] = []  # instances whose process ended during the exec
        self.kept = 0  # instances with a live process taken over
        self._timers: list[tuple[Instance, float]] = []  # (instance, due on our clock)
        self._probes: list[Instance] = []  # starting instances, to check again

    @classmethod
    def read(cls, fd: int) -> Resume:
        """In the new image: the description from the memfd, and every fd it names closed
        on exec again (the old image opened them for this one exec only)."""
        try:
            data = json.loads(read_all(fd))
        finally:
            os.close(fd)
        resume = cls(data)
        for kept in resume.kept_fds():
            os.set_inheritable(kept, False)
        return resume

    def kept_fds(self) -> list[int]:
        """Every fd the old image kept open for this one, but the description's own."""
        data, fds = self.data, self.data["fds"]
        kept = [fds["lock"], fds["control"]]
        kept += [fds["notify"]] if fds["notify"] is not None else []
        kept += fds["watchdog"][1:] if fds["watchdog"] else []
        kept += [m[2] for port in data["listeners"] for m in port["members"]]
        kept += [pipe["fd"] for pipe in data["pipes"]]
        kept += [self.reply["fd"]] if self.reply else []
        return kept

    def control_socket(self) -> socket.socket:
        return socket.socket(fileno=self.data["fds"]["control"])

    def take_notify(self, notify: NotifySocket) -> None:
        fd = self.data["fds"]["notify"]
        if fd is None:
            notify.open()
        else:
            notify.adopt(fd)

    def take_watchdog(self, watchdog: Watchdog) -> int | None:
        """The old image's watchdog, or a new one; its pid, to reap. One of an image that
        told it the groups on its pipe (two fds) would read a pipe nothing writes to any
        more: it is killed, and its exit starts one that is told every live group."""
        held = self.data["fds"]["watchdog"]
        if not held:
            return watchdog.start()
        if len(held) == 2:
            os.kill(int(held[0]), signal.SIGKILL)  # first: its pipe's EOF would make it act
            os.close(held[1])
        else:
            watchdog.adopt(int(held[0]), held[1], held[2])
        return int(held[0])

    def adopt(self, supervisor: Supervisor) -> None:
        """Groups, instances, listeners and pipes as the old image left them, before the
        control socket serves anyone. Nothing is spawned (the held signals stay held)."""
        try:
            self._adopt(supervisor)
        except Exception as exc:
            log.exception("update: cannot take over")
            self.answer(error=f"the new daemon could not take over: {exc}")
            raise

    def finish(self, supervisor: Supervisor) -> None:
        """Once the signal handlers are in: let the signals held across the exec in, reap
        what exited meanwhile (each an exit of its instance, restarted by its policy),
        and answer the `update` caller."""
        signal.pthread_sigmask(signal.SIG_UNBLOCK, HELD_SIGNALS)
        # only now, so nothing is spawned with those signals blocked (a child would keep
        # the mask): timers and readiness checks, then the exec window's zombies
        for inst, due in self._timers:
            inst.resume_timer(max(0.0, due - supervisor.loop.time()))
        for inst in self._probes:
            supervisor.readiness.prepare(inst, {})
            supervisor.readiness.changed(inst, InstanceState.STARTING)
        pending = {inst.pid: inst for inst in supervisor.instances() if inst.pid}
        supervisor.launcher.reaper.drain()
        self.exited = [str(i.id) for pid, i in pending.items() if i.pid != pid]
        for ident in self.exited:
            log.info("update: %s exited during the exec", ident)
        self.answer()

    def _adopt(self, sup: Supervisor) -> None:
        data = self.data
        shift = clock_shift(data["monotonic"], data["wall"])
        sup.logs.dropped_lines = data["dropped_log_lines"]
        if self.formation is not None and self.source is not None:
            sup.take_over(self.formation, self.source)
            # as the old image read them, so `status` still says which changed since
            sup.read = [tuple(stamp) for stamp in data["read"]]
        self._take_listeners(sup)
        for saved in data["groups"]:
            group = sup.groups[saved["name"]]
            group.desired = saved["desired"]
            scaler, facts = group.scaler, saved["scaler"]
            if scaler is not None and facts is not None:
                scaler.manual, scaler.target, scaler.last = (
                    facts["manual"],
                    facts["target"],
                    facts["last"],
                )
                scaler.decided = facts["decided"]  # what `procman autoscale` says it did last
                scaler.history.extend((t + shift, n) for t, n in facts["history"])
            for facts in saved["instances"]:
                inst = group.new_instance(facts["index"])
                restore_instance(inst, facts, shift)
                group.slots[inst.index] = inst
                self._resume(sup, inst, facts["timer_due"], shift)
        for pipe in data["pipes"]:
            partial = pipe["partial"].encode("latin-1")
            sup.logs.attach(pipe["fd"], pipe["type"], pipe["label"], pipe["stream"], partial)
        for group in sup.groups.values():
            group.steer()
        self.kept = sum(1 for inst in sup.instances() if inst.pid)
        sup.logs.system(
            f"procman {data['version']} handed over to {__version__} in place (pid "
            f"{os.getpid()}): {self.kept} instance(s) kept running"
        )

    def _take_listeners(self, sup: Supervisor) -> None:
        """The held listeners, each port's in the old image's order (the kernel's): the
        reuseport groups and any steering program on them never noticed the exec."""
        from procman.daemon.steering import PortGroup

        held = sup.held
        for port in self.data["listeners"]:
            group = held.groups.setdefault(port["port"], PortGroup())
            group.attached, group.broken = port["attached"], port["broken"]
            for type_name, index, fd in port["members"]:
                sock = socket.socket(fileno=fd)
                held.socks[InstanceId(type_name, index)] = sock
                group.add(sock)

    def _resume(self, sup: Supervisor, inst: Instance, due: float | None, shift: float) -> None:
        """Register a live process with the reaper and the launcher; note its timer (a
        back-off, or a SIGKILL deadline) and, if it was starting, its readiness check (it
        did not survive the exec: it runs again, with a fresh deadline) for finish()."""
        if inst.pid is not None:
            label = str(inst.id)
            fds = tuple(pipe["fd"] for pipe in self.data["pipes"] if pipe["label"] == label)
            sup.launcher.adopt(inst, inst.pid, None, fds)
        if due is not None:
            self._timers.append((inst, due + shift))
        elif inst.pid is not None and inst.state == InstanceState.STARTING:
            self._probes.append(inst)

    def answer(self, error: str | None = None) -> None:
        """The reply to `update`, on the connection the old image kept open for it."""
        reply, self.reply = self.reply, None
        if reply is None:
            return
        if error is not None:
            line = protocol.error(reply["id"], ErrorCode.FAILED, error)
        else:
            line = protocol.result(
                reply["id"],
                {
                    "old_pid": self.data["pid"],
                    "pid": os.getpid(),
                    "old_version": reply["old_version"],
                    "version": __version__,
                    "instances": self.kept,
                    "exited": self.exited,
                    "seconds": round(time.monotonic() - reply["exec_at"], 3),
                },
            )
        try:
            with socket.socket(fileno=reply["fd"]) as conn:
                conn.settimeout(5)
                conn.sendall(line)
        except OSError as exc:  # the caller gave up waiting: nothing else needs it
            log.info("update: the caller is gone (%s)", exc)


def check(stdin: IO[bytes], stdout: IO[str]) -> int:
    """`python -m procman.daemon --check-update`: the dry run, in the installed code. Imports
    the daemon, reads the description on stdin; one JSON line says yes or why not."""
    import importlib

    try:
        for name in CHECK_IMPORTS:
            importlib.import_module(name)
        from procman.daemon.handlers import Handlers

        Handlers(None, None, None)  # type: ignore[arg-type]  # its method table checks out
        Resume(json.loads(stdin.read()))
    except Exception as exc:
        stdout.write(json.dumps({"ok": False, "error": f"{type(exc).__name__}: {exc}"}) + "\n")
        return 1
    stdout.write(json.dumps({"ok": True, "version": __version__}) + "\n")
    return 0
