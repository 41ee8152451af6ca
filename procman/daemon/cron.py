"""cron_restart: one loop timer per type, set to the rule's next time and set again after
each (no tick). The wall clock is injectable (`wall_clock`, or the clock argument), so a
test can make a rule a minute ahead fire at once."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Iterable

from procman.config.cron import next_fire
from procman.daemon.instance import TimerHandle, Timers
from procman.model import ProcessType

log = logging.getLogger("procman.cron")

#: The longest single sleep: a wall clock that jumps (suspend, NTP) is noticed within this.
MAX_SLEEP = 3600.0
EARLY = 0.001  # a timer this close to its time counts as on time

wall_clock: Callable[[], float] = time.time


class CronTable:
    def __init__(
        self,
        timers: Timers,
        act: Callable[[str, str], None],
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.timers, self.act = timers, act
        self.clock = clock or wall_clock
        self.rules: dict[str, str] = {}
        self.next: dict[str, float] = {}  # type -> when it fires next (epoch seconds)
        self._handles: dict[str, TimerHandle] = {}

    def update(self, types: Iterable[ProcessType]) -> None:
        """Schedule the rules of a (re-read) formation; unchanged rules keep their timers."""
        rules = {t.name: t.cron_restart for t in types if t.cron_restart}
        for name in [n for n in self.rules if self.rules[n] != rules.get(n)]:
            self._cancel(name)
        for name, expr in rules.items():
            if self.rules.get(name) != expr:
                self.rules[name] = expr
                self._arm(name, self.clock())

    def close(self) -> None:
        for name in list(self.rules):
            self._cancel(name)

    def _cancel(self, name: str) -> None:
        handle = self._handles.pop(name, None)
        if handle is not None:
            handle.cancel()
        self.rules.pop(name, None)
        self.next.pop(name, None)

    def _arm(self, name: str, after: float) -> None:
        self.next[name] = next_fire(self.rules[name], after)
        self._sleep(name)

    def _sleep(self, name: str) -> None:
        delay = min(max(0.0, self.next[name] - self.clock()), MAX_SLEEP)
        self._handles[name] = self.timers.call_later(delay, functools.partial(self._wake, name))

    def _wake(self, name: str) -> None:
        due, now = self.next[name], self.clock()
        if now < due - EARLY:  # a capped sleep, or the clock moved back: not yet
            self._sleep(name)
            return
        try:
            self.act(name, f"cron {self.rules[name]!r}")
        except Exception:
            log.exception("cron: acting on %s failed", name)
        self._arm(name, max(now, due))
