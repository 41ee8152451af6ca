"""Many instances on real processes: a formation of 300 socket instances through start,
status, scale down and up, SIGKILL of the daemon; and the open files limit as the cause
of a refusal, named, when it cannot hold a count."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess

import psutil

from tests.harness import PY, Harness, free_port, wait_until

COUNT = 300


def test_300_socket_instances_start_scale_and_die_with_the_daemon(pm: Harness) -> None:
    pm.yaml(f"""processes:
  web:
    cmd: sleep 1000
    instances: {COUNT}
    socket: true
    port: {free_port()}
""")
    pm.run("start", timeout=60)
    rows = json.loads(pm.run("status", "--json").stdout)
    rows = rows["status"] if isinstance(rows, dict) else rows
    assert len(rows) == COUNT and all(r["state"] == "running" for r in rows)
    daemon = psutil.Process(pm.daemon_pid())
    assert daemon.rlimit(psutil.RLIMIT_NOFILE)[0] == daemon.rlimit(psutil.RLIMIT_NOFILE)[1]
    child = psutil.Process(rows[0]["pid"])  # the child got the soft limit we started with
    assert child.rlimit(psutil.RLIMIT_NOFILE)[0] == resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    pm.run("scale", "web=10", timeout=60)
    assert [r["state"] for r in pm.status()] == ["running"] * 10
    pm.run("scale", f"web={COUNT}", timeout=60)
    pids = [r["pid"] for r in pm.status()]
    assert len(pids) == COUNT and all(pids)
    os.kill(daemon.pid, signal.SIGKILL)
    # the death signal and the watchdog (its list kept by awk) end every instance
    wait_until(lambda: not any(psutil.pid_exists(p) for p in pids), 20, "instances gone")


def test_a_count_past_the_open_files_limit_is_refused_naming_it(pm: Harness) -> None:
    pm.yaml("processes:\n  s:\n    cmd: sleep 1000\n    instances: 2\n")

    def low_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (128, 128))

    subprocess.run(
        [PY, "-m", "procman", "start"], cwd=pm.root, env=pm.env, check=True,
        capture_output=True, timeout=30, stdin=subprocess.DEVNULL, preexec_fn=low_limit,
    )  # fmt: skip
    refused = pm.run("scale", "s=200", expect=1)
    assert "RLIMIT_NOFILE" in refused.stderr and "128" in refused.stderr
    assert "LimitNOFILE" in refused.stderr
    assert len(pm.status()) == 2  # nothing half-started
    pm.run("scale", "s=20")
    assert len(pm.status()) == 20


def watchdog_of(daemon: psutil.Process) -> psutil.Process | None:
    for child in daemon.children():
        try:
            if "trap" in " ".join(child.cmdline()):
                return child
        except psutil.Error:
            continue
    return None


def test_a_watchdog_that_dies_is_replaced_and_told_every_live_group(pm: Harness) -> None:
    """While the watchdog runs, spawns skip the death-signal exec: it is what ends the
    instances of a SIGKILLed daemon, so losing it must not leave them unguarded."""
    pm.yaml("processes:\n  s:\n    cmd: sleep 1000\n    instances: 3\n")
    pm.run("start")
    daemon = psutil.Process(pm.daemon_pid())
    first = watchdog_of(daemon)
    assert first is not None
    first.kill()

    def another() -> psutil.Process | None:
        found = watchdog_of(daemon)
        return found if found is not None and found.pid != first.pid else None

    wait_until(another, 10, "a new watchdog")
    pm.run("scale", "s=4")  # one more group, told to the new watchdog as it starts
    pids = [r["pid"] for r in pm.status()]
    os.kill(daemon.pid, signal.SIGKILL)
    wait_until(lambda: not any(psutil.pid_exists(p) for p in pids), 10, "instances gone")
