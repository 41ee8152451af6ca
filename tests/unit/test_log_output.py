"""How `procman logs` prints lines: plain (stderr marked `!`), coloured, JSON, raw."""

from __future__ import annotations

import io
import json
import time
from datetime import datetime

import pytest

from procman.cli import logview

NOW = 1_796_000_000.125
CLOCK = time.strftime("%H:%M:%S", time.localtime(NOW))


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_plain_marks_stderr() -> None:
    fmt = logview.log_formatter(io.StringIO())
    assert fmt(NOW, "web.1", "hello", "out") == f"{CLOCK} web.1 | hello"
    assert fmt(NOW, "web.1", "boom", "err") == f"{CLOCK} web.1 ! boom"
    assert fmt(NOW, "web.1", "old daemon") == f"{CLOCK} web.1 | old daemon"  # 3-field rows


def test_colour_marks_stderr_in_red(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    fmt = logview.log_formatter(Tty())
    err, out = fmt(NOW, "web.1", "boom", "err"), fmt(NOW, "web.1", "fine", "out")
    assert "\033[1;31m!\033[0m boom" in err and "|\033[0m fine" in out
    assert "web.1" in err and "!" not in out


def test_json_is_one_object_a_line() -> None:
    fmt = logview.log_formatter(style="json")
    obj = json.loads(fmt(NOW, "web.1", 'a "quoted" \\ line', "err"))
    assert list(obj) == ["time", "id", "stream", "text"]
    assert obj["id"] == "web.1" and obj["stream"] == "err"
    assert obj["text"] == 'a "quoted" \\ line'
    assert datetime.fromisoformat(obj["time"]).timestamp() == 1_796_000_000.125
    assert json.loads(fmt(NOW, "web.1", "x"))["stream"] == "out"


def test_raw_is_the_text() -> None:
    fmt = logview.log_formatter(style="raw")
    assert fmt(NOW, "web.1", "  as written ", "err") == "  as written "


def test_log_lines_takes_rows_of_both_shapes(capsys: pytest.CaptureFixture[str]) -> None:
    logview.log_lines(
        [[NOW, "web.1", "new", "err"], [NOW, "web.1", "old"]], logview.log_formatter()
    )
    assert capsys.readouterr().out == f"{CLOCK} web.1 ! new\n{CLOCK} web.1 | old\n"
