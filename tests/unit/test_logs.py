"""LogHub on real pipes and a real event loop (no child processes)."""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import re
import select
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from procman.daemon import logs
from procman.daemon.logs import MAX_PARTIAL, SUBSCRIBER_QUEUE, LogHub, Subscriber

LINE_RE = re.compile(
    r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d) ([A-Za-z0-9_-]+\.\d+) \| (.*)"
)


class Rig:
    """A loop, a hub in tmp_path and the write ends of the pipes attached to it."""

    def __init__(self, tmp_path: Path) -> None:
        self.loop = asyncio.new_event_loop()
        self.errors: list[dict[str, Any]] = []
        self.loop.set_exception_handler(lambda loop, context: self.errors.append(context))
        self.logs_dir = tmp_path / "logs"
        self.sunk: list[tuple[float, str, bytes]] = []
        self.hub = LogHub(self.loop, self.logs_dir)
        self.writers: dict[str, int] = {}  # label -> write end
        self.readers: dict[str, int] = {}  # label -> read end (the hub owns it)

    def pipe(self, label: str) -> int:
        """Attach a new pipe for `label` (web.1 -> type web); return its read end."""
        read_fd, write_fd = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)  # as spawn_process makes it
        self.writers[label] = write_fd
        self.readers[label] = read_fd
        self.hub.attach(read_fd, label.rpartition(".")[0], label)
        return read_fd

    def write(self, label: str, data: bytes) -> None:
        """Write all of data (waiting on the loop while the pipe is full)."""
        fd = self.writers[label]

        async def write_all() -> None:
            view = memoryview(data)
            while view:
                try:
                    view = view[os.write(fd, view) :]
                except BlockingIOError:
                    await asyncio.sleep(0.001)

        self.loop.run_until_complete(write_all())

    def close_writer(self, label: str) -> None:
        os.close(self.writers.pop(label))

    def wait_for(self, cond: Callable[[], object], timeout: float = 2.0) -> None:
        async def poll() -> None:
            deadline = time.monotonic() + timeout
            while not cond():
                if time.monotonic() > deadline:
                    raise AssertionError(f"timed out after {timeout}s waiting for {cond}")
                await asyncio.sleep(0.001)

        self.loop.run_until_complete(poll())

    def drained(self, label: str) -> None:
        """Wait until the hub has read everything written to label's pipe so far."""
        fd = self.readers[label]
        self.wait_for(lambda: not select.select([fd], [], [], 0)[0])

    def file(self, type_name: str) -> list[tuple[str, str, str]]:
        path = self.logs_dir / f"{type_name}.log"
        if not path.exists():
            return []
        text = path.read_bytes().decode()
        assert text == "" or text.endswith("\n")
        out = []
        for line in text.split("\n")[:-1]:
            match = LINE_RE.fullmatch(line)
            assert match, line
            out.append(match.groups())
        return out

    def file_lines(self, type_name: str) -> list[tuple[str, str]]:
        return [(label, text) for _, label, text in self.file(type_name)]

    def tail_lines(self, *args: Any, **kwargs: Any) -> list[tuple[str, str]]:
        return [(label, text) for _, label, text in self.hub.tail(*args, **kwargs)]

    def close(self) -> None:
        try:
            self.hub.close()
            for fd in self.writers.values():
                os.close(fd)
            self.writers.clear()
            assert self.errors == [], self.errors  # nothing escaped into the loop
        finally:
            self.loop.close()


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    rig = Rig(tmp_path)
    try:
        yield rig
    finally:
        rig.close()


# -- capture to files ------------------------------------------------------------------


def test_lines_go_to_the_type_file_with_timestamp_and_label(rig: Rig) -> None:
    rig.pipe("web.1")
    before = time.time()
    rig.write("web.1", b"hello\n")
    rig.drained("web.1")
    rig.write("web.1", b"second\nthird\n")
    rig.drained("web.1")
    rows = rig.file("web")
    assert [(label, text) for _, label, text in rows] == [
        ("web.1", "hello"),
        ("web.1", "second"),
        ("web.1", "third"),
    ]
    stamps = [datetime.fromisoformat(stamp).timestamp() for stamp, _, _ in rows]
    assert stamps == sorted(stamps)
    assert before - 0.001 <= stamps[0] <= time.time()
    assert rows[1][0] == rows[2][0]  # one read, one timestamp


