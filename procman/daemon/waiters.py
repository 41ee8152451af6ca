"""wait(): the one way a verb waits for its instances. No polling: every state change
re-checks the open waits (Supervisor calls check() from its on_change)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from procman.daemon.instance import Instance

Done = Callable[[Instance], bool]


class Waiters:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._open: list[tuple[list[Instance], Done, asyncio.Future[None]]] = []

    async def wait(self, insts: list[Instance], done: Done) -> None:
        """Until done(i) holds for every instance."""
        if all(done(i) for i in insts):
            return
        future: asyncio.Future[None] = self.loop.create_future()
        entry = (insts, done, future)
        self._open.append(entry)
        try:
            await future
        finally:
            if entry in self._open:
                self._open.remove(entry)

    @property
    def pending(self) -> int:
        """Waits still open: some verb is waiting for its instances."""
        return sum(1 for _, _, future in self._open if not future.done())

    def check(self) -> None:
        for insts, done, future in list(self._open):
            if not future.done() and all(done(i) for i in insts):
                future.set_result(None)
