"""Crashes, back-off, stubborn and forking children, and the daemon's own death."""

from __future__ import annotations

import json
import os
import signal
import subprocess

import psutil

from tests.harness import PROGRAMS, PY, Harness, wait_until


def test_crasher_goes_through_backoff_to_errored(pm: Harness) -> None:
    pm.yaml(f"""processes:
  crash:
    cmd: {PY} {PROGRAMS / "crasher.py"} 7
    max_restarts: 3
    min_uptime: 5
""")
    # ready: none means running as soon as it is spawned; the crash comes after
    pm.run("start")
    feed = pm.client.stream("events")
    seen = [row["state"] for row in next(feed)["instances"]]
    while seen[-1] != "errored":
        event = next(feed)
        if event["event"] == "state":
            seen.append(event["state"])
    assert "backoff" in seen
    row = pm.by_id()["crash.1"]
    assert row["state"] == "errored" and row["exit_code"] == 7 and row["pid"] is None
    assert "exited with code 7" in row["reason"] and "3 early exits in a row" in row["reason"]
    assert row["restarts"] == 2
    # an errored instance stays errored until the next start of its type
    assert pm.run("status").stdout.count("errored") >= 1
    pm.wait_log("crashing with 7")


def test_crash_loop_costs_the_daemon_little_cpu(pm: Harness) -> None:
    pm.yaml(f"""processes:
  crash:
    cmd: {PY} {PROGRAMS / "crasher.py"} 1
    max_restarts: 6
""")
    pm.run("start")
    daemon = psutil.Process(pm.daemon_pid())
    pm.wait_state("crash.1", "errored", timeout=30)
    # 6 crashes with back-off 0.1 .. 1.6 s: the daemon only woke for each exit and timer
    cpu = daemon.cpu_times()
    assert cpu.user + cpu.system < 3.0


def test_restart_never_and_on_failure(pm: Harness) -> None:
    pm.yaml(f"""processes:
  once:
    cmd: {PY} -c "print('done')"
    restart: never
  fails:
    cmd: {PY} {PROGRAMS / "crasher.py"} 0
    restart: on-failure
""")
    pm.run("start")
    pm.wait_state("once.1", "exited")
    row = pm.wait_state("fails.1", "exited")
    assert row["exit_code"] == 0 and row["restarts"] == 0


def test_child_ignoring_sigterm_is_killed_after_kill_timeout(pm: Harness) -> None:
    pm.yaml(f"""processes:
  stubborn:
    cmd: {PY} {PROGRAMS / "ignore_term.py"}
    kill_timeout: 0.5
""")
    pm.run("start")
    pm.wait_log("ready")
    pid = pm.by_id()["stubborn.1"]["pid"]
    pm.run("stop", "stubborn")
    row = pm.by_id()["stubborn.1"]
    assert row["state"] == "stopped" and row["exit_code"] == -signal.SIGKILL
    assert not psutil.pid_exists(pid)


def test_forking_child_leaves_no_grandchild_after_stop(pm: Harness) -> None:
    pm.yaml(f"""processes:
  forker:
    cmd: {PY} {PROGRAMS / "forker.py"}
""")
    pm.run("start")
    line = pm.wait_log("grandchild")
    grandchild = int(line.split()[1])
    assert psutil.pid_exists(grandchild)
    pm.run("stop")
    wait_until(lambda: not psutil.pid_exists(grandchild), 5, "grandchild gone")


def test_grandchild_dies_when_its_parent_is_killed(pm: Harness) -> None:
    pm.yaml(f"""processes:
  forker:
    cmd: {PY} {PROGRAMS / "forker.py"}
    min_uptime: 0
""")
    pm.run("start")
    grandchild = int(pm.wait_log("grandchild").split()[1])
    os.kill(pm.by_id()["forker.1"]["pid"], signal.SIGKILL)
    wait_until(lambda: not psutil.pid_exists(grandchild), 5, "grandchild gone with its group")


