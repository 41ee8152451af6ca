"""One bounded queue for every live reader of the daemon: log followers and event
subscribers. A reader that falls too far behind is dropped (told so once), never allowed to
make the daemon hold an unbounded backlog for it."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class Feed(Generic[T]):
    """Items in, items out in order; past max_items (or max_bytes, as `size` counts them)
    the queue is cleared and the feed is marked dropped."""

    def __init__(
        self,
        max_items: int,
        max_bytes: int | None = None,
        size: Callable[[T], int] = lambda item: 0,
    ) -> None:
        self.max_items, self.max_bytes, self.size = max_items, max_bytes, size
        self.queue: deque[T] = deque()
        self.queued_bytes = 0
        self.wakeup = asyncio.Event()
        self.dropped = False

    def offer(self, item: T) -> None:
        if self.dropped:
            return
        full = len(self.queue) >= self.max_items or (
            self.max_bytes is not None and self.queued_bytes >= self.max_bytes
        )
        if full:
            self.dropped = True
            self.queue.clear()
            self.queued_bytes = 0
        else:
            self.queue.append(item)
            self.queued_bytes += self.size(item)
        self.wakeup.set()

    def take(self) -> T:
        item = self.queue.popleft()
        self.queued_bytes -= self.size(item)
        return item

    async def batches(self, too_slow: Callable[[], Exception]) -> AsyncIterator[list[T]]:
        """What arrived since the last batch, each time something did; raises too_slow()
        once the feed was dropped."""
        while True:
            await self.wakeup.wait()
            self.wakeup.clear()
            if self.dropped:
                raise too_slow()
            batch = []
            while self.queue:
                batch.append(self.take())
            if batch:
                yield batch


EVENT_QUEUE = 4096


class EventBus:
    """The `events` stream's subscribers. Publishers build an event only when `wanted`."""

    def __init__(self) -> None:
        self.feeds: set[Feed[dict[str, Any]]] = set()

    @property
    def wanted(self) -> bool:
        return bool(self.feeds)

    def subscribe(self) -> Feed[dict[str, Any]]:
        feed: Feed[dict[str, Any]] = Feed(EVENT_QUEUE)
        self.feeds.add(feed)
        return feed

    def unsubscribe(self, feed: Feed[dict[str, Any]]) -> None:
        self.feeds.discard(feed)

    def publish(self, event: dict[str, Any]) -> None:
        for feed in self.feeds:
            feed.offer(event)
