"""Group, rollout and steering at their seams: fake processes, a real event loop, no children.

The fake spawner hands out pids and turns signals into exits on the next loop turn, the way
the reaper would report them; readiness is marked by the test (or at once with `ready_at`).
"""

from __future__ import annotations

import asyncio
import itertools
import signal
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from procman.daemon import steering
from procman.daemon.group import Group, regroup
from procman.daemon.instance import Instance
from procman.daemon.listeners import HeldSockets
from procman.daemon.rollout import rolling_reload
from procman.daemon.waiters import Waiters
from procman.model import Formation, InstanceState, ProcessType, ReadyCheck

RUNNING, STOPPED = InstanceState.RUNNING, InstanceState.STOPPED


class Processes:
    """A Spawner whose processes are ready at once (unless told to fail) and exit on a signal."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.pids = itertools.count(1000)
        self.spawned: list[str] = []  # instance ids in spawn order
        self.signalled: list[tuple[str, int]] = []
        self.by_pid: dict[int, Instance] = {}
        self.fail_next: list[bool] = []  # True: the next spawn exits with code 1 before ready

    def spawn(self, inst: Instance) -> int:
        pid = next(self.pids)
        self.spawned.append(str(inst.id))
        self.by_pid[pid] = inst
        fails = self.fail_next.pop(0) if self.fail_next else False
        if fails:
            self.loop.call_soon(inst.exited, pid, 1)
        else:
            self.loop.call_soon(inst.mark_ready, pid)
        return pid

    def kill_group(self, pid: int, sig: int) -> None:
        inst = self.by_pid.get(pid)
        if inst is None or sig == signal.SIGKILL and inst.pid != pid:
            return
        self.signalled.append((str(inst.id), sig))
        if sig in (signal.SIGTERM, signal.SIGKILL) and inst.pid == pid:
            self.loop.call_soon(inst.exited, pid, -sig)


class Rig:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.procs = Processes(loop)
        self.waiters = Waiters(loop)
        self.held = HeldSockets("127.0.0.1")
        self.groups: dict[str, Group] = {}
        self.tasks: list[asyncio.Task[None]] = []

    def new_instance(self, ptype: ProcessType, index: int) -> Instance:
        def changed(inst: Instance, old: InstanceState) -> None:
            self.groups[inst.id.type].changed(inst, old)
            self.waiters.check()

        return Instance(
            ptype, index, spawner=self.procs, timers=self.loop, clock=self.loop.time,
            on_change=changed,
        )  # fmt: skip

    def group(self, name: str = "web", **kwargs: Any) -> Group:
        kwargs.setdefault("min_uptime", 0.0)
        ptype = ProcessType(name=name, cmd="server", **kwargs)
        group = Group(
            ptype, held=self.held, new_instance=self.new_instance, background=self.background
        )
        self.groups[name] = group
        return group

    def background(self, coro: Any) -> None:
        self.tasks.append(self.loop.create_task(coro))

    async def settle(self, insts: list[Instance], group: Group) -> None:
        await asyncio.wait_for(self.waiters.wait(insts, group.settled), 2)
        await asyncio.gather(*self.tasks)


@pytest.fixture
def rig() -> Iterator[Rig]:
    loop = asyncio.new_event_loop()
    made = Rig(loop)
    try:
        yield made
    finally:
        made.held.close_all()
        loop.close()


def run(rig: Rig, coro: Any) -> Any:
    return rig.loop.run_until_complete(asyncio.wait_for(coro, 5))


# -- converge -------------------------------------------------------------------------------


def test_converge_starts_slots_in_index_order(rig: Rig) -> None:
    web = rig.group()
    web.desired = 3
    touched = web.converge()
    run(rig, rig.settle(touched, web))
    assert rig.procs.spawned == ["web.1", "web.2", "web.3"]
    assert [i.state for i in web.instances()] == [RUNNING] * 3


def test_scale_down_stops_the_highest_index_first_and_forgets_the_slots(rig: Rig) -> None:
    web = rig.group()
    web.desired = 4
    run(rig, rig.settle(web.converge(), web))
    touched = web.scale_to(1)
    run(rig, rig.settle(touched, web))
    terms = [ident for ident, sig in rig.procs.signalled if sig == signal.SIGTERM]
    assert terms == ["web.4", "web.3", "web.2"]
    assert sorted(web.slots) == [0]


def test_scale_up_leaves_running_instances_alone(rig: Rig) -> None:
    web = rig.group()
    web.desired = 2
    run(rig, rig.settle(web.converge(), web))
    first = [i.pid for i in web.instances()]
    run(rig, rig.settle(web.scale_to(3), web))
    assert [i.pid for i in web.instances()][:2] == first
    assert rig.procs.spawned == ["web.1", "web.2", "web.3"]


def test_a_surplus_slot_is_settled_only_once_down(rig: Rig) -> None:
    web = rig.group()
    web.desired = 2
    run(rig, rig.settle(web.converge(), web))
    second = web.slots[1]
    web.desired = 1
    assert not web.settled(second)  # still running, and it is surplus now
    assert web.settled(web.slots[0])


def test_group_stop_goes_from_the_highest_index_down(rig: Rig) -> None:
    web = rig.group()
    web.desired = 3
    run(rig, rig.settle(web.converge(), web))
    run(rig, web.stop(web.instances()))
    terms = [ident for ident, sig in rig.procs.signalled if sig == signal.SIGTERM]
    assert terms == ["web.3", "web.2", "web.1"]


def test_regroup_keeps_file_order_and_retires_types_gone_from_the_file(rig: Rig) -> None:
    web, worker = rig.group("web"), rig.group("worker")
    web.desired = worker.desired = 1
    formation = Formation(
        root=Path("/"),
        types=(ProcessType(name="clock", cmd="c"), ProcessType(name="web", cmd="w2")),
    )
    groups = regroup(rig.groups, formation, lambda p: rig.group(p.name))
    assert list(groups) == ["clock", "web", "worker"]
    assert groups["web"] is web and web.ptype.cmd == "w2" and web.defined
    assert not worker.defined and worker.desired == 0


# -- rolling reload -------------------------------------------------------------------------


def test_reload_replaces_slots_in_order_one_batch_at_a_time(rig: Rig) -> None:
    web = rig.group()
    web.desired = 4
    run(rig, rig.settle(web.converge(), web))
    old = {i.index: i.pid for i in web.instances()}
    rig.procs.spawned.clear()
    serving, failed = run(rig, rolling_reload(rig.groups, web.instances(), rig.waiters.wait, 2))
    assert failed == []
    assert rig.procs.spawned == ["web.1", "web.2", "web.3", "web.4"]
    assert all(i.pid != old[i.index] and i.state == RUNNING for i in web.instances())
    assert [i.index for i in serving] == [0, 1, 2, 3]
    # each old process was stopped only after its replacement was up
    assert [ident for ident, sig in rig.procs.signalled if sig == signal.SIGTERM] == [
        "web.1",
        "web.2",
        "web.3",
        "web.4",
    ]


def test_a_failing_replacement_stops_the_rollout_and_the_old_process_keeps_serving(
    rig: Rig,
) -> None:
    # early exits count (min_uptime), and notify readiness needs no settle period
    web = rig.group(max_restarts=1, min_uptime=5.0, ready=ReadyCheck("notify"))
    web.desired = 3
    run(rig, rig.settle(web.converge(), web))
    old = [i.pid for i in web.instances()]
    rig.procs.spawned.clear()
    rig.procs.fail_next = [False, True]  # web.1's replacement comes up, web.2's exits
    serving, failed = run(rig, rolling_reload(rig.groups, web.instances(), rig.waiters.wait))
    assert rig.procs.spawned == ["web.1", "web.2"]  # web.3 was never touched
    assert [f["id"] for f in failed] == ["web.2"]
    assert "the old process keeps serving" in failed[0]["reason"]
    pids = [i.pid for i in web.instances()]
    assert pids[0] != old[0] and pids[1:] == old[1:]
    assert all(i.state == RUNNING for i in web.instances())
    assert [i.index for i in serving] == [0, 1]


# -- steering -------------------------------------------------------------------------------


def run_cbpf(code: Any, random: int) -> int:
    """A classic BPF interpreter for the few opcodes steering uses."""
    acc, pc = 0, 0
    while True:
        insn = code[pc]
        if insn.code == steering._LD_W_ABS and insn.k == steering._SKF_AD_RANDOM:
            acc = random
        elif insn.code == steering._ALU_MOD_K:
            acc %= insn.k
        elif insn.code == steering._JEQ_K:
            pc += insn.jt if acc == insn.k else insn.jf
        elif insn.code == steering._RET_K:
            return int(insn.k)
        else:
            raise AssertionError(f"unexpected opcode {insn.code:#x}")
        pc += 1


@pytest.mark.parametrize("targets", [[0], [2], [0, 3], [1, 2, 4], [5, 0, 7, 2]])
def test_the_steering_program_picks_only_the_targets_and_each_of_them(
    targets: list[int],
) -> None:
    code = steering.program(targets)
    picked = [run_cbpf(code, r) for r in range(64)]
    assert set(picked) == set(targets)
    # an even spread for an evenly spread random value
    assert all(picked.count(t) == 64 // len(targets) for t in targets if 64 % len(targets) == 0)


def listeners(count: int) -> list[socket.socket]:
    socks = []
    for _ in range(count):
        sock = socket.socket()
        socks.append(sock)
    return socks


def test_the_port_group_mirrors_the_kernels_order_when_a_member_leaves() -> None:
    group = steering.PortGroup()
    socks = listeners(4)
    try:
        for sock in socks:
            group.add(sock)
        group.remove(socks[1])  # the kernel moves the last socket into the hole
        assert group.members == [socks[0], socks[3], socks[2]]
        group.remove(socks[2])
        assert group.members == [socks[0], socks[3]]
    finally:
        for sock in socks:
            sock.close()


def test_steering_attaches_for_some_and_detaches_for_all_or_none(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    group = steering.PortGroup()
    socks = listeners(3)
    try:
        for sock in socks:
            group.add(sock)
        seen: list[int] = []

        def fake_setsockopt(self: socket.socket, level: int, opt: int, value: Any) -> None:
            seen.append(opt)

        monkeypatch.setattr(socket.socket, "setsockopt", fake_setsockopt)
        group.steer({socks[0], socks[2]})
        assert seen == [steering.SO_ATTACH_REUSEPORT_CBPF] and group.attached
        group.steer(set(socks))
        assert seen[-1] == steering.SO_DETACH_REUSEPORT_BPF and not group.attached
        group.steer(set())  # nothing serving: leave the kernel's hash (queues wait)
        assert len(seen) == 2
    finally:
        monkeypatch.undo()
        for sock in socks:
            sock.close()
