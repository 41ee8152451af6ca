"""Everything the daemon knows of a process type and its instances, for `procman describe`
and `procman env`: the definition in force, and per instance what its process was started
with (the launcher's record), its state, last exit, readiness and listener. Also which
formation files changed on disk since they were read. Reads only; decides nothing."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from procman.config.envfiles import display_path, mask_env
from procman.config.load import Source
from procman.daemon.group import Group
from procman.daemon.instance import Instance, describe_exit
from procman.daemon.launcher import Launch
from procman.errors import NotFound
from procman.model import Formation, InstanceState

Stamp = tuple[str, int, int] | tuple[str, None, None]


def describe(
    group: Group,
    insts: list[Instance],
    rows: list[dict[str, Any]],
    formation: Formation,
    source: Source | None,
    files: Mapping[str, str],
) -> dict[str, Any]:
    """`procman describe TYPE|ID`: the type, and each instance named with its status row."""
    return {
        "type": type_entry(group, formation, source, files),
        "instances": [instance_entry(i, row) for i, row in zip(insts, rows, strict=True)],
    }


def type_entry(
    group: Group, formation: Formation, source: Source | None, files: Mapping[str, str]
) -> dict[str, Any]:
    """The type as the daemon runs it now."""
    t = group.ptype
    if source is not None and source.app(t.name) is not None:
        origin = "ad-hoc app (procman start CMD --name NAME)"
    elif formation.source is not None:
        shown = display_path(formation.source, formation.root)
        origin = f"{shown}:{t.line}" if t.line else shown
    else:
        origin = None
    scale = group.summary()["autoscale"]
    if scale is not None and t.autoscale is not None:
        scale["window"] = t.autoscale.window
    return {
        "name": t.name,
        "defined_in": origin,
        "cmd": t.cmd,
        "cwd": str(t.cwd or formation.root),
        "desired": group.desired,
        "port": t.port,
        "socket": t.socket,
        "ready": str(t.ready),
        "ready_timeout": t.ready_timeout,
        "restart": t.restart.value,
        "kill_timeout": t.kill_timeout,
        "min_uptime": t.min_uptime,
        "max_restarts": t.max_restarts,
        "max_memory": t.max_memory,
        "autoscale": scale,
        "env_files": [display_path(p, formation.root) for p in formation.env_files],
        "logs": dict(files),
    }


def instance_entry(inst: Instance, row: dict[str, Any]) -> dict[str, Any]:
    """The instance: its status row, and what its current (or last) process started with."""
    launch: Launch | None = inst.launched
    entry = dict(row)
    entry["pgid"] = _pgid(inst.pid)
    entry["started_at"] = launch.started if launch is not None and inst.live else None
    code = inst.exit_code
    reason = inst.reason or (describe_exit(code) if code is not None else None)
    entry["last_exit"] = (
        None if code is None and reason is None else {"code": code, "reason": reason}
    )
    entry["readiness"] = {
        "check": str(inst.ptype.ready),
        "timeout_s": inst.ptype.ready_timeout,
        "state": _readiness(inst),
    }
    entry["command"] = launch.argv if launch is not None else None
    entry["cwd"] = launch.cwd if launch is not None else None
    entry["env"] = mask_env(dict(sorted(launch.env.items()))) if launch is not None else None
    entry["listener"] = (
        {"host": launch.listener[0], "port": launch.listener[1], "fd": 3}
        if launch is not None and launch.listener is not None
        else None
    )
    return entry


def _readiness(inst: Instance) -> str:
    if inst.state == InstanceState.RUNNING:
        return "ready"
    if inst.state == InstanceState.STARTING:
        return "waiting"
    return "not running"


def _pgid(pid: int | None) -> int | None:
    if pid is None:
        return None
    try:
        return os.getpgid(pid)
    except OSError:
        return None


def environment(inst: Instance, reveal: bool) -> dict[str, Any]:
    """`procman env ID`: the environment its current (or last) process started with."""
    launch: Launch | None = inst.launched
    if launch is None:
        raise NotFound(f"{inst.id} has not started a process yet (state {inst.state.value})")
    env = dict(sorted(launch.env.items()))
    return {
        "id": str(inst.id),
        "pid": inst.pid,
        "masked": not reveal,
        "stale": bool(inst.live and launch.stale),
        "env": env if reveal else mask_env(env),
    }


def stamps(formation: Formation) -> list[Stamp]:
    """What the formation's files were when read: path, mtime (ns) and size."""
    files = [formation.source] if formation.source is not None else []
    return [_stamp(p) for p in [*files, *formation.env_files]]


def changed_since(formation: Formation, read: list[Stamp]) -> list[str]:
    """The formation's files that differ on disk from when they were read."""
    return [
        display_path(Path(old[0]), formation.root) for old in read if _stamp(Path(old[0])) != old
    ]


def _stamp(path: Path) -> Stamp:
    try:
        info = path.stat()
    except OSError:
        return (str(path), None, None)
    return (str(path), info.st_mtime_ns, info.st_size)
