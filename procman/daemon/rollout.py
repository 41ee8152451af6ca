"""Rolling reload: replace each slot's process with a new one while the old one serves.

For one slot: start a replacement on a fresh listener of the port's SO_REUSEPORT group,
which steering leaves out, so no connection reaches the replacement before it is ready;
wait until it is; then it takes the slot over (its listener becomes the slot's and new
connections go to it), and the old process drains what its listener holds and stops
gracefully; its listener closes once it is down. If the replacement fails (exits, or
misses ready_timeout), it is stopped, its listener (which never got a connection) closes,
the old process keeps serving, and the rollout stops there. A replacement is never
restarted: its first exit fails the reload.

Readiness through a held socket says little about one process, so unless the type uses
`ready: notify`, a replacement must also stay up for SETTLE = min(min_uptime, 1 s) before
it takes over: a command that crashes on start is caught there instead of replacing a
healthy process.

Every wait is bounded (waiters.bound): ready_timeout for the replacement to come up,
kill_timeout (and the drain) for a process to stop.

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
from procman.daemon.report import failure, late_reason
from procman.daemon.waiters import bound, is_down, up_or_gave_up
from procman.model import InstanceState

SETTLE_CAP = 1.0

Wait = Callable[..., Awaitable[bool]]  # (instances, done, timeout) -> all done


@dataclass(slots=True)
class SlotResult:
    instance: Instance  # what serves the slot afterwards
    failed: str | None = None  # why the replacement did not take over
    failed_state: str | None = None  # the state the failure left behind


async def replace_slot(group: Group, old: Instance, wait: Wait) -> SlotResult:
    if old.ptype.instance_ports and not old.ptype.socket:
        # Foreman's per-instance port is the instance's alone: nothing could take it over
        # meanwhile, so this slot is stopped, then started (the other slots keep serving)
        old.restart()
        seconds = bound([old])
        if not await wait([old], up_or_gave_up, seconds):
            return SlotResult(old, late_reason(old, seconds))
        return SlotResult(old, None if old.state == InstanceState.RUNNING else old.reason)
    if old.state not in (InstanceState.RUNNING, InstanceState.STARTING):
        # nothing serving to hand over from: a plain (re)start of the slot
        group.ensure_listener(old)
        old.start()
        seconds = bound([old], stop=False)
        if not await wait([old], up_or_gave_up, seconds):
            return SlotResult(old, late_reason(old, seconds))
        return SlotResult(old, None if old.state == InstanceState.RUNNING else old.reason)
    new = group.new_instance(old.index)
    new.restarts = old.restarts
    new.replacement = True
    group.spare_listener(new)
    try:
        new.start()
        seconds = bound([new], stop=False)
        up = await wait([new], up_or_gave_up, seconds)
        pid = new.pid
        if new.state == InstanceState.RUNNING and new.ptype.ready.kind != "notify":
            await _settle(wait, new, min(new.ptype.min_uptime, SETTLE_CAP))
        if new.state != InstanceState.RUNNING or new.pid != pid:
            if not up:
                reason = late_reason(new, seconds)
            else:
                reason = new.reason or f"it ended {new.state.value}"
            new.stop()
            await wait([new], is_down, bound([new], start=False))
            group.discard_spare(new)
            return SlotResult(
                old, f"its replacement failed: {reason}; the old process keeps serving",
                new.state.value,
            )  # fmt: skip
        old_listener = group.adopt(new)
    finally:
        new.replacement = False
    await group.drain_then_stop(old)
    await wait([old], is_down, bound([old], start=False))
    group.held.retire(old_listener)
    return SlotResult(new)


async def _settle(wait: Wait, inst: Instance, seconds: float) -> None:
    """Return after `seconds`, or as soon as the instance leaves RUNNING."""
    if seconds > 0:
        await wait([inst], lambda i: i.state != InstanceState.RUNNING, seconds)


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
                failed.append(failure(result.instance, result.failed, result.failed_state))
        if failed:
            break
    return serving, failed
