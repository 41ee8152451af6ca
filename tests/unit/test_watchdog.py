"""The watchdog's script, run for real: what it ends when its pipe closes, with awk reading
the list and with the shell's fallback (no awk on PATH); and the list file the daemon
keeps for it (appended, compacted, removed by a clean exit)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from procman.daemon.watchdog import COMPACT_FLOOR, SCRIPT, Watchdog
from tests.harness import wait_until


@pytest.fixture(params=["awk", "shell"])
def path(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "awk":
        return os.environ["PATH"]
    bin_dir = tmp_path / "bin"  # what the script runs besides builtins, awk left out
    bin_dir.mkdir()
    for tool in ("sleep", "rmdir", "rm"):
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


def run(path: str, lines: str | None, tmp_path: Path) -> None:
    """The script with `lines` as its list (None: no list, the daemon's clean exit), and
    its pipe closed at once, as a dying daemon closes it."""
    listed = tmp_path / "d.watchdog"
    if lines is not None:
        listed.write_text(lines)
    watchdog = subprocess.Popen(
        ["/bin/sh", "-c", SCRIPT, "procman-watchdog", str(listed)],
        stdin=subprocess.PIPE,
        env={"PATH": path},
        text=True,
    )
    try:
        watchdog.communicate("", timeout=10)
    finally:
        if watchdog.poll() is None:
            watchdog.kill()
            watchdog.wait()
    assert not listed.exists()  # read and removed


def test_a_clean_close_ends_nothing_and_touches_no_cgroup(
    path: str, group: subprocess.Popen, cgroup: Path, tmp_path: Path
) -> None:
    run(path, None, tmp_path)  # the daemon removed the list before closing the pipe
    assert group.poll() is None


def test_a_list_with_every_group_forgotten_ends_nothing(
    path: str, group: subprocess.Popen, cgroup: Path, tmp_path: Path
) -> None:
    # A cgroup line once made the awk branch read the cgroup's path as a group to kill
    # (and wait 2 s at every exit).
    run(path, f"+{group.pid}\n-{group.pid}\nc{cgroup}\n", tmp_path)
    assert group.poll() is None
    assert not (cgroup / "cgroup.kill").exists()


def test_a_listed_group_is_ended_and_the_cgroup_killed(
    path: str, group: subprocess.Popen, cgroup: Path, tmp_path: Path
) -> None:
    run(path, f"+1\n+{group.pid}\n-1\nc{cgroup}\n", tmp_path)
    wait_until(lambda: group.poll() is not None, 5, "the listed group ended")
    assert group.returncode == -signal.SIGTERM
    assert (cgroup / "cgroup.kill").read_text().strip() == "1"


def test_without_a_cgroup_only_the_groups_are_ended(
    path: str, group: subprocess.Popen, tmp_path: Path
) -> None:
    run(path, f"+{group.pid}\n", tmp_path)
    wait_until(lambda: group.poll() is not None, 5, "the listed group ended")


@pytest.fixture
def watchdog(tmp_path: Path) -> Iterator[Watchdog]:
    dog = Watchdog(str(tmp_path / "d.watchdog"))
    pid = dog.start()
    assert pid is not None
    try:
        yield dog
    finally:
        dog.close()
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:  # the test reaped it
            pass


def listed(dog: Watchdog) -> list[str]:
    return Path(dog.list_path).read_text().splitlines()


def test_the_list_is_appended_and_compacted_whole(watchdog: Watchdog) -> None:
    watchdog.cgroup("/sys/fs/cgroup/x/procman-1")
    watchdog.watch(7)
    assert listed(watchdog) == ["c/sys/fs/cgroup/x/procman-1", "+7"]
    for pgid in range(100, 100 + COMPACT_FLOOR):  # churn: started and gone
        watchdog.watch(pgid)
        watchdog.forget(pgid)
    lines = listed(watchdog)
    assert len(lines) < COMPACT_FLOOR + 10  # rewritten as the live set, then appended
    assert "c/sys/fs/cgroup/x/procman-1" in lines and "+7" in lines
    assert not Path(watchdog.list_path + ".new").exists()


def test_an_adopted_list_is_mirrored_for_the_next_compaction(
    watchdog: Watchdog, tmp_path: Path
) -> None:
    watchdog.watch(7)
    watchdog.watch(8)
    watchdog.forget(8)
    fds = watchdog.fds
    assert fds is not None
    heir = Watchdog(watchdog.list_path)  # the new image of an updated daemon
    heir.adopt(watchdog.pid or 0, os.dup(fds[0]), os.dup(fds[1]))
    for pgid in range(100, 100 + 3 * COMPACT_FLOOR):
        heir.watch(pgid)
        heir.forget(pgid)
    assert "+7" in listed(heir) and "+8" not in listed(heir)
    heir._drop()


def test_a_clean_close_removes_the_list_before_the_pipe(watchdog: Watchdog) -> None:
    watchdog.watch(os.getpid())  # were it read, the test's own group would be ended
    pid = watchdog.pid
    assert pid is not None
    watchdog.close()
    assert not Path(watchdog.list_path).exists()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