def test_each_type_has_its_own_file(rig: Rig) -> None:
    for label in ("web.1", "web.2", "worker.1"):
        rig.pipe(label)
    rig.write("web.1", b"w1\n")
    rig.drained("web.1")
    rig.write("worker.1", b"k1\n")
    rig.drained("worker.1")
    rig.write("web.2", b"w2\n")
    rig.drained("web.2")
    assert rig.file_lines("web") == [("web.1", "w1"), ("web.2", "w2")]
    assert rig.file_lines("worker") == [("worker.1", "k1")]
    assert sorted(p.name for p in rig.logs_dir.iterdir()) == ["web.log", "worker.log"]


def test_empty_lines_and_bytes_are_kept(rig: Rig) -> None:
    rig.pipe("web.1")
    rig.write("web.1", b"\n  indented\n\xff\xfebinary\n")
    rig.drained("web.1")
    raw = (rig.logs_dir / "web.log").read_bytes().split(b"\n")[:-1]
    assert [line.split(b" | ", 1)[1] for line in raw] == [b"", b"  indented", b"\xff\xfebinary"]


def test_partial_line_is_held_until_its_newline(rig: Rig) -> None:
    rig.pipe("web.1")
    rig.write("web.1", b"first\nhal")
    rig.drained("web.1")
    assert rig.file_lines("web") == [("web.1", "first")]
    rig.write("web.1", b"f a li")
    rig.drained("web.1")
    assert rig.file_lines("web") == [("web.1", "first")]
    assert rig.tail_lines(10) == [("web.1", "first")]
    rig.write("web.1", b"ne\nnext\n")
    rig.drained("web.1")
    assert rig.file_lines("web") == [
        ("web.1", "first"),
        ("web.1", "half a line"),
        ("web.1", "next"),
    ]


def test_partial_line_is_flushed_on_eof(rig: Rig) -> None:
    rig.pipe("web.1")
    rig.write("web.1", b"done\nno newline at the end")
    rig.close_writer("web.1")
    rig.wait_for(lambda: len(rig.file("web")) == 2)
    assert rig.file_lines("web") == [("web.1", "done"), ("web.1", "no newline at the end")]


def test_partial_line_is_flushed_on_close(rig: Rig) -> None:
    rig.pipe("web.1")
    rig.write("web.1", b"pending")
    rig.drained("web.1")
    rig.hub.close()
    assert rig.file_lines("web") == [("web.1", "pending")]


def test_close_reads_what_is_left_in_the_pipe(rig: Rig) -> None:
    rig.pipe("web.1")
    rig.write("web.1", b"unread\n")  # the loop has not run since
    rig.hub.close()
    assert rig.file_lines("web") == [("web.1", "unread")]


def test_line_longer_than_max_partial_is_cut_and_published(rig: Rig) -> None:
    rig.pipe("web.1")
    size = 2 * MAX_PARTIAL + 1000
    rig.write("web.1", b"x" * size)  # no newline: must not be held for ever
    rig.wait_for(lambda: sum(len(t) for _, t in rig.file_lines("web")) >= size - MAX_PARTIAL)
    rig.write("web.1", b"\nafter\n")
    rig.drained("web.1")
    texts = [text for _, text in rig.file_lines("web")]
    assert texts[-1] == "after"
    pieces = texts[:-1]
    assert len(pieces) >= 2  # it was cut
    assert "".join(pieces) == "x" * size  # and nothing was lost
    assert all(len(piece) >= MAX_PARTIAL for piece in pieces[:-1])


