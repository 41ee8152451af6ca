"""SO_REUSEPORT listeners: one per instance slot, kept by the daemon across restarts.

The kernel spreads new connections over every socket in the reuseport group, so each slot
owns one. While its instance restarts, connections hashed to that slot wait in its backlog
instead of being refused.
"""

from __future__ import annotations

import asyncio
import errno
import os
import socket
from collections.abc import Callable, Iterable
from typing import Any

from procman.daemon import limits
from procman.daemon.steering import PortGroup, queued
from procman.errors import ConfigError, ErrorCode, PortInUse, ProcmanError
from procman.model import InstanceId, InstanceState, ProcessType

BACKLOG = 1024
DRAIN_MAX = 2.0  # seconds a stopping instance may take to empty its accept queue


def bind_listener(
    host: str, port: int, before_listen: Callable[[], None] = lambda: None
) -> socket.socket:
    """A SO_REUSEPORT listener; before_listen runs between bind and listen (when the socket
    joins the port's reuseport group)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        sock = socket.socket(family, socket.SOCK_STREAM)
    except OSError as exc:
        short = limits.too_many_files(exc)
        why = short or exc
        raise ProcmanError(f"cannot listen on {host}:{port}: {why}", ErrorCode.SPAWN) from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        before_listen()
        sock.listen(BACKLOG)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise PortInUse(port_in_use_message(port, host)) from None
        short = limits.too_many_files(exc)
        if short:
            message = f"cannot listen on {host}:{port}: {short}"
            raise ProcmanError(message, ErrorCode.SPAWN) from None
        raise PortInUse(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    return sock


def listening_pids(port: int) -> list[int | None]:
    """The pid of every TCP socket listening on port (None where psutil may not tell: another
    user's process), the daemon's own included, each pid once."""
    import psutil

    try:
        conns = psutil.net_connections(kind="tcp")
    except (psutil.AccessDenied, OSError):
        return []
    found: list[int | None] = []
    for conn in conns:
        if conn.status != psutil.CONN_LISTEN or not conn.laddr or conn.laddr.port != port:
            continue
        if conn.pid is None or conn.pid not in found:
            found.append(conn.pid)
    return found


def foreign_listeners(port: int, own_pids: set[int]) -> list[tuple[int | None, str]]:
    """Who else listens on port: [(pid, name)]. psutil sees our own uid's processes, which
    are exactly those whose SO_REUSEPORT sockets the kernel would let us join silently."""
    me = os.getpid()
    return [
        (pid, process_name(pid))
        for pid in listening_pids(port)
        if pid != me and (pid is None or pid not in own_pids)
    ]


def check_port_free(port: int, host: str, own_pids: set[int]) -> None:
    """Raise PortInUse, naming the holder, if a program other than ours listens on port."""
    if foreign_listeners(port, own_pids):
        raise PortInUse(port_in_use_message(port, host))


def check_ports(
    ptype: ProcessType, count: int, host: str, own_pids: set[int], ours: Callable[[int], bool]
) -> None:
    """Before a start or scale: `count` instances of ptype must have ports (Foreman's
    port + index stays under 65536), and a type that binds its port (a held socket, or
    `ready: port/http`) and has nothing of ours up on it must find the ports free of other
    programs, or the kernel would let us share them silently. `ours(index)`: something of
    ours is up on that instance's port already (its workers may hold it too)."""
    if not count or ptype.port is None:
        return
    last = ptype.port_of(count - 1) or 0
    if last > 65535:
        raise ConfigError(
            f"{ptype.name}: {count} instances from port {ptype.port} would pass port 65535; "
            "pass a lower --port"
        )
    if not (ptype.socket or ptype.ready.kind in ("port", "http")):
        return
    for index in range(count if ptype.instance_ports else 1):
        if not ours(index):
            check_port_free(ptype.port_of(index) or 0, host, own_pids)


def process_name(pid: int | None) -> str:
    if pid is None:
        return "another process"
    import psutil

    try:
        proc = psutil.Process(pid)
        return " ".join(proc.cmdline()) or proc.name()
    except (psutil.Error, OSError):
        return "?"


def port_in_use_message(port: int, host: str = "0.0.0.0") -> str:
    holders = foreign_listeners(port, set())
    if holders:
        who = ", ".join(f"pid {pid} ({name})" for pid, name in holders[:3])
        return f"port {port} is in use by {who}; stop it or choose another port"
    return f"port {port} on {host} is in use; stop whatever holds it or choose another port"


class HeldSockets:
    """The daemon's listeners: one per slot of a `socket: true` type, each port's in the
    order the kernel keeps its SO_REUSEPORT group (for steering, see steering.py).

    A reload's replacement gets a fresh listener of its own (a spare) in the same group:
    steering leaves it out until the replacement takes the slot over, so nothing reaches a
    process that is not ready, and nothing is queued on a socket that closes if it fails.
    When it takes over, its listener becomes the slot's; the old process drains its old
    listener, which closes once that process is down (retire)."""

    def __init__(self, host: str) -> None:
        self.host = host
        self.socks: dict[InstanceId, socket.socket] = {}  # the slots'
        self.spares: dict[InstanceId, socket.socket] = {}  # replacements' (not yet slots')
        self.groups: dict[int, PortGroup] = {}

    def get(self, iid: InstanceId) -> socket.socket | None:
        return self.socks.get(iid)

    def for_spawn(self, inst: Any) -> socket.socket | None:
        """The listener a new process of inst gets on fd 3."""
        if inst.replacement and inst.id in self.spares:
            return self.spares[inst.id]
        return self.socks.get(inst.id)

    def queued(self, iid: InstanceId) -> int | None:
        """Connections waiting in the slot's accept queue (None: it has no listener)."""
        sock = self.socks.get(iid)
        return None if sock is None else queued(sock)

    def listener_of(self, inst: Any) -> socket.socket | None:
        """The listener inst's process serves from: the one it got at spawn, or (a process
        an update's new image took over) its slot's."""
        if inst.listener is not None:
            return inst.listener
        return None if inst.replacement else self.socks.get(inst.id)

    def holds(self, type_name: str) -> bool:
        return any(iid.type == type_name for iid in self.socks)

    def ensure(self, iid: InstanceId, port: int) -> bool:
        """Bind the slot's listener unless it has one; True if it is new."""
        if iid in self.socks:
            return False
        self.socks[iid] = self._bind(port)
        return True

    def spare(self, iid: InstanceId, port: int) -> None:
        """A fresh listener for the replacement of slot iid."""
        self.discard_spare(iid)
        self.spares[iid] = self._bind(port)

    def discard_spare(self, iid: InstanceId) -> None:
        """The replacement failed: its listener (never steered to) closes."""
        sock = self.spares.pop(iid, None)
        if sock is not None:
            self._close(sock)

    def adopt_spare(self, iid: InstanceId) -> socket.socket | None:
        """The replacement takes the slot: its listener becomes the slot's. Returns the
        slot's old listener, still open for the old process to drain (retire() it after)."""
        sock = self.spares.pop(iid, None)
        if sock is None:
            return None
        old = self.socks.get(iid)
        self.socks[iid] = sock
        return old

    def retire(self, sock: socket.socket | None) -> None:
        """Close a listener that no slot uses any more."""
        if sock is not None and sock not in self.socks.values():
            self._close(sock)

    def close(self, iid: InstanceId) -> None:
        sock = self.socks.pop(iid, None)
        if sock is not None:
            self._close(sock)
        self.discard_spare(iid)

    def close_type(self, type_name: str) -> None:
        for iid in [i for i in self.socks if i.type == type_name]:
            self.close(iid)

    def close_all(self) -> None:
        """The daemon's exit: every listener closes, with no re-aiming (nothing serves on)."""
        for group in self.groups.values():
            for sock in group.members:
                sock.close()
        self.groups.clear()
        self.socks.clear()
        self.spares.clear()

    def steer(self, port: int | None, instances: Iterable[Any]) -> None:
        """New connections go to the listeners of slots whose instance is running; when
        none is, to the slots' listeners (connections wait there for an instance), never
        to a replacement's spare."""
        group = self.groups.get(port) if port else None
        if group is None:
            return
        serving = {
            sock
            for inst in instances
            if inst.state == InstanceState.RUNNING
            and not inst.draining
            and not inst.replacement
            and (sock := self.listener_of(inst)) is not None
        }
        members = group.position
        slots = {sock for sock in self.socks.values() if sock in members}
        group.steer({sock for sock in serving if sock in members} or slots)

    async def drain(self, inst: Any, steer: Callable[[], None]) -> None:
        """Steer new connections around inst's listener, then let inst accept what is
        queued there: polled (the kernel has no event for "empty"), for up to DRAIN_MAX.
        inst.draining stays set until the caller has stopped it and clears it."""
        sock = self.listener_of(inst)
        if sock is None or sock.fileno() < 0 or inst.state != InstanceState.RUNNING:
            return
        inst.draining = True
        steer()
        await asyncio.sleep(0)  # a steer asked for now runs first (Group.steer batches them)
        group = self.groups.get(sock.getsockname()[1])
        if group is None or not group.attached:
            return  # nothing else serves: the queue waits for the next instance
        loop = asyncio.get_running_loop()
        deadline = loop.time() + DRAIN_MAX
        delay, empty_in_a_row = 0.001, 0
        while inst.state == InstanceState.RUNNING and loop.time() < deadline:
            empty_in_a_row = empty_in_a_row + 1 if queued(sock) == 0 else 0
            if empty_in_a_row >= 2:  # twice: a handshake in flight lands between the two
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.05)

    def _bind(self, port: int) -> socket.socket:
        group = self.groups.setdefault(port, PortGroup())
        sock = bind_listener(self.host, port, group.admit)  # nothing to it before steer()
        group.add(sock)
        return sock

    def _close(self, sock: socket.socket) -> None:
        port = sock.getsockname()[1]
        group = self.groups.get(port)
        if group is not None and sock in group.position:
            group.remove(sock)  # closes it, re-aiming the group's program around the hole
            if not group.members:
                del self.groups[port]
        sock.close()
