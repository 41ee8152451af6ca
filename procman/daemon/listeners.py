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


def bind_listener(host: str, port: int) -> socket.socket:
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
    order the kernel keeps its SO_REUSEPORT group (for steering, see steering.py)."""

    def __init__(self, host: str) -> None:
        self.host = host
        self.socks: dict[InstanceId, socket.socket] = {}
        self.groups: dict[int, PortGroup] = {}

    def get(self, iid: InstanceId) -> socket.socket | None:
        return self.socks.get(iid)

    def queued(self, iid: InstanceId) -> int | None:
        """Connections waiting in the slot's accept queue (None: it has no listener)."""
        sock = self.socks.get(iid)
        return None if sock is None else queued(sock)

    def holds(self, type_name: str) -> bool:
        return any(iid.type == type_name for iid in self.socks)

    def ensure(self, iid: InstanceId, port: int) -> bool:
        """Bind the slot's listener unless it has one; True if it is new."""
        if iid in self.socks:
            return False
        sock = self.socks[iid] = bind_listener(self.host, port)
        self.groups.setdefault(port, PortGroup()).add(sock)
        return True

    def close(self, iid: InstanceId) -> None:
        sock = self.socks.pop(iid, None)
        if sock is None:
            return
        port = sock.getsockname()[1]
        group = self.groups.get(port)
        if group is not None:
            group.remove(sock)  # which re-aims the group's program
            if not group.members:
                del self.groups[port]
        sock.close()

    def close_type(self, type_name: str) -> None:
        for iid in [i for i in self.socks if i.type == type_name]:
            self.close(iid)

    def close_all(self) -> None:
        for iid in list(self.socks):
            self.close(iid)

    def steer(self, port: int | None, instances: Iterable[Any]) -> None:
        """New connections go to the listeners of slots whose instance is running."""
        group = self.groups.get(port) if port else None
        if group is None or len(group.members) < 2:
            return
        serving = {
            self.socks[inst.id]
            for inst in instances
            if inst.state == InstanceState.RUNNING and not inst.draining and inst.id in self.socks
        }
        group.steer(serving)

    async def drain(self, inst: Any, steer: Callable[[], None]) -> None:
        """Steer new connections around inst's listener, then let inst accept what is
        queued there: polled (the kernel has no event for "empty"), for up to DRAIN_MAX.
        inst.draining stays set until the caller has stopped it and clears it."""
        sock = self.socks.get(inst.id)
        if sock is None or inst.state != InstanceState.RUNNING:
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
