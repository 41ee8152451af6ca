"""Instance output: pipe readers, per-type log files, a bounded tail, live subscribers.

The hot path works on chunks, never line by line in Python: one read of up to 1 MiB, one
bytes.replace to put `ISO-time id | ` in front of every line, one write. Lines in one chunk
share the timestamp of the read that brought them.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from procman.daemon.feed import Feed
from procman.daemon.logfiles import read_tail, rotate

log = logging.getLogger("procman.logs")

READ_SIZE = 1 << 20
MAX_PARTIAL = 64 * 1024  # a "line" longer than this is cut, so one child cannot hoard memory
TAIL_BYTES = 256 * 1024  # per type, for `logs -n`
TAIL_BLOCK = 32 * 1024  # of a big chunk only its end is kept for the tail
SUBSCRIBER_QUEUE = 1024  # chunks a live subscriber may fall behind before it is dropped
SUBSCRIBER_BYTES = 8 * 1024 * 1024  # ...or bytes, whichever comes first
SYSTEM = "procman"  # the type and label of the daemon's own lines

Sink = Callable[[float, str, bytes], None]


def split_lines(block: bytes) -> list[str]:
    """The lines of a block that ends in a newline, split at newlines only (as in the log
    file; str.splitlines would also split at \r, form feeds and friends)."""
    return block.decode(errors="replace").split("\n")[:-1]


@dataclass(slots=True)
class _Pipe:
    type_name: str
    label: str
    prefix: bytes  # b" web.1 | "
    partial: bytes = b""


class Subscriber(Feed[tuple[float, str, bytes]]):
    """A live `logs -f` reader: every chunk of one type, one instance, or everything."""

    def __init__(self, type_name: str | None = None, label: str | None = None) -> None:
        super().__init__(SUBSCRIBER_QUEUE, SUBSCRIBER_BYTES, lambda item: len(item[2]))
        self.type_name, self.label = type_name, label

    def wants(self, type_name: str, label: str) -> bool:
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
        self._tails: dict[str, deque[tuple[float, str, bytes]]] = {}
        self._tail_sizes: dict[str, int] = {}
        self.subscribers: set[Subscriber] = set()
        self.dropped_writes = 0
        self.dropped_lines = 0  # lines lost to failed writes (a full disk), told in `ping`
        self._stamp_second = -1
        self._stamp_text = ""
        self._system_pipe = _Pipe(SYSTEM, SYSTEM, f" {SYSTEM} | ".encode())

    # -- pipes --------------------------------------------------------------------------

    def attach(self, fd: int, type_name: str, label: str) -> None:
        self._pipes[fd] = _Pipe(type_name, label, f" {label} | ".encode())
        self.loop.add_reader(fd, self._on_readable, fd)

    def close(self) -> None:
        for fd in list(self._pipes):
            self._drain_and_close(fd)
        for fd in self._files.values():
            os.close(fd)
        self._files.clear()

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
        return [text for _, _, text in self.tail(count, label=label)]

    @staticmethod
    def _readable_now(fd: int) -> bool:
        import select

        return bool(select.select([fd], [], [], 0)[0])

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
        if pipe.partial:
            data = pipe.partial + data
            pipe.partial = b""
        end = data.rfind(b"\n")
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

    def _stamp(self, now: float) -> str:
        second = int(now)
        if second != self._stamp_second:
            self._stamp_second = second
            self._stamp_text = datetime.fromtimestamp(second).astimezone().isoformat()
        # 2026-11-28T10:00:01+00:00 -> 2026-11-28T10:00:01.123+00:00
        text = self._stamp_text
        return f"{text[:19]}.{int((now - second) * 1000):03d}{text[19:]}"

    def _publish(self, pipe: _Pipe, block: bytes) -> None:
        """block holds whole lines, the last one ending in a newline."""
        now = time.time()
        prefix = self._stamp(now).encode() + pipe.prefix
        out = prefix + block[:-1].replace(b"\n", b"\n" + prefix) + b"\n"
        self._write(pipe.type_name, out)
        item = (now, pipe.label, block)
        self._remember(pipe.type_name, item)
        for sub in self.subscribers:
            if sub.wants(pipe.type_name, pipe.label):
                sub.offer(item)
        if self.sink is not None:
            try:
                self.sink(now, pipe.label, block)
            except Exception:  # a broken terminal must not stop the capture
                log.exception("log sink failed")
                self.sink = None

    def _write(self, type_name: str, data: bytes) -> None:
        """Append whole lines; past max_size, rotate at a line boundary and go on."""
        try:
            while data:
                fd = self._files.get(type_name)
                if fd is None:
                    fd = self._open(type_name)
                room = self.max_size - self._sizes[type_name]
                if len(data) <= room:
                    self._put(fd, type_name, data)
                    return
                cut = data.rfind(b"\n", 0, room) + 1
                if cut == 0:  # not one whole line fits in what is left
                    if self._sizes[type_name] > 0:
                        self._rotate(type_name)
                        continue
                    cut = data.find(b"\n") + 1 or len(data)  # a huge line: a file of its own
                self._put(fd, type_name, data[:cut])
                data = data[cut:]
                self._rotate(type_name)
        except OSError as exc:
            # A full disk costs lines, never the daemon or the children.
            self.dropped_writes += 1
            self.dropped_lines += data.count(b"\n")
            if self.dropped_writes == 1 or exc.errno != errno.ENOSPC:
                log.warning(
                    "cannot write %s log: %s (lines are dropped and counted)", type_name, exc
                )

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
        rotate(self.logs_dir / f"{type_name}.log", self.keep)

    def files(self, type_name: str) -> dict[str, str]:
        """Where a type's output goes: `describe` shows it."""
        return {"log": str(self.logs_dir / f"{type_name}.log")}

    def file_tail(
        self, lines: int, type_name: str | None = None, label: str | None = None
    ) -> list[tuple[float, str, str]]:
        """Like tail(), from the files on disk, across rotations: for more than memory holds."""
        return read_tail(self.logs_dir, lines, self.keep, type_name, label)

    def _remember(self, type_name: str, item: tuple[float, str, bytes]) -> None:
        now, label, block = item
        if len(block) > TAIL_BLOCK:
            cut = block.find(b"\n", len(block) - TAIL_BLOCK)
            block = block[cut + 1 :]
            item = (now, label, block)
        tail = self._tails.setdefault(type_name, deque())
        tail.append(item)
        size = self._tail_sizes.get(type_name, 0) + len(block)
        while size > TAIL_BYTES and len(tail) > 1:
            size -= len(tail.popleft()[2])
        self._tail_sizes[type_name] = size

    # -- queries ------------------------------------------------------------------------

    def tail(
        self, lines: int, type_name: str | None = None, label: str | None = None
    ) -> list[tuple[float, str, str]]:
        """The last `lines` lines, merged across types in time order."""
        picked: list[tuple[float, int, str, str]] = []
        seq = 0
        for name, blocks in self._tails.items():
            if type_name is not None and name != type_name:
                continue
            found = 0
            for now, lab, block in reversed(blocks):
                if label is not None and lab != label:
                    continue
                texts = split_lines(block)
                for text in reversed(texts):
                    seq -= 1
                    picked.append((now, seq, lab, text))
                    found += 1
                    if found >= lines:
                        break
                if found >= lines:
                    break
        picked.sort()
        return [(now, lab, text) for now, _, lab, text in picked[-lines:]] if lines else []

    def forget(self, type_name: str) -> None:
        fd = self._files.pop(type_name, None)
        if fd is not None:
            os.close(fd)
