"""One process type at runtime: its definition, its desired count, its slots (index ->
Instance), its autoscaler, and the listeners of its slots. converge() makes the slots match
the count; the supervisor's verbs are calls on groups."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from procman.daemon import limits, policy
from procman.daemon.instance import Instance
from procman.daemon.listeners import HeldSockets, check_ports
from procman.daemon.policy import Scaler
from procman.model import DOWN, UP_OR_GAVE_UP, Formation, InstanceState, ProcessType

NewInstance = Callable[[ProcessType, int], Instance]
Background = Callable[[Coroutine[Any, Any, None]], None]


class Group:
    def __init__(
        self,
        ptype: ProcessType,
        *,
        held: HeldSockets,
        new_instance: NewInstance,
        background: Background,
    ) -> None:
        self.ptype = ptype
        self.held, self._new_instance, self._background = held, new_instance, background
        self.desired = 0
        self.defined = True  # False once a re-read formation no longer has this type
        self.slots: dict[int, Instance] = {}
        self.scaler: Scaler | None = Scaler(ptype.autoscale) if ptype.autoscale else None
        self._steer_due = False

    @property
    def name(self) -> str:
        return self.ptype.name

    def instances(self) -> list[Instance]:
        return [self.slots[i] for i in sorted(self.slots)]

    def redefine(self, ptype: ProcessType) -> None:
        """A re-read formation: new spawns use the new definition. A changed port or socket
        setting closes the old listeners (the next start binds the new ones)."""
        old = self.ptype
        if (old.port, old.socket) != (ptype.port, ptype.socket):
            self.held.close_type(ptype.name)
        self.ptype, self.defined = ptype, True
        for inst in self.slots.values():
            inst.ptype = ptype
        if self.scaler is None or self.scaler.spec != ptype.autoscale:  # same rule: keep it
            manual = self.scaler.manual if self.scaler else False
            self.scaler = Scaler(ptype.autoscale, manual=manual) if ptype.autoscale else None

    # -- the count ------------------------------------------------------------------------

    def converge(self, everyone: bool = True) -> list[Instance]:
        """Start what is missing (every wanted slot that is not up, or with everyone=False
        only those not starting or running), retire the surplus, highest index first.
        Returns the instances touched, for the caller to wait on."""
        touched: list[Instance] = []
        want = self.desired if self.defined else 0
        for index in range(want):
            inst = self.slots.get(index)
            if inst is None:
                inst = self.slots[index] = self._new_instance(self.ptype, index)
            up = inst.state in (InstanceState.STARTING, InstanceState.RUNNING)
            if everyone or not up:
                self.ensure_listener(inst)
                inst.start()
            touched.append(inst)
        for index in sorted((i for i in self.slots if i >= want), reverse=True):
            inst = self.slots[index]
            touched.append(inst)
            if inst.state == InstanceState.STOPPED:
                self.remove(inst)
            else:
                self._background(self.drain_then_stop(inst))
        return touched

    def scale_to(self, count: int) -> list[Instance]:
        self.desired = count
        return self.converge(everyone=False)

    def settled(self, inst: Instance) -> bool:
        """Done for start/scale: a wanted instance is up or gave up, a surplus one is down."""
        if inst.index >= self.desired or not self.defined:
            return inst.state in DOWN and not inst.draining
        return inst.state in UP_OR_GAVE_UP

    def changed(self, inst: Instance, old: InstanceState) -> None:
        """Every state change of one of this group's instances."""
        new = inst.state
        if (old == InstanceState.RUNNING) != (new == InstanceState.RUNNING) and self.ptype.socket:
            self.steer()
        if new == InstanceState.STOPPED and (inst.index >= self.desired or not self.defined):
            self.remove(inst)
        if new == InstanceState.ERRORED and self.all_gave_up():
            # nobody will take what a held listener queues: refuse clients instead of
            # leaving them hanging (start/restart binds the listeners again)
            self.held.close_type(self.name)

    def all_gave_up(self) -> bool:
        wanted = [i for i in self.slots.values() if i.index < self.desired]
        return bool(wanted) and all(i.state == InstanceState.ERRORED for i in wanted)

    # -- slots ----------------------------------------------------------------------------

    def new_instance(self, index: int) -> Instance:
        return self._new_instance(self.ptype, index)

    def adopt(self, inst: Instance) -> Any:
        """A reload's replacement takes over its slot, and its listener becomes the slot's;
        returns the slot's old listener, for the caller to retire once the old process is
        down (it drains it first)."""
        inst.replacement = False
        self.slots[inst.index] = inst
        old = self.held.adopt_spare(inst.id)
        self.steer()
        return old

    def remove(self, inst: Instance) -> None:
        """Forget a scaled-away instance and close its slot's listener."""
        if self.slots.get(inst.index) is not inst:
            return  # a reload's old process: the slot lives on with its replacement
        del self.slots[inst.index]
        self.held.close(inst.id)
        self.steer()

    # -- listeners ------------------------------------------------------------------------

    def ensure_listener(self, inst: Instance) -> None:
        ptype = inst.ptype
        if ptype.socket and ptype.port and self.held.ensure(inst.id, ptype.port):
            self.steer()

    def spare_listener(self, inst: Instance) -> None:
        """A reload's replacement gets a listener of its own, steered around until it takes
        the slot over: no connection reaches it before it is ready."""
        ptype = inst.ptype
        if ptype.socket and ptype.port:
            self.held.spare(inst.id, ptype.port)
            self.steer()

    def discard_spare(self, inst: Instance) -> None:
        self.held.discard_spare(inst.id)
        self.steer()

    def occupied(self, index: int = 0) -> bool:
        """Something of ours has the port of instance `index`: a held listener or a live
        instance of the type (with Foreman's per-instance ports: that slot's instance)."""
        if self.ptype.instance_ports and not self.ptype.socket:
            inst = self.slots.get(index)
            return inst is not None and inst.live
        return self.held.holds(self.name) or any(i.live for i in self.slots.values())

    def queued(self) -> int | None:
        """Connections waiting in the accept queues of this type's held listeners (None when
        it holds none): the autoscale `queue` figure."""
        waiting = [self.held.queued(i.id) for i in self.slots.values()]
        known = [n for n in waiting if n is not None]
        return sum(known) if known else None

    def steer(self, now: bool = False) -> None:
        """Aim the port's listeners at the slots whose instance is running. Batched: the
        changes of one turn of the event loop (a start of 1,000 flips 1,000 slots) make one
        steer at its end, not one each; `now` for a caller that cannot wait for it. A
        listener leaving the group re-aims it at once by itself (steering.PortGroup)."""
        if now:
            self._steer_due = False
            self.held.steer(self.ptype.port, self.slots.values())
            return
        if self._steer_due:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop (a unit test's direct call): at once
            self.steer(now=True)
            return
        self._steer_due = True
        loop.call_soon(self._steer_if_due)

    def _steer_if_due(self) -> None:
        if self._steer_due:
            self.steer(now=True)

    async def drain_then_stop(self, inst: Instance) -> None:
        """Stop an instance without resetting connections queued on its listener: steer new
        connections to the other running slots and let it accept its queue first (its
        listener closes once it is down, if the slot is scaled away)."""
        await self.held.drain(inst, self.steer)
        # stop first, then clear `draining`: in between, a steer would hand the slot
        # new connections again, to be reset when its listener closes
        inst.stop()
        inst.draining = False

    async def stop(self, insts: list[Instance]) -> None:
        """Drain and stop these, highest index first."""
        await asyncio.gather(
            *(self.drain_then_stop(i) for i in sorted(insts, key=lambda i: -i.index))
        )

    # -- what status says of the type -----------------------------------------------------

    def summary(self) -> dict[str, Any]:
        scaler = self.scaler
        return {
            "name": self.name,
            "desired": self.desired,
            "running": sum(1 for i in self.slots.values() if i.state == InstanceState.RUNNING),
            "watch": list(self.ptype.watch),
            "cron_restart": self.ptype.cron_restart,
            "autoscale": None if scaler is None else scaler.report(),
        }


def regroup(
    groups: dict[str, Group], formation: Formation, new_group: Callable[[ProcessType], Group]
) -> dict[str, Group]:
    """The groups for a (re-read) formation, in its order: existing ones redefined, new
    ones made, and those of types gone from the file retired (count 0) at the end."""
    for ptype in formation.types:
        group = groups.get(ptype.name)
        if group is None:
            groups[ptype.name] = new_group(ptype)
        else:
            group.redefine(ptype)
    order = {name: pos for pos, name in enumerate(formation.names)}
    for name, group in groups.items():
        if name not in order:
            group.defined, group.desired = False, 0
    return dict(sorted(groups.items(), key=lambda item: order.get(item[0], len(order))))


def scale_decisions(
    groups: dict[str, Group], rows: list[dict[str, Any]], now: float, wall: float
) -> list[policy.ScaleDecision]:
    """This sample's autoscale decisions (policy.py decides; the caller applies them)."""
    auto = {name: g for name, g in groups.items() if g.scaler is not None}
    return policy.scale_decisions(
        {name: g.scaler for name, g in auto.items() if g.scaler is not None},
        rows,
        {name: g.desired for name, g in auto.items()},
        {name: g.queued() for name, g in auto.items()},
        now,
        wall,
    )


def preflight(
    groups: dict[str, Group], formation: Formation, counts: dict[str, int], host: str, own: set[int]
) -> None:
    """Before a verb changes anything: every port it needs is free (listeners.check_ports)
    and the open files limit has room for the instances it adds (limits.check_room)."""
    adding = []
    for ptype in formation.types:
        group, want = groups.get(ptype.name), counts.get(ptype.name, 0)
        ours = group.occupied if group is not None else (lambda index: False)
        check_ports(ptype, want, host, own, ours)
        up = sum(1 for i in group.slots.values() if i.live) if group is not None else 0
        adding.append((want - up, bool(ptype.socket and ptype.port)))
    limits.check_room((n, socket) for n, socket in adding if n > 0)
