"""Hardening (issue 6): faults. A damaged state.json, a daemon SIGKILLed in the middle of an
operation, and `procman daemon` as PID 1 of its own PID namespace.

The daemon SIGKILLed at rest is covered in test_restarts.py; grandchildren that left their
instance's process group (the watchdog), log rotation and `logs -n` across rotated files are
tested with the code that brings them.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import psutil
import pytest

from tests.harness import PROGRAMS, PY, Harness, alive, wait_until, zombies

KILL_BOUND = 5.0  # seconds for every instance of a SIGKILLed daemon to be gone


def state_path(pm: Harness) -> Path:
    return pm.root / ".procman" / "state.json"


def warnings(pm: Harness) -> list[str]:
    path = pm.root / ".procman" / "daemon.log"
    text = path.read_text() if path.exists() else ""
    return [line for line in text.splitlines() if " WARNING " in line]


def counts(pm: Harness) -> dict[str, int]:
    out: dict[str, int] = {}
    for row in pm.status():
        out[row["type"]] = out.get(row["type"], 0) + 1
    return out


def kill_daemon(pm: Harness) -> float:
    """SIGKILL the daemon; wait until it and every instance it had are gone; how long that
    took."""
    pid = pm.daemon_pid()
    assert pid
    pids = [r["pid"] for r in pm.status() if r["pid"]]
    started = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not alive(pid), KILL_BOUND, "the daemon gone")
    wait_until(lambda: not any(alive(p) for p in pids), KILL_BOUND, "its instances gone")
    return time.monotonic() - started


TWO_TYPES = f"""processes:
  web:
    cmd: {PY} {PROGRAMS / "printenv.py"}
  worker:
    cmd: sleep 1000
"""


# -- state.json ------------------------------------------------------------------------------


def running_state(pm: Harness, counts: dict[str, int]) -> dict[str, object]:
    """What a daemon that died uncleanly leaves behind: its formation and counts."""
    return {
        "version": 1,
        "project": str(pm.root.resolve()),
        "source": None,
        "types": sorted(counts),
        "counts": counts,
        "running": True,
        "daemon_pid": 999_999,
    }


SCALED = {"web": 3, "worker": 2}
DAMAGE = {
    "whole": lambda data: data,  # the control: this one is restored
    "truncated": lambda data: data[: len(data) // 2],
    "empty": lambda data: b"",
    "binary": lambda data: b"\x00\xff\xfe{" * 64,
    "not an object": lambda data: b"[1, 2, 3]\n",
    "other version": lambda data: data.replace(b'"version": 1', b'"version": 99'),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_damaged_state_json_warns_and_starts_from_the_formation_file(
    pm: Harness, damage: str
) -> None:
    pm.yaml(TWO_TYPES)
    path = state_path(pm)
    path.parent.mkdir(parents=True)
    whole = json.dumps(running_state(pm, SCALED)).encode()
    path.write_bytes(DAMAGE[damage](whole))

    pm.run("start")
    assert {r["state"] for r in pm.status()} == {"running"}
    said = [line for line in warnings(pm) if "state.json" in line]
    if damage == "whole":
        assert counts(pm) == SCALED and said == []
        return
    assert counts(pm) == {"web": 1, "worker": 1}  # the formation file's counts
    assert said, f"no warning about state.json\n{pm.daemon_log()}"
    assert "ignoring" in said[-1], said
    print(f"state.json {damage}: {said[-1].split(' WARNING ', 1)[1]}")
    # and the file is whole again, with what runs now
    state = json.loads(path.read_text())
    assert state["running"] is True and state["counts"] == {"web": 1, "worker": 1}


@pytest.mark.parametrize("bad_counts", [["web"], None])
def test_state_json_with_bad_fields_warns_and_starts(pm: Harness, bad_counts: object) -> None:
    pm.yaml(TWO_TYPES)
    path = state_path(pm)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({**running_state(pm, SCALED), "counts": bad_counts}))
    res = pm.run("start", expect=None)
    assert res.returncode == 0, res.stderr
    assert counts(pm) == {"web": 1, "worker": 1}
    assert any("state.json" in line for line in warnings(pm)), pm.daemon_log()


def test_state_json_is_always_whole_while_the_formation_changes(pm: Harness) -> None:
    pm.yaml(TWO_TYPES)
    pm.run("start")
    path = state_path(pm)
    reads: list[int] = []
    broken: list[bytes] = []
    done = threading.Event()

    def reader() -> None:
        while not done.is_set():
            data = path.read_bytes()
            try:
                json.loads(data)
            except ValueError:
                broken.append(data[:200])
            reads.append(len(data))

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    try:
        for n in range(20):
            pm.client.call("scale", {"counts": {"worker": 1 + n % 4}})
    finally:
        done.set()
        thread.join(10)
    assert len(reads) > 20
    assert broken == []
    print(f"state.json: {len(reads)} reads during 20 scales, none torn")
    assert not list(path.parent.glob("*.tmp"))
    assert json.loads(path.read_text())["counts"]["worker"] == 4


# -- SIGKILL in the middle of an operation --------------------------------------------------------


def test_daemon_sigkilled_mid_scale_down_takes_stubborn_instances_and_restores(
    pm: Harness,
) -> None:
    pm.yaml(f"""processes:
  stubborn:
    cmd: {PY} {PROGRAMS / "ignore_term.py"}
    instances: 3
    kill_timeout: 30
