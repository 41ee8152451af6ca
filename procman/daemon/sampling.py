"""The sampling timer: one loop timer every `interval` seconds, and only while something
uses the figures (a max_memory or autoscale rule, an event subscriber, the metrics
endpoint). A formation of idle workers costs the daemon no wakeup at all."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

log = logging.getLogger("procman.sampling")


class SampleTimer:
    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        needed: Callable[[], bool],
        tick: Callable[[], object],
        interval: float = 2.0,
    ) -> None:
        self.loop, self.needed, self.tick, self.interval = loop, needed, tick, interval
        self._timer: asyncio.TimerHandle | None = None

    def wake(self) -> None:
        """Start the timer if anything needs samples (a new formation, a subscriber)."""
        if self._timer is None and self.needed():
            self._timer = self.loop.call_later(self.interval, self._fire)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _fire(self) -> None:
        self._timer = None
        if not self.needed():
            return  # idle: no timer at all until wake()
        self._timer = self.loop.call_later(self.interval, self._fire)
        try:
            self.tick()
        except Exception:  # one bad sample must not stop the next
            log.exception("sampling failed")
