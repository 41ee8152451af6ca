"""A PM2 user's day: several apps in one project, every daemon at a glance (`ls`), a restart
that runs what the files say now, and `describe` / `env` of an instance."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Callable
from typing import Any

import psutil

from tests.harness import PROGRAMS, PY, Harness, alive, wait_until

PRINTENV = f"{PY} {PROGRAMS / 'printenv.py'}"


def pids(pm: Harness, kind: str | None = None) -> dict[str, int]:
    return {r["id"]: r["pid"] for r in pm.status(kind)}


def apps_in_state(pm: Harness) -> list[str]:
    state = json.loads((pm.root / ".procman" / "state.json").read_text())
    return [app["name"] for app in state["source"]["apps"]]


# -- several apps in one project ---------------------------------------------------------------


def test_two_adhoc_apps_side_by_side_then_delete(pm: Harness) -> None:
    pm.run("start", PRINTENV, "--name", "api", "-i", "2")
    api = pids(pm)
    assert list(api) == ["api.1", "api.2"]
    out = pm.run("start", "sleep 1000", "--name", "bg").stdout
    assert "bg.1" in out
    rows = pm.by_id()
    assert set(rows) == {"api.1", "api.2", "bg.1"}
    assert all(r["state"] == "running" for r in rows.values())
    assert pids(pm, "api") == api  # adding an app leaves the others running
    assert apps_in_state(pm) == ["api", "bg"]

    # an app name that runs already is not replaced without --force
    res = pm.run("start", "sleep 1000", "--name", "bg", expect=1)
    assert '"bg" is already in the formation' in res.stderr and "--force" in res.stderr
    bg = pids(pm, "bg")
    res = pm.run("start", PRINTENV, "--name", "bg", "--force")
    assert "replaced bg (was:" in res.stdout
    assert pids(pm, "bg") != bg and pids(pm, "api") == api
    assert pm.env_of("bg.1")["PROCMAN_ID"] == "bg.1"  # the new command runs

    out = pm.run("delete", "bg").stdout
    assert "deleted bg (stopped bg.1)" in out
    assert pids(pm) == api
    assert not psutil.pid_exists(bg["bg.1"]) or not alive(bg["bg.1"])
    assert apps_in_state(pm) == ["api"]
    assert pm.client.call("status")["types"][0]["name"] == "api"
    res = pm.run("delete", "nope", expect=2)
    assert 'no ad-hoc app "nope" (ad-hoc apps: api)' in res.stderr


def test_apps_beside_a_formation_file_and_a_restore_brings_them_back(pm: Harness) -> None:
    pm.yaml(f"processes:\n  web:\n    cmd: {PRINTENV}\n")
    pm.run("start")
    pm.run("start", PRINTENV, "--name", "jobs", "-i", "2")
    assert sorted(pids(pm)) == ["jobs.1", "jobs.2", "web.1"]
    # an app may not take the name of a type of the file, force or not
    res = pm.run("start", "sleep 1000", "--name", "web", "--force", expect=1)
    assert '"web" is a process type of procman.yaml' in res.stderr
    # the file's type cannot be deleted as an app
    res = pm.run("delete", "web", expect=1)
    assert "not an ad-hoc app" in res.stderr and "scale web=0" in res.stderr

    # SIGKILL the daemon: state.json keeps the app, the next start brings it back
    before = list(pids(pm).values())
    os.kill(pm.daemon_pid() or 0, signal.SIGKILL)
    wait_until(lambda: not any(alive(p) for p in before), 10, "instances gone with the daemon")
    pm.run("start")
    rows = pm.by_id()
    assert sorted(rows) == ["jobs.1", "jobs.2", "web.1"]
    assert all(r["state"] == "running" for r in rows.values())
    assert pm.env_of("jobs.2")["PROCMAN_NAME"] == "jobs"


def test_another_formation_file_is_refused_then_replace(pm: Harness) -> None:
    pm.yaml(f"processes:\n  web:\n    cmd: {PRINTENV}\n")
    other = pm.write("other.yaml", f"processes:\n  worker:\n    cmd: {PRINTENV}\n")
    pm.run("start")
    pm.run("start", "sleep 1000", "--name", "bg")
    web = pids(pm, "web")
    res = pm.run("start", "-f", str(other), expect=1)
    assert "this project's daemon runs procman.yaml (web, bg)" in res.stderr
    assert "--replace" in res.stderr
    assert pids(pm, "web") == web  # nothing changed
    pm.run("start", "-f", str(pm.root / "procman.yaml"))  # the same file: fine
    assert pids(pm, "web") == web

    res = pm.run("start", str(other), "--replace")
    assert "other.yaml replaces procman.yaml" in res.stdout
    assert "ad-hoc apps kept: bg" in res.stdout
    assert sorted(pids(pm)) == ["bg.1", "worker.1"]
    assert all(not alive(p) for p in web.values())
    assert pm.client.call("formation")["source"] == str(other)


# -- procman ls --------------------------------------------------------------------------------


def test_ls_lists_every_daemon_and_cleans_a_stale_socket(
    projects: Callable[[str], Harness],
) -> None:
    one, two, three = projects("one"), projects("two"), projects("three")
    one.yaml(f"processes:\n  web:\n    cmd: {PRINTENV}\n    instances: 2\n")
    two.yaml(f"processes:\n  worker:\n    cmd: {PRINTENV}\n")
    three.yaml(f"processes:\n  clock:\n    cmd: {PRINTENV}\n")
    for pm in (one, two, three):
        pm.run("start")
    two.run("scale", "worker=0")
    assert one.sock.parent == two.sock.parent == three.sock.parent

    # SIGKILL the third daemon: its socket file stays behind, its lock goes with it
    doomed = list(pids(three).values())
    os.kill(three.daemon_pid() or 0, signal.SIGKILL)
    wait_until(lambda: not any(alive(p) for p in doomed), 10, "the third formation gone")
    assert three.sock.exists()

    found = json.loads(one.run("ls", "--json").stdout)
    by_project: dict[str, dict[str, Any]] = {d["project"]: d for d in found}
    assert set(by_project) == {str(one.root), str(two.root)}
    first = by_project[str(one.root)]
    assert first["types"] == [{"name": "web", "running": 2, "desired": 2}]
    assert first["instances"] == 2 and first["pid"] == one.daemon_pid()
    assert first["uptime_s"] > 0 and first["memory_bytes"] > 0
    assert first["cpu_percent"] is not None
    assert by_project[str(two.root)]["types"] == [{"name": "worker", "running": 0, "desired": 0}]
    assert not three.sock.exists()  # cleaned, not listed

    plain = two.run("list").stdout.splitlines()
    assert plain[0].split()[:3] == ["project", "pid", "uptime"]
    assert any(line.startswith(str(one.root)) and "web 2/2" in line for line in plain)

    # where no daemon runs, status points at ls
    res = three.run("status", expect=1)
    assert "no daemon" in res.stderr
    assert '2 other daemons of yours run: see "procman ls"' in res.stderr


# -- restart re-reads the files ----------------------------------------------------------------


def test_restart_rereads_env_files_and_no_update_keeps(pm: Harness) -> None:
    pm.write(".env", "FROM_ENV_FILE=one\nAPI_TOKEN=hunter2\n")
    pm.yaml(f"processes:\n  web:\n    cmd: {PRINTENV}\n  worker:\n    cmd: {PRINTENV}\n")
    pm.run("start")
    assert pm.env_of("web.1")["FROM_ENV_FILE"] == "one"
    pm.write(".env", "FROM_ENV_FILE=two\nAPI_TOKEN=hunter2\n")
    assert pm.client.call("status")["changed_files"] == [".env"]
    assert ".env changed since the daemon read it" in pm.run("status").stdout

    old = pids(pm, "web")
    pm.run("restart", "web", "--no-update")
    assert pids(pm, "web") != old
    assert pm.env_of("web.1")["FROM_ENV_FILE"] == "one"  # the definitions the daemon had

    pm.run("restart", "web")
    assert pm.env_of("web.1")["FROM_ENV_FILE"] == "two"
    assert pm.client.call("status")["changed_files"] == []
    rows = pm.by_id()
    assert rows["web.1"]["stale"] is False
    assert rows["worker.1"]["stale"] is True  # still on the old env
    assert pm.env_of("worker.1")["FROM_ENV_FILE"] == "one"
    plain = pm.run("status").stdout
    assert "running*" in plain and "worker.1: started before the formation was last read" in plain
    env = pm.run("env", "worker.1").stdout.splitlines()
    assert "FROM_ENV_FILE=one" in env and "API_TOKEN=****" in env
    assert "API_TOKEN=hunter2" in pm.run("env", "worker.1", "--reveal").stdout

    pm.run("restart")
    assert pm.env_of("worker.1")["FROM_ENV_FILE"] == "two"
    assert not any(r["stale"] for r in pm.status())
    # a changed definition in the file counts as much as a changed env file
    pm.yaml(f"processes:\n  web:\n    cmd: {PRINTENV}\n    env: {{FROM_TYPE: b}}\n"
            f"  worker:\n    cmd: {PRINTENV}\n")  # fmt: skip
    pm.run("restart", "worker")
    rows = pm.by_id()
    assert rows["web.1"]["stale"] is True and rows["worker.1"]["stale"] is False
    pm.run("reload", "web")
    assert pm.env_of("web.1")["FROM_TYPE"] == "b" and not pm.by_id()["web.1"]["stale"]


# -- describe ----------------------------------------------------------------------------------


def test_describe_a_crashed_instance_and_a_served_one(pm: Harness, port: int) -> None:
    pm.write(".env", "DB_PASSWORD=s3cret\n")
    pm.yaml(f"""processes:
  web:
    cmd: {PRINTENV}
    port: {port}
    max_memory: 256M
  crash:
    cmd: {PY} {PROGRAMS / "crasher.py"} 7
    max_restarts: 2
    min_uptime: 5
