"""Readiness: port (held or not), http, notify, and a ready_timeout that passes."""

from __future__ import annotations

import json
import urllib.request

from tests.harness import EXAMPLES, PROGRAMS, PY, Harness, free_base, free_port


def test_procfile_port_type_binds_itself_and_is_ready_when_listening(pm: Harness) -> None:
    pm.procfile(f"web: {PY} {EXAMPLES / 'app.py'}\n")  # no $PORT: no port, ready none
    pm.run("check")
    pm.procfile(f"web: PORT=$PORT {PY} {EXAMPLES / 'app.py'}\n")
    port = free_base()
    pm.run("start", "-p", str(port), "-i", "2")
    rows = pm.status()
    assert [r["state"] for r in rows] == ["running", "running"]
    assert [r["port"] for r in rows] == [port, port + 1]  # Foreman's: one port per instance
    # ready: port without a held socket means each instance itself listens by now
    for index in (0, 1):
        with urllib.request.urlopen(f"http://127.0.0.1:{port + index}/", timeout=5) as reply:
            assert json.loads(reply.read())["id"] == f"web.{index + 1}"


def test_http_and_notify_readiness(pm: Harness, port: int) -> None:
    pm.yaml(f"""processes:
  web:
    cmd: {PY} {EXAMPLES / "app.py"}
    port: {port}
    ready: http:/healthz
    instances: 2
  notified:
    cmd: {PY} {EXAMPLES / "app.py"}
    port: {free_port()}
    ready: notify
""")
    pm.run("start")
    assert {r["state"] for r in pm.status()} == {"running"}
    # STATUS= from sd_notify shows in status
    assert json.loads(pm.run("status", "notified", "--json").stdout)[0]["status_text"] == "serving"
    assert "notified.1: serving" in pm.run("status").stdout


def test_ready_timeout_stops_the_instance_and_counts_a_crash(pm: Harness) -> None:
    pm.yaml(f"""processes:
  silent:
    cmd: {PY} {PROGRAMS / "printenv.py"}
    ready: notify
    ready_timeout: 0.3
    max_restarts: 2
""")
    res = pm.run("start", expect=1)
    assert "silent.1 did not come up" in res.stderr and "not ready within 0.3s" in res.stderr
    row = pm.wait_state("silent.1", "errored")
    assert "not ready within 0.3s (ready: notify)" in row["reason"]
