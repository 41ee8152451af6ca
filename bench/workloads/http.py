"""HTTP through the shared port: requests/s with 1, 2 and 4 instances.

- procman: examples/app.py (stdlib threaded server, one request per connection), N
  instances of one type with a port: the daemon holds one SO_REUSEPORT listener per
  instance and passes it on fd 3;
- its ceiling, the same N copies of app.py started by a plain shell script
  (programs/copies.sh), each binding the port itself with SO_REUSEPORT; and the same
  script starting each copy in a session of its own (`setsid`), as procman does: with the
  kernel's autogroup scheduling (kernel.sched_autogroup_enabled=1) every session is a
  scheduling group of its own, which changes how two cores are shared between the copies
  and the load generator;
- PM2 cluster mode with programs/node_app.js, a Node server of the same shape;
- its ceiling, the same N workers under Node's own cluster module (programs/node_cluster.js),
  which is what PM2 cluster mode runs on.

A Python threaded server is far slower per instance than Node, so the fair comparisons are
procman against the shell script (same app) and PM2 against plain Node cluster; procman
against PM2 compares two different servers. Load: wrk (one thread, 32 connections) or the
bundled Python generator, against 127.0.0.1 only, all four setups alive on their own ports
and measured in rotation. The box has 2 cores and the load generator takes one of them.
"""

from __future__ import annotations

import http.client
import json
import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from typing import Any

import psutil

from bench import load, side
from bench.adapters import Manager, Spec
from bench.core import Compare, Stats, WorkloadResult
from bench.machine import ROOT
from bench.project import PROGRAMS, PYTHON, Pool

APP = str(ROOT / "examples" / "app.py")
NODE_APP = str(PROGRAMS / "node_app.js")
COUNTS = (1, 2, 4)
SHELL = "shell script × N (app.py)"
SETSID = "same, setsid per copy"
NODE = "node cluster × N (node_app.js)"
NOT_HERE = (
    "not in this workload: it compares procman with the same app under a shell script, and "
    "PM2 cluster mode with Node's own cluster module"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("0.0.0.0", 0))
        return int(sock.getsockname()[1])


def pids_answering(port: int, want: int, timeout: float = 20) -> set[int]:
    """GET until `want` different pids have answered (every instance serves)."""
    seen: set[int] = set()
    deadline = time.monotonic() + timeout
    while len(seen) < want:
        if time.monotonic() > deadline:
            raise RuntimeError(f"port {port}: {len(seen)} of {want} instances answered")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/")
            seen.add(int(json.loads(conn.getresponse().read())["pid"]))
            conn.close()
        except (OSError, ValueError, http.client.HTTPException):
            time.sleep(0.05)
    return seen


