"""Lifecycle without surprises: every wait is bounded, a foreground start obeys signals at
every moment, a first crash restarts at once and a second backs off, and the small things
(old reasons, lock files, inherited signal dispositions)."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import psutil
import pytest

from tests.harness import PROGRAMS, PY, Harness, alive, free_port, wait_until

SLACK = 4.0  # seconds a loaded box may add to a bound


def test_an_exit_after_min_uptime_before_ready_ends_errored_and_start_exits_1(
    pm: Harness,
) -> None:
    # the repro: gunicorn retrying a taken port 5 × 1 s and exiting at 5.2 s was
    # "restarted at once" 118 times in 10 minutes while `start` sat silent
    port = free_port()
    pm.yaml(f"""processes:
  web:
    cmd: sleep 6; exit 1
    port: {port}
    socket: false
    max_restarts: 2
""")
    began = time.monotonic()
    res = pm.run("start", expect=1, timeout=60)
    took = time.monotonic() - began
    assert took < 30 + 0.5 + SLACK  # ready_timeout (30 s by default), plus the grace
    assert "web.1 did not come up (errored)" in res.stderr
    assert "exited with code 1 before it was ready (ready: port)" in res.stderr
    assert "gave up after 2 early exits in a row" in res.stderr
    row = pm.by_id()["web.1"]
    assert row["state"] == "errored" and row["restarts"] == 1


def test_start_returns_within_ready_timeout_for_an_instance_that_never_gets_ready(
    pm: Harness,
) -> None:
    pm.yaml(f"""processes:
  silent:
    cmd: {PY} {PROGRAMS / "printenv.py"}
    ready: notify
    ready_timeout: 2
    kill_timeout: 1
  fine:
    cmd: {PY} {PROGRAMS / "printenv.py"}
""")
    began = time.monotonic()
    res = pm.run("start", expect=1, timeout=60)
    # not ready at 2 s: stopped, a first early exit, restarted at once; not ready again:
    # backoff. Whatever the timing, the verb's bound (ready_timeout + kill_timeout + drain)
    # ends the wait with an outcome that says which and why.
    assert time.monotonic() - began < 2 + 1 + 2 + 0.5 + SLACK
    assert "silent.1 did not come up (" in res.stderr
    assert "not ready within 2s (ready: notify)" in res.stderr
    assert "fine.1" not in res.stderr
    assert pm.by_id()["fine.1"]["state"] == "running"


def test_restart_and_scale_are_bounded_too(pm: Harness) -> None:
    pm.yaml(f"""processes:
  silent:
    cmd: {PY} {PROGRAMS / "printenv.py"}
    ready: notify
    ready_timeout: 1
    kill_timeout: 1
    max_restarts: 100
""")
    pm.run("start", expect=1, timeout=60)
    for args in (("restart", "silent"), ("scale", "silent=2")):
        began = time.monotonic()
        res = pm.run(*args, expect=1, timeout=60)
        assert time.monotonic() - began < 1 + 1 + 2 + 0.5 + SLACK, args
        assert "not ready" in res.stderr, res.stderr


def test_a_shutdown_answers_a_start_that_is_still_waiting(pm: Harness) -> None:
    pm.yaml(f"""processes:
  silent:
    cmd: {PY} {PROGRAMS / "printenv.py"}
    ready: notify
""")
    starting = pm.popen(
        "start", stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL
    )
    wait_until(lambda: pm.daemon_pid() and pm.by_id().get("silent.1"), 20, "silent.1 starting")
    pm.run("shutdown")
    _, err = starting.communicate(timeout=15)
    assert starting.returncode == 1
    assert b"the daemon is shutting down" in err  # an outcome, not a dropped connection
    assert b"closed the connection" not in err


def test_a_sigkilled_instance_that_was_up_1s_is_replaced_at_once_a_second_crash_waits(
    pm: Harness,
) -> None:
    pm.yaml(f"""processes:
  worker:
    cmd: {PY} {PROGRAMS / "printenv.py"}
