"""HeldSockets: a replacement's spare listener is steered around until it takes the slot;
the slot's old listener drains, then retires. Real listening sockets on 127.0.0.1 (no
processes), the kernel's reuseport group mirrored in PortGroup."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from procman.daemon.listeners import HeldSockets, bind_listener
from procman.model import InstanceId, InstanceState


class Inst:
    def __init__(self, index: int, state: InstanceState = InstanceState.RUNNING) -> None:
        self.id = InstanceId("web", index)
        self.state = state
        self.draining = False
        self.replacement = False
        self.listener: socket.socket | None = None


@pytest.fixture
def held() -> Iterator[HeldSockets]:
    sockets = HeldSockets("127.0.0.1")
    yield sockets
    sockets.close_all()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_spare_is_never_steered_to_until_it_is_adopted(held: HeldSockets) -> None:
    port = free_port()
    one, two = Inst(0), Inst(1)
    for inst in (one, two):
        held.ensure(inst.id, port)
        inst.listener = held.get(inst.id)
    held.steer(port, [one, two])
    group = held.groups[port]
    assert not group.attached  # everyone serves: the kernel's hash decides
    new = Inst(0, InstanceState.STARTING)
    new.replacement = True
    held.spare(new.id, port)
    new.listener = held.for_spawn(new)
    assert new.listener is not one.listener and len(group.members) == 3
    held.steer(port, [one, two, new])
    assert group.attached  # the spare is left out
    new.state = InstanceState.RUNNING
    held.steer(port, [one, two, new])
    assert group.attached  # ready, but still a replacement: not yet
    old_listener = held.adopt_spare(new.id)
    assert old_listener is one.listener and held.get(new.id) is new.listener
    new.replacement = False
    held.steer(port, [new, two])  # the slot's instance is now `new`
    assert group.attached  # the old listener drains: left out
    held.retire(old_listener)
    assert old_listener is not None and old_listener.fileno() == -1
    assert len(group.members) == 2
    held.steer(port, [new, two])
    assert not group.attached


def test_a_failed_spare_closes_and_the_slot_keeps_its_listener(held: HeldSockets) -> None:
    port = free_port()
    one = Inst(0)
    held.ensure(one.id, port)
    one.listener = held.get(one.id)
    held.spare(one.id, port)
    spare = held.spares[one.id]
    held.discard_spare(one.id)
    assert spare.fileno() == -1 and held.get(one.id) is one.listener
    assert held.groups[port].members == [one.listener]


def test_with_nothing_serving_connections_go_to_the_slots_never_to_a_spare(
    held: HeldSockets,
) -> None:
    port = free_port()
    one = Inst(0, InstanceState.BACKOFF)
    held.ensure(one.id, port)
    one.listener = held.get(one.id)
    held.spare(one.id, port)
    held.steer(port, [one])
    assert held.groups[port].attached  # to the slot's listener, where they wait


def test_close_all_closes_spares_too(held: HeldSockets) -> None:
    port = free_port()
    one = Inst(0)
    held.ensure(one.id, port)
    held.spare(one.id, port)
    socks = [held.socks[one.id], held.spares[one.id]]
    held.close_all()
    assert all(s.fileno() == -1 for s in socks) and held.groups == {}


def accepted(sock: socket.socket) -> int:
    """Connections waiting in a listener's queue (accepted and closed here)."""
    sock.setblocking(False)
    count = 0
    while True:
        try:
            conn, _ = sock.accept()
        except BlockingIOError:
            return count
        conn.close()
        count += 1


@pytest.mark.parametrize("admit", [True, False])
def test_a_joining_listener_gets_nothing_before_it_is_steered(
    held: HeldSockets, admit: bool
) -> None:
    """The window between a new listener's listen() and the next steer(): without admit()
    the kernel's hash gave it its share (how a reload's replacement once answered a request
    before it was ready)."""
    port = free_port()
    one, two = Inst(0), Inst(1)
    for inst in (one, two):
        held.ensure(inst.id, port)
        inst.listener = held.get(inst.id)
    held.steer(port, [one, two])  # both serve: no program, the kernel's hash
    group = held.groups[port]
    joining = bind_listener("127.0.0.1", port, group.admit if admit else lambda: None)
    group.add(joining)
    clients = []
    try:
        for _ in range(60):
            client = socket.create_connection(("127.0.0.1", port))
            clients.append(client)
        counts = [accepted(s) for s in (one.listener, two.listener, joining)]
    finally:
        for client in clients:
            client.close()
        group.remove(joining)
        joining.close()
    assert sum(counts) == 60
    if admit:
        assert counts[2] == 0, counts
    else:
        assert counts[2] > 0, counts  # 1 in 3 each time: none in 60 is a 1e-10 chance
