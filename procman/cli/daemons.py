"""Every daemon of this user on this machine: `procman ls`, and the hint `status` gives where
no daemon runs. Daemons are found by their sockets in the default socket directory
(paths.socket_dir); a daemon started with PROCMAN_SOCKET elsewhere is not seen.

A socket whose daemon is gone (a SIGKILLed daemon leaves its socket file behind) is stale:
its connection is refused and nothing holds its `.lock`. Such a socket is removed while we
hold the lock, so no daemon can be starting on it at that moment. A refused socket whose
lock is held belongs to a daemon that is starting (or stuck): it is left alone.

Stdlib and procman's leaves only: the CLI stays light.
"""

from __future__ import annotations

import fcntl
import os
import socket
from typing import Any

from procman import paths
from procman.cli.client import Client
from procman.errors import DaemonUnavailable, ProcmanError

LIVE, STALE, BUSY, GONE = "live", "stale", "busy", "gone"


def probe(sock_path: str) -> str:
    """live (it accepts), stale (removed now), busy (refused, lock held) or gone."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(2)
    try:
        sock.connect(sock_path)
        return LIVE
    except FileNotFoundError:
        return GONE
    except OSError:  # refused, or a full backlog: the lock tells a live daemon from a dead one
        pass
    finally:
        sock.close()
    return _clean(sock_path)


def _clean(sock_path: str) -> str:
    try:
        fd = os.open(sock_path + ".lock", os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        fd = None  # no lock file: no daemon of procman's made this, or its lock is gone
    except OSError:
        return BUSY
    try:
        if fd is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return BUSY
        for path in (sock_path, sock_path[: -len(".sock")] + ".notify"):
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
        return STALE
    finally:
        if fd is not None:
            os.close(fd)  # the lock file stays: a daemon may have it open already


def sockets(directory: str | None = None) -> tuple[list[str], list[str]]:
    """(sockets of daemons that accept, stale sockets removed) in the socket directory."""
    directory = directory or paths.socket_dir()
    try:
        names = sorted(n for n in os.listdir(directory) if n.endswith(".sock"))
    except OSError:
        return [], []
    live, stale = [], []
    for name in names:
        path = os.path.join(directory, name)
        state = probe(path)
        if state in (LIVE, BUSY):
            live.append(path)
        elif state == STALE:
            stale.append(path)
    return live, stale


def summary(sock_path: str) -> dict[str, Any]:
    """One daemon: its project, uptime, types (running/desired), cpu and memory totals."""
    client = Client(sock_path, sock_path)
    try:
        ping = client.call("ping")
        status = client.call("status")
    except DaemonUnavailable:  # refused with its lock held: starting up, or stuck
        return {"socket": sock_path, "project": None, "error": "does not answer"}
    except ProcmanError as exc:
        return {"socket": sock_path, "project": None, "error": exc.message}
    rows = status.get("instances", [])
    cpus = [r["cpu_percent"] for r in rows if r.get("cpu_percent") is not None]
    mems = [r["memory_bytes"] for r in rows if r.get("memory_bytes") is not None]
    return {
        "project": ping.get("project"),
        "pid": ping.get("pid"),
        "version": ping.get("version"),
        "socket": sock_path,
        "uptime_s": ping.get("uptime_s"),
        "types": [
            {"name": t["name"], "running": t.get("running", 0), "desired": t.get("desired", 0)}
            for t in status.get("types", [])
        ],
        "instances": len(rows),
        "cpu_percent": round(sum(cpus), 1) if cpus else None,
        "memory_bytes": sum(mems) if mems else None,
    }


def every(directory: str | None = None) -> list[dict[str, Any]]:
    """A summary of each daemon that answers in the socket directory, by project path."""
    found = [summary(path) for path in sockets(directory)[0]]
    return sorted(found, key=lambda d: (d.get("project") or "", d["socket"]))


def others_hint(own_socket: str) -> str:
    """For `status` where no daemon runs: a pointer to `procman ls` if others run."""
    live, _ = sockets()
    count = sum(1 for path in live if os.path.realpath(path) != os.path.realpath(own_socket))
    if not count:
        return ""
    return f' ({count} other daemon{"s" if count > 1 else ""} of yours run: see "procman ls")'
