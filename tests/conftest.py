"""Fixtures: a project in tmp_path with its own socket and state (see harness.py)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.harness import Harness, free_port


@pytest.fixture
def pm(tmp_path: Path) -> Iterator[Harness]:
    # AF_UNIX paths are short (108 bytes): keep the socket out of pytest's long tmp_path.
    sock_dir = Path(tempfile.mkdtemp(prefix="pm-", dir="/tmp"))
    project = tmp_path / "app"
    project.mkdir()
    harness = Harness(project, sock_dir)
    try:
        yield harness
    finally:
        leftovers = harness.teardown()
        shutil.rmtree(sock_dir, ignore_errors=True)
    assert not leftovers, f"processes left behind: {leftovers}"


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
def projects(tmp_path: Path) -> Iterator[Callable[[str], Harness]]:
    """Harnesses whose daemons share one default socket directory (XDG_RUNTIME_DIR: what
    `ls` and the dashboard's picker scan)."""
    runtime = Path(tempfile.mkdtemp(prefix="pm-", dir="/tmp"))
    made: list[Harness] = []

    def make(name: str) -> Harness:
        root = tmp_path / name
        root.mkdir()
        made.append(Harness(root, runtime, runtime_dir=True))
        return made[-1]

    try:
        yield make
    finally:
        leftovers = [line for h in made for line in h.teardown()]
        shutil.rmtree(runtime, ignore_errors=True)
        assert not leftovers, f"processes left behind: {leftovers}"
