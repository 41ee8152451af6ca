"""A Formation as plain data: what `procman check --json` prints and the daemon's
`formation` method returns. Every per-type setting, the ports each instance gets and the
start order. Pure: no sockets, no click, no rich."""

from __future__ import annotations

from typing import Any

from procman import order
from procman.config.envfiles import mask_env
from procman.model import Formation, ProcessType
from procman.signames import signal_name
from procman.sysinfo import tcp_migrate_req


def describe_type(t: ProcessType, count: int) -> dict[str, Any]:
    """One type's settings; `ports` lists the PORT of each of `count` instances."""
    scale = t.autoscale
    return {
        "name": t.name,
        "cmd": t.cmd,
        "instances": t.instances,
        "port": t.port,
        "ports": [t.port_of(i) for i in range(count)] if t.port is not None else [],
        "port_per_instance": t.instance_ports,
        "socket": t.socket,
        "env": mask_env(t.env),
        "cwd": str(t.cwd) if t.cwd is not None else None,
        "restart": t.restart.value,
        "kill_timeout": t.kill_timeout,
        "stop_signal": signal_name(t.stop_signal),
        "max_memory": t.max_memory,
        "ready": str(t.ready),
        "ready_timeout": t.ready_timeout,
        "min_uptime": t.min_uptime,
        "max_restarts": t.max_restarts,
        "autoscale": None
        if scale is None
        else {
            "min": scale.min,
            "max": scale.max,
            "cpu": scale.cpu,
            "memory": scale.memory,
            "queue": scale.queue,
            "window": scale.window,
        },
        "after": list(t.after),
        "watch": list(t.watch),
        "ignore": list(t.ignore),
        "cron_restart": t.cron_restart,
        "line": t.line,
    }


def describe_formation(
    formation: Formation, desired: dict[str, int] | None = None
) -> dict[str, Any]:
    """Root, source, env files, one dict per type (env values of secret-looking names
    masked) and the start order. With desired (type -> count), every type also gets a
    `desired` key: its count there, else its configured instances; ports follow it."""
    types = []
    for t in formation.types:
        count = desired.get(t.name, t.instances) if desired is not None else t.instances
        entry = describe_type(t, count)
        if desired is not None:
            entry["desired"] = count
        types.append(entry)
    deps = order.dependencies(formation.types)
    return {
        "tcp_migrate_req": tcp_migrate_req(),
        "root": str(formation.root),
        "source": str(formation.source) if formation.source else None,
        "env_files": [str(p) for p in formation.env_files],
        "env": mask_env(formation.env),
        "types": types,
        "start_order": order.waves(deps),
        "depends": {name: list(after) for name, after in deps.items()},
    }
