"""cron_restart: expressions checked at load time, and the timers on a fake clock."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest

from procman.config.cron import check_cron, next_fire
from procman.daemon import cron
from procman.daemon.cron import MAX_SLEEP, CronTable
from procman.model import ProcessType


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Timers:
    """loop.call_later on a fake clock: run() fires what is due."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.pending: list[list[Any]] = []  # [when, callback, cancelled]

    def call_later(self, delay: float, callback: Callable[[], Any]) -> Any:
        entry = [self.clock.now + delay, callback, False]
        self.pending.append(entry)

        class Handle:
            def cancel(self) -> None:
                entry[2] = True

        return Handle()

    def live(self) -> list[float]:
        return sorted(e[0] for e in self.pending if not e[2])

    def advance(self, seconds: float) -> None:
        """Move the clock, firing each timer at its own time, in order."""
        end = self.clock.now + seconds
        while True:
            due = [e for e in self.pending if not e[2] and e[0] <= end]
            if not due:
                break
            entry = min(due, key=lambda e: e[0])
            self.pending.remove(entry)
            self.clock.now = max(self.clock.now, entry[0])
            entry[1]()
        self.clock.now = end


def minute_rule(at: float) -> str:
    when = datetime.fromtimestamp(at)
    return f"{when.minute} {when.hour} * * *"


def setup(now: float, *types: ProcessType) -> tuple[CronTable, Timers, list[tuple[str, str]]]:
    clock = Clock(now)
    timers = Timers(clock)
    acted: list[tuple[str, str]] = []
    table = CronTable(timers, lambda name, why: acted.append((name, why)), clock)
    table.update(types)
    return table, timers, acted


def test_check_cron_accepts_five_fields_and_macros() -> None:
    assert check_cron(" 0   3 * * 1-5 ") == "0 3 * * 1-5"
    assert check_cron("@daily") == "@daily"
    for bad, fragment in [
        ("61 * * * *", "out of range"),
        ("* * * *", "five fields"),
        ("0 0 3 * * *", "five fields"),  # croniter's seconds field is not standard cron
        ("a b c d e", "is not a cron expression"),
    ]:
        with pytest.raises(ValueError, match=fragment):
            check_cron(bad)


def test_next_fire_is_strictly_after() -> None:
    base = datetime(2026, 3, 1, 2, 59, 30).timestamp()
    assert next_fire("0 3 * * *", base) == datetime(2026, 3, 1, 3, 0).timestamp()
    at_three = datetime(2026, 3, 1, 3, 0).timestamp()
    assert next_fire("0 3 * * *", at_three) == datetime(2026, 3, 2, 3, 0).timestamp()


def test_a_rule_a_minute_ahead_fires_once_then_rearms_for_the_next_day() -> None:
    now = datetime(2026, 6, 1, 12, 0, 10).timestamp()
    ahead = now + 60 - 10  # 12:01:00
    _table, timers, acted = setup(now, ProcessType("web", "x", cron_restart=minute_rule(ahead)))
    assert timers.live() == [ahead]  # one timer, straight to the time: no tick
    timers.advance(49.9)
    assert acted == []
    timers.advance(0.2)
    assert acted == [("web", "cron '1 12 * * *'")]
    tomorrow = (datetime.fromtimestamp(ahead) + timedelta(days=1)).timestamp()
    assert timers.live() == [pytest.approx(ahead + MAX_SLEEP)]  # long waits are capped
    timers.advance(tomorrow - timers.clock.now - 1)
    assert len(acted) == 1
    timers.advance(1.5)
    assert len(acted) == 2 and timers.live()[0] > tomorrow


def test_a_timer_that_fires_early_sleeps_again() -> None:
    now = datetime(2026, 6, 1, 12, 0, 0).timestamp()
    table, timers, acted = setup(now, ProcessType("web", "x", cron_restart="30 12 * * *"))
    (when,) = timers.live()
    timers.pending[0][0] = now + 5  # the loop woke it long before its time
    timers.advance(6)
    assert acted == [] and timers.live() == [when] and table.next["web"] == when


def test_update_keeps_unchanged_rules_and_drops_removed_ones() -> None:
    now = datetime(2026, 6, 1, 12, 0, 0).timestamp()
    web = ProcessType("web", "x", cron_restart="0 3 * * *")
    worker = ProcessType("worker", "y", cron_restart="*/5 * * * *")
    table, timers, _acted = setup(now, web, worker)
    assert len(timers.live()) == 2
    table.update([web, worker])  # a re-read formation, same rules: same timers
    assert len(timers.live()) == 2
    table.update([web, ProcessType("worker", "y")])
    assert list(table.rules) == ["web"] and len(timers.live()) == 1
    table.close()
    assert timers.live() == [] and table.rules == {}


def test_the_wall_clock_is_injectable_module_wide(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cron, "wall_clock", lambda: 1000.0)
    assert CronTable(Timers(Clock(0)), lambda n, w: None).clock() == 1000.0
    assert abs(CronTable(Timers(Clock(0)), lambda n, w: None, time.time).clock() - time.time()) < 5
