"""A Formation as plain data: what `procman check --json` prints, and later the daemon's
`formation` method. Pure: no sockets, no click, no rich."""

from __future__ import annotations

from typing import Any

from procman.config.envfiles import mask_env
from procman.model import Formation
from procman.sysinfo import tcp_migrate_req


def describe_formation(
    formation: Formation, desired: dict[str, int] | None = None
) -> dict[str, Any]:
    """Root, source, env files and one dict per type (env values of secret-looking names
    masked). With desired (type -> count), every type also gets a `desired` key: its count
    there, else its configured instances."""
    types = []
    for t in formation.types:
        entry: dict[str, Any] = {
            "name": t.name,
            "cmd": t.cmd,
            "instances": t.instances,
            "port": t.port,
            "socket": t.socket,
            "ready": str(t.ready),
            "restart": t.restart.value,
            "env": mask_env(t.env),
            "watch": list(t.watch),
            "ignore": list(t.ignore),
            "cron_restart": t.cron_restart,
        }
        if desired is not None:
            entry["desired"] = desired.get(t.name, t.instances)
        types.append(entry)
    return {
        "tcp_migrate_req": tcp_migrate_req(),
        "root": str(formation.root),
        "source": str(formation.source) if formation.source else None,
        "env_files": [str(p) for p in formation.env_files],
        "types": types,
    }
