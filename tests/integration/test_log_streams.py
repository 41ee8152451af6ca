"""stdout and stderr apart (`--err`, `--out`, the `!` mark), `--json`, `--raw`, `--since`,
and `flush` / `reopen` while a child writes all along: no line lost, none written twice."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from datetime import datetime
from pathlib import Path

import pytest

from procman.errors import RemoteError
from tests.harness import PROGRAMS, PY, Harness, wait_until

STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d"


def streams_yaml(arg: str = "3") -> str:
    return f"processes:\n  w:\n    cmd: {PY} {PROGRAMS / 'streams.py'} {arg}\n"


def log_path(pm: Harness, name: str = "w.log") -> Path:
    return pm.root / ".procman" / "logs" / name


def instance_lines(out: str) -> list[str]:
    return [line for line in out.splitlines() if " procman " not in line]


def test_logs_keep_stdout_and_stderr_apart(pm: Harness) -> None:
    pm.yaml(streams_yaml())
    pm.run("start")
    pm.wait_log("err 2")
    pm.wait_log("out 2")
    merged = instance_lines(pm.run("logs", "w").stdout)
    parsed = [re.fullmatch(r"\d\d:\d\d:\d\d w\.1 ([|!]) (out|err) (\d)", line) for line in merged]
    assert all(parsed), merged
    marks = sorted((m.group(2), m.group(3), m.group(1)) for m in parsed if m)
    wanted = [(s, str(n), "!" if s == "err" else "|") for s in ("err", "out") for n in range(3)]
    assert marks == wanted
    # each stream keeps its own order
    assert [m.group(3) for m in parsed if m and m.group(2) == "err"] == ["0", "1", "2"]
    err = pm.run("logs", "--err").stdout.splitlines()
    assert [line.split(" ", 1)[1] for line in err] == [f"w.1 ! err {n}" for n in range(3)]
    out = pm.run("logs", "w.1", "--out", "--raw").stdout.splitlines()
    assert out == ["out 0", "out 1", "out 2"]
    assert pm.run("logs", "--err", "-n", "1", "--raw").stdout == "err 2\n"
    # the file marks them the same way
    text = log_path(pm).read_text().splitlines()
    assert sorted(re.sub(STAMP, "T", line) for line in text) == sorted(
        [f"T w.1 ! err {n}" for n in range(3)] + [f"T w.1 | out {n}" for n in range(3)]
    )
    # a follower of stderr sees only stderr
    args = ("logs", "-f", "--err", "--raw", "-n", "1")
    follower = pm.popen(*args, stdout=subprocess.PIPE, text=True)
    try:
        assert follower.stdout is not None
        # the tail comes after the subscription: once it is read, nothing new can be missed
        assert follower.stdout.readline() == "err 2\n"
        pm.run("restart", "w")
        assert [follower.stdout.readline() for _ in range(3)] == ["err 0\n", "err 1\n", "err 2\n"]
    finally:
        follower.terminate()
        follower.wait(5)
        assert follower.stdout is not None
        follower.stdout.close()
    res = pm.run("logs", "--err", "--out", expect=2)
    assert "--err and --out exclude each other" in res.stderr


def test_logs_json_one_object_a_line(pm: Harness) -> None:
    pm.yaml(streams_yaml())
    pm.run("start")
    pm.wait_log("err 2")
    pm.wait_log("out 2")
    before = time.time()
    objects = [json.loads(line) for line in pm.run("logs", "w", "--json").stdout.splitlines()]
    assert all(list(obj) == ["time", "id", "stream", "text"] for obj in objects)
    mine = [obj for obj in objects if obj["id"] == "w.1"]
    assert sorted((o["stream"], o["text"]) for o in mine) == sorted(
        [("out", f"out {n}") for n in range(3)] + [("err", f"err {n}") for n in range(3)]
    )
    times = [datetime.fromisoformat(o["time"]).timestamp() for o in objects]
    assert times == sorted(times) and before - 60 < times[0] <= before
    errs = pm.run("logs", "--json", "--err").stdout.splitlines()
    assert [json.loads(line)["text"] for line in errs] == ["err 0", "err 1", "err 2"]
    assert "--json and --raw" in pm.run("logs", "--json", "--raw", expect=2).stderr


def test_logs_since(pm: Harness) -> None:
    pm.yaml(streams_yaml())
    pm.run("start")
    pm.wait_log("out 2")
    pm.wait_log("err 2")
    cut = time.time()
    pm.run("restart", "w")  # the same lines again, all after cut
    wait_until(lambda: pm.run("logs", "w", "--raw").stdout.count("err 2") == 2, 10, "round 2")
    iso = datetime.fromtimestamp(cut).astimezone().isoformat()
    after = pm.run("logs", "w", "--raw", "--since", iso).stdout.splitlines()
    assert sorted(after) == sorted([f"out {n}" for n in range(3)] + [f"err {n}" for n in range(3)])
    assert pm.run("logs", "w", "--raw", "--since", iso, "--err").stdout.splitlines() == [
        "err 0", "err 1", "err 2"
    ]  # fmt: skip
    assert len(pm.run("logs", "w", "--raw", "--since", "1h").stdout.splitlines()) == 12
    assert pm.run("logs", "--since", "0s").stdout == ""  # every line is older than now
    # the daemon filters: only what is wanted crosses the socket
    rows = pm.client.call("logs", {"target": "w", "since": cut, "stream": "err"})["lines"]
    assert [(label, text, stream) for _, label, text, stream in rows] == [
        ("w.1", f"err {n}", "err") for n in range(3)
    ]
    assert all(t >= cut for t, _, _, _ in rows)
    # with -n, the last N of those
    assert pm.run("logs", "w", "--raw", "--since", iso, "--out", "-n", "1").stdout == "out 2\n"
    res = pm.run("logs", "--since", "yesterday", expect=2)
    assert "neither a duration" in res.stderr
    with pytest.raises(RemoteError, match="stream must be 'out' or 'err'"):
        pm.client.call("logs", {"stream": "both"})
    with pytest.raises(RemoteError, match="since must be a finite"):
        pm.client.call("logs", {"since": float("inf")})


def test_the_foreground_daemon_marks_stderr(pm: Harness) -> None:
    pm.yaml(streams_yaml())
    proc = pm.popen("daemon", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wait_until(pm.daemon_pid, 15, "the daemon")
    pm.wait_log("err 2")
    pm.wait_log("out 2")
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    lines = [line.split(" ", 1)[1] for line in out.decode().splitlines() if " w.1 " in line]
    lines = [line for line in lines if not line.startswith("procman ")]
    assert sorted(lines) == sorted(
        [f"w.1 ! err {n}" for n in range(3)] + [f"w.1 | out {n}" for n in range(3)]
    )


# -- flush and reopen while a child writes all along ----------------------------------------


def numbered(*paths: Path) -> dict[str, list[int]]:
    """stream -> the numbers of its lines in these files, in file order."""
    found: dict[str, list[int]] = {"out": [], "err": []}
    for path in paths:
        for line in path.read_text().splitlines():
            match = re.fullmatch(STAMP + r" w\.1 ([|!]) (out|err) (\d+)", line)
            assert match, line
            assert (match.group(1) == "!") == (match.group(2) == "err"), line
            found[match.group(2)].append(int(match.group(3)))
    return found


def lines_in(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def grows(path: Path, by: int = 50) -> None:
    """Wait until path holds `by` more lines than now: the child is still being written."""
    start = lines_in(path)
    wait_until(lambda: lines_in(path) >= start + by, 15, f"{by} more lines in {path.name}")


def assert_unbroken(found: dict[str, list[int]], start: int | None = 0) -> None:
    for stream, numbers in found.items():
        first = numbers[0] if start is None else start
        assert numbers == list(range(first, first + len(numbers))), (stream, numbers[:5])


def test_flush_while_a_child_writes_loses_no_line(pm: Harness) -> None:
    pm.yaml(streams_yaml("forever"))
    pm.run("start")
    current = log_path(pm)
    grows(current)
    kept = pm.root / "kept.log"
    os.link(current, kept)  # what the flush takes away stays readable here
    res = pm.run("flush", "--json")
    flushed = json.loads(res.stdout)["flushed"]
    assert {entry["type"] for entry in flushed} == {"w", "procman"}
    grows(current)
    old, new = numbered(kept), numbered(current)
    assert_unbroken(old)  # from the first line to the flush
    assert_unbroken(new, start=None)
    for stream in ("out", "err"):
        assert new[stream][0] == old[stream][-1] + 1  # nothing lost at the cut, nothing twice
    assert kept.stat().st_ino != current.stat().st_ino
    # `logs` starts again after the flush too
    rows = pm.client.call("logs", {"target": "w", "lines": 100_000})["lines"]
    assert (
        min(int(text.split()[1]) for _, _, text, _ in rows if text.startswith("out"))
        == new["out"][0]
    )
    assert "flushed w:" in pm.run("flush", "w").stdout
    assert "w.1 is an instance" in pm.run("flush", "w.1", expect=2).stderr
    assert "no process type" in pm.run("flush", "nosuch", expect=2).stderr


def test_reopen_after_a_rename_while_a_child_writes(pm: Harness) -> None:
    pm.yaml(streams_yaml("forever"))
    pm.run("start")
    current = log_path(pm)
    grows(current)
    first = log_path(pm, "w.log-1")
    current.rename(first)  # as logrotate does
    grows(first)  # the daemon writes on into the moved file until told
    assert "reopened the log files of" in pm.run("reopen").stdout
    wait_until(current.exists, 10, "a new w.log")
    grows(current)
    # and once more, told by SIGUSR1, with logrotate's `create` making the new file first
    second = log_path(pm, "w.log-2")
    current.rename(second)
    current.touch()
    grows(second)
    daemon = pm.daemon_pid()
    assert daemon is not None
    os.kill(daemon, signal.SIGUSR1)
    grows(current)
    found = numbered(first, second, current)
    assert_unbroken(found)  # from line 0, across three files: none lost, none twice
    for stream in ("out", "err"):
        assert len(numbered(second)[stream]) > 0
    assert "log files reopened" in (pm.root / ".procman" / "daemon.log").read_text()
