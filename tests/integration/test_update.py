"""`procman update` with a real daemon: it execs the installed code in place (the same code
here: what is asserted is continuity) and the new image takes every instance over."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import psutil
import pytest

from procman.daemon import handover
from procman.daemon.logs import LogHub
from procman.daemon.persist import StateFile
from procman.daemon.supervisor import Supervisor
from procman.errors import RemoteError
from procman.model import Formation, InstanceState, ProcessType, RestartPolicy
from procman.plain import to_plain
from tests.harness import EXAMPLES, PROGRAMS, PY, Harness, alive, wait_until
from tests.load import Load

APP = f"{PY} {EXAMPLES / 'app.py'}"


def pids(pm: Harness) -> dict[str, int]:
    return {r["id"]: r["pid"] for r in pm.status()}


def open_files(pid: int) -> list[str]:
    """What the daemon's fds point at: sockets, pipes, memfds, log files."""
    folder = Path(f"/proc/{pid}/fd")
    found = []
    for fd in folder.iterdir():
        try:
            found.append(os.readlink(fd))
        except OSError:
            continue  # closed meanwhile
    return found


def gone(proc: psutil.Process) -> bool:
    """Ended (a zombie counts), judged by pid and start time: a busy box may hand the pid
    out again."""
    try:
        return not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:  # reaped between the two questions
        return True


def replaced(pm: Harness, ident: str, old_pid: int) -> bool:
    row = pm.by_id().get(ident, {})
    return row.get("state") == "running" and row.get("pid") not in (None, old_pid)


def test_update_under_load_keeps_every_instance_and_fails_no_request(
    pm: Harness, port: int
) -> None:
    pm.yaml(f"""processes:
  web:
    cmd: {APP}
    instances: 4
    port: {port}
    min_uptime: 0
    env: {{APP_ACCESS_LOG: "0"}}
  speaker:
    cmd: {PY} {PROGRAMS / "speaker.py"}
""")
    pm.run("start")
    pm.wait_log("speaker", target="speaker")
    before, daemon = pids(pm), pm.daemon_pid()
    assert daemon is not None
    everyone = [psutil.Process(pid) for pid in [*before.values(), daemon]]
    # each web instance's fd 3 is its slot's listener, a socket the daemon holds too
    listeners = {os.readlink(f"/proc/{before[f'web.{i}']}/fd/3") for i in (1, 2, 3, 4)}
    assert len(listeners) == 4 and listeners <= set(open_files(daemon))
    with Load(port) as load:
        wait_until(lambda: load.count() > 50, 20, "load flowing")
        reply = json.loads(pm.run("update", "--json").stdout)
        held = set(open_files(daemon))
        after = pm.status()
        served = load.count()
        wait_until(lambda: load.count() > served + 50, 20, "load after the update")
        # steering and drains on the listeners the new image took over: scale down and up
        for count in (2, 4):
            pm.run("scale", f"web={count}")
            served = load.count()
            wait_until(lambda s=served: load.count() > s + 30, 20, f"load at web={count}")
    print(f"update: exec window {reply['seconds']:.3f}s, {load.count()} requests, "
          f"{len(load.failures())} failed")  # fmt: skip
    assert load.failures() == [], load.failures()[:5]
    assert load.count() > 200
    why = f"{reply}\n{after}\n{pm.daemon_log()}"
    assert reply["pid"] == reply["old_pid"] == daemon == pm.daemon_pid(), why
    assert reply["old_version"] == reply["version"] and reply["instances"] == 5, why
    assert reply["exited"] == [], why
    assert {r["id"]: r["pid"] for r in after} == before, why
    assert {(r["state"], r["restarts"]) for r in after} == {("running", 0)}, why
    assert all(r["uptime_s"] > 0 for r in after), why  # the old image's start times, not 0
    assert listeners <= held, (listeners, held)  # the very same sockets, never closed
    assert not [f for f in open_files(daemon) if "memfd" in f], open_files(daemon)

    speaker = before["speaker.1"]  # the same child, its pipe read by the new image
    os.kill(speaker, signal.SIGUSR1)
    assert pm.wait_log(f"said 1 by {speaker}", target="speaker.1"), pm.daemon_log()
    assert "handed over to" in pm.wait_log("handed over to")

    os.kill(before["web.1"], signal.SIGKILL)  # the new image reaps and restarts
    wait_until(lambda: replaced(pm, "web.1", before["web.1"]), 10, "web.1 restarted")
    assert pm.by_id()["web.1"]["restarts"] == 1, pm.daemon_log()
    again = pm.client.call("update")  # and the updated daemon updates again
    assert again["pid"] == daemon, again

    pm.run("shutdown")
    wait_until(lambda: not pm.ours(), 20, "the daemon and every instance gone")
    # ours() cannot read an exiting process's environment: wait for each to be gone too
    wait_until(lambda: all(gone(p) for p in everyone), 20, "the old pids gone")


