"""The CLI after `pip install -U procman`: status notices a daemon running another version,
and `procman update` says what runs now."""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner

from procman import __version__
from procman.cli import render
from procman.cli.app import cli
from procman.cli.client import Client
from procman.errors import RemoteError

ROW = {"id": "web.1", "type": "web", "index": 0, "pid": 42, "state": "running", "uptime_s": 3.0}


def run(monkeypatch: pytest.MonkeyPatch, answer: Any, *argv: str) -> Any:
    def call(self: Client, method: str, params: Any = None) -> Any:
        if isinstance(answer, Exception):
            raise answer
        return answer

    monkeypatch.setattr(Client, "call", call)
    monkeypatch.setenv("NO_COLOR", "1")
    return CliRunner().invoke(cli, list(argv), catch_exceptions=False)


def test_status_notices_a_daemon_of_another_version_on_stderr(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    result = run(monkeypatch, {"instances": [ROW], "types": [], "version": "0.0.9"}, "status")
    assert result.exit_code == 0
    assert "web.1" in result.stdout and "note:" not in result.stdout
    assert result.stderr == (
        f"note: the daemon runs procman 0.0.9, and {__version__} is installed; "
        '"procman update" switches it over without restarting the instances\n'
    )
    as_json = run(monkeypatch, {"instances": [ROW], "version": "0.0.9"}, "status", "--json")
    assert as_json.stdout.startswith("[") and "procman update" in as_json.stderr


@pytest.mark.parametrize("daemon_version", [__version__, None])
def test_status_says_nothing_when_the_versions_agree_or_the_daemon_does_not_say(
    monkeypatch: pytest.MonkeyPatch, daemon_version: str | None
) -> None:
    answer: dict[str, Any] = {"instances": [ROW], "types": []}
    if daemon_version:
        answer["version"] = daemon_version
    assert run(monkeypatch, answer, "status").stderr == ""


def test_update_says_old_and_new_version_and_what_it_kept(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    answer = {"old_pid": 7, "pid": 7, "old_version": "0.0.9", "version": __version__,
              "instances": 4, "exited": ["web.2"], "seconds": 0.2}  # fmt: skip
    result = run(monkeypatch, answer, "update")
    assert result.exit_code == 0
    assert result.stdout.splitlines() == [
        f"daemon pid 7 runs procman 0.0.9 -> {__version__}; 4 instance(s) kept running, "
        "none restarted",
        "web.2 exited during the update and was handled as an exit",
    ]
    same = run(monkeypatch, {**answer, "old_version": __version__, "exited": []}, "update")
    assert "(the same version, re-executed)" in same.stdout


def test_update_against_a_daemon_that_predates_it_says_how_to_get_there(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    old = RemoteError("unknown_method", "unknown method 'update'")
    result = run(monkeypatch, old, "update")
    assert result.exit_code == 1
    assert "predates `procman update`" in result.stderr


def test_version_notice_is_one_line_or_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    render.version_notice(__version__)
    render.version_notice(None)
    assert capsys.readouterr().err == ""
    render.version_notice("9.9.9")
    assert capsys.readouterr().err.count("\n") == 1
