"""wait(): the one way a verb waits for its instances. No polling: every state change
re-checks the open waits (Supervisor calls check() from its on_change).

Every wait is bounded: a verb passes the longest its instances may take (bound() gives it:
ready_timeout, plus kill_timeout and the drain where something must stop first), and a
shutdown releases every open wait, so a verb always answers with an outcome.

A check costs O(1) per open wait, not O(instances): each wait keeps the instances not yet
seen done, in order, and a check pops them from the front while they are done and stops
at the first that is not. Only when none is left does it look at every instance again (one
may have left its done state meanwhile: a wait ends only when all hold at once, as a check
of all of them would say) and keep those that are not done. So a start of 1,000 instances
costs O(1,000) checks in all, not O(1,000²)."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from procman.daemon import report
from procman.daemon.instance import Instance
from procman.daemon.listeners import DRAIN_MAX
from procman.model import DOWN, UP_OR_GAVE_UP, InstanceState

Done = Callable[[Instance], bool]


def is_down(inst: Instance) -> bool:
    """No process, and none coming: what a stop waits for."""
    return inst.state in DOWN


def up_or_gave_up(inst: Instance) -> bool:
    return inst.state in UP_OR_GAVE_UP


def gone_for_good(inst: Instance) -> bool:
    """No process and no restart pending: what a shutdown waits for."""
    return not inst.live and inst.state != InstanceState.BACKOFF


#: beyond the bound, so the instance's own timers (readiness, SIGKILL) fire first and their
#: reason is the one reported
GRACE = 0.5


def bound(insts: Iterable[Instance], start: bool = True, stop: bool = True) -> float:
    """Seconds a verb may wait for these instances: ready_timeout to come up, kill_timeout
    (and the drain before it) where one must stop first."""
    longest = 0.0
    for inst in insts:
        ptype = inst.ptype
        need = (ptype.ready_timeout if start else 0.0) + (
            DRAIN_MAX + ptype.kill_timeout if stop else 0.0
        )
        longest = max(longest, need)
    return longest + GRACE


class _Wait:
    __slots__ = ("insts", "done", "future", "pending")

    def __init__(
        self, insts: list[Instance], done: Done, future: asyncio.Future[bool | None]
    ) -> None:
        self.insts, self.done, self.future = insts, done, future
        self.pending: deque[Instance] = deque(insts)

    def holds(self) -> bool:
        """done(i) for every instance now (what `all(done(i) for i in insts)` says)."""
        pending, done = self.pending, self.done
        while pending:
            if not done(pending[0]):
                return False
            pending.popleft()
        left = [i for i in self.insts if not done(i)]
        if left:
            self.pending.extend(left)
            return False
        return True


class Waiters:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._open: list[_Wait] = []
        self.released = False  # by a shutdown

    async def wait(self, insts: list[Instance], done: Done, timeout: float | None = None) -> bool:
        """Until done(i) holds for every instance, timeout seconds pass, or release();
        True when every instance is done."""
        if all(done(i) for i in insts):
            return True
        entry = _Wait(insts, done, self.loop.create_future())
        self._open.append(entry)
        timer = None
        if timeout is not None:
            timer = self.loop.call_later(timeout, _settle, entry.future)
        try:
            held = await entry.future  # True from check(): every instance was done
        finally:
            if timer is not None:
                timer.cancel()
            if entry in self._open:
                self._open.remove(entry)
        return bool(held) or all(done(i) for i in insts)

    @property
    def pending(self) -> int:
        """Waits still open: some verb is waiting for its instances."""
        return sum(1 for entry in self._open if not entry.future.done())

    def check(self) -> None:
        for entry in list(self._open):
            if not entry.future.done() and entry.holds():
                entry.future.set_result(True)

    async def outcome(
        self,
        everyone: Callable[[], list[Instance]],
        touched: list[Instance],
        waited: list[Instance],
        done: Done,
        seconds: float,
        wait: Callable[..., Awaitable[bool]] | None = None,
    ) -> dict[str, Any]:
        """A verb's answer: wait (at most `seconds`; with `wait`, else self.wait) for
        `waited`, then say how each of `touched` ended, beside every row."""
        await (wait or self.wait)(waited, done, seconds)
        late = [(i, seconds) for i in waited if not done(i)]
        return report.outcome(touched, everyone(), late=late, closing=self.released)

    def release(self) -> None:
        """A shutdown: every open wait returns now, so its verb answers with an outcome."""
        self.released = True
        for entry in list(self._open):
            _settle(entry.future)


def _settle(future: asyncio.Future[bool | None]) -> None:
    if not future.done():
        future.set_result(None)
