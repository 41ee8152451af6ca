"""The keys of procman.yaml: one table, read by the parser (config/yamlfile.py: which keys
exist, how each is checked) and by the JSON Schema (config/schema.py), so the two cannot
drift apart. Stdlib only: `procman schema` needs no YAML.

A key's `kind` names both its parser (`_Parser.<kind>` in yamlfile.py) and its schema
fragment (`FRAGMENTS[kind]` in schema.py); tests/unit/test_schema.py checks that every kind
has both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

SIZE_PATTERN = r"^\s*[0-9]+(\.[0-9]+)?\s*([KMGTkmgt]([iI]?[bB])?|[bB])?\s*$"
SIGNAL_PATTERN = r"^([A-Za-z][A-Za-z0-9+]*|[0-9]+)$"
READY_PATTERN = r"^(none|port|notify|http:(/.*)?)$"
NAME_PATTERN = r"^[A-Za-z0-9_-]+$"
CRON_PATTERN = r"^\s*(@[a-z]+|\S+(\s+\S+){4})\s*$"  # five fields or a macro; croniter checks more


@dataclass(frozen=True, slots=True)
class Key:
    name: str
    kind: str
    doc: str
    default: Any = None  # as a user would write it; None: no default, or one that depends
    required: bool = False
    low: float | None = None
    high: float | None = None
    above: bool = False  # low is exclusive: `> low`, not `>= low`
    choices: tuple[str, ...] = ()

    def what(self) -> str:
        """What a valid value is, for error messages: `an integer >= 1`, `a port (1-65535)`."""
        kind = self.kind
        if kind == "port":
            return "a port (1-65535)"
        if kind == "choice":
            return f"{', '.join(self.choices[:-1])} or {self.choices[-1]}"
        if kind in NOUNS:
            return NOUNS[kind] + _range(self.low, self.high, self.above)
        return KIND_WHAT.get(kind, kind)


def _range(low: float | None, high: float | None, above: bool) -> str:
    if low is not None and high is not None:
        return f" ({low:g}-{high:g})" if not above else f" in ({low:g}, {high:g}]"
    if low is not None:
        return f" {'>' if above else '>='} {low:g}"
    return ""


NOUNS = {
    "integer": "an integer",
    "seconds": "a number of seconds",
    "percent": "a CPU %",
    "connections": "a number of waiting connections",
}

KIND_WHAT = {
    "command": "a command (a non-empty string)",
    "instances": 'an integer >= 0 or "max"',
    "boolean": "true or false",
    "env": "a mapping of variable names to values",
    "directory": "a directory",
    "size": "a size in bytes, or like 100K, 512M, 1.5G, 2GiB",
    "ready": "none, port, notify or http:/path",
    "signal": "a signal name (TERM, SIGQUIT, INT, ...) or number",
    "files": "a file name or a list of them",
    "types": "a list of process type names",
    "autoscale": "a mapping with min, max and targets (cpu, memory, queue)",
    "watch": "true, false, a path or a list of paths",
    "globs": "a glob or a list of them",
    "cron": 'a cron expression, like "0 3 * * *"',
    "processes": "a mapping of process types",
}

AUTOSCALE_KEYS: tuple[Key, ...] = (
    Key("min", "integer", "the fewest instances the rule keeps", required=True, low=0),
    Key("max", "integer", "the most instances the rule starts", required=True, low=1),
    Key(
        "cpu", "percent", "target mean CPU per running instance, % of one core",
        low=0, high=100, above=True,
    ),
    Key("memory", "size", "target mean RSS of a running instance's process tree"),
    Key(
        "queue", "connections",
        "target mean connections waiting in a slot's accept queue (types with a held socket)",
        low=0, above=True,
    ),
    Key("window", "seconds", "scale-down stabilisation window", default=60, low=0),
)  # fmt: skip
#: an autoscale rule names at least one of these
AUTOSCALE_TARGETS = ("cpu", "memory", "queue")

TYPE_KEYS: tuple[Key, ...] = (
    Key("cmd", "command", "the command, run through /bin/sh -c", required=True),
    Key("instances", "instances", 'how many copies run: an integer >= 0 or "max" (CPUs)', 1),
    Key("port", "port", "PORT of every instance; shared through SO_REUSEPORT", low=1, high=65535),
    Key(
        "socket", "boolean",
        "the daemon binds one listener per instance and passes it on fd 3 (LISTEN_FDS); "
        "default true when the type has a port",
    ),
    Key("env", "env", "extra environment variables of the type", {}),
    Key("cwd", "directory", "working directory, relative to the project; must exist"),
    Key(
        "restart", "choice", "when an exited instance is started again", "always",
        choices=("always", "on-failure", "never"),
    ),
    Key("kill_timeout", "seconds", "seconds from the stop signal to SIGKILL", 5, low=0),
    Key("max_memory", "size", "restart an instance whose RSS (with its children) passes this"),
    Key(
        "ready", "ready",
        "when a new instance counts as ready: none, port, notify or http:/path; "
        "default port when the type has a port, else none",
    ),
    Key("ready_timeout", "seconds", "seconds a new instance may take to become ready", 30,
        low=0, above=True),
    Key("min_uptime", "seconds", "an exit sooner than this counts as a crash", 5, low=0),
    Key("max_restarts", "integer", "crashes in a row before the instance is errored", 10, low=1),
    Key(
        "autoscale", "autoscale",
        "follow cpu, memory and/or the accept queue (the highest proposal wins) between min and "
        "max instances",
    ),
    Key("stop_signal", "signal", "what a stop sends first; SIGKILL follows after kill_timeout",
        "SIGTERM"),
    Key(
        "after", "types",
        "start once these types are ready (one-shot types: exited 0); stop in reverse order",
        [],
    ),
    Key("watch", "watch", "reload (held socket) or restart the type when a file under these "
        "changes: true (its cwd) or paths relative to the project, which must exist", False),
    Key("ignore", "globs", "globs under the watched paths whose changes do not count", []),
    Key("cron_restart", "cron", 'reload (held socket) or restart the type at each time of '
        'this standard cron expression, like "0 3 * * *"'),
)  # fmt: skip

TOP_KEYS: tuple[Key, ...] = (
    Key("env_file", "files", "env file(s) to load, relative to the project; default .env"),
    Key("processes", "processes", "the process types, in start and display order", required=True),
    Key("log_max_size", "size", "a type's log file is rotated before it passes this", "10M"),
    Key("log_keep", "integer", "rotated log files kept per type", 5, low=0, high=1000),
    Key("sample_interval", "seconds", "seconds between CPU/memory samples", 2,
        low=0.1, high=3600),
    Key("metrics_port", "port", "serve Prometheus GET /metrics on this port", low=1, high=65535),
)  # fmt: skip


def names(keys: tuple[Key, ...]) -> tuple[str, ...]:
    return tuple(key.name for key in keys)
