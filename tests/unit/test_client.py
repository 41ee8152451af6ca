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


def test_a_reply_longer_than_a_request_may_be_arrives_whole(listener) -> None:
    """1,000 status rows are ~400 KB; MAX_LINE bounds requests only, never replies."""
    from procman.protocol import MAX_LINE

    path, server = listener
    rows = [{"id": f"web.{i}", "state": "running", "pad": "x" * 400} for i in range(3000)]
    import json

    line = json.dumps({"id": 1, "result": rows}).encode() + b"\n"
    assert len(line) > MAX_LINE

    def answer() -> None:
        conn, _ = server.accept()
        with conn:
            conn.recv(4096)
            for at in range(0, len(line), 70000):  # in pieces, as a socket delivers it
                conn.sendall(line[at : at + 70000])

    thread = threading.Thread(target=answer)
    thread.start()
    assert Client(path.parent, path).call("status") == rows
    thread.join()


def test_several_replies_in_one_chunk_each_arrive(listener) -> None:
    path, server = listener

    def answer() -> None:
        conn, _ = server.accept()
        with conn:
            conn.recv(4096)
            conn.sendall(b'{"id": 1, "result": 1}\n{"id": 1, "result": 2}\n{"id": 1, "res')
            conn.sendall(b'ult": 3}\n')

    thread = threading.Thread(target=answer)
    thread.start()
    assert list(Client(path.parent, path).stream("events")) == [1, 2, 3]
    thread.join()
