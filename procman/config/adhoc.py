"""Ad-hoc apps: process types started from the command line (`procman start CMD --name N`,
PM2's `pm2 start`), kept beside the formation file's types. JSON-able, because they travel
in a Source over the control socket and into state.json. Stdlib only (plus procman leaves).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from procman.config.procfile import PORT_STEP, mentions_port
from procman.errors import ConfigError
from procman.model import ProcessType, ReadyCheck
from procman.names import NAME_RE, NAME_RULE


def _is_port(value: object) -> bool:
    return type(value) is int and 1 <= value <= 65535


@dataclass(frozen=True, slots=True)
class AdHoc:
    """One app: its type name, its command, its port and how many instances it started with."""

    name: str
    cmd: str
    port: int | None = None
    socket: bool = False  # the daemon holds the port's listeners (given with --port)
    instances: int = 1

    def __post_init__(self) -> None:
        if not NAME_RE.match(self.name):
            raise ConfigError(f"{self.name!r} is not a process type name ({NAME_RULE})")
        if not self.cmd.strip():
            raise ConfigError("the command to run is empty")
        if self.port is not None and not _is_port(self.port):
            raise ConfigError(f"port {self.port} is not a port (1-65535)")
        if type(self.instances) is not int or self.instances < 0:
            raise ConfigError(f"instances {self.instances!r} is not a count (an integer >= 0)")

    @classmethod
    def create(
        cls,
        name: str,
        cmd: str,
        port: int | None = None,
        instances: int = 1,
        taken: Collection[int] = (),
        port_base: int = 5000,
    ) -> AdHoc:
        """A new app. With a port, the daemon holds its listeners; a command that mentions
        $PORT without one gets the first of base, base+100, ... that no other type uses
        (Foreman's spacing), fixed from now on so that deleting a type moves no port."""
        cmd = cmd.strip()
        if port is not None:
            return cls(name, cmd, port, True, instances)
        if mentions_port(cmd):
            free = port_base
            while free in taken:
                free += PORT_STEP
            if not _is_port(free):
                raise ConfigError(f"{name}: no free port from {port_base} on; pass --port")
            return cls(name, cmd, free, False, instances)
        return cls(name, cmd, None, False, instances)

    def ptype(self) -> ProcessType:
        return ProcessType(
            name=self.name,
            cmd=self.cmd,
            instances=self.instances,
            port=self.port,
            socket=self.socket,
            ready=ReadyCheck("port") if self.port is not None else ReadyCheck("none"),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "cmd": self.cmd,
            "port": self.port,
            "socket": self.socket,
            "instances": self.instances,
        }

    @classmethod
    def from_dict(cls, data: object) -> AdHoc:
        if not isinstance(data, dict):
            raise ConfigError(f"source.apps: expected an object, got {type(data).__name__}")
        shapes: dict[str, tuple[type, ...]] = {
            "name": (str,),
            "cmd": (str,),
            "port": (int, type(None)),
            "socket": (bool,),
            "instances": (int,),
        }
        for key, value in data.items():
            if key not in shapes:
                known = ", ".join(shapes)
                raise ConfigError(f"source.apps: unknown key {key!r}; valid keys: {known}")
            if not isinstance(value, shapes[key]) or (isinstance(value, bool) and key != "socket"):
                raise ConfigError(f"source.apps.{key}: {value!r} has the wrong type")
        for key in ("name", "cmd"):
            if key not in data:
                raise ConfigError(f"source.apps: {key!r} is required")
        return cls(**data)
