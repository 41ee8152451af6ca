"""What keeps 1,000 instances linear: waits that cost O(1) a state change, steering that
re-aims from its own targets when a listener leaves, and the open files limit (raised at
start, a clear refusal where it cannot hold a count)."""

from __future__ import annotations

import asyncio
import errno
import resource
import socket
from typing import Any

import pytest

from procman.daemon import limits, steering
from procman.daemon.waiters import Waiters
from procman.errors import ProcmanError
from tests.unit.test_group import run_cbpf

# -- waits ----------------------------------------------------------------------------------


class Fake:
    def __init__(self) -> None:
        self.up = False


def test_a_wait_over_1000_instances_costs_o1_per_change() -> None:
    async def scenario() -> int:
        waiters = Waiters(asyncio.get_running_loop())
        insts = [Fake() for _ in range(1000)]
        calls = 0

        def done(inst: Any) -> bool:
            nonlocal calls
            calls += 1
            return bool(inst.up)

        task = asyncio.ensure_future(waiters.wait(insts, done))  # type: ignore[arg-type]
        await asyncio.sleep(0)
        for inst in insts:  # they come up one by one, each change re-checks the waits
            inst.up = True
            waiters.check()
        await asyncio.wait_for(task, 1)
        return calls

    calls = asyncio.run(scenario())
    assert calls < 4 * 1000, calls  # O(n²) would be ~500,000


def test_a_wait_ends_only_when_all_hold_at_once() -> None:
    async def scenario() -> None:
        waiters = Waiters(asyncio.get_running_loop())
        a, b, c = Fake(), Fake(), Fake()
        task = asyncio.ensure_future(waiters.wait([a, b, c], lambda i: i.up))  # type: ignore[list-item, attr-defined]
        await asyncio.sleep(0)
        a.up = True
        waiters.check()
        a.up = False  # up, then down again before the others: the wait must not end
        b.up = c.up = True
        waiters.check()
        await asyncio.sleep(0)
        assert not task.done()
        a.up = True
        waiters.check()
        await asyncio.wait_for(task, 1)

    asyncio.run(scenario())


# -- steering when a listener leaves ----------------------------------------------------------


def picks(group: steering.PortGroup, code: Any) -> set[socket.socket]:
    return {group.members[run_cbpf(code, r)] for r in range(256)}


@pytest.mark.parametrize("leaving", [0, 1, 3, 5])
def test_a_leaving_listener_re_aims_the_program_at_the_same_serving_sockets(
    monkeypatch: pytest.MonkeyPatch, leaving: int
) -> None:
    socks = [socket.socket() for _ in range(6)]
    calls: list[int] = []

    def fake_setsockopt(self: socket.socket, level: int, opt: int, value: Any) -> None:
        calls.append(opt)

    monkeypatch.setattr(socket.socket, "setsockopt", fake_setsockopt)
    group = steering.PortGroup()
    try:
        for sock in socks:
            group.add(sock)
        serving = {socks[1], socks[2], socks[5]}
        group.steer(serving)
        group.remove(socks[leaving])  # the kernel moves the last socket into the hole
        assert socks[leaving].fileno() == -1  # remove closes it
        assert group.targets is not None
        assert picks(group, steering.program(group.targets)) == serving - {socks[leaving]}
        count = len(calls)
        group.steer(serving - {socks[leaving]})  # the same set again: no syscall
        assert len(calls) == count
    finally:
        monkeypatch.undo()
        for sock in socks:
            sock.close()


def test_1000_running_slots_with_one_stopped_make_a_small_program() -> None:
    targets = [i for i in range(1000) if i != 500]
    assert len(steering.program(targets)) == 9


# -- the open files limit ---------------------------------------------------------------------


def test_the_soft_limit_is_raised_to_the_hard_one(monkeypatch: pytest.MonkeyPatch) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    low = min(soft, 256)
    resource.setrlimit(resource.RLIMIT_NOFILE, (low, hard))
    monkeypatch.setattr(limits, "_inherited", None)
    monkeypatch.delenv(limits.ENV, raising=False)
    try:
        old, new = limits.raise_soft()
        assert old == low
        assert new == hard or hard == resource.RLIM_INFINITY
        assert limits._inherited == low  # what children get back
        # an updated daemon's new image starts with the raised limit: the variable keeps
        # the one the first image was started with
        monkeypatch.setattr(limits, "_inherited", None)
        limits.raise_soft()
        assert limits._inherited == low
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_a_count_the_limit_cannot_hold_is_refused_naming_the_limit_and_the_fix(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(limits, "limits", lambda: (1024, 1024))
    monkeypatch.setattr(limits, "open_files", lambda: 40)
    limits.check_room([(300, True)])  # 900 more: fits
    with pytest.raises(ProcmanError) as err:
        limits.check_room([(1000, True)])  # 3,000 more: does not
    message = str(err.value)
    assert "RLIMIT_NOFILE" in message and "1024" in message
    assert "about 3000 more" in message and "LimitNOFILE" in message
    assert "ulimit -Hn" in message


def test_emfile_and_enfile_get_their_own_messages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "limits", lambda: (1024, 4096))
    emfile = limits.too_many_files(OSError(errno.EMFILE, "Too many open files"))
    assert emfile is not None and "1024" in emfile and "hard limit is 4096" in emfile
    enfile = limits.too_many_files(OSError(errno.ENFILE, "File table overflow"))
    assert enfile is not None and "fs.file-max" in enfile
    assert limits.too_many_files(OSError(errno.EACCES, "Permission denied")) is None
