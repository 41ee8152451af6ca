"""waiters: every wait is bounded, a shutdown releases them, bound() adds what must stop."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from procman.daemon.listeners import DRAIN_MAX
from procman.daemon.report import late_reason, outcome
from procman.daemon.waiters import GRACE, Waiters, bound
from procman.model import InstanceId, InstanceState, ProcessType


class Fake:
    def __init__(self, state: InstanceState = InstanceState.STARTING, **kw: Any) -> None:
        self.ptype = ProcessType(name="web", cmd="x", **kw)
        self.id = InstanceId("web", 0)
        self.index = 0
        self.state = state
        self.reason: str | None = None
        self.pid: int | None = 101
        self.exit_code: int | None = None
        self.restarts = 0
        self.status_text = None
        self.port_conflict = None

    def uptime(self) -> float | None:
        return 1.0


def test_bound_is_ready_timeout_plus_what_must_stop() -> None:
    fast = Fake(ready_timeout=2, kill_timeout=1)
    slow = Fake(ready_timeout=30, kill_timeout=5)
    assert bound([fast], stop=False) == 2 + GRACE
    assert bound([fast], start=False) == DRAIN_MAX + 1 + GRACE
    assert bound([fast, slow]) == 30 + DRAIN_MAX + 5 + GRACE
    assert bound([]) == GRACE


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_a_wait_returns_when_done() -> None:
    async def main() -> bool:
        waiters = Waiters(asyncio.get_running_loop())
        inst = Fake()
        task = asyncio.ensure_future(waiters.wait([inst], lambda i: i.state == "running", 5))  # type: ignore[list-item]
        await asyncio.sleep(0)
        inst.state = InstanceState.RUNNING
        waiters.check()
        return await task

    assert run(main()) is True


def test_a_wait_ends_at_its_timeout_with_false() -> None:
    async def main() -> tuple[bool, float]:
        loop = asyncio.get_running_loop()
        waiters = Waiters(loop)
        began = loop.time()
        done = await waiters.wait([Fake()], lambda i: False, 0.02)  # type: ignore[list-item]
        return done, loop.time() - began

    done, took = run(main())
    assert done is False and 0.015 < took < 1


def test_release_ends_every_open_wait() -> None:
    async def main() -> list[bool]:
        waiters = Waiters(asyncio.get_running_loop())
        tasks = [
            asyncio.ensure_future(waiters.wait([Fake()], lambda i: False, None))  # type: ignore[list-item]
            for _ in range(3)
        ]
        await asyncio.sleep(0)
        waiters.release()
        return list(await asyncio.gather(*tasks))

    assert run(main()) == [False, False, False]


@pytest.mark.parametrize(
    ("state", "reason", "text"),
    [
        (InstanceState.STARTING, None, "not ready after 5.5s"),
        (
            InstanceState.STARTING,
            "exited with code 1",
            "not ready after 5.5s (last exit: exited with code 1)",
        ),
        (InstanceState.STOPPING, None, "still stopping after 5.5s"),
    ],
)
def test_late_reasons(state: InstanceState, reason: str | None, text: str) -> None:
    inst = Fake(state)
    inst.reason = reason
    assert late_reason(inst, 5.5) == text  # type: ignore[arg-type]


def test_an_outcome_names_the_late_and_the_failed_once() -> None:
    late, errored, fine = Fake(), Fake(InstanceState.ERRORED), Fake(InstanceState.RUNNING)
    errored.reason = "gave up"
    result = outcome([late, errored, fine], [], late=[(late, 3.0)])  # type: ignore[list-item]
    assert not result["ok"]
    assert [(f["state"], f["reason"]) for f in result["failed"]] == [
        ("starting", "not ready after 3s"),
        ("errored", "gave up"),
    ]
    closing = outcome([late], [], late=[(late, 3.0)], closing=True)  # type: ignore[list-item]
    assert closing["failed"][0]["reason"] == "stopped: the daemon is shutting down"
