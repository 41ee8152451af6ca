"""refresh.Refresher: reload a held-socket type, restart any other, one at a time per type
(asks while one runs fold into one more), stopped types left alone; on a real loop with
stand-in groups and verbs."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from procman.daemon.refresh import Refresher
from procman.errors import ProcmanError
from procman.model import InstanceState, ProcessType


class Inst:
    def __init__(self, state: InstanceState) -> None:
        self.state = state


class FakeGroup:
    def __init__(self, ptype: ProcessType, *states: InstanceState) -> None:
        self.ptype = ptype
        self.insts = [Inst(s) for s in states]

    def instances(self) -> list[Inst]:
        return self.insts


GROUPS = {
    "web": FakeGroup(ProcessType("web", "x", port=8000, socket=True), InstanceState.RUNNING),
    "worker": FakeGroup(ProcessType("worker", "y"), InstanceState.ERRORED),
    "off": FakeGroup(ProcessType("off", "z"), InstanceState.STOPPED),
    "broken": FakeGroup(ProcessType("broken", "z"), InstanceState.RUNNING),
}


def scenario(asks: list[tuple[str, str]]) -> tuple[list[str], list[str]]:
    calls: list[str] = []
    said: list[str] = []

    async def main() -> None:
        gate = asyncio.Event()
        tasks: set[asyncio.Task[None]] = set()

        async def verb(kind: str, name: str) -> dict[str, Any]:
            calls.append(f"{kind} {name}")
            if name == "broken":
                raise ProcmanError("procman.yaml:3: invalid YAML")
            await gate.wait()
            failed = [{"id": "web.2", "state": "running", "reason": "x: crashed"}]
            return {"ok": name != "web", "failed": failed if name == "web" else []}

        def background(coro: Coroutine[Any, Any, None]) -> None:
            tasks.add(asyncio.get_running_loop().create_task(coro))

        refresher = Refresher(
            GROUPS.get,  # type: ignore[arg-type]
            reload=lambda name: verb("reload", name),
            restart=lambda name: verb("restart", name),
            say=said.append,
            background=background,
        )
        for name, why in asks:
            refresher.request(name, why)
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        gate.set()
        while any(not t.done() for t in tasks):
            await asyncio.wait(tasks)

    asyncio.run(main())
    return calls, said


def test_held_socket_reloads_others_restart_asks_fold_into_one_more() -> None:
    calls, said = scenario(
        [("web", "watch: a.py changed"), ("web", "watch: b.py changed"),
         ("web", "watch: c.py changed"), ("worker", "cron '0 3 * * *'")]
    )  # fmt: skip
    assert calls == ["reload web", "restart worker", "reload web"]
    assert said[:2] == ["watch: a.py changed; reloading web", "cron '0 3 * * *'; restarting worker"]
    assert "reload of web: web.2 running: x: crashed" in said
    assert "watch: c.py changed; reloading web" in said  # the last ask is the one run again
    assert "watch: b.py changed; reloading web" not in said


def test_stopped_types_stay_and_errors_are_said() -> None:
    calls, said = scenario([("off", "watch: x"), ("gone", "watch: y"), ("broken", "watch: z")])
    assert calls == ["restart broken"]
    assert said == [
        "watch: x; off is stopped, so it stays as it is",
        "watch: y; gone is no longer in the formation",
        "watch: z; restarting broken",
        "restart of broken failed: procman.yaml:3: invalid YAML",
    ]