""")  # the defaults: min_uptime 5 s, max_restarts 10
    pm.run("start")
    first = pm.env_of("worker.1")["pid"]
    wait_until(lambda: (pm.by_id()["worker.1"]["uptime_s"] or 0) >= 1, 10, "up for 1 s")
    feed = pm.client.stream("events")
    next(feed)
    os.kill(first, signal.SIGKILL)
    states = []
    for event in feed:
        if event["event"] == "state":
            states.append(event["state"])
            if event["state"] == "starting":
                break
    assert states == ["starting"]  # straight back up: no backoff in between
    assert "worker.1 killed by SIGKILL; restarted at once" in pm.wait_log("restarted at once")
    second = pm.env_of("worker.1")["pid"]
    os.kill(second, signal.SIGKILL)  # within min_uptime again: the second early exit
    for event in feed:
        if event["event"] == "state" and event["state"] != "running":
            assert event["state"] == "backoff"
            break
    assert "killed by SIGKILL; restarting in 0.1s" in pm.wait_log("restarting in")
    row = pm.wait_state("worker.1", "running")
    assert row["restarts"] == 2


def test_after_a_successful_restart_status_drops_the_old_reason(pm: Harness) -> None:
    marker = pm.root / "fail"
    marker.write_text("")
    pm.yaml(f"""processes:
  flaky:
    cmd: if [ -e {marker} ]; then exit 127; fi; exec {PY} {PROGRAMS / "printenv.py"}
    max_restarts: 2
""")
    pm.run("start", expect=None)  # ready: none, so running at once, or already gave up
    row = pm.wait_state("flaky.1", "errored")
    assert row["reason"].startswith("exited with code 127")
    marker.unlink()
    pm.run("restart", "flaky")
    row = pm.by_id()["flaky.1"]
    assert row["state"] == "running" and row["reason"] is None
    assert "flaky.1" not in pm.run("status").stdout.split("\n", 1)[1].split("flaky.1", 1)[1]


def test_shutdown_leaves_no_lock_file(pm: Harness) -> None:
    pm.yaml(f"""processes:
  worker:
    cmd: {PY} {PROGRAMS / "printenv.py"}
""")
    pm.run("start")
    lock = pm.sock.with_name(pm.sock.name + ".lock")
    assert lock.exists()
    pm.run("shutdown")
    wait_until(lambda: not pm.ours(), 10, "the daemon gone")
    assert not lock.exists()
    assert sorted(p.name for p in pm.sock.parent.iterdir()) == []


def test_instances_start_with_the_default_signal_dispositions(pm: Harness) -> None:
    """A daemon started by a shell's background job inherits SIGINT and SIGQUIT ignored;
    its instances must not (stop_signal: SIGQUIT, a Ctrl-C to a child would do nothing)."""
    pm.yaml(f"""processes:
  worker:
    cmd: {PY} {PROGRAMS / "printenv.py"}
""")

    def ignore() -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGQUIT, signal.SIG_IGN)

    subprocess.run(
        [PY, "-m", "procman", "start"],
        cwd=pm.root,
        env=pm.env,
        check=True,
        capture_output=True,
        timeout=30,
        preexec_fn=ignore,
    )
    pid = pm.env_of("worker.1")["pid"]
    with open(f"/proc/{pid}/status") as f:
        ignored = int(next(line for line in f if line.startswith("SigIgn:")).split()[1], 16)
    assert not ignored & (1 << (signal.SIGINT - 1)), hex(ignored)
    assert not ignored & (1 << (signal.SIGQUIT - 1)), hex(ignored)


# -- the foreground start obeys signals at every moment --------------------------------------


def foreground(pm: Harness) -> subprocess.Popen:
    return pm.popen(
        "start", "--foreground", stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip


def test_sigint_during_a_slow_foreground_start_stops_everything(pm: Harness) -> None:
    # before the fix the process waited for the start to return before it looked at the
    # shutdown: a second SIGINT and a SIGTERM did nothing, only SIGKILL ended it
    pm.yaml("""processes:
  web:
    cmd: sleep 6; exit 1
    ready: notify
    kill_timeout: 3
