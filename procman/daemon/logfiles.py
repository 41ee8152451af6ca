"""Log files on disk: size-based rotation (rename and reopen, never copy-and-truncate, so no
line is lost between a copy and a truncate) and reading the last lines across rotated files.

Files of a type: web.log (current), web.log.1 (the one before), ... web.log.<keep>.
"""

from __future__ import annotations

import heapq
import os
from datetime import datetime
from pathlib import Path

BLOCK = 64 * 1024


def rotated(path: Path, n: int) -> Path:
    return path.with_name(f"{path.name}.{n}")


def rotate(path: Path, keep: int) -> None:
    """web.log -> web.log.1 -> ... -> web.log.<keep>; the oldest beyond keep goes."""
    try:
        if keep <= 0:
            path.unlink(missing_ok=True)
            return
        rotated(path, keep).unlink(missing_ok=True)
        for n in range(keep - 1, 0, -1):
            older = rotated(path, n)
            if older.exists():
                older.rename(rotated(path, n + 1))
        path.rename(rotated(path, 1))
    except FileNotFoundError:
        pass


def last_lines(path: Path, count: int) -> list[str]:
    """The last `count` lines of one file, reading blocks from its end."""
    try:
        fh = open(path, "rb")  # noqa: SIM115  (closed below; the loop needs the handle)
    except OSError:
        return []
    with fh:
        fh.seek(0, os.SEEK_END)
        end = fh.tell()
        data = b""
        while end > 0 and data.count(b"\n") <= count:
            start = max(0, end - BLOCK)
            fh.seek(start)
            data = fh.read(end - start) + data
            end = start
    lines = data.decode(errors="replace").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if end > 0:  # the first line may be cut
        lines = lines[1:]
    return lines[-count:] if count else []


def parse(line: str) -> tuple[float, str, str] | None:
    """`2026-11-28T10:00:01.123+00:00 web.1 | text` -> (unix time, "web.1", "text")."""
    stamp, _, rest = line.partition(" ")
    label, sep, text = rest.partition(" | ")
    if not sep:
        return None
    try:
        when = datetime.fromisoformat(stamp).timestamp()
    except ValueError:
        return None
    return when, label, text


def read_tail(
    logs_dir: Path, lines: int, keep: int, type_name: str | None = None, label: str | None = None
) -> list[tuple[float, str, str]]:
    """The last `lines` lines across types (merged by time) and their rotated files."""
    if type_name is not None:
        names = [type_name]
    else:
        try:
            names = sorted(p.name[:-4] for p in logs_dir.glob("*.log"))
        except OSError:
            names = []
    per_type = []
    for name in names:
        found: list[tuple[float, str, str]] = []
        base = logs_dir / f"{name}.log"
        for n in range(0, keep + 1):
            path = base if n == 0 else rotated(base, n)
            if not path.exists():
                break
            parsed = [p for p in map(parse, last_lines(path, lines * 2 if label else lines)) if p]
            if label is not None:
                parsed = [p for p in parsed if p[1] == label]
            found = parsed + found
            if len(found) >= lines:
                break
        per_type.append(found[-lines:] if lines else [])
    merged = list(heapq.merge(*per_type, key=lambda item: item[0]))
    return merged[-lines:] if lines else []
