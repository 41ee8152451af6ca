"""Isolated procman projects for benchmarks: tests.harness.Harness (a temp dir, its own
PROCMAN_SOCKET, short and under /tmp, and PROCMAN_HOME, procman's own client, a teardown that
leaves no process behind), plus the bench's mark and a CLI timed as a user runs it.

Everything a workload starts carries PROCMAN_BENCH_TAG in its environment (procman's
daemon passes its environment on to the instances), so leftovers can be found and killed
by that mark alone: never by name.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from procman.errors import ProcmanError
from tests.harness import Harness, alive

VENV_BIN = Path(sys.executable).parent
PYTHON = str(VENV_BIN / "python")
PROCMAN = str(VENV_BIN / "procman")
PROGRAMS = Path(__file__).resolve().parent / "programs"
TAG = "PROCMAN_BENCH_TAG"


def tagged(tag: str) -> list[psutil.Process]:
    """Live processes whose environment carries this tag (or, for a run id, any tag in it)."""
    found = []
    me = os.getpid()
    for proc in psutil.process_iter():
        if proc.pid == me:
            continue
        try:
            value = proc.environ().get(TAG, "")
            mine = bool(value) and (value == tag or value.startswith(tag + "."))
            if mine and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
        except (psutil.Error, OSError):
            continue
    return found


def describe(proc: psutil.Process) -> str:
    try:
        return f"{proc.pid} {' '.join(proc.cmdline())}"
    except psutil.Error:
        return str(proc.pid)


class Project(Harness):
    """One project directory (`dir`, the harness's `root`) with its own daemon; the socket
    sits in `scratch`, the temp dir around it, which teardown() removes. The control client
    (`client`), status(), daemon_pid(), ours(), daemon_log() and teardown() are the
    harness's."""

    def __init__(
        self, tag: str, name: str, yaml_text: str, extra_env: dict[str, str] | None = None
    ) -> None:
        self.scratch = Path(tempfile.mkdtemp(prefix=f"pmb-{name}-", dir="/tmp"))
        self.dir = self.scratch / "app"
        self.dir.mkdir()
        super().__init__(self.dir, self.scratch)
        self.home = Path(self.env["PROCMAN_HOME"])
        self.env.update({TAG: tag, **(extra_env or {})})
        self.yaml(yaml_text)

    # -- the CLI, as a user runs it -----------------------------------------------------

    def cli(self, *args: str, timeout: float = 60, env: dict[str, str] | None = None) -> float:
        """Run `procman ARGS` (the console script, not `python -m`) as a whole process,
        output on pipes; its wall time in seconds. env: variables to change for this call."""
        t0 = time.perf_counter()
        proc = subprocess.run(
            [PROCMAN, *args],
            cwd=self.dir,
            env={**self.env, **env} if env else self.env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
        elapsed = time.perf_counter() - t0
        if proc.returncode != 0:
            raise RuntimeError(
                f"procman {' '.join(args)} exited {proc.returncode}: "
                f"{proc.stderr.decode(errors='replace').strip()}\n{self.daemon_log()}"
            )
        return elapsed

    def shutdown(self, timeout: float = 30) -> None:
        """Stop everything and wait for the daemon to exit (the project stays usable)."""
        pid = self.daemon_pid()
        if pid is None:
            return
        try:
            self.client.call("shutdown")
        except ProcmanError:
            pass
        wait_gone([pid], timeout)

    def teardown(self) -> list[str]:
        """The harness's teardown (shut down, kill whatever is left), then remove the
        directory; what had to be killed."""
        leftovers = super().teardown()
        shutil.rmtree(self.scratch, ignore_errors=True)
        return leftovers


def wait_gone(pids: list[int], timeout: float, reaped: bool = False) -> None:
    """Poll until none of pids runs (reaped: until none exists), at most timeout. A zombie
    has exited: a detached manager's parent is init, and this box's init (a sandbox's
    process_api) reaps only now and then, up to a second and more later; psutil's wait()
    waited for that reaping, which put the box's init into every tool's shutdown figure.
    reaped=True is for between rounds, untimed."""
    still = psutil.pid_exists if reaped else alive
    deadline = time.monotonic() + timeout
    while any(still(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.002)


class Pool:
    """Every project and helper process of one workload; close() tears them all down."""

    def __init__(self, tag: str) -> None:
        self.tag = tag
        self.projects: list[Project] = []
        self.helpers: list[subprocess.Popen] = []
        self.adopted: list[Any] = []  # anything else with a teardown() -> leftovers
        self.peers: dict[str, Any] = {}  # name -> bench.peers.Peer, set by the CLI
        self.peers_selected = False  # --peers narrowed the list
        self.env = {**os.environ, TAG: tag}

    def project(
        self, name: str, yaml_text: str, extra_env: dict[str, str] | None = None
    ) -> Project:
        project = Project(self.tag, name, yaml_text, extra_env)
        self.projects.append(project)
        return project

    def helper(
        self, args: list[str], env: dict[str, str] | None = None, **kwargs: Any
    ) -> subprocess.Popen:
        """A baseline process (carries the tag, so its children can be found too)."""
        proc = subprocess.Popen(args, env=env or self.env, **kwargs)
        self.helpers.append(proc)
        return proc

    def adopt(self, thing: Any) -> None:
        """Tear `thing` down with the pool (its teardown() returns what it had to kill)."""
        self.adopted.append(thing)

    def close(self) -> list[str]:
        leftovers: list[str] = []
        for thing in reversed(self.adopted):
            try:
                leftovers.extend(thing.teardown())
            except Exception as exc:  # go on tearing down the rest
                leftovers.append(f"teardown of {thing!r} failed: {exc}")
        for proc in self.helpers:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        for project in self.projects:
            leftovers.extend(project.teardown())
        time.sleep(0.05)
        for proc in tagged(self.tag):  # baseline grandchildren, anything missed above
            leftovers.append(describe(proc))
            try:
                proc.send_signal(signal.SIGKILL)
            except psutil.Error:
                pass
        return leftovers
