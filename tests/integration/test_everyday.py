"""The everyday verbs against a real daemon and real children."""

from __future__ import annotations

import json
import os
import signal
import urllib.request

import psutil

from tests.harness import EXAMPLES, PROGRAMS, PY, Harness, free_port, wait_until

STATUS_KEYS = {
    "id",
    "type",
    "index",
    "pid",
    "state",
    "uptime_s",
    "restarts",
    "cpu_percent",
    "memory_bytes",
    "port",
}


def web_yaml(port: int, instances: int | str = 2, worker: bool = True) -> str:
    text = f"""processes:
  web:
    cmd: {PY} {EXAMPLES / "app.py"}
    instances: {instances}
    port: {port}
    env: {{APP_ACCESS_LOG: "0"}}
"""
    if worker:
        text += f"""  worker:
    cmd: {PY} {EXAMPLES / "worker.py"}
"""
    return text


def get(port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as reply:
        return json.loads(reply.read())


def test_start_max_gives_cpu_count_and_shared_port_spreads(pm: Harness, port: int) -> None:
    pm.yaml(web_yaml(port, instances=1))
    pm.run("start", "-i", "max")
    rows = pm.status()
    cpus = os.cpu_count() or 1
    assert [r["id"] for r in rows if r["type"] == "web"] == [f"web.{i + 1}" for i in range(cpus)]
    assert all(r["state"] == "running" for r in rows)
    pm.run("scale", "web=4")
    pids = {r["pid"] for r in pm.status("web")}
    answered = set()
    # The kernel hashes each new connection (by source port) onto one reuseport socket.
    wait_until(lambda: answered.add(get(port)["pid"]) or len(answered) >= 2, 20, "two pids")
    assert answered <= pids


def test_scale_forms_and_status_json(pm: Harness, port: int) -> None:
    pm.yaml(web_yaml(port, instances=1))
    pm.run("start")
    for spec, want in (
        ("web=3", 3),
        ("web=+2", 5),
        ("web=-1", 4),
        ("web=max", os.cpu_count()),
        ("web=0", 0),
        ("web=2", 2),
    ):
        pm.run("scale", spec)
        rows = pm.status("web")
        assert len(rows) == want, spec
        assert all(r["state"] == "running" for r in rows), rows
    out = pm.run("status", "--json").stdout
    rows = json.loads(out)
    assert {r["id"] for r in rows} == {"web.1", "web.2", "worker.1"}
    assert all(set(r) >= STATUS_KEYS for r in rows)
    web1 = next(r for r in rows if r["id"] == "web.1")
    assert web1["type"] == "web" and web1["index"] == 0 and web1["port"] == port
    assert psutil.pid_exists(web1["pid"])
    state = json.loads((pm.root / ".procman" / "state.json").read_text())
    assert state["counts"] == {"web": 2, "worker": 1}


def test_scale_down_stops_highest_index_and_closes_its_listener(pm: Harness, port: int) -> None:
    pm.yaml(web_yaml(port, instances=3, worker=False))
    pm.run("start")
    pids = {r["id"]: r["pid"] for r in pm.status()}
    pm.run("scale", "web=1")
    assert [r["id"] for r in pm.status()] == ["web.1"]
    assert pm.status()[0]["pid"] == pids["web.1"]
    assert not any(psutil.pid_exists(pids[i]) for i in ("web.2", "web.3"))
    daemon = psutil.Process(pm.daemon_pid())
    listening = [c for c in daemon.net_connections("tcp") if c.status == psutil.CONN_LISTEN]
    assert len(listening) == 1


def test_kill_9_brings_a_replacement_in_the_same_slot(pm: Harness, port: int) -> None:
    pm.yaml(f"""processes:
  web:
    cmd: {PY} {PROGRAMS / "printenv.py"}
    instances: 2
    port: {port}
    min_uptime: 0
""")
    pm.run("start")
    before = pm.env_of("web.2")
    os.kill(before["pid"], signal.SIGKILL)

    def replaced() -> dict | None:
        row = pm.by_id()["web.2"]
        return row if row["state"] == "running" and row["pid"] != before["pid"] else None

    row = wait_until(replaced, 10, "a new web.2")
    assert row["restarts"] == 1
    after = wait_until(lambda: (e := pm.env_of("web.2")) and e["pid"] == row["pid"] and e)
    assert after["PROCMAN_INSTANCE"] == before["PROCMAN_INSTANCE"] == "1"
    assert after["PROCMAN_ID"] == "web.2"
    assert pm.by_id()["web.1"]["restarts"] == 0


def test_instance_environment_and_socket_handover(pm: Harness, port: int) -> None:
    pm.write(".env", "FROM_ENV_FILE=yes\nLAYERED=file\n")
    pm.yaml(f"""processes:
  web:
    cmd: {PY} {PROGRAMS / "printenv.py"}
    instances: 2
    port: {port}
    env: {{FROM_TYPE: typed, LAYERED: type}}
  own:
    cmd: {PY} {PROGRAMS / "printenv.py"}
    port: {free_port()}
    socket: false
    ready: none
""")
    pm.run("start")
    env = pm.env_of("web.2")
    assert env["PORT"] == str(port)
    assert env["PROCMAN_NAME"] == "web" and env["PROCMAN_INSTANCE"] == "1"
    assert env["PROCMAN_ID"] == env["PS"] == "web.2"
    assert env["PYTHONUNBUFFERED"] == "1"
    assert env["FROM_ENV_FILE"] == "yes" and env["FROM_TYPE"] == "typed"
    assert env["LAYERED"] == "type"  # the type's env wins over the env file
    # the held socket: fd 3 with the systemd variables, LISTEN_PID = the serving process
    assert env["fd3"] is True and env["LISTEN_FDS"] == "1" and env["LISTEN_FDNAMES"] == "web"
    assert env["LISTEN_PID"] == str(env["pid"]) == str(pm.by_id()["web.2"]["pid"])
    own = pm.env_of("own.1")
    assert own["LISTEN_FDS"] is None and own["fd3"] is False


def test_restart_stop_start_shutdown(pm: Harness, port: int) -> None:
    pm.yaml(web_yaml(port, instances=2))
    pm.run("start")
    old = pm.by_id()
    pm.run("restart", "web")
    new = pm.by_id()
    assert new["web.1"]["pid"] != old["web.1"]["pid"]
    assert new["worker.1"]["pid"] == old["worker.1"]["pid"]
    pm.run("stop", "worker")
    assert pm.by_id()["worker.1"]["state"] == "stopped"
    assert not psutil.pid_exists(old["worker.1"]["pid"])
    pm.run("stop", "web.2")
    assert pm.by_id()["web.2"]["state"] == "stopped"
    assert pm.by_id()["web.1"]["state"] == "running"
    pm.run("start")  # brings the stopped instances back, keeps the counts
    assert all(r["state"] == "running" for r in pm.status())
    assert len(pm.status()) == 3
    daemon = pm.daemon_pid()
    pids = [r["pid"] for r in pm.status()]
    out = pm.run("shutdown").stdout
    assert "stopped 3" in out
    wait_until(lambda: not psutil.pid_exists(daemon), 5, "daemon exit")
    assert not any(psutil.pid_exists(p) for p in pids)
    res = pm.run("status", expect=1)
    assert "no daemon" in res.stderr and "procman start" in res.stderr


def test_adhoc_command_pm2_style(pm: Harness, port: int) -> None:
    pm.run("start", f"{PY} {EXAMPLES / 'app.py'}", "--name", "api", "-i", "4", "--port", str(port))
    rows = pm.status()
    assert [r["id"] for r in rows] == ["api.1", "api.2", "api.3", "api.4"]
    assert get(port)["id"].startswith("api.")
    script = pm.write("job.py", "import time\nprint('job up', flush=True)\ntime.sleep(600)\n")
    pm.run("shutdown")
    pm.run("start", str(script), "--name", "job")
    assert [r["id"] for r in pm.status()] == ["job.1"]
    pm.wait_log("job up")


def test_check_prints_the_formation(pm: Harness, port: int) -> None:
    pm.procfile(f"web: {PY} app.py --port $PORT\nworker: {PY} worker.py\n")
    out = pm.run("check").stdout
    assert "web:" in out and "port=5000" in out and "worker:" in out
    data = json.loads(pm.run("check", "--json", "-i", "3").stdout)
    assert [t["instances"] for t in data["types"]] == [3, 3]
    assert data["types"][0]["port"] == 5000


def test_reload_rereads_the_formation_one_slot_at_a_time(pm: Harness, port: int) -> None:
    def formation(value: str) -> str:
        return f"""processes:
  web:
    cmd: {PY} {PROGRAMS / "printenv.py"}
    instances: 3
    port: {port}
    env: {{FROM_TYPE: {value}}}
"""

    pm.yaml(formation("one"))
    pm.run("start")
    assert pm.env_of("web.3")["FROM_TYPE"] == "one"
    old = {r["id"]: r["pid"] for r in pm.status()}
    pm.yaml(formation("two"))
    feed = pm.client.stream("events")
    next(feed)
    pm.run("reload", "web")
    rows = pm.status()
    assert all(r["state"] == "running" and r["pid"] != old[r["id"]] for r in rows)
    for ident in ("web.1", "web.2", "web.3"):
        env = wait_until(lambda i=ident: (e := pm.env_of(i)) and e["FROM_TYPE"] == "two" and e)
        assert env["LISTEN_PID"] == str(env["pid"])
    # slot by slot: the new process is running before the old one is told to stop, and
    # the old one is gone before the next slot begins
    events = []
    for event in feed:
        if event["event"] != "state":
            continue
        events.append((event["id"], event["state"], event["pid"], event["old"]))
        if len([e for e in events if e[1] == "stopped"]) == 3:
            break
    for slot in ("web.1", "web.2", "web.3"):
        at = {
            (state, pid == old[slot]): i
            for i, (ident, state, pid, _) in enumerate(events)
            if ident == slot
        }
        assert at[("running", False)] < at[("stopping", True)] < at[("stopped", False)]
    slots_in_order = [ident for ident, state, _, _ in events if state == "starting"]
    assert slots_in_order == ["web.1", "web.2", "web.3"]
