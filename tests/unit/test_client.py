"""The blocking client against fake daemons on real Unix sockets."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest

from procman.cli import client as client_module
from procman.cli.client import Client
from procman.errors import DaemonUnavailable, RemoteError


@pytest.fixture
def listener(tmp_path: Path):
    path = tmp_path / "d.sock"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    server.listen()
    yield path, server
    server.close()


def test_no_socket_says_how_to_start(tmp_path: Path) -> None:
    with pytest.raises(DaemonUnavailable, match='run "procman start"'):
        Client(tmp_path, tmp_path / "none.sock").call("status")


def test_a_silent_daemon_times_out(listener, monkeypatch: pytest.MonkeyPatch) -> None:
    path, server = listener
    monkeypatch.setitem(client_module.QUICK_METHODS, "status", 0.05)
    with pytest.raises(DaemonUnavailable, match="did not answer 'status' within 0.05s"):
        Client(path.parent, path).call("status")
    conn, _ = server.accept()
    conn.close()


def test_error_reply_becomes_remote_error(listener) -> None:
    path, server = listener

    def answer() -> None:
        conn, _ = server.accept()
        with conn:
            conn.recv(4096)
            conn.sendall(b'{"id": 1, "error": {"code": "not_found", "message": "no web"}}\n')

    thread = threading.Thread(target=answer)
    thread.start()
    with pytest.raises(RemoteError, match="no web") as info:
        Client(path.parent, path).call("status")
    thread.join()
    assert info.value.raw_code == "not_found"