def test_a_crash_loop_goes_on_counting_across_the_update(pm: Harness) -> None:
    # back-off 0.1, 0.2, 0.4, 0.8 s...: the update lands somewhere in the loop, and the
    # exits in a row must count on from there, or it would need 6 more to give up
    pm.yaml(f"""processes:
  crash:
    cmd: {PY} {PROGRAMS / "crasher.py"} 3
    min_uptime: 5
    max_restarts: 6
  idle:
    cmd: sleep 1000
""")
    pm.run("start", expect=None)
    started = pm.client.call("ping")["started"]
    with (pm.root / "procman.yaml").open("a") as edited:  # waits for a reload, as before
        edited.write("# edited\n")
    assert pm.client.call("status")["changed_files"] == ["procman.yaml"]
    wait_until(lambda: pm.by_id()["crash.1"]["restarts"] >= 2, 10, "a crash loop")
    pm.run("update")
    assert pm.client.call("status")["changed_files"] == ["procman.yaml"]
    assert pm.client.call("ping")["started"] == started  # the daemon's start, not the exec's
    assert pm.run("describe", "idle.1").returncode == 0
    row = pm.wait_state("crash.1", "errored", 20)
    assert row["restarts"] == 5 and "gave up after 6 early exits in a row" in row["reason"]
    assert pm.by_id()["idle.1"]["restarts"] == 0


@pytest.mark.parametrize("tracking", ["cgroup", "proc"])
def test_the_watchdog_kept_across_the_update_still_ends_a_killed_daemons_groups(
    pm: Harness, tracking: str
) -> None:
    """The new image takes the watchdog's pipe and its list file: a group started after the
    update is listed too, and a SIGKILLed daemon's instances all go."""
    if tracking == "proc":
        pm.env["PROCMAN_CGROUP"] = "0"
    pm.yaml("processes:\n  s:\n    cmd: sleep 1000\n    instances: 2\n")
    pm.run("start")
    pm.run("update")
    pm.run("scale", "s=3")
    pids = [r["pid"] for r in pm.status()]
    assert len(pids) == 3 and all(pids)
    daemon = pm.daemon_pid()
    assert daemon is not None
    assert [f.name for f in pm.sock.parent.glob("*.watchdog")] == [f"d.{daemon}.watchdog"]
    os.kill(daemon, signal.SIGKILL)
    wait_until(lambda: not any(alive(p) for p in pids), 15, "every instance ended")
    wait_until(lambda: not list(pm.sock.parent.glob("*.watchdog")), 10, "the list removed")


def test_an_autoscaled_type_keeps_its_manual_hold_across_the_update(pm: Harness) -> None:
    pm.yaml("""processes:
  work:
    cmd: sleep 1000
    instances: 2
    autoscale: {min: 1, max: 4, cpu: 50}
""")
    pm.run("start")
    pm.run("scale", "work=3")  # a manual count holds until `autoscale work on`

    def rule() -> dict:
        return pm.client.call("status")["types"][0]["autoscale"]

    assert rule()["manual"] is True
    pm.run("update")
    assert rule()["manual"] is True and len(pm.status()) == 3
    pm.run("autoscale", "work", "on")
    assert rule()["manual"] is False


def test_an_instance_that_ends_during_the_exec_is_reaped_as_its_exit(pm: Harness) -> None:
    # its events connection closes at the exec, when it exits at once: a zombie that the
    # new image reaps before serving (or, on a slow box, a plain exit just after)
    pm.yaml(f"""processes:
  bound:
    cmd: {PY} {PROGRAMS / "daemon_bound.py"}
    min_uptime: 0
""")
    pm.run("start")
    old = pm.wait_log("subscribed", target="bound")
    first = pm.by_id()["bound.1"]["pid"]
    assert str(first) in old
    reply = json.loads(pm.run("update", "--json").stdout)
    assert reply["exited"] in (["bound.1"], [])
    wait_until(lambda: replaced(pm, "bound.1", first), 10, "bound.1 restarted")
    row = pm.by_id()["bound.1"]
    assert row["restarts"] == 1 and row["exit_code"] == 7


def test_an_update_the_installed_code_cannot_take_changes_nothing(
    pm: Harness, port: int, tmp_path: Path
) -> None:
    shadow = tmp_path / "shadow"
    shadow.mkdir()
    pm.yaml(f"""processes:
  web:
    cmd: {APP}
    instances: 2
    port: {port}
    env: {{APP_ACCESS_LOG: "0"}}
""")
    # the daemon looks in `shadow` first; a "release" that cannot import lands there later
    pm.env["PYTHONPATH"] = str(shadow)
    pm.run("start")
    del pm.env["PYTHONPATH"]
    before, daemon = pids(pm), pm.daemon_pid()
    (shadow / "procman").mkdir()
    (shadow / "procman" / "__init__.py").write_text("raise ImportError('a broken release')\n")
    with Load(port) as load:
        wait_until(lambda: load.count() > 20, 20, "load flowing")
        with pytest.raises(RemoteError, match="cannot take over .*a broken release"):
            pm.client.call("update")
        served = load.count()
        wait_until(lambda: load.count() > served + 20, 20, "load after the refusal")
    assert load.failures() == []
    assert pm.daemon_pid() == daemon and pids(pm) == before
    (shadow / "procman" / "__init__.py").unlink()
    (shadow / "procman").rmdir()
    assert pm.client.call("update")["pid"] == daemon  # the fixed release goes in
    assert pids(pm) == before


