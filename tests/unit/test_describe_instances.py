"""What describe, env, ls and status print, and when a process counts as stale; no daemon."""

from __future__ import annotations

import pytest

from procman.cli import render, views
from procman.daemon.launcher import Launch
from procman.model import ProcessType


def launch(ptype: ProcessType, files_env: dict[str, str]) -> Launch:
    return Launch(ptype, files_env, ["x"], "/p", {}, None, 0.0)


def test_a_process_is_stale_when_what_it_started_with_changed() -> None:
    web = ProcessType(name="web", cmd="serve", line=3)
    files = {"A": "1"}
    record = launch(web, files)
    record.compare(web, files)
    assert not record.stale
    # a new line number, count or restart policy is not a new process
    record.compare(ProcessType(name="web", cmd="serve", line=9, instances=4, kill_timeout=1), files)
    assert not record.stale
    record.compare(ProcessType(name="web", cmd="serve --v2", line=3), files)
    assert record.stale
    record.compare(web, {"A": "2"})
    assert record.stale
    record.compare(ProcessType(name="web", cmd="serve", env={"B": "1"}), files)
    assert record.stale
    record.compare(web, dict(files))  # equal values, another dict: fresh
    assert not record.stale


def test_status_marks_stale_rows_and_changed_files(capsys: pytest.CaptureFixture[str]) -> None:
    rows = [
        {"id": "web.1", "type": "web", "pid": 1, "state": "running", "stale": True},
        {"id": "web.2", "type": "web", "pid": 2, "state": "running", "stale": False},
    ]
    render.status_table(rows, None, [".env"])
    out = capsys.readouterr().out.splitlines()
    assert out[1].split()[:3] == ["web.1", "1", "running*"]
    assert out[2].split()[:3] == ["web.2", "2", "running"]
    assert any(
        line.startswith("* web.1: started before the formation was last read") for line in out
    )
    assert any(line.startswith(".env changed since the daemon read it") for line in out)


def test_ls_table(capsys: pytest.CaptureFixture[str]) -> None:
    views.daemons(
        [
            {
                "project": "/srv/shop",
                "pid": 42,
                "uptime_s": 3700,
                "types": [{"name": "web", "running": 2, "desired": 3}],
                "cpu_percent": 1.5,
                "memory_bytes": 3 * 1024 * 1024,
            },
            {"project": None, "socket": "/run/x.sock", "error": "did not answer"},
        ]
    )
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == [
        "project",
        "pid",
        "uptime",
        "types",
        "(running/desired)",
        "cpu",
        "memory",
    ]
    assert out[1].split() == ["/srv/shop", "42", "1h01m", "web", "2/3", "1.5%", "3.0", "MB"]
    assert out[2].startswith("/run/x.sock") and "did not answer" in out[2]
    views.daemons([])
    assert capsys.readouterr().out == "no daemons of yours run here\n"


def test_describe_and_env_print(capsys: pytest.CaptureFixture[str]) -> None:
    t = {
        "name": "web",
        "defined_in": "procman.yaml:2",
        "cmd": "serve",
        "cwd": "/p",
        "desired": 1,
        "port": 8000,
        "socket": True,
        "ready": "port",
        "ready_timeout": 30.0,
        "restart": "always",
        "kill_timeout": 5.0,
        "min_uptime": 5.0,
        "max_restarts": 10,
        "max_memory": 512 * 1024 * 1024,
        "autoscale": {"min": 1, "max": 4, "cpu": 70.0, "target": 2, "manual": False, "last": None},
        "env_files": [".env"],
        "logs": {"log": "/p/.procman/logs/web.log"},
    }
    inst = {
        "id": "web.1",
        "state": "errored",
        "pid": None,
        "pgid": None,
        "uptime_s": None,
        "restarts": 3,
        "last_exit": {"code": 7, "reason": "exited with code 7"},
        "readiness": {"check": "port", "timeout_s": 30.0, "state": "not running"},
        "command": ["/bin/sh", "-c", "exec serve"],
        "cwd": "/p",
        "listener": {"host": "0.0.0.0", "port": 8000, "fd": 3},
        "env": {"DB_PASSWORD": "****", "PORT": "8000"},
    }
    views.description({"type": t, "instances": [inst]})
    out = capsys.readouterr().out
    for fragment in (
        "defined in  procman.yaml:2",
        "max_memory  512.0 MB",
        "autoscale   1-4 @cpu 70% (target 2)",
        "log         /p/.procman/logs/web.log",
        "last exit    exited with code 7 (exit code 7)",
        "command      /bin/sh -c 'exec serve'",
        "listener     0.0.0.0:8000 on fd 3",
        "    DB_PASSWORD=****",
    ):
        assert fragment in out, fragment
    views.environment({"env": {"A": "1", "KEY": "****"}, "masked": True})
    captured = capsys.readouterr()
    assert captured.out == "A=1\nKEY=****\n" and "--reveal" in captured.err
