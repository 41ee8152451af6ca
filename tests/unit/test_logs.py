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

from procman.daemon import logchunk, logs, logtail
from procman.daemon.logfiles import LogQuery
from procman.daemon.logs import MAX_PARTIAL, SUBSCRIBER_QUEUE, LogHub, Subscriber

LINE_RE = re.compile(
    r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d) ([A-Za-z0-9_-]+\.\d+) ([|!]) (.*)"
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
        self.writers: dict[str, int] = {}  # label (web.1, or web.1:err) -> write end
        self.readers: dict[str, int] = {}  # the same -> read end (the hub owns it)

    def pipe(self, label: str, stream: str = "out") -> int:
        """Attach a new pipe for `label` (web.1 -> type web); return its read end. A stderr
        pipe is known to write() and friends as `web.1:err`."""
        read_fd, write_fd = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)  # as spawn_process makes it
        key = label if stream == "out" else f"{label}:{stream}"
        self.writers[key] = write_fd
        self.readers[key] = read_fd
        self.hub.attach(read_fd, label.rpartition(".")[0], label, stream)
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

    def file(self, type_name: str, name: str | None = None) -> list[tuple[str, str, str, str]]:
        """(stamp, label, mark, text) of each line of a type's current file (or `name`)."""
        path = self.logs_dir / (name or f"{type_name}.log")
        if not path.exists():
            return []
        return parse_file(path.read_bytes())

    def file_lines(self, type_name: str) -> list[tuple[str, str]]:
        return [(label, text) for _, label, _, text in self.file(type_name)]

    def tail_lines(self, *args: Any, **kwargs: Any) -> list[tuple[str, str]]:
        return [(label, text) for _, label, text, _ in self.hub.tail(LogQuery(*args, **kwargs))]

    def close(self) -> None:
        try:
            self.hub.close()
            for fd in self.writers.values():
                os.close(fd)
            self.writers.clear()
            assert self.errors == [], self.errors  # nothing escaped into the loop
        finally:
            self.loop.close()


def parse_file(data: bytes) -> list[tuple[str, str, str, str]]:
    text = data.decode()
    assert text == "" or text.endswith("\n")
    out = []
    for line in text.split("\n")[:-1]:
        match = LINE_RE.fullmatch(line)
        assert match, line
        out.append(match.groups())
    return out


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
    assert [(label, text) for _, label, _, text in rows] == [
        ("web.1", "hello"),
        ("web.1", "second"),
        ("web.1", "third"),
    ]
    stamps = [datetime.fromisoformat(stamp).timestamp() for stamp, _, _, _ in rows]
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
    stamps = [now for now, _, _, _ in history.hub.tail(LogQuery(10))]
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
    assert rig.hub.tail(LogQuery(10)) == []


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
        for now, _, stream, _ in sub.queue:
            assert isinstance(now, float) and before - 0.001 <= now <= time.time()
            assert stream == "out"
        return [(label, block) for _, label, _, block in sub.queue]

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
    item = (1.0, "web.1", "out", b"x\n")
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
        got.extend(block for _, _, _, block in fast.queue)
        fast.queue.clear()
    assert slow.dropped and len(slow.queue) == 0
    assert not fast.dropped
    assert got == [b"line 0\n", b"line 1\n", b"line 2\n", b"line 3\n"]
    assert len(rig.file_lines("web")) == 4  # capture goes on regardless


def test_sink_receives_blocks(rig: Rig) -> None:
    calls: list[tuple[float, str, str, bytes]] = []
    rig.hub.sink = lambda now, label, stream, block: calls.append((now, label, stream, block))
    rig.pipe("web.1")
    rig.pipe("web.1", "err")
    rig.write("web.1", b"a\nb\n")
    rig.drained("web.1")
    rig.write("web.1:err", b"oops\n")
    rig.drained("web.1:err")
    assert [(label, stream, block) for _, label, stream, block in calls] == [
        ("web.1", "out", b"a\nb\n"),
        ("web.1", "err", b"oops\n"),
    ]
    assert isinstance(calls[0][0], float)


