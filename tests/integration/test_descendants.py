"""No descendant outlives its instance: processes that called setsid or daemonized (double
fork) are ended at stop, restart, a crash and shutdown, both ways the daemon finds them
(its own cgroups where cgroup v2 is writable, a /proc walk otherwise)."""

from __future__ import annotations

import os
import signal

import psutil
import pytest

from tests.harness import PROGRAMS, PY, Harness, alive, wait_until

ESCAPER = f"{PY} {PROGRAMS / 'escaper.py'}"


@pytest.fixture(params=["cgroup", "proc"])
def tracking(request: pytest.FixtureRequest, pm: Harness) -> str:
    if request.param == "proc":
        pm.env["PROCMAN_CGROUP"] = "0"
    return request.param


def start(pm: Harness, tracking: str, instances: int = 2, args: str = "") -> None:
    pm.yaml(f"""processes:
  esc:
    cmd: {ESCAPER} {args}
    instances: {instances}
    kill_timeout: 2
""")
    pm.run("start")
    used = pm.client.call("ping")["descendants"]
    if used != tracking:
        pytest.skip(f"no writable cgroup v2 here (the daemon uses {used})")


def escapees(pm: Harness, ident: str) -> list[int]:
    """The setsid'd child and the daemonized grandchild of ident's current process."""

    def found() -> list[int] | None:
        pid = pm.by_id()[ident]["pid"]
        for line in pm.client.call("logs", {"lines": 500, "target": ident})["lines"]:
            words = line[2].split()
            if words[:2] == ["escaper", str(pid)]:
                return [int(words[3]), int(words[5])]
        return None

    pids = wait_until(found, 15, f"{ident}'s escapees")
    assert all(alive(p) for p in pids)
    return pids


def gone(pids: list[int], what: str) -> None:
    wait_until(lambda: not any(alive(p) for p in pids), 10, what)


def test_stop_ends_what_left_the_group(pm: Harness, tracking: str) -> None:
    start(pm, tracking)
    one, two = escapees(pm, "esc.1"), escapees(pm, "esc.2")
    pm.run("stop", "esc.1")
    gone(one, "esc.1's setsid'd and daemonized descendants")
    assert all(alive(p) for p in two)  # another instance's are not touched


def test_restart_ends_them_and_the_new_process_starts_its_own(pm: Harness, tracking: str) -> None:
    start(pm, tracking)
    one, two = escapees(pm, "esc.1"), escapees(pm, "esc.2")
    pm.run("restart", "esc.1")
    gone(one, "the old process's descendants")
    fresh = escapees(pm, "esc.1")
    assert not set(fresh) & set(one)
    assert all(alive(p) for p in two)


def test_a_crash_ends_them_before_the_restart_takes_over(pm: Harness, tracking: str) -> None:
    start(pm, tracking, instances=1)
    old = escapees(pm, "esc.1")
    os.kill(pm.by_id()["esc.1"]["pid"], signal.SIGKILL)
    gone(old, "the crashed process's descendants")
    assert escapees(pm, "esc.1") != old


def test_shutdown_ends_every_one(pm: Harness, tracking: str) -> None:
    start(pm, tracking)
    pids = escapees(pm, "esc.1") + escapees(pm, "esc.2")
    daemon = pm.daemon_pid()
    assert daemon is not None
    pm.run("shutdown")
    gone(pids, "every escapee")
    wait_until(lambda: not alive(daemon), 10, "the daemon gone")


def test_a_daemonized_process_that_wipes_its_environment(pm: Harness, tracking: str) -> None:
    """`env -i`: the /proc walk cannot tell whose it is once its parent has gone (docs/
    reliability.md), so it goes at shutdown; a cgroup holds it whatever it does."""
    start(pm, tracking, instances=1, args="clean-env")
    setsid, daemon = escapees(pm, "esc.1")
    wait_until(lambda: "sleep" in psutil.Process(daemon).cmdline(), 10, "the exec")
    pm.run("stop")
    gone([setsid], "the setsid'd child")
    if tracking == "cgroup":
        gone([daemon], "the daemon with a wiped environment")
    pm.run("shutdown")
    gone([daemon], "the daemon with a wiped environment, at shutdown")


def test_shutdown_leaves_the_daemons_own_helpers_alone(pm: Harness, tracking: str) -> None:
    """The sweep for leftovers at shutdown once killed the watchdog's awk, which took the
    watchdog down and had the daemon start another on its way out."""
    pm.yaml("""processes:
  w:
    cmd: sleep 60
    instances: 3
""")
    pm.run("start")
    if pm.client.call("ping")["descendants"] != tracking:
        pytest.skip("no writable cgroup v2 here")
    pids = [row["pid"] for row in pm.status()]
    daemon = pm.daemon_pid()
    assert daemon is not None
    pm.run("shutdown")
    gone(pids, "the instances")
    wait_until(lambda: not alive(daemon), 10, "the daemon gone")
    assert not list(pm.sock.parent.glob("*.watchdog"))  # a clean exit removes the list
    log = pm.daemon_log()
    assert "watchdog exited" not in log, log
    assert "left behind" not in log, log
