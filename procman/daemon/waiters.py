"""wait(): the one way a verb waits for its instances. No polling: every state change
re-checks the open waits (Supervisor calls check() from its on_change).

A check costs O(1) per open wait, not O(instances): each wait keeps the instances not yet
seen done, in order, and a check pops them from the front while they are done and stops
at the first that is not. Only when none is left does it look at every instance again (one
may have left its done state meanwhile: a wait ends only when all hold at once, as a check
of all of them would say) and keep those that are not done. So a start of 1,000 instances
costs O(1,000) checks in all, not O(1,000²)."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable

from procman.daemon.instance import Instance

Done = Callable[[Instance], bool]


class _Wait:
    __slots__ = ("insts", "done", "future", "pending")

    def __init__(self, insts: list[Instance], done: Done, future: asyncio.Future[None]) -> None:
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

    async def wait(self, insts: list[Instance], done: Done) -> None:
        """Until done(i) holds for every instance."""
        if all(done(i) for i in insts):
            return
        entry = _Wait(insts, done, self.loop.create_future())
        self._open.append(entry)
        try:
            await entry.future
        finally:
            if entry in self._open:
                self._open.remove(entry)

    @property
    def pending(self) -> int:
        """Waits still open: some verb is waiting for its instances."""
        return sum(1 for entry in self._open if not entry.future.done())

    def check(self) -> None:
        for entry in list(self._open):
            if not entry.future.done() and entry.holds():
                entry.future.set_result(None)
