"""SO_REUSEPORT listeners: one per instance slot, kept by the daemon across restarts.

The kernel spreads new connections over every socket in the reuseport group, so each slot
owns one. While its instance restarts, connections hashed to that slot wait in its backlog
instead of being refused.
"""

from __future__ import annotations

import errno
import os
import socket

from procman.errors import PortInUse

BACKLOG = 1024


def bind_listener(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        sock.listen(BACKLOG)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise PortInUse(port_in_use_message(port, host)) from None
        raise PortInUse(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    return sock


def foreign_listeners(port: int, own_pids: set[int]) -> list[tuple[int | None, str]]:
    """Who else listens on port: [(pid, name)]. psutil sees our own uid's processes, which
    are exactly those whose SO_REUSEPORT sockets the kernel would let us join silently."""
    import psutil

    found = []
    try:
        conns = psutil.net_connections(kind="tcp")
    except (psutil.AccessDenied, OSError):
        return []
    me = os.getpid()
    for conn in conns:
        if conn.status != psutil.CONN_LISTEN or not conn.laddr or conn.laddr.port != port:
            continue
        if conn.pid == me or (conn.pid is not None and conn.pid in own_pids):
            continue
        found.append((conn.pid, process_name(conn.pid)))
    return found


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
