"""One coroutine per protocol method, named as the method. protocol.METHODS is the one
table of methods and their params: decode_request checks a request against it before a
handler runs, and Handlers refuses to start if a handler's params differ from it."""

from __future__ import annotations

import inspect
import math
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from procman import __version__, protocol
from procman.config.describe import describe_formation
from procman.daemon import describe, report, targets
from procman.daemon.logfiles import STREAMS, LogQuery
from procman.daemon.logs import LogHub, Subscriber
from procman.daemon.logtail import split_lines
from procman.daemon.server import Handoff, Stream
from procman.daemon.supervisor import Supervisor
from procman.daemon.updater import Updater
from procman.errors import ErrorCode, NotFound, ProcmanError
from procman.model import Formation

DEFAULT_LINES = 50
MAX_LINES = 100_000
#: what a daemon that is shutting down still answers
WHILE_CLOSING = frozenset({"ping", "status", "logs", "events"})
#: what may be under way when `update` execs (the others are work a new image cannot resume)
READ_ONLY = frozenset(
    {"ping", "status", "logs", "events", "formation", "describe", "env", "metrics"}
    | {"flush", "reopen"}  # log files only: no instance changes
)


class Handlers:
    def __init__(
        self, supervisor: Supervisor, hub: LogHub, on_shutdown: Callable[[], Awaitable[None]]
    ) -> None:
        self.supervisor, self.hub, self.on_shutdown = supervisor, hub, on_shutdown
        self.closing = False
        self.started = time.time()  # of the daemon: an update carries it over
        self.updater: Updater | None = None  # main sets it: what `update` execs with
        self.in_flight: list[str] = []  # the methods being answered now
        self.table: dict[str, Callable[..., Awaitable[Any]]] = {}
        for method, shape in protocol.METHODS.items():
            handler = getattr(self, method)
            params = list(inspect.signature(handler).parameters)
            if params != list(shape):
                raise TypeError(f"handler {method}{params} differs from protocol {list(shape)}")
            self.table[method] = handler

    async def dispatch(self, request: protocol.Request) -> Any:
        if self.closing and request.method not in WHILE_CLOSING:
            raise ProcmanError("the daemon is shutting down", ErrorCode.SHUTTING_DOWN)
        self.in_flight.append(request.method)
        try:
            return await self.table[request.method](**request.params)
        finally:
            self.in_flight.remove(request.method)

    async def ping(self) -> dict[str, Any]:
        return {
            "pid": os.getpid(),
            "project": str(self.supervisor.project),
            "version": __version__,
            "started": self.started,
            "uptime_s": round(time.time() - self.started, 3),
            "dropped_log_lines": self.hub.dropped_lines,
            "descendants": self.supervisor.launcher.tree.kind,
        }

    async def status(self, target: str | None = None) -> dict[str, Any]:
        # the daemon's version rides along, so the CLI sees an upgrade without a round trip
        if self.supervisor.formation is None:
            return {"instances": [], "types": [], "version": __version__}
        return {
            "instances": self.supervisor.status(target),
            "types": self.supervisor.summaries(),
            "changed_files": describe.changed_since(
                self.supervisor.formation, self.supervisor.read
            ),
            "version": __version__,
        }

    async def start(
        self,
        source: dict[str, Any] | None = None,
        counts: dict[str, Any] | None = None,
        instances: int | str | None = None,
        types: list[str] | None = None,
        app: dict[str, Any] | None = None,
        force: bool = False,
        replace: bool = False,
    ) -> dict[str, Any]:
        if types is not None and not all(isinstance(t, str) for t in types):
            raise ProcmanError("types must be a list of type names", ErrorCode.BAD_PARAMS)
        return await self.supervisor.start(source, counts, instances, types, app, force, replace)

    async def delete(self, type: str) -> dict[str, Any]:
        return await self.supervisor.delete(type)

    async def stop(self, target: str | None = None) -> dict[str, Any]:
        return await self.supervisor.stop(target)

    async def restart(self, target: str | None = None, update: bool = True) -> dict[str, Any]:
        return await self.supervisor.restart(target, update)

    async def reload(self, target: str | None = None, parallel: int = 1) -> dict[str, Any]:
        if parallel < 1:
            raise ProcmanError("parallel must be at least 1", ErrorCode.BAD_PARAMS)
        return await self.supervisor.reload(target, parallel)

    async def scale(self, counts: dict[str, Any]) -> dict[str, Any]:
        if not counts:
            raise ProcmanError("scale needs at least one TYPE=N", ErrorCode.BAD_PARAMS)
        return await self.supervisor.scale(counts)

    async def logs(
        self,
        target: str | None = None,
        lines: int | None = None,
        follow: bool = False,
        stream: str | None = None,
        since: float | None = None,
    ) -> Any:
        if lines is None:  # with since: every line since then, up to the cap
            lines = DEFAULT_LINES if since is None else MAX_LINES
        if lines < 0 or lines > MAX_LINES:
            raise ProcmanError(f"lines must be 0..{MAX_LINES}", ErrorCode.BAD_PARAMS)
        if stream is not None and stream not in STREAMS:
            raise ProcmanError(
                f"stream must be {' or '.join(map(repr, STREAMS))}, not {stream!r}",
                ErrorCode.BAD_PARAMS,
            )
        if since is not None and not math.isfinite(since):
            raise ProcmanError("since must be a finite unix time", ErrorCode.BAD_PARAMS)
        type_name, label = self._log_target(target)
        tail = [
            list(item) for item in self.hub.lines(LogQuery(lines, type_name, label, stream, since))
        ]
        if not follow:
            return {"lines": tail}
        sub = Subscriber(type_name, label, stream)
        self.hub.subscribers.add(sub)
        return Stream(self._follow(sub, tail))

    async def _follow(self, sub: Subscriber, tail: list[Any]) -> AsyncIterator[dict[str, Any]]:
        def too_slow() -> ProcmanError:
            return ProcmanError(
                "log stream dropped: this client fell too far behind", ErrorCode.FAILED
            )

        try:
            yield {"lines": tail}
            async for batch in sub.batches(too_slow):
                # a message per chunk: a backlog never becomes one huge line
                for now, label, stream, block in batch:
                    yield {"lines": [[now, label, line, stream] for line in split_lines(block)]}
        finally:
            self.hub.subscribers.discard(sub)

    def _log_target(self, target: str | None) -> tuple[str | None, str | None]:
        """(type, None) or (None, instance label): logs of instances gone are still read."""
        if target is None or target in ("", "all"):
            return None, None
        kind, name = self.supervisor.parse_target(target)
        return (name, None) if kind == "type" else (None, name)

    async def flush(self, target: str | None = None) -> dict[str, Any]:
        if target is None or target in ("", "all"):
            return {"flushed": self.hub.flush()}
        if target not in self.hub.known_types():  # a type gone from the formation still counts
            kind, name = self.supervisor.parse_target(target)
            if kind == "instance":
                raise ProcmanError(
                    f"flush empties a type's files and {name} is an instance"
                    f" (flush {name.rpartition('.')[0]} empties its type's)",
                    ErrorCode.BAD_PARAMS,
                )
        return {"flushed": self.hub.flush(target)}

    async def reopen(self) -> dict[str, Any]:
        return {"reopened": self.hub.reopen()}

    async def events(self) -> Stream:
        feed = self.supervisor.events.subscribe()
        self.supervisor.timer.wake()  # a subscriber wants `metrics` events
        return Stream(self._events(feed))

    async def _events(self, feed: Any) -> AsyncIterator[dict[str, Any]]:
        def too_slow() -> ProcmanError:
            return ProcmanError("event stream dropped: client too slow", ErrorCode.FAILED)

        try:
            yield {
                "event": "subscribed",
                "instances": self.supervisor.status() if self.supervisor.formation else [],
            }
            async for batch in feed.batches(too_slow):
                for event in batch:
                    yield event
        finally:
            self.supervisor.events.unsubscribe(feed)

    async def formation(self) -> dict[str, Any]:
        return describe_formation(self._formation(), self.supervisor.desired())

    async def describe(self, target: str) -> dict[str, Any]:
        """Reads only: what describe.py makes of the supervisor's groups and records."""
        sup = self.supervisor
        insts = sup.select(target)  # a type may have none: then target is the type's name
        rows = report.sampled_rows(insts, sup.sampler)
        group = sup.groups[insts[0].id.type if insts else target]
        files = self.hub.files(group.name)
        return describe.describe(group, insts, rows, self._formation(), sup.source, files)

    async def env(self, target: str, reveal: bool = False) -> dict[str, Any]:
        inst = targets.one(self.supervisor.groups, self._formation(), target)
        return describe.environment(inst, reveal)

    def _formation(self) -> Formation:
        formation = self.supervisor.formation
        if formation is None:
            raise NotFound('no formation is loaded; run "procman start"')
        return formation

    async def metrics(self) -> dict[str, Any]:
        return self.supervisor.metrics()

    async def autoscale(self, type: str | None = None, on: bool | None = None) -> dict[str, Any]:
        return self.supervisor.autoscale(type, on)

    async def update(self) -> Handoff:
        """Exec the installed code in place (handover.py); the new image answers."""
        if self.updater is None:
            raise ProcmanError("this daemon cannot update itself", ErrorCode.FAILED)
        return await self.updater.prepare(self._busy, self.started)

    def _busy(self) -> str | None:
        """A verb under way (the one `update` of the caller aside)."""
        others = list(self.in_flight)
        if "update" in others:
            others.remove("update")
        working = [m for m in others if m not in READ_ONLY]
        return f"a {working[0]} is in progress" if working else None

    async def signal(
        self, target: str | None = None, signal: str | int = "TERM", group: bool = False
    ) -> dict[str, Any]:
        from procman.signames import parse_signal

        try:
            signum = parse_signal(signal)
        except ValueError as exc:
            raise ProcmanError(str(exc), ErrorCode.BAD_PARAMS) from None
        return self.supervisor.signal(target, int(signum), group)

    async def shutdown(self) -> dict[str, Any]:
        count = len(self.supervisor.instances())
        await self.on_shutdown()
        return {"stopped": count}
