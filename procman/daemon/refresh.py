"""Reload or restart one process type on the daemon's own initiative (watch mode, cron): a
type whose listener the daemon holds gets a rolling reload, so no connection is refused
while its code changes; any other type is restarted. One at a time per type: asked again
while one runs, it runs once more afterwards (however often it was asked).

Triggers bundles what asks: the file watcher (watch.py) and the cron timers (cron.py)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from typing import Any

from procman.daemon.cron import CronTable
from procman.daemon.group import Group
from procman.daemon.watch import Watcher
from procman.errors import ProcmanError
from procman.model import InstanceState, ProcessType

log = logging.getLogger("procman.refresh")

Verb = Callable[[str], Awaitable[dict[str, Any]]]


class Refresher:
    def __init__(
        self,
        group: Callable[[str], Group | None],
        *,
        reload: Verb,
        restart: Verb,
        say: Callable[[str], None],
        background: Callable[[Coroutine[Any, Any, None]], None],
    ) -> None:
        self.group, self.reload, self.restart = group, reload, restart
        self.say, self.background = say, background
        self._busy: set[str] = set()
        self._again: dict[str, str] = {}

    def request(self, name: str, why: str) -> None:
        """`why` opens the log line: "watch: src/app.py changed", "cron 0 3 * * *"."""
        if name in self._busy:
            self._again[name] = why
            return
        self._busy.add(name)
        self.background(self._run(name, why))

    async def _run(self, name: str, why: str | None) -> None:
        try:
            while why is not None:
                await self._once(name, why)
                why = self._again.pop(name, None)
        except Exception:
            log.exception("refreshing %s failed", name)
        finally:
            self._busy.discard(name)

    async def _once(self, name: str, why: str) -> None:
        group = self.group(name)
        # a crashed or errored type is restarted too (the change may be its fix); one that
        # was stopped on purpose, or scaled to 0, stays as it is
        if group is None:
            self.say(f"{why}; {name} is no longer in the formation")
            return
        insts = group.instances()
        if not insts or all(i.state == InstanceState.STOPPED for i in insts):
            self.say(f"{why}; {name} is stopped, so it stays as it is")
            return
        held = group.ptype.socket
        verb = "reload" if held else "restart"
        self.say(f"{why}; {verb}ing {name}")
        try:
            result = await (self.reload(name) if held else self.restart(name))
        except ProcmanError as exc:
            self.say(f"{verb} of {name} failed: {exc}")
            return
        for failed in result.get("failed", []):
            self.say(f"{verb} of {name}: {failed['id']} {failed['state']}: {failed['reason']}")


class Triggers:
    """Watch mode and cron_restart for a formation: update() with each (re-read) one."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, refresher: Refresher, project: str, home: str
    ) -> None:
        self.refresher = refresher
        # the daemon's home (state.json, logs) never counts: a reload writes state.json
        self.watcher = Watcher(loop, refresher.request, refresher.say, root=project, skip=[home])
        self.cron = CronTable(loop, refresher.request)

    def update(self, types: Iterable[ProcessType]) -> None:
        types = list(types)
        self.watcher.update(types)
        self.cron.update(types)

    def close(self) -> None:
        self.watcher.close()
        self.cron.close()
