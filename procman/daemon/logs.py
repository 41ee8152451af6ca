"""Instance output: pipe readers, per-type log files, a bounded tail, live subscribers,
and the two file operations an operator asks for (flush, reopen).

Each instance has two pipes, stdout and stderr, read apart. The hot path works on chunks,
never line by line in Python: one read of up to 1 MiB, one bytes.replace to put
`ISO-time id | ` (stdout) or `ISO-time id ! ` (stderr) in front of every line, one writev.
Lines in one chunk share the timestamp of the read that brought them. Both streams of a
type go to one file, in the order the daemon read them: exact within a stream, and between
the two as close as the reads (a child that needs them interleaved exactly can run with
`2>&1`).

The writes themselves run on the log writer's thread (logwriter.py), in order; everything
that touches the files otherwise (a flush, a reopen, reading them back, the exit) drains
it first, so a flush or a reopen happens between two chunk writes, never inside one: no
line in flight is lost or written twice.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from procman.daemon.feed import Feed
from procman.daemon.logchunk import write_chunk, write_lines
from procman.daemon.logfiles import (
    MARKS,
    OUT,
    Line,
    LogQuery,
    read_tail,
    remove_files,
    remove_gone,
    rotate,
    type_names,
)
from procman.daemon.logtail import Item, Tails
from procman.daemon.logwriter import LogWriter

log = logging.getLogger("procman.logs")

READ_SIZE = 1 << 20
MAX_PARTIAL = 64 * 1024  # a "line" longer than this is cut, so one child cannot hoard memory
SUBSCRIBER_QUEUE = 1024  # chunks a live subscriber may fall behind before it is dropped
SUBSCRIBER_BYTES = 8 * 1024 * 1024  # ...or bytes, whichever comes first
SYSTEM = "procman"  # the type and label of the daemon's own lines

Sink = Callable[[float, str, str, bytes], None]


@dataclass(slots=True)
class _Pipe:
    type_name: str
    label: str
    stream: str  # "out" or "err"
    prefix: bytes  # b" web.1 | " (stdout) or b" web.1 ! " (stderr)
    partial: bytes = b""


def _prefix(label: str, stream: str) -> bytes:
    return f" {label} {MARKS[stream]} ".encode()


class Subscriber(Feed[Item]):
    """A live `logs -f` reader: every chunk of one type, one instance, or everything, of
    one stream or both."""

    def __init__(
        self, type_name: str | None = None, label: str | None = None, stream: str | None = None
    ) -> None:
        super().__init__(SUBSCRIBER_QUEUE, SUBSCRIBER_BYTES, lambda item: len(item[3]))
        self.type_name, self.label, self.stream = type_name, label, stream

    def wants(self, type_name: str, label: str, stream: str) -> bool:
        if self.stream is not None and stream != self.stream:
            return False
        if self.label is not None:
            return label == self.label
        return self.type_name is None or self.type_name == type_name


class LogHub:
    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        logs_dir: Path,
        sink: Sink | None = None,
    ) -> None:
        self.loop, self.logs_dir, self.sink = loop, logs_dir, sink
        self._pipes: dict[int, _Pipe] = {}
        self._files: dict[str, int] = {}
        self._sizes: dict[str, int] = {}
        self.max_size = 10 * 1024 * 1024  # rotate a type's file past this (log_max_size)
        self.keep = 5  # rotated files kept (log_keep)
        self.memory = Tails()
        self.subscribers: set[Subscriber] = set()
        self.dropped_writes = 0
        self.dropped_lines = 0  # lines lost to failed writes (a full disk), told in `ping`
        self._stamp_second = -1
        self._stamp_text = ""
        self._system_pipe = _Pipe(SYSTEM, SYSTEM, OUT, _prefix(SYSTEM, OUT))
        self.writer = LogWriter()  # owns the files (_files, _sizes) while it has work
        self.janitor = LogWriter("procman-logs-unlink")  # rotated-out files (logfiles.rotate)
        remove_gone(logs_dir)

    # -- pipes --------------------------------------------------------------------------

    def attach(
        self, fd: int, type_name: str, label: str, stream: str = OUT, partial: bytes = b""
    ) -> None:
        """Read fd (non-blocking) as `stream` ("out" or "err") of instance `label`; partial
        is an unfinished line an updated daemon's old image had read from it."""
        self._pipes[fd] = _Pipe(type_name, label, stream, _prefix(label, stream), partial)
        self.loop.add_reader(fd, self._on_readable, fd)

    def pipes(self) -> list[tuple[int, str, str, str, bytes]]:
        """Every open pipe as (fd, type, label, stream, unfinished line): what a daemon
        update hands to the new image, which attach()es them again."""
        return [(fd, p.type_name, p.label, p.stream, p.partial) for fd, p in self._pipes.items()]

    def close(self) -> None:
        for fd in list(self._pipes):
            self._drain_and_close(fd)
        self.writer.close()
        self.janitor.close()
        for fd in self._files.values():
            os.close(fd)
        self._files.clear()

    def settle(self) -> None:
        """Until every write and unlink handed to the threads is done (an update's exec)."""
        self.writer.drain()
        self.janitor.drain()

    def read_now(self, fd: int) -> None:
        """Take in what the pipe holds right now (its writer just exited: its last lines
        must be in the tail before anyone looks at the exit). Bounded: 16 reads at most."""
        for _ in range(16):
            if fd not in self._pipes or not self._readable_now(fd):
                return
            self._on_readable(fd)

    def _drain_and_close(self, fd: int) -> None:
        while fd in self._pipes:
            self._on_readable(fd)
            if fd in self._pipes and not self._readable_now(fd):
                self._close_pipe(fd)

    def last_lines(self, inst: Any, count: int = 20) -> list[str]:
        """The last lines an instance printed, its pipe read to the end first: an exited
        instance's last words may still be there when its exit is reaped."""
        label = str(inst.id)
        for fd, pipe in list(self._pipes.items()):
            while pipe.label == label and fd in self._pipes and self._readable_now(fd):
                self._on_readable(fd)
        return [text for _, _, text, _ in self.tail(LogQuery(count, label=label))]  # both streams

    @staticmethod
    def _readable_now(fd: int) -> bool:
        """poll, not select: with 1,000 instances their pipes' fds pass select's 1024."""
        import select

        poller = select.poll()
        poller.register(fd, select.POLLIN)
        return bool(poller.poll(0))

    def _close_pipe(self, fd: int) -> None:
        pipe = self._pipes.pop(fd, None)
        self.loop.remove_reader(fd)
        os.close(fd)
        if pipe is not None and pipe.partial:
            self._publish(pipe, pipe.partial + b"\n")

    def _on_readable(self, fd: int) -> None:
        pipe = self._pipes.get(fd)
        if pipe is None:
            return
        try:
            data = os.read(fd, READ_SIZE)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._close_pipe(fd)
            return
        end = data.rfind(b"\n")
        if end >= 0 and write_chunk(self, pipe, data, end, MAX_PARTIAL, time.time()):
            return
        if pipe.partial:
            data = pipe.partial + data
            end = end + len(pipe.partial) if end >= 0 else -1
            pipe.partial = b""
        if end < 0:
            if len(data) >= MAX_PARTIAL:
                self._publish(pipe, data + b"\n")
            else:
                pipe.partial = data
            return
        if end != len(data) - 1:
            pipe.partial = data[end + 1 :]
            data = data[: end + 1]
        self._publish(pipe, data)
        if len(pipe.partial) >= MAX_PARTIAL:
            self._publish(pipe, pipe.partial + b"\n")
            pipe.partial = b""

    # -- output -------------------------------------------------------------------------

    def system(self, text: str) -> None:
        """A line of the daemon's own (starts, exits, back-off), as Foreman's `system |`."""
        self._publish(self._system_pipe, text.encode() + b"\n")

    def _stamp(self, ms: int) -> str:
        second = ms // 1000
        if second != self._stamp_second:
            self._stamp_second = second
            self._stamp_text = datetime.fromtimestamp(second).astimezone().isoformat()
        # 2026-11-28T10:00:01+00:00 -> 2026-11-28T10:00:01.123+00:00
        text = self._stamp_text
        return f"{text[:19]}.{ms % 1000:03d}{text[19:]}"

    def _publish(self, pipe: _Pipe, block: bytes) -> None:
        """block holds whole lines, the last one ending in a newline."""
        now = time.time()  # memory keeps it whole: it orders reads across types
        prefix = self._stamp(int(now * 1000)).encode() + pipe.prefix
        replaced = block.replace(b"\n", b"\n" + prefix)
        stop = len(replaced) - len(prefix)
        self.writer.submit(stop, write_lines, self, pipe.type_name, prefix, replaced, stop)
        item = (now, pipe.label, pipe.stream, block)
        self.memory.remember(pipe.type_name, item)
        for sub in self.subscribers:
            if sub.wants(pipe.type_name, pipe.label, pipe.stream):
                sub.offer(item)
        if self.sink is not None:
            try:
                self.sink(now, pipe.label, pipe.stream, block)
            except Exception:  # a broken terminal must not stop the capture
                log.exception("log sink failed")
                self.sink = None

    def dropped(self, type_name: str, lines: int, exc: OSError) -> None:
        """A write failed: a full disk costs lines, never the daemon or the children."""
        self.dropped_writes += 1
        self.dropped_lines += lines
        if self.dropped_writes == 1 or exc.errno != errno.ENOSPC:
            log.warning("cannot write %s log: %s (lines are dropped and counted)", type_name, exc)

    def _open(self, type_name: str) -> int:
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        path = self.logs_dir / f"{type_name}.log"
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        self._files[type_name] = fd
        self._sizes[type_name] = os.fstat(fd).st_size
        return fd

    def _put(self, fd: int, type_name: str, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        self._sizes[type_name] += len(data)

    def _rotate(self, type_name: str) -> None:
        """Rename and reopen: every line is in exactly one file, none is lost."""
        fd = self._files.pop(type_name, None)
        if fd is not None:
            os.close(fd)
        rotate(self.logs_dir / f"{type_name}.log", self.keep, self._discard)

    def _discard(self, path: Path) -> None:
        self.janitor.submit(0, path.unlink, True, background=True)  # missing_ok

    def files(self, type_name: str) -> dict[str, str]:
        """Where a type's output goes (stdout and stderr alike): `describe` shows it."""
        return {"log": str(self.logs_dir / f"{type_name}.log")}

    # -- operator actions ---------------------------------------------------------------

    def flush(self, type_name: str | None = None) -> list[dict[str, object]]:
        """Empty the files of one type (or of every type with files or output): each file is
        unlinked and the current one made anew, empty, at once; the memory tail goes too.
        Unlink and reopen, not truncate: a reader that has the old file open (a log shipper,
        `tail -f`) still reads it to its end, and the next chunk starts the new file."""
        self.writer.drain()
        names = [type_name] if type_name is not None else self.known_types()
        done: list[dict[str, object]] = []
        for name in names:
            files, size = remove_files(self.logs_dir, name)
            fd = self._files.pop(name, None)
            try:
                if fd is not None:
                    os.close(fd)
                    self._open(name)  # the next chunk goes to the new, empty file
                elif files:  # no pipe writes to it now: an empty current file, closed
                    path = self.logs_dir / f"{name}.log"
                    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o644))
            except OSError as exc:  # the next line tries again
                log.warning("flush: cannot create %s.log: %s", name, exc)
            self.memory.drop(name)
            done.append({"type": name, "files": [p.name for p in files], "bytes": size})
        return done

    def reopen(self) -> list[str]:
        """Close every log file; the next line of a type opens `<type>.log` by its path again
        (appending, or creating it). For an external logrotate that moved the files: what
        was written before this went to the moved file, what comes after to the new one."""
        self.writer.drain()
        names = sorted(self._files)
        for fd in self._files.values():
            os.close(fd)
        self._files.clear()
        log.info("log files reopened (%s)", ", ".join(names) or "none open")
        return names

    def known_types(self) -> list[str]:
        """Types with a file on disk, an open file or lines in memory."""
        self.writer.drain()
        return sorted({*type_names(self.logs_dir), *self._files, *self.memory.blocks})

    # -- queries ------------------------------------------------------------------------

    def lines(self, query: LogQuery) -> list[Line]:
        """The lines `query` asks for, merged in time order: from memory when it holds the
        answer, else from the files. Without since, memory answers when it has `count`
        lines (under a flood they may skip the heads of chunks too big to keep whole). With
        since, it answers only if it holds every line of that window: nothing older than
        since was let go."""
        found = self.tail(query)
        if query.since is None:
            if len(found) >= query.count:
                return found
        else:
            type_name = query.type_of
            names = [type_name] if type_name is not None else self.known_types()
            if self.memory.holds_since(names, query.since):
                return found
        return self.file_tail(query) or found

    def file_tail(self, query: LogQuery) -> list[Line]:
        """Like tail(), from the files on disk, across rotations: for more than memory holds."""
        self.writer.drain()
        return read_tail(self.logs_dir, query)

    def tail(self, query: LogQuery) -> list[Line]:
        """The lines `query` asks for that memory holds, merged across types in time order."""
        return self.memory.lines(query)

    def forget(self, type_name: str) -> None:
        fd = self._files.pop(type_name, None)
        if fd is not None:
            os.close(fd)
