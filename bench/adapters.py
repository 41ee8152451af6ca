"""One adapter per process manager behind one small interface, so that a workload is
written once and run for every tool in turn:

    m = make("supervisord", pool, peers)
    m.start(Spec(argv, count=4))   # from nothing (no daemon) until the tool's CLI returns
    m.wait_announced(4)            # ... and until every child has said it runs
    m.status()                     # one CLI status round trip (seconds)
    m.scale(8)                     # CLI call (seconds); NotSupported where the tool cannot
    m.kill_and_replace(pid)        # SIGKILL a child; seconds until its replacement runs
    m.stop_all()                   # everything down, the daemon gone

Timing does not trust any tool's own idea of "running": the children the cross-tool
workloads start are `programs/announce.sh`, which writes its pid to a FIFO the bench holds
and then execs `sleep`. The instant the bench reads that line is the instant the child ran,
whichever tool started it.

Every tool gets its own temp dir, its own control socket / home inside it, and an
environment marker (PROCMAN_BENCH_TAG) that its daemon passes on to the children, so its
teardown finds and kills whatever its own stop left, by that mark alone.
"""

from __future__ import annotations

import itertools
import json
import os
import select
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from bench.peers import Peer
from bench.project import PROGRAMS, TAG, Pool, Project, describe, tagged, wait_gone

ANNOUNCE = str(PROGRAMS / "announce.sh")
TOOLS = ("procman", "pm2", "supervisord", "circus", "honcho")
_serial = itertools.count()


class NotSupported(Exception):
    """The tool cannot do this (the message says why): the workload reports n/a."""


@dataclass
class Spec:
    """What to run: COUNT copies of ARGV under the name NAME."""

    argv: list[str]
    count: int
    name: str = "w"
    env: dict[str, str] = field(default_factory=dict)
    restart: bool = True
    fast: bool = False  # each tool's settings for its fastest restart (and start)
    log: Path | None = None  # where the children's output goes, for tools that take a path
    pool_size: int | None = None  # supervisord: the numprocs pool declared up front
    port: int | None = None  # procman: a held-socket type on this port
    cluster: bool = False  # pm2: cluster mode (argv = [node, script.js])


def announce_argv(fifo: Path, seconds: int = 1000) -> list[str]:
    return ["/bin/sh", ANNOUNCE, str(fifo), str(seconds)]


