"""`procman ls`'s discovery (cli/daemons.py): live, stale and busy sockets, without daemons."""

from __future__ import annotations

import fcntl
import os
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from procman import paths
from procman.cli import daemons


@pytest.fixture
def sock_dir() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="pm-", dir="/tmp"))  # AF_UNIX paths are short
    try:
        yield folder
    finally:
        for item in folder.iterdir():
            item.unlink()
        folder.rmdir()


def listening(path: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(path))
    sock.listen(1)
    return sock


def dead(path: Path) -> None:
    """A socket file nobody listens on any more (what a SIGKILLed daemon leaves)."""
    listening(path).close()


def test_socket_dir_follows_xdg_runtime_dir() -> None:
    assert paths.socket_dir({"XDG_RUNTIME_DIR": "/run/user/7"}) == "/run/user/7/procman"
    assert paths.socket_dir({}) == f"/tmp/procman-{os.getuid()}"
    env = {"XDG_RUNTIME_DIR": "/r", "PROCMAN_SOCKET": "/elsewhere.sock"}
    assert paths.socket_path("/p", env) == "/elsewhere.sock"
    assert paths.socket_path("/p", {"XDG_RUNTIME_DIR": "/r"}).startswith("/r/procman/")


def test_live_stale_and_busy(sock_dir: Path) -> None:
    live = sock_dir / "a.sock"
    server = listening(live)
    (sock_dir / "a.sock.lock").touch()
    stale = sock_dir / "b.sock"
    dead(stale)
    (sock_dir / "b.sock.lock").touch()
    dead(sock_dir / "b.notify")
    busy = sock_dir / "c.sock"  # refused, but its lock is held: a daemon starting up
    dead(busy)
    lock = os.open(sock_dir / "c.sock.lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(lock, fcntl.LOCK_EX)
    (sock_dir / "notes.txt").touch()
    try:
        found, cleaned = daemons.sockets(str(sock_dir))
        assert found == [str(live), str(busy)]
        assert cleaned == [str(stale)]
        assert not stale.exists() and not (sock_dir / "b.notify").exists()
        assert (sock_dir / "b.sock.lock").exists()  # a starting daemon may have it open
        assert busy.exists() and live.exists()
    finally:
        server.close()
        os.close(lock)


def test_a_socket_without_a_lock_file_is_stale(sock_dir: Path) -> None:
    dead(sock_dir / "x.sock")
    assert daemons.probe(str(sock_dir / "x.sock")) == daemons.STALE
    assert daemons.probe(str(sock_dir / "x.sock")) == daemons.GONE


def test_a_missing_directory_lists_nothing(tmp_path: Path) -> None:
    assert daemons.sockets(str(tmp_path / "none")) == ([], [])


def test_a_busy_socket_is_listed_as_not_answering(sock_dir: Path) -> None:
    busy = sock_dir / "c.sock"
    dead(busy)
    lock = os.open(sock_dir / "c.sock.lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(lock, fcntl.LOCK_EX)
    try:
        assert daemons.every(str(sock_dir)) == [
            {"socket": str(busy), "project": None, "error": "does not answer"}
        ]
    finally:
        os.close(lock)
