"""The log capture's hot path for one chunk (LogHub._on_readable's common case): one
bytes.replace on the loop's thread, and the write it hands to the log writer's thread
(logwriter.py): a writev, two where the file rotates. Its own module to keep logs.py
under the layout's size."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from procman.daemon import logtail

if TYPE_CHECKING:
    from procman.daemon.logs import LogHub, _Pipe


def write_chunk(
    hub: LogHub, pipe: _Pipe, data: bytes, end: int, max_partial: int, now: float
) -> bool:
    """The hot path for a chunk that ends at least one line: one bytes.replace and one
    writev of [time + prefix, the line begun in the last chunk, the chunk's lines],
    no slice or concatenation of the chunk (each copy of 1 MiB costs as much as the
    replace). False (nothing done) where the general path must run: a subscriber or a
    sink wants the lines themselves."""
    partial, tail = pipe.partial, len(data) - end - 1  # bytes after the last newline
    if hub.subscribers or hub.sink is not None or tail >= max_partial:
        return False
    prefix = hub._stamp(int(now * 1000)).encode() + pipe.prefix
    replaced = data.replace(b"\n", b"\n" + prefix)
    stop = len(replaced) - len(prefix) - tail  # the chunk's whole lines end here
    head = prefix + partial
    hub.writer.submit(len(head) + stop, write_lines, hub, pipe.type_name, head, replaced, stop)
    pipe.partial = data[end + 1 :] if tail else b""
    # memory keeps only the end of a big block: hand it just that end (+1 byte, so it
    # cuts at the same newline it would cut the whole block at)
    keep = logtail.TAIL_BLOCK + 1
    if len(partial) + end + 1 > keep:
        block = data[end + 1 - keep : end + 1] if end + 1 >= keep else partial + data[: end + 1]
    else:
        block = partial + data[: end + 1]
    hub.memory.remember(pipe.type_name, (now, pipe.label, pipe.stream, block))
    return True


def write_lines(hub: LogHub, type_name: str, head: bytes, replaced: bytes, stop: int) -> None:
    """append(), a failed write counted (a full disk costs lines, never the daemon): a job
    of the log writer's thread (logwriter.py)."""
    try:
        append(hub, type_name, head, replaced, stop)
    except OSError as exc:
        hub.dropped(type_name, head.count(b"\n") + replaced.count(b"\n", 0, stop), exc)


def append(hub: LogHub, type_name: str, head: bytes, replaced: bytes, stop: int) -> None:
    """Append head + replaced[:stop] (whole lines; head begins the first) to the type's
    file, rotating at a line end wherever the file would pass max_size (every line is in
    exactly one file), with views of the chunk instead of copies."""
    view, start = memoryview(replaced), 0
    while True:
        fd = hub._files.get(type_name)
        if fd is None:
            fd = hub._open(type_name)
        room = hub.max_size - hub._sizes[type_name]
        if len(head) + stop - start <= room:
            _writev(hub, fd, type_name, head, view[start:stop])
            return
        cut = replaced.rfind(b"\n", start, start + max(room - len(head), 0)) + 1
        if cut <= start:  # not one whole line fits in what is left
            if hub._sizes[type_name] > 0:
                hub._rotate(type_name)
                continue
            cut = replaced.find(b"\n", start, stop) + 1 or stop  # a huge line: a file of its own
        _writev(hub, fd, type_name, head, view[start:cut])
        head, start = b"", cut
        hub._rotate(type_name)
        if start >= stop:
            return


def _writev(hub: LogHub, fd: int, type_name: str, head: bytes, body: memoryview) -> None:
    size = len(head) + len(body)
    written = os.writev(fd, [head, body])
    hub._sizes[type_name] += written
    if written < size:  # a short write (a full disk, a signal): the rest, in order
        hub._put(fd, type_name, (head + bytes(body))[written:])