""")
    pm.run("start")
    for ident in ("stubborn.1", "stubborn.2", "stubborn.3"):
        pm.wait_log("ready", target=ident)
    pids = [r["pid"] for r in pm.status()]
    # the scale waits for stubborn.2 and .3, which ignore SIGTERM until kill_timeout
    scaling = pm.popen("scale", "stubborn=1", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    pm.wait_state("stubborn.3", "stopping")
    pm.wait_state("stubborn.2", "stopping")
    # every instance gone within KILL_BOUND, though each one ignores SIGTERM
    took = kill_daemon(pm)
    assert not any(alive(p) for p in pids)
    out, err = scaling.communicate(timeout=10)
    assert scaling.returncode == 1, (out, err)
    assert b"closed the connection" in err or b"daemon" in err, err
    # the next start brings back the formation as it was last asked for
    pm.run("start")
    assert counts(pm) == {"stubborn": 1}
    assert pm.status()[0]["state"] == "running"
    kill_daemon(pm)  # not a shutdown, which would wait kill_timeout for the stubborn one
    print(f"SIGKILL mid-scale: 3 stubborn instances gone {took:.2f}s after the daemon")


# -- PID 1 ---------------------------------------------------------------------------------------

ORPHANS = """import os, signal, time

def say(text):  # one write per line: a print() is two, and processes share the pipe
    os.write(1, (text + "\\n").encode())

def orphan(n):
    middle = os.fork()
    if middle == 0:
        if os.fork() == 0:
            # wait until the middle process is gone and we were re-parented, then exit:
            # from then on only our new parent can reap us
            deadline = time.monotonic() + 10
            while os.getppid() != 1 and time.monotonic() < deadline:
                time.sleep(0.01)
            say(f"orphan {{n}} re-parented to {{os.getppid()}}")
            os._exit(0)
        os._exit(0)
    os.waitpid(middle, 0)

def stop(signum, frame):
    say("got SIGTERM")
    os._exit(0)

signal.signal(signal.SIGTERM, stop)
for n in range({count}):
    orphan(n)
say("made orphans")
while True:
    signal.pause()
"""
ORPHANS_PER_INSTANCE = 5


def pid_namespace_available() -> str | None:
    """None if `unshare --pid --fork --mount-proc` works here, else why not."""
    if os.geteuid() != 0:
        return "needs root for unshare --pid --fork --mount-proc"
    try:
        probe = subprocess.run(
            ["unshare", "--pid", "--fork", "--mount-proc", "true"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unshare --pid --fork --mount-proc true failed: {exc}"
    if probe.returncode != 0:
        return (
            f"unshare --pid --fork --mount-proc true exited {probe.returncode}: "
            f"{probe.stderr.strip()}"
        )
    return None


def test_daemon_as_pid_1_reaps_orphans_and_stops_gracefully_on_sigterm(
    pm: Harness, tmp_path: Path
) -> None:
    why = pid_namespace_available()
    if why:
        pytest.skip(why)
    pm.write("orphans.py", ORPHANS.format(count=ORPHANS_PER_INSTANCE))
    pm.yaml(f"""processes:
  orphans:
    cmd: {PY} orphans.py
    instances: 2
""")
    out_path = tmp_path / "pid1.out"
    with open(out_path, "wb") as out:
        proc = subprocess.Popen(
            ["unshare", "--pid", "--fork", "--mount-proc", PY, "-m", "procman", "daemon"],
            cwd=pm.root,
            env=pm.env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    pm.background.append(proc)  # the teardown stops it if the test does not get that far
    wait_until(lambda: pm.daemon_pid() is not None, 15, "the daemon in its namespace")
    assert pm.daemon_pid() == 1  # as its namespace sees it
    daemon = psutil.Process(proc.pid).children()[0]  # the same process, as we see it

    for ident in ("orphans.1", "orphans.2"):
        pm.wait_log("made orphans", target=ident)
    for ident in ("orphans.1", "orphans.2"):
        for n in range(ORPHANS_PER_INSTANCE):
            assert pm.wait_log(f"orphan {n} re-parented", target=ident).endswith(" to 1")
    # every orphan has exited; PID 1 reaped each one, so no zombie is left
    wait_until(lambda: not zombies(daemon.pid), 5, "no zombie left in the namespace")
    assert len(pm.status()) == 2
    # host pids (status shows the namespace's own). The orphans were forked copies of their
    # instance, so the same command line: only the two instances may still run it.
    instances = [c for c in daemon.children() if "orphans.py" in " ".join(c.cmdline())]
    assert len(instances) == 2, daemon.children()

    stopping = time.monotonic()
    daemon.send_signal(signal.SIGTERM)
    assert proc.wait(15) == 0, out_path.read_text()
    took = time.monotonic() - stopping
    text = out_path.read_text()
    assert text.count("| got SIGTERM") == 2, text  # a graceful stop: SIGTERM, not SIGKILL
    for ident in ("orphans.1", "orphans.2"):
        assert f"{ident} stopped (exited with code 0)" in text, text
    assert not any(alive(p.pid) for p in instances)
    print(
        f"PID 1: {2 * ORPHANS_PER_INSTANCE} orphans reaped, no zombie; SIGTERM -> exit 0 "
        f"in {took:.2f}s"
    )


def test_a_full_disk_drops_counted_lines_and_blocks_nothing(pm: Harness, tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    home = tmp_path / "small"
    home.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(home)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        pm.env["PROCMAN_HOME"] = str(home)
        pm.yaml(f"""processes:
  flood:
    cmd: {PY} {PROGRAMS / "flood.py"} 20000000
  quiet:
    cmd: {PY} {PROGRAMS / "printenv.py"}
""")
        pm.run("start")
        # the child is never blocked: it finishes its 20 MB although 2 MiB is all there is
        pm.wait_log("flood done", timeout=30, target="flood")
        ping = pm.client.call("ping")
        assert ping["dropped_log_lines"] > 100_000
        assert {r["state"] for r in pm.status()} == {"running"}
        pm.run("shutdown")
    finally:
        pm.teardown()
        subprocess.run(["umount", "-l", str(home)], check=False)
