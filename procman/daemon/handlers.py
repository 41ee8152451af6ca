"""One coroutine per protocol method. Params were shape-checked by protocol.decode_request;
here they become calls on the Supervisor and the LogHub."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from procman import __version__, protocol
from procman.daemon.logs import LogHub, Subscriber, split_lines
from procman.daemon.server import Stream
from procman.daemon.supervisor import EventFeed, Supervisor
from procman.errors import ErrorCode, NotFound, ProcmanError
from procman.model import InstanceId

DEFAULT_LINES = 50
MAX_LINES = 100_000


class Handlers:
    def __init__(
        self, supervisor: Supervisor, logs: LogHub, on_shutdown: Callable[[], None]
    ) -> None:
        self.supervisor, self.logs, self.on_shutdown = supervisor, logs, on_shutdown
        self.closing = False
        self.table: dict[str, Callable[..., Awaitable[Any]]] = {
            "ping": self.ping,
            "status": self.status,
            "start": self.start,
            "stop": self.stop,
            "restart": self.restart,
            "reload": self.reload,
            "scale": self.scale,
            "logs": self.logs_,
            "events": self.events,
            "formation": self.formation,
            "metrics": self.metrics,
            "autoscale": self.autoscale,
            "shutdown": self.shutdown,
        }

    async def dispatch(self, request: protocol.Request) -> Any:
        if self.closing and request.method not in ("ping", "status", "logs", "events"):
            raise ProcmanError("the daemon is shutting down", ErrorCode.SHUTTING_DOWN)
        return await self.table[request.method](**request.params)

    async def ping(self) -> dict[str, Any]:
        return {
            "pid": os.getpid(),
            "project": str(self.supervisor.project),
            "version": __version__,
            "dropped_log_lines": self.logs.dropped_lines,
        }

    async def status(self, target: str | None = None) -> dict[str, Any]:
        if self.supervisor.formation is None:
            return {"instances": [], "types": []}
        return {
            "instances": self.supervisor.status(target),
            "types": self.supervisor.monitor.types(),
        }

    async def metrics(self) -> dict[str, Any]:
        return self.supervisor.metrics()

    async def autoscale(self, type: str, on: bool) -> dict[str, Any]:
        return self.supervisor.set_autoscale(type, on)

    async def start(
        self,
        source: dict | None = None,
        counts: dict | None = None,
        instances: int | str | None = None,
        target: str | None = None,
        wait: bool = True,
    ) -> dict[str, Any]:
        return await self.supervisor.start(source, counts, instances)

    async def stop(self, target: str | None = None, wait: bool = True) -> dict[str, Any]:
        return await self.supervisor.stop(target)

    async def restart(self, target: str | None = None, wait: bool = True) -> dict[str, Any]:
        return await self.supervisor.restart(target)

    async def reload(self, target: str | None = None, parallel: int = 1) -> dict[str, Any]:
        if parallel < 1:
            raise ProcmanError("parallel must be at least 1", ErrorCode.BAD_PARAMS)
        return await self.supervisor.reload(target, parallel)

    async def scale(self, counts: dict, wait: bool = True) -> dict[str, Any]:
        if not counts:
            raise ProcmanError("scale needs at least one TYPE=N", ErrorCode.BAD_PARAMS)
        return await self.supervisor.scale(counts)

    async def formation(self) -> dict[str, Any]:
        return self.supervisor.formation_info()

    async def logs_(
        self, target: str | None = None, lines: int = DEFAULT_LINES, follow: bool = False
    ) -> Any:
        if lines < 0 or lines > MAX_LINES:
            raise ProcmanError(f"lines must be 0..{MAX_LINES}", ErrorCode.BAD_PARAMS)
        type_name, label = self._log_target(target)
        found = self.logs.tail(lines, type_name, label)
        if len(found) < lines:  # memory keeps 256 KiB a type: older lines are on disk
            found = self.logs.file_tail(lines, type_name, label) or found
        tail = [list(item) for item in found]
        if not follow:
            return {"lines": tail}
        sub = Subscriber(type_name, label)
        self.logs.subscribers.add(sub)
        return Stream(self._follow(sub, tail))

    async def _follow(self, sub: Subscriber, tail: list) -> AsyncIterator[dict[str, Any]]:
        try:
            yield {"lines": tail}
            while True:
                await sub.wakeup.wait()
                sub.wakeup.clear()
                if sub.dropped:
                    raise ProcmanError(
                        "log stream dropped: this client fell too far behind",
                        ErrorCode.FAILED,
                    )
                while sub.queue:  # a message per chunk: a backlog never becomes one huge line
                    now, label, block = sub.take()
                    yield {"lines": [[now, label, line] for line in split_lines(block)]}
        finally:
            self.logs.subscribers.discard(sub)

    def _log_target(self, target: str | None) -> tuple[str | None, str | None]:
        if target in (None, "", "all"):
            return None, None
        assert target is not None
        formation = self.supervisor.formation
        names = formation.names if formation else []
        if target in names:
            return target, None
        try:
            iid = InstanceId.parse(target)
        except ValueError:
            iid = None
        if iid is not None and iid.type in names:
            return None, str(iid)
        raise NotFound(
            f"no process type or instance {target!r} (types: {', '.join(names) or 'none'})"
        )

    async def events(self) -> Stream:
        feed = EventFeed()
        self.supervisor.feeds.add(feed)
        self.supervisor.monitor.wake()  # a subscriber wants `metrics` events
        return Stream(self._feed(feed))

    async def _feed(self, feed: EventFeed) -> AsyncIterator[dict[str, Any]]:
        try:
            yield {
                "event": "subscribed",
                "instances": self.supervisor.status() if self.supervisor.formation else [],
            }
            while True:
                await feed.wakeup.wait()
                feed.wakeup.clear()
                if feed.dropped:
                    raise ProcmanError("event stream dropped: client too slow", ErrorCode.FAILED)
                while feed.queue:
                    yield feed.queue.popleft()
        finally:
            self.supervisor.feeds.discard(feed)

    async def shutdown(self) -> dict[str, Any]:
        self.closing = True
        count = len(self.supervisor.instances())
        await self.supervisor.shutdown()
        self.on_shutdown()
        return {"stopped": count}
