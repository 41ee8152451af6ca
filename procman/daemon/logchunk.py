"""The log capture's hot path for one chunk (LogHub._on_readable's common case): one
bytes.replace and one writev. Its own module to keep logs.py under the layout's size."""

from __future__ import annotations

import errno
import logging
import os
from typing import TYPE_CHECKING

from procman.daemon import logtail

if TYPE_CHECKING:
    from procman.daemon.logs import LogHub, _Pipe

log = logging.getLogger("procman.logs")


def write_chunk(
    hub: LogHub, pipe: _Pipe, data: bytes, end: int, max_partial: int, now: float
) -> bool:
    """The hot path for a chunk that ends at least one line: one bytes.replace and one
    writev of [time + prefix, the line begun in the last chunk, the chunk's lines],
    no slice or concatenation of the chunk (each copy of 1 MiB costs as much as the
    replace). False (nothing done) where the general path must run: a subscriber or a
    sink wants the lines themselves, or the write would cross the rotation size."""
    partial, tail = pipe.partial, len(data) - end - 1  # bytes after the last newline
    if hub.subscribers or hub.sink is not None or tail >= max_partial:
        return False
    prefix = hub._stamp(int(now * 1000)).encode() + pipe.prefix
    replaced = data.replace(b"\n", b"\n" + prefix)
    body = memoryview(replaced)[: len(replaced) - len(prefix) - tail]
    size = len(prefix) + len(partial) + len(body)
    fd = hub._files.get(pipe.type_name)
    if fd is None:
        try:
            fd = hub._open(pipe.type_name)
        except OSError:
            return False  # the general path counts what is dropped, and says why
    if hub._sizes[pipe.type_name] + size > hub.max_size:
        return False
    try:
        written = os.writev(fd, [prefix, partial, body])
        hub._sizes[pipe.type_name] += written
        if written < size:  # a short write (a full disk, a signal): the rest, in order
            hub._put(fd, pipe.type_name, b"".join((prefix, partial, body))[written:])
    except OSError as exc:
        hub.dropped_writes += 1
        hub.dropped_lines += data.count(b"\n", 0, end + 1)
        if hub.dropped_writes == 1 or exc.errno != errno.ENOSPC:
            log.warning("cannot write %s log: %s (lines dropped)", pipe.type_name, exc)
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