def test_long_partial_after_a_newline_is_not_held(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(logs, "MAX_PARTIAL", 16)
    rig.pipe("web.1")
    rig.write("web.1", b"short\n" + b"y" * 40)
    rig.drained("web.1")
    assert rig.file_lines("web") == [("web.1", "short"), ("web.1", "y" * 40)]


# -- EOF ---------------------------------------------------------------------------------


def test_eof_closes_the_pipe_and_removes_the_reader(rig: Rig) -> None:
    fd = rig.pipe("web.1")
    pipe_id = (os.fstat(fd).st_dev, os.fstat(fd).st_ino)
    rig.pipe("web.2")
    rig.write("web.1", b"bye")
    rig.close_writer("web.1")
    rig.wait_for(lambda: rig.file_lines("web") == [("web.1", "bye")])
    assert rig.loop.remove_reader(fd) is False  # the hub removed it already
    try:  # closed: the number is free, or already reused (by the log file) for something else
        now = os.fstat(fd)
    except OSError as exc:
        assert exc.errno == errno.EBADF
    else:
        assert (now.st_dev, now.st_ino) != pipe_id
    rig.write("web.2", b"still here\n")  # the other pipe is unaffected
    rig.drained("web.2")
    assert rig.file_lines("web")[-1] == ("web.2", "still here")


# -- tail ------------------------------------------------------------------------------


@pytest.fixture
def history(rig: Rig) -> Rig:
    """web.1 a1, worker.1 b1, web.2 c1, web.1 a2 a3: five lines in four reads."""
    for label in ("web.1", "web.2", "worker.1"):
        rig.pipe(label)
    for label, data in [
        ("web.1", b"a1\n"),
        ("worker.1", b"b1\n"),
        ("web.2", b"c1\n"),
        ("web.1", b"a2\na3\n"),
    ]:
        rig.write(label, data)
        rig.drained(label)
    return rig


def test_tail_merges_types_in_time_order(history: Rig) -> None:
    assert history.tail_lines(10) == [
        ("web.1", "a1"),
        ("worker.1", "b1"),
        ("web.2", "c1"),
        ("web.1", "a2"),
        ("web.1", "a3"),
    ]
    stamps = [now for now, _, _ in history.hub.tail(10)]
    assert stamps == sorted(stamps)


def test_tail_returns_the_last_n(history: Rig) -> None:
    assert history.tail_lines(3) == [("web.2", "c1"), ("web.1", "a2"), ("web.1", "a3")]
    assert history.tail_lines(1) == [("web.1", "a3")]
    assert history.tail_lines(0) == []


def test_tail_filters_by_type(history: Rig) -> None:
    assert history.tail_lines(10, type_name="web") == [
        ("web.1", "a1"),
        ("web.2", "c1"),
        ("web.1", "a2"),
        ("web.1", "a3"),
    ]
    assert history.tail_lines(2, type_name="worker") == [("worker.1", "b1")]
    assert history.tail_lines(5, type_name="nope") == []


def test_tail_filters_by_label(history: Rig) -> None:
    assert history.tail_lines(10, label="web.1") == [
        ("web.1", "a1"),
        ("web.1", "a2"),
        ("web.1", "a3"),
    ]
    assert history.tail_lines(2, label="web.1") == [("web.1", "a2"), ("web.1", "a3")]
    assert history.tail_lines(10, type_name="web", label="web.2") == [("web.2", "c1")]


def test_tail_of_an_empty_hub(rig: Rig) -> None:
    assert rig.hub.tail(10) == []


def test_tail_splits_only_at_newlines_like_the_file(rig: Rig) -> None:
    rig.pipe("web.1")
    rig.write("web.1", b"50%\r100%\nform\x0cfeed\n")
    rig.drained("web.1")
    assert rig.file_lines("web") == [("web.1", "50%\r100%"), ("web.1", "form\x0cfeed")]
    assert rig.tail_lines(2) == [("web.1", "50%\r100%"), ("web.1", "form\x0cfeed")]


# -- subscribers and sink --------------------------------------------------------------


def test_subscribers_receive_what_they_want(rig: Rig) -> None:
    everything, web, web2 = Subscriber(), Subscriber(type_name="web"), Subscriber(label="web.2")
    rig.hub.subscribers.update({everything, web, web2})
    for label in ("web.1", "web.2", "worker.1"):
        rig.pipe(label)
    before = time.time()
    rig.write("web.1", b"one\ntwo\n")
    rig.drained("web.1")
    rig.write("worker.1", b"job\n")
    rig.drained("worker.1")
    rig.write("web.2", b"w2\n")
    rig.drained("web.2")

    def items(sub: Subscriber) -> list[tuple[str, bytes]]:
        for now, _, _ in sub.queue:
            assert isinstance(now, float) and before - 0.001 <= now <= time.time()
        return [(label, block) for _, label, block in sub.queue]

    assert items(everything) == [
        ("web.1", b"one\ntwo\n"),
        ("worker.1", b"job\n"),
        ("web.2", b"w2\n"),
    ]
    assert items(web) == [("web.1", b"one\ntwo\n"), ("web.2", b"w2\n")]
    assert items(web2) == [("web.2", b"w2\n")]
    assert all(sub.wakeup.is_set() and not sub.dropped for sub in (everything, web, web2))


def test_subscriber_is_dropped_when_it_falls_too_far_behind() -> None:
    sub = Subscriber()
    item = (1.0, "web.1", b"x\n")
    for _ in range(SUBSCRIBER_QUEUE):
        sub.offer(item)
    assert not sub.dropped and len(sub.queue) == SUBSCRIBER_QUEUE
    sub.wakeup.clear()
    sub.offer(item)
    assert sub.dropped
    assert len(sub.queue) == 0
    assert sub.wakeup.is_set()  # so its reader wakes up and notices
    sub.offer(item)
    assert len(sub.queue) == 0


def test_slow_subscriber_is_dropped_while_a_fast_one_keeps_up(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(logs, "SUBSCRIBER_QUEUE", 2)
    slow, fast = Subscriber(), Subscriber()
    rig.hub.subscribers.update({slow, fast})
    rig.pipe("web.1")
    got = []
    for n in range(4):
        rig.write("web.1", f"line {n}\n".encode())
        rig.drained("web.1")
        got.extend(block for _, _, block in fast.queue)
        fast.queue.clear()
    assert slow.dropped and len(slow.queue) == 0
    assert not fast.dropped
    assert got == [b"line 0\n", b"line 1\n", b"line 2\n", b"line 3\n"]
    assert len(rig.file_lines("web")) == 4  # capture goes on regardless


def test_sink_receives_blocks(rig: Rig) -> None:
    calls: list[tuple[float, str, bytes]] = []
    rig.hub.sink = lambda now, label, block: calls.append((now, label, block))
    rig.pipe("web.1")
    rig.write("web.1", b"a\nb\n")
    rig.drained("web.1")
    assert [(label, block) for _, label, block in calls] == [("web.1", b"a\nb\n")]
    assert isinstance(calls[0][0], float)


def test_failing_sink_is_disabled_without_breaking_capture(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    calls = []

    def sink(now: float, label: str, block: bytes) -> None:
        calls.append(block)
        raise BrokenPipeError("terminal went away")

    rig.hub.sink = sink
    rig.pipe("web.1")
    with caplog.at_level(logging.ERROR, logger="procman.logs"):
        rig.write("web.1", b"first\n")
        rig.drained("web.1")
    assert rig.hub.sink is None
    assert "log sink failed" in caplog.text
    rig.write("web.1", b"second\n")
    rig.drained("web.1")
    assert calls == [b"first\n"]
    assert rig.file_lines("web") == [("web.1", "first"), ("web.1", "second")]
    assert rig.tail_lines(5) == [("web.1", "first"), ("web.1", "second")]


# -- write errors ----------------------------------------------------------------------


def test_unwritable_log_dir_drops_writes_and_keeps_going(rig: Rig) -> None:
    rig.logs_dir.write_text("a file where the directory should be")
    sub = Subscriber()
    rig.hub.subscribers.add(sub)
    rig.pipe("web.1")
    rig.write("web.1", b"one\n")
    rig.drained("web.1")
    rig.write("web.1", b"two\n")
    rig.drained("web.1")
    assert rig.hub.dropped_writes == 2
    assert rig.tail_lines(5) == [("web.1", "one"), ("web.1", "two")]
    assert len(sub.queue) == 2


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_full_disk_drops_writes_and_warns_once(rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    rig.logs_dir.mkdir()
    (rig.logs_dir / "web.log").symlink_to("/dev/full")  # every write: ENOSPC
    rig.pipe("web.1")
    with caplog.at_level(logging.WARNING, logger="procman.logs"):
        for n in range(3):
            rig.write("web.1", f"line {n}\n".encode())
            rig.drained("web.1")
    assert rig.hub.dropped_writes == 3
    warnings = [r for r in caplog.records if "cannot write" in r.getMessage()]
    assert len(warnings) == 1
    assert rig.tail_lines(5)[-1] == ("web.1", "line 2")


def test_enospc_from_os_write_is_counted(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    rig.pipe("web.1")
    rig.write("web.1", b"ok\n")
    rig.drained("web.1")
    file_fds = set(rig.hub._files.values())
    real_write = os.write

    def full(fd: int, data: Any) -> int:
        if fd in file_fds:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(logs.os, "write", full)
    rig.write("web.1", b"lost\n")
    rig.drained("web.1")
    monkeypatch.undo()
    assert rig.hub.dropped_writes == 1
    rig.write("web.1", b"back\n")
    rig.drained("web.1")
    assert rig.file_lines("web") == [("web.1", "ok"), ("web.1", "back")]
