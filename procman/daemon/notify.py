"""The sd_notify socket: instances send `READY=1`, `STATUS=...`, `STOPPING=1` datagrams to
$NOTIFY_SOCKET, and SO_PASSCRED tells the daemon which pid sent each one."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import sys
from collections.abc import Callable

log = logging.getLogger("procman.notify")

OnMessage = Callable[[int, dict[str, str]], None]  # (sender pid, fields)
BATCH = 64  # datagrams read per wakeup, so a flood cannot starve the loop


def parse(data: bytes) -> dict[str, str]:
    """`KEY=value` lines; anything else is ignored, as systemd does."""
    fields = {}
    for line in data.decode(errors="replace").splitlines():
        key, sep, value = line.partition("=")
        if sep:
            fields[key] = value
    return fields


def tell_manager(path: str, message: str) -> bool:
    """The daemon's own sd_notify: one datagram to its service manager's $NOTIFY_SOCKET
    (`READY=1` once the formation is up under systemd's Type=notify). '@' means abstract."""
    address = "\0" + path[1:] if path.startswith("@") else path
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(message.encode())
    except OSError as exc:
        log.warning("cannot tell the service manager %r at %s: %s", message, path, exc)
        return False
    return True


class NotifySocket:
    def __init__(self, loop: asyncio.AbstractEventLoop, path: str, on_message: OnMessage) -> None:
        self.loop, self.path, self.on_message = loop, path, on_message
        self.sock: socket.socket | None = None

    def open(self) -> bool:
        try:
            os.unlink(self.path)
        except OSError:
            pass
        try:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            sock.bind(self.path)
            os.chmod(self.path, 0o600)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
            sock.setblocking(False)
        except OSError as exc:
            log.warning("no sd_notify socket at %s: %s", self.path, exc)
            return False
        self.sock = sock
        self.loop.add_reader(sock.fileno(), self._on_readable)
        return True

    def adopt(self, fd: int) -> None:
        """The socket an older image of this daemon bound (`procman update`): datagrams
        sent during the exec wait in it."""
        sock = socket.socket(fileno=fd)
        sock.setblocking(False)
        self.sock = sock
        self.loop.add_reader(sock.fileno(), self._on_readable)

    def close(self) -> None:
        if self.sock is None:
            return
        self.loop.remove_reader(self.sock.fileno())
        self.sock.close()
        self.sock = None
        try:
            os.unlink(self.path)
        except OSError:
            pass

    def _on_readable(self) -> None:
        assert self.sock is not None
        creds_size = socket.CMSG_SPACE(12)
        for _ in range(BATCH):
            try:
                data, ancdata, _flags, _addr = self.sock.recvmsg(4096, creds_size)
            except OSError:  # BlockingIOError included: nothing more to read
                return
            pid = None
            for level, kind, payload in ancdata:
                if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                    pid = int.from_bytes(payload[:4], sys.byteorder)
            if pid is None:
                continue
            try:
                self.on_message(pid, parse(data))
            except Exception:
                log.exception("bad notify message from pid %d", pid)