def test_daemon_sigkill_takes_the_instances_and_start_restores_counts(
    pm: Harness, port: int
) -> None:
    pm.yaml(f"""processes:
  web:
    cmd: {PY} {PROGRAMS / "printenv.py"}
    port: {port}
  worker:
    cmd: {PY} {PROGRAMS / "printenv.py"}
""")
    pm.run("start")
    pm.run("scale", "web=3", "worker=2")
    pids = [r["pid"] for r in pm.status()]
    os.kill(pm.daemon_pid(), signal.SIGKILL)
    wait_until(lambda: not any(psutil.pid_exists(p) for p in pids), 5, "instances gone")
    pm.run("start")
    counts = {}
    for row in pm.status():
        counts[row["type"]] = counts.get(row["type"], 0) + 1
    assert counts == {"web": 3, "worker": 2}


def test_clean_shutdown_then_start_uses_the_file_counts(pm: Harness) -> None:
    pm.yaml(f"""processes:
  worker:
    cmd: {PY} {PROGRAMS / "printenv.py"}
""")
    pm.run("start")
    pm.run("scale", "worker=3")
    pm.run("shutdown")
    state = json.loads((pm.root / ".procman" / "state.json").read_text())
    assert state["running"] is False and state["counts"] == {"worker": 3}
    pm.run("start")
    assert len(pm.status()) == 1


def test_foreground_stops_everything_on_sigint(pm: Harness) -> None:
    pm.yaml(f"""processes:
  worker:
    cmd: {PY} {PROGRAMS / "printenv.py"}
    instances: 2
  stubborn:
    cmd: {PY} {PROGRAMS / "ignore_term.py"}
    kill_timeout: 0.5
""")
    proc = pm.popen("start", "--foreground", stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    wait_until(
        lambda: (
            len([r for r in pm.status() if r["state"] == "running"]) == 3
            if pm.daemon_pid()
            else False
        ),
        15,
        "three running",
    )
    pids = [r["pid"] for r in pm.status()]
    pm.wait_log("ready", target="stubborn")
    pm.wait_log("ENV ", target="worker.1")
    pm.wait_log("ENV ", target="worker.2")
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=15)
    assert proc.returncode == 0, out
    text = out.decode()
    assert "worker.1 | ENV " in text and "worker.2 | ENV " in text
    assert not any(psutil.pid_exists(p) for p in pids)


def test_daemon_in_the_foreground_logs_to_stdout_and_stops_on_sigterm(pm: Harness) -> None:
    pm.yaml(f"""processes:
  worker:
    cmd: {PY} {PROGRAMS / "printenv.py"}
    instances: 2
""")
    proc = pm.popen("daemon", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wait_until(
        lambda: pm.daemon_pid() and len([r for r in pm.status() if r["state"] == "running"]) == 2,
        15,
        "two running",
    )
    assert pm.daemon_pid() == proc.pid  # exec'd in place: same pid for systemd or PID 1
    pids = [r["pid"] for r in pm.status()]
    pm.wait_log("ENV ", target="worker.2")
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    assert b" worker.2 | ENV " in out
    assert not any(psutil.pid_exists(p) for p in pids)


def test_daemon_sigkill_takes_grandchildren_too(pm: Harness) -> None:
    pm.yaml(f"""processes:
  forker:
    cmd: {PY} {PROGRAMS / "forker.py"}
    instances: 2
""")
    pm.run("start")
    lines = [pm.wait_log("grandchild", target=f"forker.{i}") for i in (1, 2)]
    grandchildren = [int(line.split()[1]) for line in lines]
    assert all(psutil.pid_exists(p) for p in grandchildren)
    os.kill(pm.daemon_pid(), signal.SIGKILL)
    # the watchdog sees the daemon's pipe close and stops every group it was told about
    wait_until(lambda: not any(psutil.pid_exists(p) for p in grandchildren), 5, "grandchildren")
