"""Database connections when a type scales from 2 to 8 instances, against a real
PostgreSQL run as a process type of the same formation (max_connections 40, 3 of them
reserved for superusers, a budget of 30 for the type). Each instance of the type is
programs/pool_holder.sh: it opens its "pool" of idle connections (one psql each) and holds
them. Three ways to size the pool:

- fixed: 10 connections per instance, whatever the count (the usual config file);
- share, autoscaled: DB_BUDGET // PROCMAN_MAX_INSTANCES, the type having an autoscale rule
  with max 8 (held by the manual `procman scale`, so the count is the bench's);
- share, plain type: the same formula on a type without a rule, whose
  PROCMAN_MAX_INSTANCES is its count when each instance was spawned; then
  `procman restart` of the type, after which every instance has the new count.

Per step: the client connections PostgreSQL holds for the type (pg_stat_activity, by
application_name) once they stop changing, and the refusals in the type's log (PostgreSQL's
FATAL lines: "remaining connection slots are reserved ..."). Not a speed figure: the counts
are exact and the same in every run.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.core import Row, Stats, WorkloadResult
from bench.project import PROGRAMS, Pool, Project
from bench.workloads.http import free_port
from tests.harness import wait_until

HOLDER = str(PROGRAMS / "pool_holder.sh")
MAX_CONNECTIONS, RESERVED, BUDGET, FIXED = 40, 3, 30, 10
LOW, HIGH = 2, 8
COUNT = "select count(*) from pg_stat_activity where application_name = '{}'"
#: type name -> (its settings in procman.yaml, its env)
TYPES: dict[str, tuple[str, dict[str, str]]] = {
    "autoscaled": (
        f"\n    autoscale: {{min: 1, max: {HIGH}, cpu: 100}}",
        {"DB_BUDGET": str(BUDGET)},
    ),
    "fixed": ("", {"POOL": str(FIXED)}),
    "plain": ("", {"DB_BUDGET": str(BUDGET)}),
}


def postgres_bin() -> str | None:
    found = shutil.which("postgres")
    return found if found and shutil.which("initdb") and shutil.which("psql") else None


def run(pool: Pool, quick: bool) -> WorkloadResult:
    result = WorkloadResult("pools")
    if postgres_bin() is None or os.geteuid() != 0:
        result.notes.append(
            "skipped: needs postgres, initdb and psql, and root (to run them as postgres)"
        )
        return result
    scratch = Path(tempfile.mkdtemp(prefix="pmb-pg-", dir="/tmp"))
    pool.adopt(_Rmtree(scratch))
    data, sock = scratch / "data", scratch / "sock"
    data.mkdir()
    sock.mkdir()
    pg = pwd.getpwnam("postgres")
    for path in (scratch, data, sock):
        os.chown(path, pg.pw_uid, pg.pw_gid)
    as_pg = ["setpriv", f"--reuid={pg.pw_uid}", f"--regid={pg.pw_gid}", "--clear-groups"]
    subprocess.run([*as_pg, "initdb", "-D", str(data), "-A", "trust", "-U", "admin"],
                   check=True, capture_output=True, timeout=120)  # fmt: skip
    port = free_port()
    db = " ".join([
        *as_pg, "postgres", "-D", str(data), "-p", str(port), "-k", str(sock),
        "-c", "listen_addresses=", "-c", f"max_connections={MAX_CONNECTIONS}",
        "-c", f"superuser_reserved_connections={RESERVED}",
    ])  # fmt: skip
    text = f"processes:\n  db:\n    cmd: {db}\n    ready: none\n"
    for name, (extra, env) in TYPES.items():
        env_yaml = json.dumps({**env, "PGAPPNAME": name})  # JSON is YAML's flow style
        text += f"  {name}:\n    cmd: sh {HOLDER}\n    instances: 0{extra}\n    env: {env_yaml}\n"
    extra_env = {"PGHOST": str(sock), "PGPORT": str(port), "PGUSER": "web"}
    project = pool.project("pools", text, extra_env)
    project.cli("start")
    project.cli("autoscale", "autoscaled", "off")  # the bench sets its counts, not the rule

    def sql(query: str) -> str:
        out = subprocess.run(["psql", "-X", "-A", "-t", "-w", "-h", str(sock), "-p", str(port),
                              "-U", "admin", "-d", "postgres", "-c", query],
                             capture_output=True, text=True, timeout=30, check=False)  # fmt: skip
        return out.stdout.strip() if out.returncode == 0 else ""

    wait_until(lambda: sql("select 1") == "1", 60, "PostgreSQL accepting connections")
    sql("create role web login")
    steps: list[dict[str, Any]] = []
    for name in TYPES:
        plan = [("scale", LOW), ("scale", HIGH)] + ([("restart", HIGH)] if name == "plain" else [])
        for verb, count in plan:
            if verb == "scale":
                project.cli("scale", f"{name}={count}")
            else:
                project.cli("restart", name)
            held = settle(lambda n=name: sql(COUNT.format(n)))
            steps.append({"type": name, "step": f"{verb} {count}", "instances": count,
                          "connections": held, "refused": refused(project, name),
                          "max_connections": MAX_CONNECTIONS, "budget": BUDGET})  # fmt: skip
        project.cli("scale", f"{name}=0")
        left = settle(lambda n=name: sql(COUNT.format(n)))
        steps.append({"type": name, "step": "scale 0", "instances": 0, "connections": left})
    result.extra["steps"] = steps
    for step in steps:
        if step["instances"] == HIGH:
            result.rows.append(Row(
                "pools", f"{step['type']}, {step['step']}: connections held "
                f"({step['refused']} refused so far)", "connections",
                Stats.of([float(step["connections"])]),
                target=BUDGET, target_text=f"≤ the type's budget ({BUDGET})",
            ))  # fmt: skip
    result.extra["postgres"] = sql("show server_version")
    return result


def settle(read: Any, quiet: float = 1.5, limit: float = 30) -> int:
    """The figure once it has not changed for `quiet` seconds (psql clients connect one by
    one, and refused ones just exit)."""
    deadline = time.monotonic() + limit
    last, since = None, time.monotonic()
    while time.monotonic() < deadline:
        value = int(read() or 0)
        if value != last:
            last, since = value, time.monotonic()
        elif time.monotonic() - since >= quiet:
            break
        time.sleep(0.1)  # the bench's own polling of a count with no event to wait on
    return int(last or 0)


def refused(project: Project, name: str) -> int:
    lines = project.client.call("logs", {"target": name, "lines": 10000})["lines"]
    return sum(1 for _, _, text in lines if "FATAL:" in text)


class _Rmtree:
    def __init__(self, path: Path) -> None:
        self.path = path

    def teardown(self) -> list[str]:
        shutil.rmtree(self.path, ignore_errors=True)
        return []
