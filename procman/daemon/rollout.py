"""Rolling reload: replace each slot's process with a new one while the old one serves.

For one slot: start a replacement on the slot's own listener (old and new accept from the
same socket for a moment), wait until it is ready, then stop the old process gracefully.
If the replacement fails (exits, backs off, or misses ready_timeout), it is stopped, the
old process keeps serving, and the rollout stops there.

Readiness through a held socket says nothing about one process (the socket accepts at
once), so unless the type uses `ready: notify`, a replacement must also stay up for
SETTLE = min(min_uptime, 1 s) before it takes over: a command that crashes on start is
caught there instead of replacing a healthy process.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING

from procman.daemon.instance import Instance
from procman.model import DOWN, UP_OR_GAVE_UP, InstanceState

if TYPE_CHECKING:
    from procman.daemon.supervisor import Supervisor

S = InstanceState
SETTLE_CAP = 1.0


@dataclass(slots=True)
class SlotResult:
    instance: Instance  # what serves the slot afterwards
    failed: str | None = None  # why the replacement did not take over


async def replace_slot(sup: Supervisor, old: Instance) -> SlotResult:
    if old.state not in (S.RUNNING, S.STARTING):
        # nothing serving to hand over from: a plain (re)start of the slot
        sup.ensure_listener(old)
        old.start()
        await sup.wait([old], lambda i: i.state in UP_OR_GAVE_UP)
        return SlotResult(old, None if old.state == S.RUNNING else old.reason)
    new = sup.new_instance(old.ptype, old.index)
    new.restarts = old.restarts
    sup.replacements.add(new)
    try:
        new.start()
        await sup.wait([new], lambda i: i.state in UP_OR_GAVE_UP)
        pid = new.pid
        if new.state == S.RUNNING and new.ptype.ready.kind != "notify":
            await _settle(sup, new, min(new.ptype.min_uptime, SETTLE_CAP))
        if new.state != S.RUNNING or new.pid != pid:
            reason = new.reason or f"replacement ended {new.state.value}"
            new.stop()
            await sup.wait([new], lambda i: i.state in DOWN)
            return SlotResult(old, f"{new.id}: {reason}; the old process keeps serving")
        sup.adopt(new)
    finally:
        sup.replacements.discard(new)
    old.stop()
    await sup.wait([old], lambda i: i.state in DOWN)
    return SlotResult(new)


async def _settle(sup: Supervisor, inst: Instance, seconds: float) -> None:
    """Return after `seconds`, or as soon as the instance leaves RUNNING."""
    if seconds <= 0:
        return
    try:
        await asyncio.wait_for(sup.wait([inst], lambda i: i.state != S.RUNNING), seconds)
    except asyncio.TimeoutError:
        pass


async def rolling_reload(
    sup: Supervisor, picked: list[Instance], parallel: int = 1
) -> tuple[list[Instance], list[dict]]:
    """Replace `parallel` slots at a time, in order; stop after the batch where one fails."""
    serving: list[Instance] = []
    failed: list[dict] = []
    for start in range(0, len(picked), max(1, parallel)):
        batch = picked[start : start + max(1, parallel)]
        results = await asyncio.gather(*(replace_slot(sup, inst) for inst in batch))
        for result in results:
            serving.append(result.instance)
            if result.failed:
                inst = result.instance
                failed.append(
                    {
                        "id": str(inst.id),
                        "state": inst.state.value,
                        "reason": result.failed,
                        "exit_code": inst.exit_code,
                    }
                )
        if failed:
            break
    return serving, failed