def test_failing_sink_is_disabled_without_breaking_capture(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    calls = []

    def sink(now: float, label: str, stream: str, block: bytes) -> None:
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

    real_writev = os.writev

    def full(fd: int, data: Any) -> int:
        if fd in file_fds:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    def fullv(fd: int, buffers: Any) -> int:
        if fd in file_fds:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_writev(fd, buffers)

    monkeypatch.setattr(logs.os, "write", full)
    monkeypatch.setattr(logs.os, "writev", fullv)  # the hot path's one write a chunk
    rig.write("web.1", b"lost\n")
    rig.drained("web.1")
    monkeypatch.undo()
    assert rig.hub.dropped_writes == 1
    rig.write("web.1", b"back\n")
    rig.drained("web.1")
    assert rig.file_lines("web") == [("web.1", "ok"), ("web.1", "back")]


# -- stdout and stderr -----------------------------------------------------------------


@pytest.fixture
def both(rig: Rig) -> Rig:
    """web.1 with a stdout and a stderr pipe: out a, err b, out c (each read on its own)."""
    rig.pipe("web.1")
    rig.pipe("web.1", "err")
    for key, data in [("web.1", b"a\n"), ("web.1:err", b"b\n"), ("web.1", b"c\n")]:
        rig.write(key, data)
        rig.drained(key)
    return rig


def test_stderr_lines_are_marked_in_the_file(both: Rig) -> None:
    assert [(label, mark, text) for _, label, mark, text in both.file("web")] == [
        ("web.1", "|", "a"),
        ("web.1", "!", "b"),
        ("web.1", "|", "c"),
    ]


def test_tail_rows_carry_the_stream_and_filter_by_it(both: Rig) -> None:
    assert [(text, stream) for _, _, text, stream in both.hub.tail(LogQuery(10))] == [
        ("a", "out"),
        ("b", "err"),
        ("c", "out"),
    ]
    assert both.tail_lines(10, stream="err") == [("web.1", "b")]
    assert both.tail_lines(10, stream="out") == [("web.1", "a"), ("web.1", "c")]
    assert both.tail_lines(1, label="web.1", stream="out") == [("web.1", "c")]


def test_the_file_reads_back_with_its_streams(both: Rig) -> None:
    rows = both.hub.file_tail(LogQuery(10))
    assert [(label, text, stream) for _, label, text, stream in rows] == [
        ("web.1", "a", "out"),
        ("web.1", "b", "err"),
        ("web.1", "c", "out"),
    ]
    assert [text for _, _, text, _ in both.hub.file_tail(LogQuery(10, stream="err"))] == ["b"]
    memory = both.hub.tail(LogQuery(10))  # the same lines; times to the millisecond
    assert [row[1:] for row in rows] == [row[1:] for row in memory]
    assert all(abs(f[0] - m[0]) < 0.001 for f, m in zip(rows, memory, strict=True))


def test_partial_lines_are_kept_per_stream(rig: Rig) -> None:
    rig.pipe("web.1")
    rig.pipe("web.1", "err")
    rig.write("web.1", b"half of out")
    rig.drained("web.1")
    rig.write("web.1:err", b"err line\n")
    rig.drained("web.1:err")
    rig.write("web.1", b" line\n")
    rig.drained("web.1")
    assert rig.tail_lines(10) == [("web.1", "err line"), ("web.1", "half of out line")]


def test_subscriber_of_one_stream(rig: Rig) -> None:
    errors, outs = Subscriber(stream="err"), Subscriber(label="web.1", stream="out")
    rig.hub.subscribers.update({errors, outs})
    rig.pipe("web.1")
    rig.pipe("web.1", "err")
    rig.pipe("web.2", "err")
    for key in ("web.1", "web.1:err", "web.2:err"):
        rig.write(key, f"{key}\n".encode())
        rig.drained(key)
    assert [(label, block) for _, label, _, block in errors.queue] == [
        ("web.1", b"web.1:err\n"),
        ("web.2", b"web.2:err\n"),
    ]
    assert [block for _, _, _, block in outs.queue] == [b"web.1\n"]


def test_system_lines_are_stdout(rig: Rig) -> None:
    rig.hub.system("web.1 started (pid 1)")
    assert [(label, text, stream) for _, label, text, stream in rig.hub.tail(LogQuery(5))] == [
        ("procman", "web.1 started (pid 1)", "out")
    ]
    assert (rig.logs_dir / "procman.log").read_text().endswith(" procman | web.1 started (pid 1)\n")


# -- memory or files ----------------------------------------------------------------------


class Clock:
    """Stands in for the time module inside procman.daemon.logs."""

    def __init__(self, now: float) -> None:
        self.now = now

    def time(self) -> float:
        return self.now


def write_numbered(rig: Rig, key: str, clock: Clock, start: int, stop: int) -> None:
    """One line (`line N`) a read, one second apart on the clock."""
    for n in range(start, stop):
        clock.now += 1
        rig.write(key, f"line {n}\n".encode())
        rig.drained(key)


def texts(rows: list[tuple[float, str, str, str]]) -> list[str]:
    return [text for _, _, text, _ in rows]


def test_lines_answer_from_memory_when_it_holds_every_line_asked_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock(1_000_000.0)
    monkeypatch.setattr(logs, "time", clock)  # the time of each read
    monkeypatch.setattr(logtail, "time", clock)  # the hub's start
    monkeypatch.setattr(logtail, "TAIL_BYTES", 100)  # about 12 lines of memory
    rig = Rig(tmp_path)
    try:
        rig.pipe("web.1")
        write_numbered(rig, "web.1", clock, 0, 40)
        reads: list[int] = []
        real = rig.hub.file_tail

        def counted(*args: Any, **kwargs: Any) -> Any:
            reads.append(1)
            return real(*args, **kwargs)

        monkeypatch.setattr(rig.hub, "file_tail", counted)
        assert texts(rig.hub.lines(LogQuery(5))) == [f"line {n}" for n in range(35, 40)]
        assert reads == []  # memory had them
        assert texts(rig.hub.lines(LogQuery(30))) == [f"line {n}" for n in range(10, 40)]
        assert reads == [1]  # more than memory holds: the file
        since = clock.now - 2.5  # the last three lines (one a second)
        assert texts(rig.hub.lines(LogQuery(100, since=since))) == ["line 37", "line 38", "line 39"]
        assert reads == [1]  # memory reaches back past since
        assert texts(rig.hub.lines(LogQuery(100, since=clock.now - 34.5))) == [
            f"line {n}" for n in range(5, 40)
        ]
        assert reads == [1, 1]  # since is older than memory: the file
    finally:
        rig.close()


def test_lines_of_an_earlier_daemon_come_from_the_files(tmp_path: Path) -> None:
    logs_dir = tmp_path / "logs"
    logs_dir.mkdir()
    (logs_dir / "web.log").write_text(
        "2026-11-28T10:00:01.000+00:00 web.1 | before\n"
        "2026-11-28T10:00:02.000+00:00 web.1 ! before on stderr\n"
    )
    rig = Rig(tmp_path)
    try:
        rig.pipe("web.1")
        rig.write("web.1", b"after\n")
        rig.drained("web.1")
        assert [(t, s) for _, _, t, s in rig.hub.lines(LogQuery(10))] == [
            ("before", "out"),
            ("before on stderr", "err"),
            ("after", "out"),
        ]
        assert texts(rig.hub.lines(LogQuery(10, since=rig.hub.memory.started - 1))) == ["after"]
        assert texts(rig.hub.lines(LogQuery(10, stream="err"))) == ["before on stderr"]
    finally:
        rig.close()


# -- flush --------------------------------------------------------------------------------


def numbers_in(*datas: bytes) -> list[int]:
    return [int(text.rsplit(" ", 1)[1]) for data in datas for _, _, _, text in parse_file(data)]


def test_flush_empties_the_files_and_loses_no_line_in_flight(rig: Rig, tmp_path: Path) -> None:
    rig.hub.max_size, rig.hub.keep = 1500, 20  # a few rotations, none dropped
    rig.pipe("web.1")
    rig.write("web.1", b"".join(f"line {n}\n".encode() for n in range(100)))
    rig.drained("web.1")
    rig.write("web.1", b"line 1")  # half a line, held by the hub across the flush
    rig.drained("web.1")
    # hard links keep what the flush removes (a reader holding the old files sees the same)
    kept = tmp_path / "kept"
    kept.mkdir()
    names = sorted(p.name for p in rig.logs_dir.iterdir())
    assert names == ["web.log", "web.log.1", "web.log.2", "web.log.3"]
    old = [rig.logs_dir / n for n in reversed(names)]  # oldest first
    for path in old:
        os.link(path, kept / path.name)
    sizes = sum(p.stat().st_size for p in old)
    assert rig.hub.flush() == [{"type": "web", "files": names, "bytes": sizes}]
    assert sorted(p.name for p in rig.logs_dir.iterdir()) == ["web.log"]
    assert (rig.logs_dir / "web.log").read_bytes() == b""
    assert rig.hub.tail(LogQuery(10)) == []  # memory is flushed too
    rig.write("web.1", b"00\nline 101\n")
    rig.drained("web.1")
    before = [(kept / p.name).read_bytes() for p in old]
    after = (rig.logs_dir / "web.log").read_bytes()
    assert numbers_in(*before) == list(range(100))  # up to the flush, in the old files
    assert numbers_in(after) == [100, 101]  # from it, in the new one: none lost or twice
    assert texts(rig.hub.lines(LogQuery(10))) == ["line 100", "line 101"]


def test_flush_of_one_type_leaves_the_others(rig: Rig) -> None:
    rig.pipe("web.1")
    rig.pipe("worker.1")
    for key in ("web.1", "worker.1"):
        rig.write(key, b"x\n")
        rig.drained(key)
    assert [entry["type"] for entry in rig.hub.flush("web")] == ["web"]
    assert rig.file_lines("web") == []
    assert rig.file_lines("worker") == [("worker.1", "x")]
    assert rig.tail_lines(5) == [("worker.1", "x")]


def test_flush_of_files_no_pipe_writes_to(rig: Rig) -> None:
    rig.logs_dir.mkdir()
    (rig.logs_dir / "gone.log").write_text("2026-11-28T10:00:01.000+00:00 gone.1 | old\n")
    (rig.logs_dir / "gone.log.1").write_text("2026-11-28T10:00:00.000+00:00 gone.1 | older\n")
    (rig.logs_dir / "gone.log.7").write_text("")  # past log_keep: still one of gone's files
    (rig.logs_dir / "gone.log.gz").write_text("not ours to touch")
    assert [e["files"] for e in rig.hub.flush()] == [["gone.log", "gone.log.1", "gone.log.7"]]
    assert sorted(p.name for p in rig.logs_dir.iterdir()) == ["gone.log", "gone.log.gz"]
    assert rig.hub.file_tail(LogQuery(5)) == []


# -- reopen -------------------------------------------------------------------------------


@pytest.mark.parametrize("create", [False, True], ids=["move", "move-and-create"])
def test_reopen_after_an_external_rotation(rig: Rig, create: bool) -> None:
    rig.pipe("web.1")
    rig.pipe("web.1", "err")
    rig.write("web.1", b"".join(f"line {n}\n".encode() for n in range(10)))
    rig.drained("web.1")
    moved = rig.logs_dir / "web.log-20261128"
    (rig.logs_dir / "web.log").rename(moved)  # logrotate's move...
    if create:
        (rig.logs_dir / "web.log").touch()  # ...and its `create`
    rig.write("web.1:err", b"line 10\n")  # still to the moved file: it is the one open
    rig.drained("web.1:err")
    assert rig.hub.reopen() == ["web"]
    rig.write("web.1", b"line 11\n")
    rig.drained("web.1")
    assert numbers_in(moved.read_bytes()) == list(range(11))
    assert [(label, mark, text) for _, label, mark, text in rig.file("web")] == [
        ("web.1", "|", "line 11")
    ]
    # web.log-20261128 is logrotate's name, not one of ours: `logs` reads web.log (and
    # web.log.N, which is also logrotate's default name) back
    assert texts(rig.hub.file_tail(LogQuery(3))) == ["line 11"]
    assert rig.hub.reopen() == ["web"]  # again: harmless


# -- the hot path against the general one ----------------------------------------------------


@pytest.mark.parametrize("seed", range(6))
def test_the_hot_path_writes_what_the_general_path_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    """logchunk.write_chunk (one replace, one writev a chunk) against the general path (forced by
    a subscriber), on the same chunks: the same files byte for byte, rotation included,
    and the same memory tail."""
    import random

    rnd = random.Random(seed)
    monkeypatch.setattr(logs.time, "time", lambda: 1_800_000_000.25)
    lines = [b"x" * rnd.choice([0, 1, 5, 99, 300, 5000]) for _ in range(400)]
    stream = b"".join(line + b"\n" for line in lines) + b"tail without newline"
    cuts = sorted(rnd.sample(range(1, len(stream)), 60))
    chunks = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    chunks = [c[i : i + 32768] for c in chunks for i in range(0, len(c), 32768)]  # < a pipe
    results = []
    for general in (False, True):
        rig = Rig(tmp_path / ("general" if general else "fast"))
        try:
            rig.hub.max_size = 80_000  # rotations on the way
            if general:
                rig.hub.subscribers.add(Subscriber())
            fd = rig.pipe("web.1")
            fast_chunks = 0
            real_fast = logchunk.write_chunk

            def counted(*args: Any, real: Any = real_fast) -> bool:
                nonlocal fast_chunks
                took = bool(real(*args))
                fast_chunks += took
                return took

            monkeypatch.setattr(logs, "write_chunk", counted)
            for chunk in chunks:
                assert os.write(rig.writers["web.1"], chunk) == len(chunk)
                rig.hub._on_readable(fd)
            # every chunk that ends a line takes the hot path, those that rotate too
            ending = sum(1 for c in chunks if b"\n" in c)
            assert fast_chunks == (0 if general else ending)
            rig.hub.subscribers.clear()
            rig.close_writer("web.1")
            rig.wait_for(lambda hub=rig.hub, fd=fd: fd not in hub._pipes)
            rig.hub.settle()
            files = {p.name: p.read_bytes() for p in sorted(rig.logs_dir.iterdir())}
            results.append((files, rig.tail_lines(1000)))
        finally:
            rig.close()
    assert results[0] == results[1]
    assert len(results[0][0]) > 1  # it rotated
