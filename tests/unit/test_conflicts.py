"""A port that cannot be bound: the error line, the port, the holder and the fix, from facts
handed in (no sockets, no processes: psutil's answer is faked)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from procman.daemon import conflicts
from procman.daemon.group import Group
from procman.daemon.instance import Instance
from procman.model import InstanceId, InstanceState, ProcessType, ReadyCheck

NODE = """Error: listen EADDRINUSE: address already in use 0.0.0.0:8000
    at Server.setupListenHandle [as _listen2] (node:net:1908:16)
  code: 'EADDRINUSE',
  port: 8000
}""".splitlines()


UVICORN = (
    "ERROR: [Errno 98] error while attempting to bind on address ('0.0.0.0', 8000): "
    "address already in use"
)
GUNICORN = "[ERROR] connection to ('0.0.0.0', 5000) failed: [Errno 98] Address already in use"
GO = "listen tcp :8080: bind: address already in use"


@pytest.mark.parametrize(
    ("lines", "line"),
    [
        (NODE, "Error: listen EADDRINUSE: address already in use 0.0.0.0:8000"),
        (["[ERROR] Connection in use: ('0.0.0.0', 5000)", GUNICORN, "Retrying in 1 second."],
         GUNICORN),
        ([UVICORN], UVICORN),
        ([GO], GO),
        (["puma: Errno::EADDRINUSE"], "puma: Errno::EADDRINUSE"),
        (["all fine", "exited"], None),
    ],
)  # fmt: skip
def test_the_line_that_says_the_address_is_in_use(lines: list[str], line: str | None) -> None:
    assert conflicts.bind_error(lines) == line


def test_the_port_from_the_env_the_type_or_the_line() -> None:
    plain, ported = ProcessType("web", "x"), ProcessType("web", "x", port=7000)
    assert conflicts.port_of("5001", ported, NODE[0]) == 5001
    assert conflicts.port_of(None, ported, NODE[0]) == 7000
    assert conflicts.port_of(None, plain, NODE[0]) == 8000
    assert conflicts.port_of(None, plain, "bind on address ('0.0.0.0', 8001): in use") == 8001
    assert conflicts.port_of(None, plain, "address already in use") is None


class FakeSock:
    def __init__(self, port: int) -> None:
        self.port = port

    def getsockname(self) -> tuple[str, int]:
        return ("0.0.0.0", self.port)


@dataclass
class FakeHeld:
    socks: dict[InstanceId, Any] = field(default_factory=dict)
    closed: list[str] = field(default_factory=list)

    def close_type(self, name: str) -> None:
        self.closed.append(name)
        self.socks = {i: s for i, s in self.socks.items() if i.type != name}

    def holds(self, name: str) -> bool:
        return any(i.type == name for i in self.socks)

    def ensure(self, iid: InstanceId, port: int) -> bool:
        if iid in self.socks:
            return False
        self.socks[iid] = FakeSock(port)
        return True

    def steer(self, port: Any, insts: Any) -> None:
        pass


class NoSpawner:
    pid = 100

    def spawn(self, inst: Instance) -> int:
        NoSpawner.pid += 1
        return NoSpawner.pid

    def kill_group(self, pid: int, sig: int) -> None:
        pass


class NoTimers:
    def call_later(self, delay: float, callback: Any) -> Any:
        class Handle:
            def cancel(self) -> None:
                pass

        return Handle()


def instance(index: int = 0, **kwargs: Any) -> Instance:
    ptype = ProcessType("web", "node app.js", **kwargs)
    return Instance(ptype, index, spawner=NoSpawner(), timers=NoTimers(), clock=lambda: 0.0)


def diagnose(monkeypatch: pytest.MonkeyPatch, pids: list[int | None], **kw: Any) -> dict:
    monkeypatch.setattr(conflicts, "listening_pids", lambda port: pids)
    monkeypatch.setattr(conflicts, "process_name", lambda pid: "nc -l 8000")
    held, owner = kw.get("held", FakeHeld()), kw.get("owner", lambda pid: None)
    return conflicts.diagnose(kw.get("inst", instance()), NODE[0], 8000, held, owner)  # type: ignore[arg-type]


def test_held_by_procman(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    held = FakeHeld({InstanceId("web", 0): FakeSock(8000), InstanceId("api", 0): FakeSock(9)})
    found = diagnose(monkeypatch, [os.getpid()], held=held)
    assert (
        found["kind"] == "procman" and found["holder"] == "procman's own listener (held for web.1)"
    )
    assert "fd 3" in found["fix"] and "socket: false" in found["fix"] and found["port"] == 8000
    assert conflicts.describe(found).startswith("port 8000 is held by procman's own listener")


def test_held_by_a_sibling(monkeypatch: pytest.MonkeyPatch) -> None:
    me, sibling = instance(1), instance(0)
    found = diagnose(
        monkeypatch, [4242], inst=me, owner=lambda pid: sibling if pid == 4242 else None
    )
    assert found["kind"] == "sibling" and found["holder"] == "web.1 (pid 4242)"
    assert "--share web" in found["fix"] and found["holder_pid"] == 4242


@pytest.mark.parametrize(
    ("pids", "kind", "holder"),
    [([777], "other", "pid 777 (nc -l 8000)"), ([None], "other", "another user's process"),
     ([], "gone", "nothing now (whatever held it has gone)")],
)  # fmt: skip
def test_held_by_another_program_or_nobody(
    monkeypatch: pytest.MonkeyPatch, pids: list[int | None], kind: str, holder: str
) -> None:
    found = diagnose(monkeypatch, pids)
    assert (found["kind"], found["holder"]) == (kind, holder)
    assert "{type}" not in found["fix"]


def test_what_counts_as_an_early_exit() -> None:
    inst = instance(min_uptime=5.0)
    inst.start()
    assert inst.state == InstanceState.STARTING and conflicts.early(inst)
    inst.mark_ready(inst.pid)  # type: ignore[arg-type]
    assert conflicts.early(inst)  # up 0 s of its min_uptime
    inst.stop()
    assert not conflicts.early(inst)  # a stop we asked for


def test_only_held_sockets_whose_readiness_says_nothing_settle() -> None:
    def cap(**kw: Any) -> float:
        return conflicts.settle_cap(ProcessType("web", "x", min_uptime=3.0, **kw))

    assert cap(port=80, socket=True, ready=ReadyCheck("port")) == 3.0
    assert cap(port=80, socket=True, ready=ReadyCheck("none")) == 3.0
    assert cap(port=80, socket=True, ready=ReadyCheck("notify")) == 0.0
    assert cap(port=80, socket=True, ready=ReadyCheck("http", "/")) == 0.0
    assert cap(port=80, socket=False, ready=ReadyCheck("port")) == 0.0
    assert cap() == 0.0


def test_a_group_whose_every_instance_gave_up_closes_its_listeners() -> None:
    held = FakeHeld()
    ptype = ProcessType("web", "x", port=8000, socket=True, max_restarts=1)
    group = Group(
        ptype,
        held=held,  # type: ignore[arg-type]
        new_instance=lambda p, i: Instance(
            p, i, spawner=NoSpawner(), timers=NoTimers(), clock=lambda: 0.0,
            on_change=lambda inst, old: group.changed(inst, old),
        ),
        background=lambda coro: coro.close(),
    )  # fmt: skip
    group.desired = 2
    first, second = group.converge()
    assert len(held.socks) == 2
    first.exited(first.pid, 1)  # type: ignore[arg-type]
    assert first.state == InstanceState.ERRORED and held.closed == []
    second.exited(second.pid, 1)  # type: ignore[arg-type]
    assert second.state == InstanceState.ERRORED and held.closed == ["web"] and not held.socks
    group.converge()  # the next start binds them again
    assert len(held.socks) == 2
