"""Zero-downtime under a steady stream of HTTP requests: rolling reload, SIGKILLed
instances, and a reload whose new command cannot start."""

from __future__ import annotations

import os
import signal
import time

from tests.harness import EXAMPLES, PY, Harness, wait_until
from tests.load import Load

APP = f"{PY} {EXAMPLES / 'app.py'}"


def web_yaml(port: int, cmd: str | None = None, min_uptime: float = 0.3) -> str:
    return f"""processes:
  web:
    cmd: {cmd or APP}
    instances: 4
    port: {port}
    min_uptime: {min_uptime}
    env: {{APP_ACCESS_LOG: "0"}}
"""


def test_three_rolling_reloads_under_load_fail_no_request(pm: Harness, port: int) -> None:
    pm.yaml(web_yaml(port))
    pm.run("start")
    with Load(port) as load:
        wait_until(lambda: load.count() > 50, 20, "load flowing")
        for _ in range(3):
            before = {r["id"]: r["pid"] for r in pm.status()}
            pm.run("reload", "web")
            after = {r["id"]: r["pid"] for r in pm.status()}
            assert all(after[i] != before[i] for i in before)
        served = load.count()
        wait_until(lambda: load.count() > served + 50, 20, "load after the reloads")
    assert load.count() > 200
    assert load.failures() == []


def test_parallel_reload_replaces_every_slot(pm: Harness, port: int) -> None:
    pm.yaml(web_yaml(port))
    pm.run("start")
    before = {r["id"]: r["pid"] for r in pm.status()}
    pm.run("reload", "all", "--parallel", "2")
    after = pm.status()
    assert all(r["state"] == "running" and r["pid"] != before[r["id"]] for r in after)
    assert pm.run("reload", "--parallel", "0", expect=2).returncode == 2


def test_sigkilled_instances_lose_no_request_that_arrives_while_they_are_down(
    pm: Harness, port: int
) -> None:
    pm.yaml(web_yaml(port, min_uptime=0))
    pm.run("start")
    kills: list[float] = []
    with Load(port) as load:
        wait_until(lambda: load.count() > 50, 20, "load flowing")
        for ident in ("web.1", "web.2", "web.3", "web.4"):
            row = pm.by_id()[ident]
            kills.append(time.monotonic())
            os.kill(row["pid"], signal.SIGKILL)
            wait_until(
                lambda i=ident, p=row["pid"]: (
                    pm.by_id()[i]["pid"] not in (None, p) and pm.by_id()[i]["state"] == "running"
                ),
                10,
                f"{ident} replaced",
            )
            served = load.count()
            wait_until(lambda s=served: load.count() > s + 20, 20, "load after the kill")
    assert all(r["restarts"] == 1 for r in pm.status())
    # A request the killed process had already accepted dies with it: that is inherent to
    # SIGKILL. Every request that reached the slot after the kill waited in its backlog.
    in_flight = [r for r in load.failures() if any(r.started <= k <= r.ended for k in kills)]
    assert [r for r in load.failures() if r not in in_flight] == []
    assert len(in_flight) <= len(kills)


def test_reload_with_a_broken_command_keeps_the_old_instances(pm: Harness, port: int) -> None:
    pm.yaml(web_yaml(port))
    pm.run("start")
    before = {r["id"]: r["pid"] for r in pm.status()}
    pm.yaml(web_yaml(port, cmd=f"{PY} -c 'import sys; sys.exit(3)'"))
    with Load(port) as load:
        wait_until(lambda: load.count() > 20, 20, "load flowing")
        res = pm.run("reload", "web", expect=1)
        served = load.count()
        wait_until(lambda: load.count() > served + 20, 20, "load after the failed reload")
    assert "web.1" in res.stderr and "old process keeps serving" in res.stderr
    assert {r["id"]: r["pid"] for r in pm.status()} == before
    assert {r["state"] for r in pm.status()} == {"running"}
    assert load.failures() == []


def test_scale_down_and_up_under_load_fails_no_request(pm: Harness, port: int) -> None:
    pm.yaml(web_yaml(port))
    pm.run("start")
    with Load(port) as load:
        wait_until(lambda: load.count() > 50, 20, "load flowing")
        for count in (1, 4, 2, 4):
            pm.run("scale", f"web={count}")
            assert len(pm.status()) == count
            served = load.count()
            wait_until(lambda s=served: load.count() > s + 30, 20, f"load at web={count}")
        pm.run("stop", "web.3")
        served = load.count()
        wait_until(lambda: load.count() > served + 30, 20, "load with web.3 stopped")
        pm.run("start")
    # new connections are steered away from a slot before its instance stops, and its
    # queue is drained, so no listener closes with a connection waiting in it
    assert load.failures() == [], load.failures()[:5]


def test_a_replacement_that_never_gets_ready_answers_no_request(pm: Harness, port: int) -> None:
    # the issue: with `ready: notify` and an app that never sends READY, the replacement's
    # workers answered 63 requests before its ready_timeout failed the reload. Now it gets
    # a listener of its own that steering leaves out until it takes the slot over.
    def formation(cmd: str) -> str:
        return f"""processes:
  web:
    cmd: {cmd}
    instances: 2
    port: {port}
    ready: notify
    ready_timeout: 3
    env: {{APP_ACCESS_LOG: "0"}}
"""

    pm.yaml(formation(APP))
    pm.run("start")
    before = {r["id"]: r["pid"] for r in pm.status()}
    pm.yaml(formation(f"env -u NOTIFY_SOCKET {APP}"))  # serves, never says READY=1
    with Load(port) as load:
        wait_until(lambda: load.count() > 50, 20, "load flowing")
        res = pm.run("reload", "web", expect=1)
        served = load.count()
        wait_until(lambda: load.count() > served + 50, 20, "load after the failed reload")
    assert (
        "web.1 not reloaded: its replacement failed: not ready within 3s (ready: notify); "
        "the old process keeps serving"
    ) in res.stderr
    assert "did not come up" not in res.stderr and "(running)" not in res.stderr
    assert set(load.answered_by()) <= set(before.values()), load.answered_by()
    assert load.failures() == []
    assert {r["id"]: r["pid"] for r in pm.status()} == before
    log = pm.wait_log("replacement failed")
    assert "restarting in" not in log and "web.1 replacement failed: not ready" in log


def test_a_new_instance_gets_no_request_before_it_is_ready(pm: Harness, port: int) -> None:
    pm.yaml(f"""processes:
  web:
    cmd: {APP}
    instances: 2
    port: {port}
    ready: notify
    ready_timeout: 3
    env: {{APP_ACCESS_LOG: "0"}}
  other:
    cmd: sleep 1000
""")
    pm.run("start")
    before = {r["pid"] for r in pm.status("web")}
    with Load(port) as load:
        wait_until(lambda: load.count() > 50, 20, "load flowing")
        pm.write("procman.yaml", (pm.root / "procman.yaml").read_text().replace(
            f"cmd: {APP}", f"cmd: env -u NOTIFY_SOCKET {APP}"))  # fmt: skip
        pm.run("reload", "other")  # re-reads the file: new spawns of web never say READY=1
        res = pm.run("scale", "web=3", expect=1)
        served = load.count()
        wait_until(lambda: load.count() > served + 50, 20, "load after the scale")
    assert "web.3 did not come up" in res.stderr and "not ready within 3s" in res.stderr
    assert set(load.answered_by()) <= before, load.answered_by()
    assert load.failures() == []
