"""descendants: /proc/<pid>/stat parsing and whose a process is, without processes."""

from __future__ import annotations

import os
from typing import Any

import pytest

from procman.daemon import descendants
from procman.daemon.descendants import Proc, ProcTree, parse_stat


def stat_line(pid: int, name: str, state: str, ppid: int, pgid: int, start: int) -> bytes:
    fields = [state, ppid, pgid, pgid, 0, -1, 4194560] + [0] * 12 + [start, 0]
    return f"{pid} ({name}) {' '.join(map(str, fields))}\n".encode()


def test_parse_stat_survives_a_name_with_spaces_and_parentheses() -> None:
    proc = parse_stat(7, stat_line(7, "evil) (name x", "S", 3, 5, 12345))
    assert proc is not None
    assert (proc.pid, proc.ppid, proc.pgid, proc.start) == (7, 3, 5, 12345)


def test_a_zombie_is_not_a_live_descendant() -> None:
    assert parse_stat(7, stat_line(7, "sh", "Z", 3, 5, 1)) is None


def test_parse_stat_reads_this_process() -> None:
    with open("/proc/self/stat", "rb") as f:
        proc = parse_stat(os.getpid(), f.read())
    assert proc is not None and proc.ppid == os.getppid() and proc.pgid == os.getpgid(0)


def tree_of(*procs: Proc) -> dict[int, Proc]:
    return {p.pid: p for p in procs}


def make() -> ProcTree:
    calls: list[Any] = []
    tree = ProcTree(lambda delay, cb: calls.append(cb), keep=set())
    tree.me = 1
    tree.leaders = {10: "aa", 20: "bb"}
    return tree


def test_a_descendant_below_its_instance_belongs_to_it() -> None:
    tree = make()
    procs = tree_of(Proc(10, 1, 10, 1), Proc(11, 10, 11, 2), Proc(12, 11, 11, 3))
    assert tree._owner(procs[12], procs, {"aa": 10, "bb": 20}) == 10


def test_an_orphan_is_known_from_an_earlier_walk(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(descendants, "run_token", lambda pid: None)
    tree = make()
    tree.seen[(12, 3)] = 20
    procs = tree_of(Proc(12, 1, 11, 3))  # re-parented to the daemon: no ancestry left
    assert tree._owner(procs[12], procs, {}) == 20
    procs = tree_of(Proc(12, 1, 11, 4))  # the same pid, another process (pid reuse)
    assert tree._owner(procs[12], procs, {}) is None


def test_an_orphan_is_known_by_the_token_it_inherited(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(descendants, "run_token", lambda pid: "bb" if pid == 12 else None)
    tree = make()
    procs = tree_of(Proc(12, 1, 12, 3), Proc(13, 12, 12, 4))
    assert tree._owner(procs[12], procs, {"aa": 10, "bb": 20}) == 20
    # one that wiped its environment is still below one that did not
    assert tree._owner(procs[13], procs, {"aa": 10, "bb": 20}) == 20


def test_the_signals_and_exits_of_one_turn_share_one_walk(monkeypatch: pytest.MonkeyPatch) -> None:
    # a scale from 1,000 to 10 stops 990 instances in one turn: one walk of /proc, not 990
    leaders = {pid: f"t{pid}" for pid in range(100, 1100)}
    procs = tree_of(
        *(Proc(pid + 5000, pid, pid + 5000, 1) for pid in leaders)
    )  # a setsid child each
    walks: list[int] = []

    def walk(root: int) -> dict[int, Proc]:
        walks.append(root)
        return procs

    sent: list[tuple[int, int]] = []
    monkeypatch.setattr(descendants, "subtree", walk)
    monkeypatch.setattr(descendants, "send", lambda pid, sig: sent.append((pid, sig)))
    scheduled: list[Any] = []
    tree = ProcTree(lambda delay, cb: scheduled.append(cb), keep=set())
    tree.leaders = dict(leaders)
    for pid in list(leaders)[10:]:
        tree.signal(pid, 15)
    for pid in list(leaders)[10:]:
        tree.exited(pid)
    assert len(scheduled) == 1 and walks == []
    scheduled.pop()()
    assert len(walks) == 1
    assert sent[:990] == [(pid + 5000, 15) for pid in list(leaders)[10:]]
    assert sent[990:] == [(pid + 5000, 9) for pid in list(leaders)[10:]]
    assert sorted(tree.leaders) == list(leaders)[:10]
    tree.signal(100, 15)  # the next turn walks again
    assert len(scheduled) == 1
