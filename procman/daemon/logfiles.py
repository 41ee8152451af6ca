"""Log files on disk: the line format, size-based rotation (rename and reopen, never
copy-and-truncate, so no line is lost between a copy and a truncate), reading lines back
across rotated files, and the paths `flush` empties.

Files of a type: web.log (current), web.log.1 (the one before), ... web.log.<keep>. A line
is `<ISO time> <id> | <text>` for stdout and `<ISO time> <id> ! <text>` for stderr: the
marker sits where Foreman's `|` does, so the columns line up and an old file (stdout lines
only) reads the same.
"""

from __future__ import annotations

import heapq
import logging
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

log = logging.getLogger("procman.logs")

BLOCK = 64 * 1024
OUT, ERR = "out", "err"
STREAMS = (OUT, ERR)
MARKS = {OUT: "|", ERR: "!"}  # the separator after the id, per stream
_STREAM_OF = {"| ": OUT, "! ": ERR}

#: (unix time, id, text, stream): a line as the daemon hands it out
Line = tuple[float, str, str, str]


@dataclass(frozen=True, slots=True)
class LogQuery:
    """Which lines a reader wants: the last `count`, of one type (`type_name`) or one
    instance (`label`), of one stream, none older than `since` (unix time); None is any."""

    count: int
    type_name: str | None = None
    label: str | None = None
    stream: str | None = None
    since: float | None = None

    @property
    def type_of(self) -> str | None:
        """The type whose files and memory hold these lines: an instance's are its type's."""
        if self.type_name is None and self.label is not None:
            return self.label.rpartition(".")[0] or self.label
        return self.type_name


def rotated(path: Path, n: int) -> Path:
    return path.with_name(f"{path.name}.{n}")


def rotate(path: Path, keep: int, discard: Callable[[Path], None] | None = None) -> None:
    """web.log -> web.log.1 -> ... -> web.log.<keep>; the oldest beyond keep goes. With
    discard, it is renamed out of sight (`.web.log.5.gone-N`) and handed to discard to
    unlink later: freeing a big file's pages is the slowest step of a rotation."""
    try:
        if keep <= 0:
            _drop(path, discard)
            return
        _drop(rotated(path, keep), discard)
        for n in range(keep - 1, 0, -1):
            older = rotated(path, n)
            if older.exists():
                older.rename(rotated(path, n + 1))
        path.rename(rotated(path, 1))
    except FileNotFoundError:
        pass


GONE = ".gone-"  # in the name of a file rotated out and not yet unlinked


def _drop(path: Path, discard: Callable[[Path], None] | None) -> None:
    if discard is None:
        path.unlink(missing_ok=True)
        return
    gone = path.with_name(f".{path.name}{GONE}{time.monotonic_ns()}")
    try:
        path.rename(gone)
    except FileNotFoundError:
        return
    discard(gone)


def remove_gone(logs_dir: Path) -> None:
    """Files rotated out by a daemon that died before it unlinked them."""
    try:
        for path in logs_dir.glob(f".*{GONE}*"):
            path.unlink(missing_ok=True)
    except OSError:
        pass


def type_files(logs_dir: Path, type_name: str) -> list[Path]:
    """A type's files on disk, newest first: web.log, then web.log.1, web.log.2, ...
    (every numbered one there is, not only up to log_keep: a lowered keep leaves some)."""
    base = logs_dir / f"{type_name}.log"
    numbered = []
    try:
        for path in logs_dir.glob(f"{type_name}.log.*"):
            suffix = path.name[len(base.name) + 1 :]
            if suffix.isdigit():
                numbered.append((int(suffix), path))
    except OSError:
        pass
    current = [base] if base.exists() else []
    return current + [path for _, path in sorted(numbered)]


def remove_files(logs_dir: Path, type_name: str) -> tuple[list[Path], int]:
    """Unlink a type's files (for `flush`); (the files there were, their total size)."""
    files = type_files(logs_dir, type_name)
    size = 0
    for path in files:
        try:
            size += path.stat().st_size
            path.unlink()
        except FileNotFoundError:
            continue
        except OSError as exc:
            log.warning("flush: cannot remove %s: %s", path, exc)
    return files, size


def type_names(logs_dir: Path) -> list[str]:
    try:
        return sorted(p.name[:-4] for p in logs_dir.glob("*.log"))
    except OSError:
        return []


def blocks_backwards(path: Path) -> Iterator[list[str]]:
    """The lines of one file, a block at a time from its end: each list holds consecutive
    whole lines in file order, each list older than the one before."""
    try:
        fh = open(path, "rb")  # noqa: SIM115  (closed below; the generator needs the handle)
    except OSError:
        return
    with fh:
        end = fh.seek(0, os.SEEK_END)
        rest = b""  # the start of a line cut by the previous block boundary
        while end > 0:
            start = max(0, end - BLOCK)
            fh.seek(start)
            data = fh.read(end - start) + rest
            end = start
            if end > 0:
                cut = data.find(b"\n") + 1
                if cut == 0:  # a line longer than a block: read further back
                    rest = data
                    continue
                rest, data = data[:cut], data[cut:]
            lines = data.decode(errors="replace").split("\n")
            if lines[-1] == "":
                lines.pop()
            if lines:
                yield lines


def parse(line: str) -> Line | None:
    """`2026-11-28T10:00:01.123+00:00 web.1 | text` -> (unix time, "web.1", "text", "out");
    `... web.1 ! text` is a stderr line."""
    stamp, _, rest = line.partition(" ")
    label, _, tail = rest.partition(" ")
    stream = _STREAM_OF.get(tail[:2])
    if stream is None:
        if tail not in ("|", "!"):  # an empty line whose trailing blank was stripped
            return None
        stream = _STREAM_OF[tail + " "]
    try:
        when = datetime.fromisoformat(stamp).timestamp()
    except ValueError:
        return None
    return when, label, tail[2:], stream


def _type_tail(
    logs_dir: Path,
    type_name: str,
    lines: int,
    label: str | None,
    stream: str | None,
    since: float | None,
) -> list[Line]:
    """The last `lines` matching lines of one type, oldest first, from its newest file
    back through the rotated ones; stops at the first line older than since."""
    found: list[list[Line]] = []  # blocks of matches, newest block first
    count = 0
    blocks = (block for path in type_files(logs_dir, type_name) for block in blocks_backwards(path))
    for block in blocks:
        parsed = [p for p in map(parse, block) if p is not None]
        older = since is not None and bool(parsed) and parsed[0][0] < since
        if since is not None and older:
            parsed = [p for p in parsed if p[0] >= since]
        if label is not None:
            parsed = [p for p in parsed if p[1] == label]
        if stream is not None:
            parsed = [p for p in parsed if p[3] == stream]
        found.append(parsed)
        count += len(parsed)
        if count >= lines or older:
            break
    return [line for part in reversed(found) for line in part][-lines:]


def read_tail(logs_dir: Path, query: LogQuery) -> list[Line]:
    """The lines `query` asks for, from the files: across types (merged by time) and each
    type's rotated files."""
    lines = query.count
    if lines <= 0:
        return []
    type_name = query.type_of
    names = [type_name] if type_name is not None else type_names(logs_dir)
    per_type = [
        _type_tail(logs_dir, name, lines, query.label, query.stream, query.since) for name in names
    ]
    merged = list(heapq.merge(*per_type, key=lambda item: item[0]))
    return merged[-lines:]