def test_an_update_waits_for_no_verb_and_says_which_is_under_way(pm: Harness) -> None:
    pm.yaml(f"""processes:
  stubborn:
    cmd: {PY} {PROGRAMS / "ignore_term.py"}
    kill_timeout: 3
""")
    pm.run("start")
    stopping = pm.popen("stop", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    pm.wait_state("stubborn.1", "stopping")
    with pytest.raises(RemoteError, match="cannot update now: a stop is in progress"):
        pm.client.call("update")
    assert stopping.wait(20) == 0
    pm.run("update")  # quiet again
    assert pm.by_id()["stubborn.1"]["state"] == "stopped"


def test_a_foreground_daemon_keeps_printing_its_instances_after_the_update(pm: Harness) -> None:
    pm.procfile(f"speaker: {PY} {PROGRAMS / 'speaker.py'}\n")
    # bare lines, the daemon's own hidden: what it printed like must outlive the update
    front = pm.popen(
        "daemon", "--no-prefix", "-q", "procman", stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    assert front.stdout is not None
    seen: list[str] = []

    def printed(needle: str) -> bool:
        while not any(needle in line for line in seen):
            line = front.stdout.readline().decode()  # type: ignore[union-attr]
            if not line:
                return False
            seen.append(line)
        return True

    assert printed("ready")
    speaker = pm.by_id()["speaker.1"]["pid"]
    speaking = psutil.Process(speaker)
    assert pm.client.call("update")["pid"] == front.pid
    os.kill(speaker, signal.SIGUSR1)
    assert printed(f"said 1 by {speaker}")
    assert seen[-1] == f"said 1 by {speaker}\n"  # no prefix, as before the update
    assert not [line for line in seen if "handed over" in line]  # `procman` lines stay hidden
    front.send_signal(signal.SIGINT)  # still the foreground daemon's Ctrl-C
    assert front.wait(20) == 0
    front.stdout.close()
    assert gone(speaking)


def test_the_new_image_reaps_a_process_that_ended_before_it_took_over(tmp_path: Path) -> None:
    """In process, deterministic: the instance's process is a zombie before adopt(), and
    a back-off timer is armed only by finish(). (The real reaper's waitpid(-1) runs in the
    test process: every other test waits for its own children, so only ours is there.)"""
    zombie = subprocess.Popen(["true"], start_new_session=True)
    wait_until(lambda: psutil.Process(zombie.pid).status() == psutil.STATUS_ZOMBIE, 10)
    ptype = ProcessType(name="w", cmd="true", restart=RestartPolicy.NEVER)
    looping = ProcessType(name="b", cmd="false")
    backing_off = {"state": "backoff", "pid": None, "crashes_in_row": 2, "restarts": 2}
    description = {
        "format": handover.FORMAT,
        "version": "old",
        "pid": os.getpid(),
        "project": str(tmp_path),
        "monotonic": time.monotonic(),
        "wall": time.time(),
        "formation": to_plain(Formation(root=tmp_path, types=(ptype, looping))),
        "source": {},
        "groups": [
            {
                "name": "w",
                "desired": 1,
                "scaler": None,
                "instances": [
                    {
                        "index": 0,
                        "timer_due": None,
                        "fields": {"state": "running", "pid": zombie.pid, "started_at": 1.0},
                    }
                ],
            },
            {
                "name": "b",
                "desired": 1,
                "scaler": None,
                "instances": [{"index": 0, "timer_due": 0.0, "fields": backing_off}],  # overdue
            },
        ],
        "listeners": [],
        "pipes": [],
        "dropped_log_lines": 0,
        "foreground": None,
        "log_level": 20,
        "metrics_port": None,
        "started": 1.0,
        "read": [],
        "fds": {"lock": -1, "control": -1, "notify": None, "watchdog": None},
        "reply": None,
    }

    async def take_over() -> Supervisor:
        loop = asyncio.get_running_loop()
        logs = LogHub(loop, tmp_path / "logs")
        supervisor = Supervisor(
            tmp_path,
            loop=loop,
            logs=logs,
            state=StateFile(tmp_path / "state.json", tmp_path),
            base_env={},
        )
        resume = handover.Resume(description)
        resume.adopt(supervisor)
        assert supervisor.groups["w"].slots[0].state == InstanceState.RUNNING
        b = supervisor.groups["b"].slots[0]
        # no timer before the signals are let in: an overdue back-off would spawn a child
        # with SIGTERM blocked
        assert (b.state, b.restarts, b.timer_due()) == (InstanceState.BACKOFF, 2, None)
        resume.finish(supervisor)
        assert resume.exited == ["w.1"]
        assert b.timer_due() is not None  # armed now
        b.stop()  # before asyncio.run's own last iterations could fire it
        logs.close()
        return supervisor

    supervisor = asyncio.run(take_over())
    zombie.returncode = 0  # reaped by the supervisor's reaper
    inst = supervisor.groups["w"].slots[0]
    assert (inst.state, inst.pid, inst.exit_code) == (InstanceState.EXITED, None, 0)
