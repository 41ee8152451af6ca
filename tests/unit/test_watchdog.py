"""The watchdog's script, run for real: what it ends when its pipe closes, with awk keeping
the list and with the shell's fallback (no awk on PATH)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from procman.daemon.watchdog import SCRIPT
from tests.harness import wait_until


@pytest.fixture(params=["awk", "shell"])
def path(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "awk":
        return os.environ["PATH"]
    bin_dir = tmp_path / "bin"  # what the script runs besides builtins, awk left out
    bin_dir.mkdir()
    for tool in ("sleep", "rmdir"):
        found = shutil.which(tool)
        assert found is not None
        (bin_dir / tool).symlink_to(found)
    return str(bin_dir)


@pytest.fixture
def group() -> Iterator[subprocess.Popen]:
    """A process in a group of its own, as an instance is."""
    proc = subprocess.Popen(["sleep", "60"], process_group=0)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)


@pytest.fixture
def cgroup(tmp_path: Path) -> Path:
    """A directory standing for the daemon's cgroup: the script writes cgroup.kill there."""
    folder = tmp_path / "cg"
    folder.mkdir()
    return folder


def run(path: str, lines: str) -> None:
    watchdog = subprocess.Popen(
        ["/bin/sh", "-c", SCRIPT], stdin=subprocess.PIPE, env={"PATH": path}, text=True
    )
    try:
        watchdog.communicate(lines, timeout=10)
    finally:
        if watchdog.poll() is None:
            watchdog.kill()
            watchdog.wait()


def test_a_clean_close_ends_nothing_and_touches_no_cgroup(
    path: str, group: subprocess.Popen, cgroup: Path
) -> None:
    # every instance was forgotten: the daemon's clean exit. A cgroup line once made the
    # awk branch read the cgroup's path as a group to kill (and wait 2 s at every exit).
    run(path, f"+{group.pid}\n-{group.pid}\nc{cgroup}\n")
    assert group.poll() is None
    assert not (cgroup / "cgroup.kill").exists()


def test_a_listed_group_is_ended_and_the_cgroup_killed(
    path: str, group: subprocess.Popen, cgroup: Path
) -> None:
    run(path, f"+1\n+{group.pid}\n-1\nc{cgroup}\n")
    wait_until(lambda: group.poll() is not None, 5, "the listed group ended")
    assert group.returncode == -signal.SIGTERM
    assert (cgroup / "cgroup.kill").read_text().strip() == "1"


def test_without_a_cgroup_only_the_groups_are_ended(path: str, group: subprocess.Popen) -> None:
    run(path, f"+{group.pid}\n")
    wait_until(lambda: group.poll() is not None, 5, "the listed group ended")
