"""Captured output: log files, `logs -n`, `logs -f`, and a child that floods."""

from __future__ import annotations

import re
import subprocess
import time

from tests.harness import PROGRAMS, PY, Harness, wait_until

LINE = re.compile(r"^\d\d:\d\d:\d\d (\w+\.\d+) \| (.*)$")


def counter_yaml() -> str:
    return f"""processes:
  alpha:
    cmd: {PY} {PROGRAMS / "counter.py"}
    instances: 2
  beta:
    cmd: {PY} {PROGRAMS / "counter.py"}
"""


def test_logs_tail_merged_and_log_files(pm: Harness) -> None:
    pm.yaml(counter_yaml())
    pm.run("start")
    for ident in ("alpha.1", "alpha.2", "beta.1"):
        pm.wait_log(f"{ident} line 4")
    everything = pm.run("logs", "-n", "100").stdout.splitlines()
    # the daemon's own lines (starts, exits) are merged in as "procman | ..."
    assert any(" procman | alpha.2 started (pid " in line for line in everything)
    out = [line for line in everything if " procman | " not in line]
    parsed = [LINE.match(line) for line in out]
    assert all(parsed), out
    assert len(out) == 15
    assert {m.group(1) for m in parsed} == {"alpha.1", "alpha.2", "beta.1"}
    for m in parsed:
        assert m.group(2).startswith(m.group(1) + " line ")
    assert len(pm.run("logs", "-n", "3").stdout.splitlines()) == 3
    assert len(pm.run("logs", "alpha", "-n", "3").stdout.splitlines()) == 3
    only = pm.run("logs", "alpha.2").stdout.splitlines()
    assert len(only) == 5 and all(" alpha.2 | " in line for line in only)
    beta = pm.run("logs", "beta").stdout.splitlines()
    assert len(beta) == 5
    text = (pm.root / ".procman" / "logs" / "alpha.log").read_text().splitlines()
    assert len(text) == 10
    assert all(
        re.match(
            r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d"
            r" alpha\.[12] \| alpha\.[12] line \d$",
            t,
        )
        for t in text
    ), text


def test_logs_follow_streams_new_lines(pm: Harness) -> None:
    pm.yaml(f"""processes:
  web:
    cmd: {PY} {PROGRAMS / "printenv.py"}
""")
    pm.run("start")
    pm.wait_log("ENV ")
    first = pm.env_of("web.1")
    follower = pm.popen("logs", "web", "-f", "-n", "1", stdout=subprocess.PIPE, text=True)
    try:
        # the tail comes after the subscription: once it is read, nothing new can be missed
        assert f'"pid": {first["pid"]}' in follower.stdout.readline()
        pm.run("restart", "web")
        new_pid = pm.by_id()["web.1"]["pid"]
        line = follower.stdout.readline()
        assert LINE.match(line.rstrip("\n")) and f'"pid": {new_pid}' in line
    finally:
        follower.terminate()
        follower.wait(5)
        follower.stdout.close()


def test_flooding_child_never_blocks_the_daemon(pm: Harness) -> None:
    pm.yaml(f"""processes:
  flood:
    cmd: {PY} {PROGRAMS / "flood.py"} 100000000
  quiet:
    cmd: {PY} {PROGRAMS / "printenv.py"}
""")
    pm.run("start")
    started = time.monotonic()
    worst = 0.0
    while True:
        t0 = time.monotonic()
        rows = pm.status()
        worst = max(worst, time.monotonic() - t0)
        logs = pm.client.call("logs", {"lines": 5, "target": "flood"})["lines"]
        if any("flood done" in text for _, _, text, *_ in logs):
            break
        assert time.monotonic() - started < 60, "flood did not finish"
    assert worst < 1.0, f"status took {worst:.3f}s during the flood"
    assert {r["id"] for r in rows} == {"flood.1", "quiet.1"}
    # rotated at 10 MiB, 5 kept: the flood never takes more than ~60 MiB of disk
    # (the last writes may still be on the daemon's log writer thread: `logs` answered
    # from memory, and a rotation renames the files one by one)
    logs_dir = pm.root / ".procman" / "logs"
    names = {f"flood.log.{n}" for n in range(1, 6)}
    wait_until(lambda: {f.name for f in logs_dir.glob("flood.log*")} >= names, 20, "rotated")
    files = list(logs_dir.glob("flood.log*"))
    assert sum(f.stat().st_size for f in files) <= 6 * 10 * 1024 * 1024 + 2 * 1024 * 1024


def test_rotation_keeps_every_line_and_logs_reads_across_files(pm: Harness) -> None:
    pm.yaml(f"""log_max_size: 20K
log_keep: 3
processes:
  count:
    cmd: {PY} {PROGRAMS / "counter.py"} 2000
""")
    pm.run("start")
    pm.wait_log("count.1 line 1999")
    logs = pm.root / ".procman" / "logs"
    kept = ["count.log.3", "count.log.2", "count.log.1", "count.log"]

    def numbers_on_disk() -> list[int]:
        text = "".join((logs / n).read_text() for n in kept if (logs / n).exists())
        return [int(line.rsplit(" ", 1)[1]) for line in text.splitlines()]

    # `logs` answered from memory: the last writes and a rotation (its renames one by one)
    # may still be on the daemon's log writer thread for a moment
    wait_until(
        lambda: (
            sorted(f.name for f in logs.glob("count.log*")) == sorted(kept)
            and numbers_on_disk()[-1:] == [1999]
        ),
        20,
        "the log files settled",
    )
    # rename-and-reopen: the kept files hold consecutive lines, none lost or doubled
    numbers = numbers_on_disk()
    assert numbers == list(range(numbers[0], 2000))
    assert all(f.stat().st_size < 20 * 1024 + 8 * 1024 for f in logs.glob("count.log*"))
    # `logs -n` reaches past the current file into the rotated ones
    out = pm.run("logs", "count", "-n", str(len(numbers))).stdout.splitlines()
    assert [int(line.rsplit(" ", 1)[1]) for line in out] == numbers
