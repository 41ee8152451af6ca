"""The click-free fast path for `status`/`ps`/`scale` (procman/cli/fast.py) against the
click commands: the same argv parses to the same params, gives the same daemon call, the
same output and the same exit code; anything not plainly one of those forms goes to click.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from procman.cli import app, client, fast, render
from procman.cli.commands.scale import scale as scale_command
from procman.cli.commands.status import status as status_command
from procman.counts import parse_assignment
from procman.errors import DaemonUnavailable, RemoteError

STATUS_ARGV = [
    ["status"],
    ["ps"],
    ["status", "--json"],
    ["status", "web"],
    ["status", "web.2", "--json"],
    ["status", "--json", "web"],
    ["status", "-d", "/tmp"],
    ["status", "--dir", "/tmp", "web"],
    ["status", "--dir=/tmp"],
    ["status", "-f", "/tmp/nowhere/Procfile"],
    ["status", "--procfile=/tmp/nowhere/procman.yaml", "--json"],
    ["ps", "worker", "-d", "/tmp", "--json"],
]
SCALE_ARGV = [
    ["scale", "web=2"],
    ["scale", "web=0"],
    ["scale", "web=04"],
    ["scale", "web=+2", "worker=-1"],
    ["scale", "web=-0"],
    ["scale", "web=max", "-d", "/tmp"],
    ["scale", "my_type-2=3", "--dir=/tmp"],
    ["scale", "web=1", "web=3"],
]
TO_CLICK = [
    [],
    ["--debug", "status"],
    ["status", "--help"],
    ["status", "-h"],
    ["status", "a", "b"],
    ["status", "--jsn"],
    ["status", "--json", "--json"],
    ["status", "--json=1"],
    ["status", "-d"],
    ["status", "-d", "/tmp", "-d", "/tmp"],
    ["status", "-d/tmp"],
    ["status", "--dir="],
    ["status", "-d", "--json"],
    ["status", "--"],
    ["status", "-"],
    ["status", "-f", "/tmp"],  # a directory: click.Path(dir_okay=False) says so
    ["scale"],
    ["scale", "--json", "web=1"],
    ["scale", "web"],
    ["scale", "web=two"],
    ["scale", "web=MAX"],
    ["scale", "web=+"],
    ["scale", "web=²"],
    ["scale", "wéb=1"],
    ["scale", "=1"],
    ["scale", " web=1"],
    ["scale", "web=1 "],
    ["logs"],
    ["start", "web"],
]


def click_params(argv: list[str]) -> dict[str, Any]:
    command = scale_command if argv[0] == "scale" else status_command
    ctx = command.make_context(argv[0], list(argv[1:]))
    params = dict(ctx.params)
    if argv[0] == "scale":
        assignments = params.pop("assignments")
        params["counts"] = {n: str(s) for n, s in map(parse_assignment, assignments)}
    return {"verb": argv[0], **params}


@pytest.mark.parametrize("argv", STATUS_ARGV + SCALE_ARGV)
def test_the_fast_path_parses_as_click_does(argv: list[str]) -> None:
    assert fast.parse(argv) == click_params(argv)


@pytest.mark.parametrize("argv", TO_CLICK)
def test_anything_else_goes_to_click(argv: list[str]) -> None:
    assert fast.parse(argv) is None


def test_shell_completion_goes_to_click(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("_PROCMAN_COMPLETE", "bash_complete")
    assert fast.parse(["status"]) is None


ROW = {"id": "web.1", "type": "web", "index": 0, "pid": 42, "state": "running",
       "uptime_s": 3.0, "restarts": 0, "cpu_percent": 0.5, "memory_bytes": 1 << 20}  # fmt: skip
STATUS = {"instances": [ROW], "types": [{"name": "web", "desired": 1, "autoscale": None}]}
FAILURE = {"id": "web.1", "state": "errored", "reason": "exited with code 3"}
FAILED = {"ok": False, "status": [{**ROW, "state": "errored", "pid": None}], "failed": [FAILURE]}


def run_both(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], argv: list[str],
    answer: Any,
) -> list[tuple[Any, ...]]:  # fmt: skip
    """(exit code, stdout, stderr, calls made) of the fast path, then of click."""
    out = []
    for entry in (fast.main, app.main):
        calls: list[tuple[str, Any, str]] = []

        def call(self: client.Client, method: str, params: Any = None, calls: list = calls) -> Any:
            calls.append((method, params, self.project))
            if isinstance(answer, Exception):
                raise answer
            return answer

        monkeypatch.setattr(client.Client, "call", call)
        monkeypatch.setattr(sys, "argv", ["procman", *argv])
        with pytest.raises(SystemExit) as exited:
            entry()
        captured = capsys.readouterr()
        out.append((exited.value.code or 0, captured.out, captured.err, calls))
    return out


@pytest.mark.parametrize(
    ("argv", "answer"),
    [
        (["status"], STATUS),
        (["ps", "--json"], STATUS),
        (["status", "web", "-d", "/tmp"], STATUS),
        (["status"], {"instances": [], "types": []}),
        (["status", "nope"], RemoteError("not_found", "no process type 'nope'")),
        (["status"], RemoteError("internal", "boom")),
        (["scale", "web=2", "worker=+1"], {"ok": True, "status": [ROW]}),
        (["scale", "web=1"], FAILED),
    ],
)
def test_both_paths_give_the_same_output_and_exit_code(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], argv: list[str],
    answer: Any,
) -> None:  # fmt: skip
    fast_run, click_run = run_both(monkeypatch, capsys, argv, answer)
    assert fast_run == click_run
    assert fast_run[3], "the daemon was asked"


def test_no_daemon_reads_the_same_on_both_paths(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))  # no other daemons to hint at
    monkeypatch.chdir(tmp_path)
    fast_run, click_run = run_both(monkeypatch, capsys, ["status"], DaemonUnavailable("none"))
    assert fast_run == click_run and fast_run[0] == 1 and "none" in fast_run[2]


def test_a_relative_dir_and_procfile_resolve_as_click_resolves_them(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "app").mkdir()
    monkeypatch.chdir(tmp_path)
    for argv in (["status", "-d", "app"], ["status", "-f", "app/Procfile"], ["status"]):
        fast_run, click_run = run_both(monkeypatch, capsys, argv, STATUS)
        assert fast_run == click_run
        assert fast_run[3][0][2] == os.path.realpath(tmp_path / "app") or argv == ["status"]


scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
rows_of = st.lists(st.dictionaries(st.text(), scalars, max_size=6), max_size=6)


@settings(max_examples=30, deadline=None, derandomize=True, database=None)
@given(rows_of | st.lists(st.dictionaries(st.text(), st.lists(scalars)), max_size=3))
def test_status_json_is_exactly_what_json_dumps_with_indent_writes(rows: list[Any]) -> None:
    """render.indented_json: the fast encoding of status rows, byte for byte indent=2's."""
    assert render.indented_json(rows) == json.dumps(rows, indent=2)