class Group:
    """N copies of a command started by a plain process (the ceilings), own session."""

    def __init__(self, pool: Pool, argv: Callable[[int], list[str]], env: dict[str, str]):
        self.pool, self.argv, self.env = pool, argv, {**pool.env, **env}
        self.proc: subprocess.Popen | None = None
        pool.adopt(self)

    def start(self, count: int) -> None:
        self.stop()
        self.proc = self.pool.helper(
            self.argv(count), env=self.env, start_new_session=True,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip

    def stop(self) -> None:
        """SIGTERM the script and every descendant (copies in sessions of their own too),
        SIGKILL what is left after 5 s."""
        if self.proc is None:
            return
        try:
            root = psutil.Process(self.proc.pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            procs = []
        for proc in procs:
            try:
                proc.terminate()
            except psutil.Error:
                pass
        _, alive = psutil.wait_procs(procs, timeout=5)
        for proc in alive:
            try:
                proc.kill()
            except psutil.Error:
                pass
        psutil.wait_procs(alive, timeout=5)
        self.proc.poll()
        if self.proc in self.pool.helpers:
            self.pool.helpers.remove(self.proc)
        self.proc = None

    def teardown(self) -> list[str]:
        self.stop()
        return []


def run(pool: Pool, quick: bool) -> WorkloadResult:
    reps, seconds = (2, 2.0) if quick else (4, 3.0)
    result = WorkloadResult("http")
    result.extra["load_generator"] = load.generator_version()
    tools, na = side.available(pool, "http", ("procman", "pm2"))
    for name in ("supervisord", "circus", "honcho"):
        na[name] = NOT_HERE
    node = shutil.which("node")
    ports = {k: free_port() for k in ("procman", SHELL, SETSID, "pm2", NODE)}
    result.extra["ports"] = ports
    app_env = {"APP_ACCESS_LOG": "0"}
    setups: dict[str, Callable[[int], None]] = {}

    procman = side.manager(pool, "procman")

    def procman_to(n: int) -> None:
        if procman.spec is None:
            procman.start(Spec([PYTHON, APP], count=n, name="web", port=ports["procman"],
                               env=app_env))  # fmt: skip
        else:
            procman.scale(n)

    setups["procman"] = procman_to
    shell = Group(pool, lambda n: ["/bin/sh", str(PROGRAMS / "copies.sh"), str(n), PYTHON, APP],
                  {"PORT": str(ports[SHELL]), **app_env})  # fmt: skip
    setups[SHELL] = shell.start
    own = Group(pool, lambda n: ["/bin/sh", str(PROGRAMS / "copies.sh"), str(n), PYTHON, APP],
                {"PORT": str(ports[SETSID]), "COPIES_SETSID": "1", **app_env})  # fmt: skip
    setups[SETSID] = own.start
    if "pm2" in tools:
        pm2: Manager = side.manager(pool, "pm2")

        def pm2_to(n: int) -> None:
            if pm2.spec is None:
                pm2.start(Spec([node or "node", NODE_APP], count=n, name="web", cluster=True,
                               env={"PORT": str(ports["pm2"])}))  # fmt: skip
            else:
                pm2.scale(n)

        setups["pm2"] = pm2_to
    if node:
        cluster = Group(pool, lambda n: [node, str(PROGRAMS / "node_cluster.js"), str(n)],
                        {"PORT": str(ports[NODE])})  # fmt: skip
        setups[NODE] = cluster.start
    else:
        na[NODE] = "node is not installed"

    figures: dict[int, dict[str, list[float]]] = {}
    runs: list[dict[str, Any]] = []
    for n in COUNTS:
        for name, to in list(setups.items()):
            if name in na:
                continue

            def bring(to: Callable[[int], None] = to, name: str = name, n: int = n) -> None:
                to(n)
                pids_answering(ports[name], n)

            if side.setup(name, bring, na):
                load.run(pool, ports[name], 1.0)  # warm-up, not kept

        def once(name: str, n: int = n) -> float:
            got = load.run(pool, ports[name], seconds)
            runs.append({"setup": name, "instances": n, **{k: v for k, v in got.items()
                                                          if k != "raw"}})  # fmt: skip
            if got["failed"]:
                result.notes.append(
                    f"{name} × {n}: {got['failed']} failed requests {got['errors']}"
                )
            return float(got["rps"])

        runners = {name: (lambda name=name: once(name)) for name in setups if name not in na}
        figures[n] = side.interleave(reps, 0, runners, na)
    result.extra["runs"] = runs
    for n in COUNTS:
        got = figures[n]
        baselines = {k: Stats.of(got[k]) for k in (SHELL, SETSID, NODE) if got.get(k)}
        note = ""
        if got.get("pm2") and got.get(NODE):
            ratio = Stats.of(got["pm2"]).median / Stats.of(got[NODE]).median
            note = f"pm2 / node cluster = {ratio:.2f}×"
        result.compare.append(
            Compare(
                "http", f"HTTP requests/s, {n} instance{'s' if n > 1 else ''}", "req/s",
                tools={t: Stats.of(got[t]) for t in ("procman", "pm2") if got.get(t)},
                na={t: r for t, r in na.items() if t in side.TOOLS},
                baselines=baselines, versus=(SHELL,), versus_text="shell script's",
                target=0.95, higher_is_better=True, note=note,
            )
        )  # fmt: skip
    return result
