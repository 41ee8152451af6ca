"""Blocking client for the control socket (the CLI has no event loop).

Imports only the stdlib and procman's leaves: `procman status` must start fast.
"""

from __future__ import annotations

import os
import sys

# _socket, not socket: socket.py's enum conversions and selectors cost `procman status`
# ~1.5 ms, and the client needs one blocking AF_UNIX stream socket
from _socket import AF_UNIX, SOCK_STREAM
from _socket import socket as unix_socket

from procman import paths, protocol
from procman.errors import DaemonUnavailable, ProcmanError

TYPE_CHECKING = False  # annotations only (mypy reads it): typing costs ~2 ms
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

DAEMON_START_TIMEOUT = 15.0
#: Methods that answer at once; a daemon silent for this long is stuck, not busy. The others
#: (start, scale, restart, ...) wait for instances, as long as their ready_timeout allows.
QUICK_METHODS = {
    "ping": 10.0,
    "status": 10.0,
    "formation": 10.0,
    "logs": 10.0,
    "flush": 10.0,
    "reopen": 10.0,
    "update": 60.0,  # a dry run of the new code (30 s at most), the exec, the take-over
}


class Client:
    def __init__(
        self, project: str | os.PathLike, sock_path: str | os.PathLike | None = None
    ) -> None:
        self.project = os.fspath(project)
        self.sock_path = os.fspath(sock_path) if sock_path else paths.socket_path(project)
        self._next_id = 0

    def _connect(self) -> unix_socket:
        sock = unix_socket(AF_UNIX, SOCK_STREAM)
        try:
            sock.connect(self.sock_path)
        except (FileNotFoundError, ConnectionRefusedError):
            sock.close()
            raise DaemonUnavailable(
                f'no daemon for {self.project} (socket {self.sock_path}); run "procman start"'
            ) from None
        except OSError as exc:
            sock.close()
            raise DaemonUnavailable(f"cannot reach the daemon at {self.sock_path}: {exc}") from None
        return sock

    def alive(self) -> bool:
        try:
            self.call("ping")
        except DaemonUnavailable:
            return False
        return True

    def call(
        self, method: str, params: dict[str, Any] | None = None, timeout: float | None = None
    ) -> Any:
        """One request, one reply; error replies raise RemoteError. `timeout` overrides the
        method's own (QUICK_METHODS), for a caller that would rather have nothing than wait."""
        timeout = timeout or QUICK_METHODS.get(method)
        if params and params.get("follow"):
            timeout = None
        for reply in self._exchange(method, params, timeout):
            return reply
        raise DaemonUnavailable("the daemon closed the connection without answering")

    def stream(self, method: str, params: dict[str, Any] | None = None) -> Iterator[Any]:
        """Each result object of a streaming method, until the daemon ends it."""
        yield from self._exchange(method, params, None)

    def _exchange(
        self, method: str, params: dict[str, Any] | None, timeout: float | None
    ) -> Iterator[Any]:
        self._next_id += 1
        sock = self._connect()
        sock.settimeout(timeout)
        try:
            sock.sendall(protocol.request(self._next_id, method, params))
            # Replies have no size cap (MAX_LINE bounds requests): 1,000 status rows are
            # ~400 KB. The chunks of a long line are joined once, when its newline comes.
            parts: list[bytes] = []
            while True:
                chunk = sock.recv(1 << 18)
                if not chunk:
                    return
                start, end = 0, chunk.find(b"\n")
                while end >= 0:
                    parts.append(chunk[start:end])
                    line, parts, start = b"".join(parts), [], end + 1
                    yield protocol.reply_result(line)
                    end = chunk.find(b"\n", start)
                if start < len(chunk):
                    parts.append(chunk[start:])
        except ConnectionResetError:
            return
        except TimeoutError:
            raise DaemonUnavailable(
                f"the daemon for {self.project} did not answer {method!r} within {timeout:g}s; "
                f"see {paths.daemon_log(self.project)}"
            ) from None
        finally:
            sock.close()


def ensure_daemon(project: str | os.PathLike, client: Client | None = None) -> bool:
    """Start a detached daemon for project unless one answers; True if we started it."""
    import select
    import subprocess
    import time

    client = client or Client(project)
    if client.alive():
        return False
    proc = subprocess.Popen(
        [sys.executable, "-m", "procman.daemon", "--detach", "-d", os.fspath(project)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        cwd=project,
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + DAEMON_START_TIMEOUT
    line = b""
    try:
        fd = proc.stdout.fileno()
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise ProcmanError(
                    f"the daemon did not start within {DAEMON_START_TIMEOUT:g}s; "
                    f"see {paths.daemon_log(project)}"
                )
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            line += chunk
    finally:
        proc.stdout.close()
        proc.wait()
    answer = line.decode(errors="replace").strip()
    if answer == "ready":
        return True
    if answer == "running":
        return False
    if answer.startswith("error:"):
        raise ProcmanError(f"the daemon could not start: {answer[6:].strip()}")
    raise ProcmanError(f"the daemon could not start; see {paths.daemon_log(project)}")
