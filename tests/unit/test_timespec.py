"""`--since` values: durations back from now, ISO times, times of day."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest

from procman.timespec import parse_since

NOW = 1_796_000_000.25


@pytest.mark.parametrize(
    ("text", "ago"),
    [("30s", 30), ("10m", 600), ("2h", 7200), ("1d", 86400), ("1h30m", 5400),
     ("1.5h", 5400), ("90s", 90), (" 5m ", 300), ("0s", 0)],
)  # fmt: skip
def test_durations(text: str, ago: float) -> None:
    assert parse_since(text, NOW) == NOW - ago


@pytest.mark.parametrize(
    ("text", "when"),
    [
        ("2026-11-28T10:00:00+00:00", datetime(2026, 11, 28, 10, tzinfo=timezone.utc)),
        ("2026-11-28T10:00:00Z", datetime(2026, 11, 28, 10, tzinfo=timezone.utc)),
        ("2026-11-28 11:30:05+01:00", datetime(2026, 11, 28, 10, 30, 5, tzinfo=timezone.utc)),
        ("2026-11-28T10:00:00.250-02:00", datetime(2026, 11, 28, 12, 0, 0, 250000, timezone.utc)),
    ],
)
def test_iso_times_with_an_offset(text: str, when: datetime) -> None:
    assert parse_since(text, NOW) == when.timestamp()


def test_times_without_an_offset_are_local() -> None:
    assert parse_since("2026-11-28T10:00", NOW) == datetime(2026, 11, 28, 10).timestamp()
    assert parse_since("2026-11-28", NOW) == datetime(2026, 11, 28).timestamp()


def test_a_time_of_day_is_today() -> None:
    today = datetime.fromtimestamp(NOW).date()
    at = datetime(today.year, today.month, today.day, 9, 30)
    assert parse_since("09:30", NOW) == at.timestamp()
    assert parse_since("09:30:15", NOW) == (at + timedelta(seconds=15)).timestamp()


def test_now_defaults_to_the_clock() -> None:
    assert abs(parse_since("10m") - (time.time() - 600)) < 5


@pytest.mark.parametrize("text", ["", "yesterday", "10x", "-5m", "m", "2026-13-01", "25:00"])
def test_bad_values_say_what_is_accepted(text: str) -> None:
    with pytest.raises(ValueError, match=r"neither a duration \(30s, 10m"):
        parse_since(text, NOW)


@pytest.mark.parametrize("text", ["10", "1.5"])
def test_a_bare_number_asks_for_a_unit(text: str) -> None:
    with pytest.raises(ValueError, match=f"needs a unit: {text}s, {text}m"):
        parse_since(text, NOW)
