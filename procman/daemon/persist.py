"""state.json: the formation's source (its file and its ad-hoc apps) and counts, written
atomically after every change."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

from procman.config.load import Source
from procman.errors import ConfigError
from procman.model import Formation

log = logging.getLogger("procman.persist")

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


class StateFile:
    """The daemon's memory across an unclean end: which formation, which counts. A daemon
    that shut down cleanly leaves `running: false`, and the next one starts from the files."""

    def __init__(self, path: Path, project: Path) -> None:
        self.path, self.project = path, project

    def unclean(self) -> dict[str, Any] | None:
        """What a daemon that did not shut down cleanly was running, else None."""
        state = read_state(self.path)
        if state and state.get("running") and state.get("project") == str(self.project):
            if state.get("daemon_pid") != os.getpid():  # ours: an update exec'd this image
                log.info("restoring the formation of a daemon that did not shut down cleanly")
            return state
        return None

    def record(
        self,
        source: Source | None,
        formation: Formation | None,
        desired: dict[str, int],
        running: bool,
    ) -> None:
        """The formation's source (file and ad-hoc apps) and the count of each type it has,
        or of a type it dropped that still has instances to stop."""
        names = formation.names if formation else []
        counts = {n: c for n, c in desired.items() if c or n in names}
        self.save(source.to_dict() if source else None, names, counts, running)

    def save(
        self,
        source: dict[str, Any] | None,
        types: list[str],
        counts: dict[str, int],
        running: bool,
    ) -> None:
        state = {
            "project": str(self.project),
            "source": source,
            "types": types,
            "counts": counts,
            "running": running,
            "daemon_pid": os.getpid(),
        }
        try:
            write_state(self.path, state)
        except OSError as exc:
            log.warning("cannot write %s: %s", self.path, exc)


def saved_source(state: dict[str, Any] | None) -> Source | None:
    """The formation source a restored state names, if it can still be loaded."""
    if not state or not isinstance(state.get("source"), dict):
        return None
    try:
        saved = Source.from_dict(state["source"])
    except ConfigError as exc:
        log.warning("ignoring the saved source: %s", exc)
        return None
    if saved.procfile is not None and not Path(saved.procfile).exists():
        log.warning("the saved formation %s is gone; using the project's", saved.procfile)
        return replace(saved, procfile=None)  # its ad-hoc apps come back all the same
    return saved
