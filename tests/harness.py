"""The test harness: a project directory, the real CLI and daemon, and a teardown that
leaves no process behind."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

from procman import paths
from procman.cli.client import Client
from procman.errors import ProcmanError

ROOT = Path(__file__).resolve().parents[1]
PROGRAMS = Path(__file__).resolve().parent / "programs"
EXAMPLES = ROOT / "examples"
PY = sys.executable


def interrupt(proc: subprocess.Popen, timeout: float = 10.0) -> None:
    """Ctrl-C for a process a test started (a CLI in the foreground), SIGKILL if it has not
    ended within timeout; reaped either way."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def wait_until(cond: Callable[[], Any], timeout: float = 10.0, message: str = "") -> Any:
    """Poll cond until it returns something truthy; fail after timeout seconds."""
    deadline = time.monotonic() + timeout
    delay = 0.002
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message or cond}")
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


def alive(pid: int) -> bool:
    """Running, that is: a zombie is dead, however long its parent takes to reap it (a
    SIGKILLed daemon's leftovers go to this box's init, which reaps only now and then)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def zombies(pid: int) -> list[int]:
    """Children of pid that exited and were not reaped."""
    out = []
    for child in psutil.Process(pid).children():
        try:
            if child.status() == psutil.STATUS_ZOMBIE:
                out.append(child.pid)
        except psutil.NoSuchProcess:
            continue
    return out


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def free_base(offsets: tuple[int, ...] = (0, 1, 100, 101, 200, 201)) -> int:
    """A base port for Foreman's rule (base + 100 x position + index) whose ports
    base + offset are all free now."""
    import random

    for _ in range(200):
        base = random.randrange(20000, 60000, 100)
        socks = []
        try:
            for offset in offsets:
                sock = socket.socket()
                socks.append(sock)
                sock.bind(("0.0.0.0", base + offset))
            return base
        except OSError:
            continue
        finally:
            for sock in socks:
                sock.close()
    raise AssertionError("no free base port found")


class Harness:
    """One project directory, its daemon and everything it started.

    By default the daemon's socket is PROCMAN_SOCKET in sock_dir. With runtime_dir, sock_dir
    is XDG_RUNTIME_DIR instead and the socket goes where procman puts it by default (what
    `procman ls` scans), so several harnesses can share one socket directory."""

    def __init__(self, root: Path, sock_dir: Path, runtime_dir: bool = False) -> None:
        self.root = root
        env = {k: v for k, v in os.environ.items() if k != "PROCMAN_SOCKET"}
        self.env = {
            **env,
            "PROCMAN_HOME": str(root / ".procman"),
            "PATH": f"{Path(PY).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "NO_COLOR": "1",
            "TERM": "dumb",
        }
        if runtime_dir:
            self.env["XDG_RUNTIME_DIR"] = str(sock_dir)
            self.env["PROCMAN_TEST_PROJECT"] = str(root)  # how ours() knows our processes
            self.sock = Path(paths.socket_path(root, self.env))
        else:
            self.sock = sock_dir / "d.sock"
            self.env["PROCMAN_SOCKET"] = str(self.sock)
        self.client = Client(root, self.sock)
        self.background: list[subprocess.Popen] = []

    @property
    def mark(self) -> tuple[str, str]:
        """The variable every process of this project inherits, and its value."""
        if "PROCMAN_TEST_PROJECT" in self.env:
            return "PROCMAN_TEST_PROJECT", self.env["PROCMAN_TEST_PROJECT"]
        return "PROCMAN_SOCKET", str(self.sock)

    # -- files ------------------------------------------------------------------------------

    def write(self, name: str, text: str) -> Path:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    def procfile(self, text: str) -> Path:
        return self.write("Procfile", text)

    def yaml(self, text: str) -> Path:
        return self.write("procman.yaml", text)

    # -- the CLI ----------------------------------------------------------------------------

    def run(
        self, *args: str, timeout: float = 30, expect: int | None = 0, cwd: Path | None = None
    ) -> subprocess.CompletedProcess:
        proc = subprocess.run(
            [PY, "-m", "procman", *args],
            cwd=cwd or self.root,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        if expect is not None and proc.returncode != expect:
            raise AssertionError(
                f"procman {' '.join(args)} exited {proc.returncode}, wanted {expect}\n"
                f"stdout: {proc.stdout}\nstderr: {proc.stderr}\n{self.daemon_log()}"
            )
        return proc

    def popen(self, *args: str, **kwargs: Any) -> subprocess.Popen:
        proc = subprocess.Popen([PY, "-m", "procman", *args], cwd=self.root, env=self.env, **kwargs)
        self.background.append(proc)
        return proc

    def daemon_log(self) -> str:
        path = self.root / ".procman" / "daemon.log"
        return f"daemon.log:\n{path.read_text()[-4000:]}" if path.exists() else "(no daemon.log)"

    # -- facts ------------------------------------------------------------------------------

    def status(self, target: str | None = None) -> list[dict[str, Any]]:
        return self.client.call("status", {"target": target})["instances"]

    def by_id(self) -> dict[str, dict[str, Any]]:
        return {row["id"]: row for row in self.status()}

    def wait_state(self, ident: str, state: str, timeout: float = 10) -> dict[str, Any]:
        def check() -> dict[str, Any] | None:
            row = self.by_id().get(ident)
            return row if row and row["state"] == state else None

        return wait_until(check, timeout, f"{ident} {state}")

    def wait_log(self, needle: str, timeout: float = 10, target: str | None = None) -> str:
        def check() -> str | None:
            lines = self.client.call("logs", {"lines": 2000, "target": target})["lines"]
            found = [text for _, _, text, *_ in lines if needle in text]
            return found[-1] if found else None

        return wait_until(check, timeout, f"log line {needle!r}")

    def env_of(self, ident: str, timeout: float = 10) -> dict[str, Any]:
        """What tests/programs/printenv.py printed in the instance's current process (log
        files outlive daemons, so an older process's line may be there too)."""

        def check() -> dict[str, Any] | None:
            pid = self.by_id().get(ident, {}).get("pid")
            lines = self.client.call("logs", {"lines": 2000, "target": ident})["lines"]
            for _, _, text, *_ in reversed(lines):
                if text.startswith("ENV "):
                    env = json.loads(text[4:])
                    if env["pid"] == pid:
                        return env
            return None

        return wait_until(check, timeout, f"the ENV line of {ident}")

    def daemon_pid(self) -> int | None:
        try:
            return self.client.call("ping")["pid"]
        except ProcmanError:
            return None

    def ours(self) -> list[psutil.Process]:
        """Every live process whose environment carries this project's socket: the daemon,
        its instances and their descendants (they inherit it)."""
        found = []
        me = os.getpid()
        for proc in psutil.process_iter():
            if proc.pid == me:
                continue
            try:
                mine = proc.environ().get(self.mark[0]) == self.mark[1]
                if mine and proc.status() != psutil.STATUS_ZOMBIE:
                    found.append(proc)
            except (psutil.Error, OSError):
                continue
        return [p for p in found if p.pid not in {b.pid for b in self.background}]

    def teardown(self) -> list[str]:
        """Shut down, then kill whatever is left; returns what had to be killed."""
        try:
            self.client.call("shutdown")
        except ProcmanError:
            pass
        for proc in self.background:
            interrupt(proc)
        leftovers = []
        try:
            # a stubborn instance takes kill_timeout (5 s by default) on a busy box
            wait_until(lambda: not self.ours(), 20, "the daemon and its children to exit")
        except AssertionError:
            leftovers.append(self.daemon_log())  # why, for whoever reads the failure
            for proc in self.ours():
                try:
                    leftovers.append(f"{proc.pid} {' '.join(proc.cmdline())}")
                    leftovers.append(where_stuck(proc.pid))
                    proc.kill()
                except psutil.Error:
                    pass
        return leftovers


def where_stuck(pid: int) -> str:
    """What a process that should have exited is doing: its state, its kernel stack (root
    only) and, where py-spy is installed (`pip install py-spy`), its Python stack."""
    parts = []
    for name in ("status", "wchan", "stack"):
        try:
            text = Path(f"/proc/{pid}/{name}").read_text()
        except OSError:
            continue
        if name == "status":
            text = "".join(line for line in text.splitlines(True) if line.startswith("State"))
        parts.append(f"{name}: {text.strip()}")
    spy = Path(PY).parent / "py-spy"
    if spy.exists():
        try:
            out = subprocess.run(
                [str(spy), "dump", "--pid", str(pid)], capture_output=True, text=True, timeout=20
            )
            parts.append(out.stdout + out.stderr)
        except (OSError, subprocess.TimeoutExpired) as exc:
            parts.append(f"py-spy: {exc}")
    return "\n".join(parts)