class Announcer:
    """The FIFO children announce themselves on: one `pid` line each, read by the bench."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / "announce.fifo"
        os.mkfifo(self.path, 0o600)
        # O_RDWR: a writer never blocks for want of a reader, and we never see EOF
        self.fd = os.open(self.path, os.O_RDWR | os.O_NONBLOCK)
        self.buffer = b""
        self.pids: list[int] = []  # in the order they arrived

    def _read(self, timeout: float) -> float | None:
        """Wait up to timeout for data; the time it was read, or None."""
        ready, _, _ = select.select([self.fd], [], [], max(0.0, timeout))
        if not ready:
            return None
        now = time.perf_counter()
        try:
            while True:
                chunk = os.read(self.fd, 65536)
                if not chunk:
                    break
                self.buffer += chunk
        except BlockingIOError:
            pass
        *lines, self.buffer = self.buffer.split(b"\n")
        self.pids.extend(int(line) for line in lines if line.strip())
        return now

    def drain(self) -> None:
        while self._read(0) is not None:
            pass

    def wait(self, count: int, timeout: float = 30) -> float:
        """Block until `count` pids have been announced in all; the time the last was read."""
        deadline = time.perf_counter() + timeout
        last = time.perf_counter()
        while len(self.pids) < count:
            got = self._read(deadline - time.perf_counter())
            if got is None:
                raise TimeoutError(f"{len(self.pids)} of {count} children announced in {timeout}s")
            last = got
        return last

    def close(self) -> None:
        os.close(self.fd)


class Manager:
    """The interface; subclasses fill in the tool-specific parts."""

    name = "?"
    has_daemon = True
    cli_timeout = 60.0  # at least this long for any CLI call (1,000 instances: longer)

    def __init__(self, pool: Pool, peer: Peer | None = None) -> None:
        self.pool = pool
        self.peer = peer
        self.tag = f"{pool.tag}.{self.name}{next(_serial)}"
        self.root = Path(tempfile.mkdtemp(prefix=f"pmb-{self.name}-", dir="/tmp"))
        self.announcer = Announcer(self.root)
        self.env = {
            **pool.env,
            TAG: self.tag,
            "NO_COLOR": "1",
            "TERM": "dumb",
            "PATH": os.environ.get("PATH", ""),
        }
        self.spec: Spec | None = None
        self.count = 0
        self.closed = False
        pool.adopt(self)

    # -- helpers --------------------------------------------------------------------------

    def fifo(self) -> Path:
        return self.announcer.path

    def run_cli(self, args: list[str], timeout: float = 60, ok: tuple[int, ...] = (0,)) -> float:
        """A CLI call as a user makes it, output on pipes; its wall seconds."""
        timeout = max(timeout, self.cli_timeout)
        t0 = time.perf_counter()
        proc = subprocess.run(
            args, cwd=self.root, env=self.env, stdin=subprocess.DEVNULL,
            capture_output=True, timeout=timeout, check=False,
        )  # fmt: skip
        elapsed = time.perf_counter() - t0
        if proc.returncode not in ok:
            err = (proc.stdout + proc.stderr).decode(errors="replace").strip()[-1500:]
            raise RuntimeError(f"{self.name}: {' '.join(args)} exited {proc.returncode}: {err}")
        return elapsed

    def wait_announced(self, more: int, timeout: float = 60) -> float:
        """Wait for `more` announcements beyond those seen so far; time of the last."""
        return self.announcer.wait(len(self.announcer.pids) + more, timeout)

    def kill_and_replace(self, pid: int, timeout: float = 30) -> tuple[float, int]:
        """SIGKILL pid; seconds until its replacement announced itself, and its pid."""
        self.announcer.drain()
        seen = len(self.announcer.pids)
        t0 = time.perf_counter()
        os.kill(pid, signal.SIGKILL)
        t1 = self.announcer.wait(seen + 1, timeout)
        return t1 - t0, self.announcer.pids[-1]

    def ours(self) -> list[psutil.Process]:
        return tagged(self.tag)

    def memory_pids(self) -> list[int]:
        """The manager's own process(es), for footprint: the daemon (or honcho and its
        helpers), not the children it runs."""
        raise NotImplementedError

    # -- the interface --------------------------------------------------------------------

    def start(self, spec: Spec) -> float:
        raise NotImplementedError

    def scale(self, count: int) -> float:
        raise NotSupported(f"{self.name} cannot scale")

    def status(self) -> float:
        raise NotSupported(f"{self.name} has no status command")

    def status_json(self) -> float:
        raise NotSupported(f"{self.name} has no JSON status")

    def stop_all(self) -> None:
        raise NotImplementedError

    def teardown(self) -> list[str]:
        """stop_all, then kill whatever carries our mark; what had to be killed. Once."""
        if self.closed:
            return []
        self.closed = True
        leftovers: list[str] = []
        try:
            self.stop_all()
        except Exception as exc:  # teardown goes on whatever happened
            leftovers.append(f"{self.name}: stop failed: {type(exc).__name__}: {exc}"[:300])
        deadline = time.monotonic() + 10
        left = self.ours()
        while left and time.monotonic() < deadline:
            time.sleep(0.1)
            left = self.ours()
        for proc in left:
            leftovers.append(f"{self.name}: {describe(proc)}")
            try:
                proc.send_signal(signal.SIGKILL)
            except psutil.Error:
                pass
        self.announcer.close()
        shutil.rmtree(self.root, ignore_errors=True)
        return leftovers


def _wait_gone(pid: int | None, timeout: float = 20) -> None:
    if pid is not None:
        wait_gone([pid], timeout)  # if not, teardown kills it by its mark


def _pidfile(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


# -- procman ------------------------------------------------------------------------------


class Procman(Manager):
    name = "procman"

    def __init__(self, pool: Pool, peer: Peer | None = None) -> None:
        super().__init__(pool, peer)
        self.project: Project | None = None

    def yaml(self, spec: Spec) -> str:
        lines = ["processes:", f"  {spec.name}:", f"    cmd: {json.dumps(shlex.join(spec.argv))}",
                 f"    instances: {spec.count}",
                 f"    restart: {'always' if spec.restart else 'never'}"]  # fmt: skip
        if spec.fast:
            lines += ["    min_uptime: 0", "    max_restarts: 1000000"]
        if spec.port:
            lines += [f"    port: {spec.port}"]
        if spec.env:
            lines += ["    env:"] + [f"      {k}: {json.dumps(v)}" for k, v in spec.env.items()]
        return "\n".join(lines) + "\n"

    def start(self, spec: Spec) -> float:
        self.spec, self.count = spec, spec.count
        if self.project is None:
            self.project = Project(self.tag, "procman", self.yaml(spec))
        else:
            (self.project.dir / "procman.yaml").write_text(self.yaml(spec))
        return self.project.cli("start")

    def cli(self, *args: str) -> float:
        assert self.project is not None
        return self.project.cli(*args)

    def scale(self, count: int) -> float:
        assert self.spec is not None
        elapsed = self.cli("scale", f"{self.spec.name}={count}")
        self.count = count
        return elapsed

    def status(self) -> float:
        return self.cli("status")

    def status_json(self) -> float:
        return self.cli("status", "--json")

    def stop_all(self) -> None:
        if self.project is not None:
            self.project.shutdown()

    def memory_pids(self) -> list[int]:
        assert self.project is not None
        pid = self.project.daemon_pid()
        return [pid] if pid else []

    def teardown(self) -> list[str]:
        if self.closed:
            return []
        leftovers = self.project.teardown() if self.project is not None else []
        return leftovers + super().teardown()


# -- PM2 ----------------------------------------------------------------------------------


class PM2(Manager):
    name = "pm2"

    def __init__(self, pool: Pool, peer: Peer | None = None) -> None:
        super().__init__(pool, peer)
        assert peer is not None
        self.home = self.root / "h"
        self.home.mkdir()
        # A returning user's PM2_HOME: no first-run banner and no version check over the
        # network (this box has none).
        (self.home / "touch").write_text("0")
        self.env.update({"PM2_HOME": str(self.home), "PM2_DISABLE_VERSION_CHECK": "1"})
        self.pm2 = peer.bin["pm2"]

    def ecosystem(self, spec: Spec) -> Path:
        log = str(spec.log or self.root / f"{spec.name}.log")
        app: dict[str, object] = {
            "name": spec.name,
            "instances": spec.count,
            "autorestart": spec.restart,
            "out_file": log,
            "error_file": log,
            "merge_logs": True,
            "env": spec.env,
        }
        if spec.cluster:
            app.update({"script": spec.argv[1], "args": spec.argv[2:], "exec_mode": "cluster"})
        else:
            app.update({"script": spec.argv[0], "args": spec.argv[1:], "interpreter": "none",
                        "exec_mode": "fork"})  # fmt: skip
        if spec.fast:
            app.update({"restart_delay": 0, "min_uptime": 0, "max_restarts": 1000000})
        path = self.root / "ecosystem.json"
        path.write_text(json.dumps({"apps": [app]}, indent=1))
        return path

    def start(self, spec: Spec) -> float:
        self.spec, self.count = spec, spec.count
        return self.run_cli([self.pm2, "start", str(self.ecosystem(spec))])

    def scale(self, count: int) -> float:
        assert self.spec is not None
        elapsed = self.run_cli([self.pm2, "scale", self.spec.name, str(count)])
        self.count = count
        return elapsed

    def status(self) -> float:
        return self.run_cli([self.pm2, "status"])

    def status_json(self) -> float:
        return self.run_cli([self.pm2, "jlist"], timeout=300)

    def reload(self) -> float:
        assert self.spec is not None
        return self.run_cli([self.pm2, "reload", self.spec.name], timeout=120)

    def update(self) -> float:
        """`pm2 update`: save the list, kill the daemon and its apps, resurrect them."""
        return self.run_cli([self.pm2, "update"], timeout=120)

    def daemon_pid(self) -> int | None:
        return _pidfile(self.home / "pm2.pid")

    def stop_all(self) -> None:
        pid = self.daemon_pid()
        if pid is None or not psutil.pid_exists(pid):
            return
        self.run_cli([self.pm2, "kill"], timeout=60)
        _wait_gone(pid)

    def memory_pids(self) -> list[int]:
        pid = self.daemon_pid()
        return [pid] if pid else []


# -- supervisord --------------------------------------------------------------------------


class Supervisord(Manager):
    name = "supervisord"

    def __init__(self, pool: Pool, peer: Peer | None = None) -> None:
        super().__init__(pool, peer)
        assert peer is not None
        self.conf = self.root / "supervisord.conf"
        self.sock = self.root / "s.sock"
        self.pidfile = self.root / "supervisord.pid"
        self.bin = peer.bin

    def config(self, spec: Spec) -> str:
        size = max(spec.pool_size or spec.count, 1)
        log = str(spec.log) if spec.log else "AUTO"
        env = ",".join(f'{k}="{v}"' for k, v in spec.env.items())
        (self.root / "logs").mkdir(exist_ok=True)
        lines = [
            "[unix_http_server]", f"file={self.sock}", "",
            "[supervisord]", f"logfile={self.root / 'supervisord.log'}",
            f"pidfile={self.pidfile}", f"childlogdir={self.root / 'logs'}",
            # its open files floor (default 1024): 1,000 processes need ~4 each
            f"minfds={max(1024, 4 * size + 64)}", "",
            "[rpcinterface:supervisor]",
            "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface", "",
            "[supervisorctl]", f"serverurl=unix://{self.sock}", "",
            f"[program:{spec.name}]", f"command={shlex.join(spec.argv)}", f"numprocs={size}",
            "process_name=%(program_name)s_%(process_num)02d",
            # a pool larger than what runs now is started by name, `supervisorctl start`
            f"autostart={'true' if spec.count >= size else 'false'}",
            f"autorestart={'true' if spec.restart else 'false'}",
            "redirect_stderr=true", f"stdout_logfile={log}",
            "stopasgroup=true", "killasgroup=true",
        ]  # fmt: skip
        if spec.fast:
            lines += ["startsecs=0", "startretries=1000000"]
        if env:
            lines.append(f"environment={env}")
        return "\n".join(lines) + "\n"

    def names(self, lo: int, hi: int) -> list[str]:
        assert self.spec is not None
        return [f"{self.spec.name}:{self.spec.name}_{i:02d}" for i in range(lo, hi)]

    def ctl(self, *args: str, timeout: float = 60, ok: tuple[int, ...] = (0,)) -> float:
        return self.run_cli([self.bin["supervisorctl"], "-c", str(self.conf), *args], timeout, ok)

    def start(self, spec: Spec) -> float:
        self.spec = spec
        self.conf.write_text(self.config(spec))
        elapsed = self.run_cli([self.bin["supervisord"], "-c", str(self.conf)])
        size = spec.pool_size or spec.count
        if spec.count < size:  # the pool is declared, only `count` of it is started
            deadline = time.monotonic() + 10
            while not self.sock.exists() and time.monotonic() < deadline:
                time.sleep(0.01)
            elapsed += self.ctl("start", *self.names(0, spec.count))
        self.count = spec.count
        return elapsed

    def scale(self, count: int) -> float:
        assert self.spec is not None
        size = self.spec.pool_size or self.spec.count
        if count > size:
            raise NotSupported(f"supervisord runs at most the {size} processes declared")
        if count > self.count:
            elapsed = self.ctl("start", *self.names(self.count, count))
        elif count < self.count:
            elapsed = self.ctl("stop", *self.names(count, self.count))
        else:
            elapsed = 0.0
        self.count = count
        return elapsed

    def status(self) -> float:
        return self.ctl("status", ok=(0, 3))  # 3: some of the declared pool is not running

    def status_json(self) -> float:
        raise NotSupported("supervisorctl has no JSON output (its status is the table)")

    def stop_all(self) -> None:
        pid = _pidfile(self.pidfile)
        if pid is None or not psutil.pid_exists(pid):
            return
        self.ctl("shutdown")
        _wait_gone(pid)

    def memory_pids(self) -> list[int]:
        pid = _pidfile(self.pidfile)
        return [pid] if pid else []


# -- circus -------------------------------------------------------------------------------


class Circus(Manager):
    name = "circus"
    FAST_CHECK_DELAY = 0.01  # seconds between circusd's reap-and-respawn passes (default 1)

    def __init__(self, pool: Pool, peer: Peer | None = None) -> None:
        super().__init__(pool, peer)
        assert peer is not None
        self.ini = self.root / "circus.ini"
        self.pidfile = self.root / "circusd.pid"
        self.endpoint = f"ipc://{self.root / 'ctl.sock'}"
        self.bin = peer.bin

    def config(self, spec: Spec) -> str:
        lines = [
            "[circus]", f"endpoint = {self.endpoint}",
            f"pubsub_endpoint = ipc://{self.root / 'pub.sock'}",
            f"stats_endpoint = ipc://{self.root / 'stats.sock'}", "statsd = False",
            f"pidfile = {self.pidfile}", f"logoutput = {self.root / 'circusd.log'}", "",
            f"[watcher:{spec.name}]", f"cmd = {spec.argv[0]}",
            f"args = {shlex.join(spec.argv[1:])}",
            f"numprocesses = {spec.count}", "copy_env = True",
            f"respawn = {spec.restart}", "max_retry = -1", "warmup_delay = 0",
        ]  # fmt: skip
        if spec.fast:
            lines.insert(7, f"check_delay = {self.FAST_CHECK_DELAY}")
        if spec.log:
            for stream in ("stdout_stream", "stderr_stream"):
                lines += [f"{stream}.class = FileStream", f"{stream}.filename = {spec.log}"]
        if spec.env:
            lines += ["", f"[env:{spec.name}]"] + [f"{k} = {v}" for k, v in spec.env.items()]
        return "\n".join(lines) + "\n"

    def ctl(self, *args: str) -> float:
        return self.run_cli([self.bin["circusctl"], "--endpoint", self.endpoint, *args])

    def start(self, spec: Spec) -> float:
        self.spec, self.count = spec, spec.count
        self.ini.write_text(self.config(spec))
        return self.run_cli([self.bin["circusd"], "--daemon", str(self.ini)])

    def scale(self, count: int) -> float:
        assert self.spec is not None
        if count > self.count:
            elapsed = self.ctl("incr", self.spec.name, str(count - self.count))
        elif count < self.count:
            elapsed = self.ctl("decr", self.spec.name, str(self.count - count))
        else:
            elapsed = 0.0
        self.count = count
        return elapsed

    def status(self) -> float:
        return self.ctl("status")

    def stop_all(self) -> None:
        pid = _pidfile(self.pidfile)
        if pid is None or not psutil.pid_exists(pid):
            return
        self.ctl("quit")
        _wait_gone(pid)

    def memory_pids(self) -> list[int]:
        pid = _pidfile(self.pidfile)
        return [pid] if pid else []


# -- honcho -------------------------------------------------------------------------------


class Honcho(Manager):
    name = "honcho"
    has_daemon = False
    NO_DAEMON = "honcho has no daemon: it runs in the foreground"

    def __init__(self, pool: Pool, peer: Peer | None = None) -> None:
        super().__init__(pool, peer)
        assert peer is not None
        self.bin = peer.bin
        self.proc: subprocess.Popen | None = None
        self.out = None
        self.log = self.root / "honcho.out"

    def start(self, spec: Spec) -> float:
        self.spec, self.count = spec, spec.count
        procfile = self.root / "Procfile"
        procfile.write_text(f"{spec.name}: {shlex.join(spec.argv)}\n")
        self.log = spec.log or self.root / "honcho.out"
        self.out = open(self.log, "wb")  # noqa: SIM115 - closed in stop_all
        self.proc = subprocess.Popen(
            [self.bin["honcho"], "start", "-f", str(procfile), "-d", str(self.root),
             "-c", f"{spec.name}={spec.count}"],
            cwd=self.root, env={**self.env, **spec.env}, stdin=subprocess.DEVNULL,
            stdout=self.out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        return 0.0  # no command returns: it stays in the foreground

    def kill_and_replace(self, pid: int, timeout: float = 30) -> tuple[float, int]:
        raise NotSupported("honcho restarts nothing: when one process exits it stops them all")

    def scale(self, count: int) -> float:
        raise NotSupported("honcho has no scale: the concurrency is fixed at start")

    def status(self) -> float:
        raise NotSupported("honcho has no status (no daemon)")

    def _started_lines(self) -> int:
        try:
            return self.log.read_bytes().count(b" started (pid=")
        except OSError:
            return 0

    def stop_all(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            # honcho's SIGTERM handler signals every child whose pid its main loop has
            # heard of; one it has not yet (its "started" line is not out) makes it crash
            # and leave children behind. Wait for them all first.
            deadline = time.monotonic() + 10
            while self._started_lines() < self.count and time.monotonic() < deadline:
                time.sleep(0.05)
            self.proc.send_signal(signal.SIGTERM)  # honcho stops its children, then exits
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.out is not None:
            self.out.close()
            self.out = None

    def exited(self, timeout: float) -> int | None:
        assert self.proc is not None
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def memory_pids(self) -> list[int]:
        """honcho runs one helper process (a fork of itself) per child: those count too."""
        assert self.proc is not None
        main = psutil.Process(self.proc.pid)
        return [main.pid] + [c.pid for c in main.children() if c.exe() == main.exe()]


CLASSES: dict[str, type[Manager]] = {
    "procman": Procman, "pm2": PM2, "supervisord": Supervisord, "circus": Circus,
    "honcho": Honcho,
}  # fmt: skip


def make(name: str, pool: Pool, peers: dict[str, Peer]) -> Manager:
    return CLASSES[name](pool, peers.get(name))
