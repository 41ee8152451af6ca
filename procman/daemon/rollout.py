"""Rolling reload: replace each slot's process with a new one while the old one serves.

For one slot: start a replacement on the slot's own listener (old and new accept from the
same socket for a moment), wait until it is ready, then stop the old process gracefully.
If the replacement fails (exits, backs off, or misses ready_timeout), it is stopped, the
old process keeps serving, and the rollout stops there.

Readiness through a held socket says nothing about one process (the socket accepts at
once), so unless the type uses `ready: notify`, a replacement must also stay up for
SETTLE = min(min_uptime, 1 s) before it takes over: a command that crashes on start is
caught there instead of replacing a healthy process.

A Procfile type on Foreman's per-instance ports (no --share) has nothing to hand over: its
port is its instance's own, so each slot is restarted in turn (stop, then start).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from procman.daemon.group import Group
from procman.daemon.instance import Instance
from procman.daemon.report import failure
from procman.model import DOWN, UP_OR_GAVE_UP, InstanceState

SETTLE_CAP = 1.0

Wait = Callable[[list[Instance], Callable[[Instance], bool]], Awaitable[None]]


@dataclass(slots=True)
class SlotResult:
    instance: Instance  # what serves the slot afterwards
    failed: str | None = None  # why the replacement did not take over


async def replace_slot(group: Group, old: Instance, wait: Wait) -> SlotResult:
    if old.ptype.instance_ports and not old.ptype.socket:
        # Foreman's per-instance port is the instance's alone: nothing could take it over
        # meanwhile, so this slot is stopped, then started (the other slots keep serving)
        old.restart()
        await wait([old], lambda i: i.state in UP_OR_GAVE_UP)
        return SlotResult(old, None if old.state == InstanceState.RUNNING else old.reason)
    if old.state not in (InstanceState.RUNNING, InstanceState.STARTING):
        # nothing serving to hand over from: a plain (re)start of the slot
        group.ensure_listener(old)
        old.start()
        await wait([old], lambda i: i.state in UP_OR_GAVE_UP)
        return SlotResult(old, None if old.state == InstanceState.RUNNING else old.reason)
    new = group.new_instance(old.index)
    new.restarts = old.restarts
    new.replacement = True
    try:
        new.start()
        await wait([new], lambda i: i.state in UP_OR_GAVE_UP)
        pid = new.pid
        if new.state == InstanceState.RUNNING and new.ptype.ready.kind != "notify":
            await _settle(wait, new, min(new.ptype.min_uptime, SETTLE_CAP))
        if new.state != InstanceState.RUNNING or new.pid != pid:
            reason = new.reason or f"replacement ended {new.state.value}"
            new.stop()
            await wait([new], lambda i: i.state in DOWN)
            return SlotResult(old, f"{new.id}: {reason}; the old process keeps serving")
        group.adopt(new)
    finally:
        new.replacement = False
    old.stop()
    await wait([old], lambda i: i.state in DOWN)
    return SlotResult(new)


async def _settle(wait: Wait, inst: Instance, seconds: float) -> None:
    """Return after `seconds`, or as soon as the instance leaves RUNNING."""
    if seconds <= 0:
        return
    try:
        await asyncio.wait_for(wait([inst], lambda i: i.state != InstanceState.RUNNING), seconds)
    except asyncio.TimeoutError:
        pass


async def rolling_reload(
    groups: Mapping[str, Group], picked: list[Instance], wait: Wait, parallel: int = 1
) -> tuple[list[Instance], list[dict[str, Any]]]:
    """Replace `parallel` slots at a time, in order; stop after the batch where one fails."""
    serving: list[Instance] = []
    failed: list[dict[str, Any]] = []
    step = max(1, parallel)
    for start in range(0, len(picked), step):
        batch = picked[start : start + step]
        results = await asyncio.gather(
            *(replace_slot(groups[inst.id.type], inst, wait) for inst in batch)
        )
        for result in results:
            serving.append(result.instance)
            if result.failed:
                failed.append(failure(result.instance, result.failed))
        if failed:
            break
    return serving, failed