""")
    pm.run("start", expect=None)
    pm.wait_state("crash.1", "errored", timeout=20)
    info = json.loads(pm.run("describe", "crash.1", "--json").stdout)
    (crash,) = info["instances"]
    assert crash["state"] == "errored" and crash["pid"] is None
    assert crash["last_exit"]["code"] == 7
    assert "exited with code 7" in crash["last_exit"]["reason"]
    assert "gave up after 2 early exits in a row" in crash["last_exit"]["reason"]
    assert crash["command"] == [PY, str(PROGRAMS / "crasher.py"), "7"]  # no shell needed
    assert crash["restarts"] == 1 and crash["readiness"]["state"] == "not running"
    assert info["type"]["defined_in"] == "procman.yaml:6"
    plain = pm.run("describe", "crash.1").stdout
    assert "last exit" in plain and "exited with code 7" in plain

    web = json.loads(pm.run("describe", "web", "--json").stdout)
    t, (inst,) = web["type"], web["instances"]
    assert t["max_memory"] == 256 * 1024 * 1024 and t["autoscale"] is None
    assert t["logs"]["log"] == str(pm.root / ".procman" / "logs" / "web.log")
    assert inst["pgid"] == inst["pid"]  # its own process group
    assert inst["listener"] == {"host": "0.0.0.0", "port": port, "fd": 3}
    assert inst["command"][:2] == ["/bin/sh", "-c"] and "exec " in inst["command"][2]
    assert inst["env"]["DB_PASSWORD"] == "****" and inst["env"]["LISTEN_PID"] == str(inst["pid"])
    assert inst["readiness"] == {"check": "port", "timeout_s": 30.0, "state": "ready"}
    assert inst["cwd"] == str(pm.root) and inst["last_exit"] is None
    res = pm.run("describe", "nope", expect=2)
    assert "no process type or instance 'nope'" in res.stderr
