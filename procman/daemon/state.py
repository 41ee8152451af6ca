"""state.json: the formation's source and counts, written atomically after every change."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

log = logging.getLogger("procman.state")

VERSION = 1


def write_state(path: Path, state: dict[str, Any]) -> None:
    """write, fsync, rename: a reader sees the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    data = json.dumps({"version": VERSION, **state}, indent=2, sort_keys=True).encode()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def read_state(path: Path) -> dict[str, Any] | None:
    """The last state, or None; a corrupt file is a warning, never a crash."""
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("ignoring unreadable %s: %s", path, exc)
        return None
    if not isinstance(data, dict) or data.get("version") != VERSION:
        log.warning("ignoring %s: not a procman state file of version %d", path, VERSION)
        return None
    counts, source = data.get("counts", {}), data.get("source")
    if not (
        isinstance(counts, dict)
        and all(isinstance(k, str) and type(v) is int and v >= 0 for k, v in counts.items())
        and (source is None or isinstance(source, dict))
    ):
        log.warning("ignoring %s: its counts or source are not what procman writes", path)
        return None
    return data