""")
    proc = foreground(pm)
    row = wait_until(lambda: pm.daemon_pid() and pm.by_id().get("web.1"), 20, "web.1 starting")
    assert row["state"] == "starting"
    began = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=3 + SLACK)
    assert time.monotonic() - began < 3 + SLACK  # within kill_timeout
    assert proc.returncode == 0, out
    assert not alive(row["pid"])


def test_a_second_sigint_kills_the_groups_of_a_stubborn_start(pm: Harness) -> None:
    pm.yaml("""processes:
  web:
    cmd: trap '' TERM; sleep 60; exit 1
    ready: notify
    kill_timeout: 60
""")
    proc = foreground(pm)
    row = wait_until(lambda: pm.daemon_pid() and pm.by_id().get("web.1"), 20, "web.1 starting")
    group = [p.pid for p in psutil.Process(row["pid"]).children()] + [row["pid"]]
    proc.send_signal(signal.SIGINT)
    pm.wait_state("web.1", "stopping")  # the graceful stop waits for its 60 s kill_timeout
    began = time.monotonic()
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=SLACK + 5)
    assert time.monotonic() - began < SLACK + 5
    wait_until(lambda: not any(alive(p) for p in group), 5, "the group killed")


# -- the daemon that logged "exits" and never did -------------------------------------------

CLOSING = """
import asyncio, os, signal, sys
from procman.daemon import signals

loop = asyncio.new_event_loop()
if sys.argv[1] == "before":  # as the daemon wired its signals before the fix
    loop.add_signal_handler(signal.SIGCHLD, lambda: None)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGPIPE):
        loop.add_signal_handler(sig, lambda: None)
else:  # as it does now: its own wiring, and the unwiring at the end of _serve
    loop.add_signal_handler(signal.SIGCHLD, lambda: None)
    wired = signals.wire(loop, lambda signum: None, lambda: None, lambda: None)
    signals.unwire(loop, [signal.SIGCHLD, *wired])


class Reader:
    # the wakeup socket's reading end, as loop.close() closes it; a child (the watchdog)
    # exits right then, before the writing end is closed too

    def __init__(self, sock):
        self.sock = sock

    def fileno(self):
        return self.sock.fileno()

    def close(self):
        self.sock.close()
        os.kill(os.getpid(), signal.SIGCHLD)


loop._ssock = Reader(loop._ssock)
loop.close()
print("closed", flush=True)
"""


@pytest.mark.parametrize("wiring", ["now", "before"])
def test_a_child_exiting_while_the_loop_closes_does_not_wedge_the_daemon(wiring: str) -> None:
    """Seen under load as "procman daemon N exits" and the daemon alive 20 s later (py-spy:
    in loop.close(), in a signal handler's write, at 100 % CPU). A signal between the
    wakeup socket's close and the handlers' removal wrote to a socket with no reader; the
    EPIPE raised SIGPIPE, which the daemon handled, so the handler wrote again, for ever.
    "before" reproduces it (the process never gets to print); "now" closes at once."""
    proc = subprocess.Popen(
        [PY, "-c", CLOSING, wiring], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    try:
        out, _ = proc.communicate(timeout=5 if wiring == "now" else 3)
    except subprocess.TimeoutExpired:
        out = None
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    if wiring == "now":
        assert out is not None and b"closed" in out
    else:
        assert out is None  # spinning in the signal handler: the bug, reproduced


FLOOD = """
import asyncio, os, signal
from procman.daemon import signals

loop = asyncio.new_event_loop()
reaped = []
loop.add_signal_handler(signal.SIGCHLD, lambda: reaped.append(1))
signals.wire(loop, lambda signum: None, lambda: None, lambda: None)
for _ in range(3000):  # a thousand instances exiting at once, the loop busy elsewhere
    os.kill(os.getpid(), signal.SIGCHLD)
loop.run_until_complete(asyncio.sleep(0))
print("woken" if reaped else "asleep", flush=True)
"""


def test_a_flood_of_exits_writes_nothing_to_the_daemon_log() -> None:
    """Past a full wakeup socket, CPython printed "Exception ignored ... BlockingIOError"
    and a traceback to stderr (the daemon log) for every SIGCHLD."""
    proc = subprocess.run([PY, "-c", FLOOD], capture_output=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == b"woken"
    assert proc.stderr == b""
