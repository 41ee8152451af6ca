"""Isolated procman projects for benchmarks, the way tests/harness.py isolates them: a temp
dir, its own PROCMAN_SOCKET (short, under /tmp) and PROCMAN_HOME, and a teardown that
leaves no process behind.

Everything a workload starts carries PROCMAN_BENCH_TAG in its environment (procman's
daemon passes its environment on to the instances), so leftovers can be found and killed
by that mark alone: never by name.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from procman import protocol
from procman.client import Client

VENV_BIN = Path(sys.executable).parent
PYTHON = str(VENV_BIN / "python")
PROCMAN = str(VENV_BIN / "procman")
PROGRAMS = Path(__file__).resolve().parent / "programs"
TAG = "PROCMAN_BENCH_TAG"


def call(sock: Path, method: str, params: dict[str, Any] | None = None, timeout: float = 30) -> Any:
    """One control request with a timeout (Client.call has none); error replies raise."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(timeout)
        conn.connect(str(sock))
        conn.sendall(protocol.request(1, method, params))
        buffer = b""
        while b"\n" not in buffer:
            chunk = conn.recv(1 << 16)
            if not chunk:
                raise ConnectionError(f"{method}: the daemon closed the connection")
            buffer += chunk
    reply = json.loads(buffer.split(b"\n", 1)[0])
    if "error" in reply:
        raise RuntimeError(f"{method}: {reply['error']}")
    return reply["result"]


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


class Project:
    """One project directory with its own daemon."""

    def __init__(
        self, tag: str, name: str, yaml_text: str, extra_env: dict[str, str] | None = None
    ) -> None:
        self.root = Path(tempfile.mkdtemp(prefix=f"pmb-{name}-", dir="/tmp"))
        self.dir = self.root / "app"
        self.dir.mkdir()
        (self.dir / "procman.yaml").write_text(yaml_text)
        self.sock = self.root / "d.sock"
        self.home = self.root / "home"
        self.env = {
            **os.environ,
            "PROCMAN_SOCKET": str(self.sock),
            "PROCMAN_HOME": str(self.home),
            "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "NO_COLOR": "1",
            "TERM": "dumb",
            TAG: tag,
            **(extra_env or {}),
        }
        self.client = Client(self.dir, self.sock)

    # -- the CLI, as a user runs it -----------------------------------------------------

    def cli(self, *args: str, timeout: float = 60, env: dict[str, str] | None = None) -> float:
        """Run `procman ARGS` as a whole process, output on pipes; its wall time in seconds.
        env: variables to change for this call only."""
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

    # -- facts --------------------------------------------------------------------------

    def call(self, method: str, params: dict[str, Any] | None = None, timeout: float = 60) -> Any:
        return call(self.sock, method, params, timeout)

    def daemon_pid(self) -> int | None:
        try:
            return int(self.call("ping", timeout=5)["pid"])
        except (OSError, RuntimeError):
            return None

    def instances(self) -> list[dict[str, Any]]:
        return list(self.call("status")["instances"])

    def daemon_log(self) -> str:
        path = self.home / "daemon.log"
        return f"daemon.log: {path.read_text()[-2000:]}" if path.exists() else "(no daemon.log)"

    def ours(self) -> list[psutil.Process]:
        """The daemon, its instances and their descendants: they carry our socket path."""
        found = []
        for proc in tagged(self.env[TAG]):
            try:
                if proc.environ().get("PROCMAN_SOCKET") == str(self.sock):
                    found.append(proc)
            except psutil.Error:
                continue
        return found

    def shutdown(self, timeout: float = 30) -> None:
        """Stop everything and wait for the daemon to exit."""
        pid = self.daemon_pid()
        if pid is None:
            return
        try:
            self.call("shutdown", timeout=timeout)
        except (OSError, RuntimeError):
            pass
        try:
            psutil.Process(pid).wait(timeout)
        except psutil.NoSuchProcess:
            pass

    def teardown(self) -> list[str]:
        """Shut down, kill whatever is left, remove the directory; what had to be killed."""
        leftovers: list[str] = []
        try:
            self.shutdown(timeout=20)
        except psutil.TimeoutExpired:
            leftovers.append(f"daemon of {self.dir} did not exit after shutdown")
        deadline = time.monotonic() + 10
        left = self.ours()
        while left and time.monotonic() < deadline:
            time.sleep(0.1)
            left = self.ours()
        for proc in left:
            leftovers.append(describe(proc))
            try:
                proc.send_signal(signal.SIGKILL)
            except psutil.Error:
                pass
        shutil.rmtree(self.root, ignore_errors=True)
        return leftovers


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
