"""procman.yaml -> process types, read from the YAML node tree.

We compose nodes instead of loading Python objects so that every error can say where it is:
`procman.yaml:12: processes.web.port: 70000 is not a port (1-65535)`. Scalars are still typed by
YAML's own resolver (so `instances: "3"` is a string, not an int, and `true` is never a number).
Merge keys (`<<: *base`) work as in any YAML loader; a key given twice in one mapping is an error
rather than YAML's silent "last one wins".
"""

from __future__ import annotations

import difflib
import math
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from procman.counts import cpu_count
from procman.errors import ConfigError
from procman.model import NAME_RE, Autoscale, ProcessType, ReadyCheck, RestartPolicy

# libyaml's composer is several times faster; the pure-Python one gives identical nodes and marks.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_MERGE_TAG = "tag:yaml.org,2002:merge"
_NULL_TAG = "tag:yaml.org,2002:null"
_TOP_KEYS = (
    "env_file",
    "processes",
    "log_max_size",
    "log_keep",
    "sample_interval",
    "metrics_port",
)
_TYPE_KEYS = (
    "cmd", "instances", "port", "socket", "env", "cwd", "restart", "kill_timeout", "max_memory",
    "ready", "ready_timeout", "min_uptime", "max_restarts", "autoscale",
)  # fmt: skip
_AUTOSCALE_KEYS = ("min", "max", "cpu", "memory", "queue", "window")
_SIZE_RE = re.compile(r"([0-9]+(?:\.[0-9]+)?)\s*(?:([KMGT])(i?B)?|(B))?", re.IGNORECASE)
_SIZE_POWERS = {"": 0, "K": 1, "M": 2, "G": 3, "T": 4}
_SIZE_HELP = "a size in bytes, or like 100K, 512M, 1.5G, 2GiB"

Pairs = dict[str, tuple[Node, Node]]


def _line(node: Node) -> int:
    return node.start_mark.line + 1


def _shown(node: Node) -> str:
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    if node.tag == _NULL_TAG:
        return "an empty value"
    style = getattr(node, "style", None)
    return node.value if not style else repr(node.value)  # libyaml says '' for plain


class _Parser:
    def __init__(self, file: str, project: Path) -> None:
        self.file, self.project = file, project
        self.constructor = SafeConstructor()

    def error(self, node: Node, path: str, message: str) -> ConfigError:
        return ConfigError(message, self.file, _line(node), path or None)

    def mapping(self, node: Node, path: str) -> Pairs:
        """Keys to (key node, value node), in file order, merge keys applied, duplicates refused."""
        if not isinstance(node, MappingNode):
            raise self.error(node, path, f"expected a mapping, got {_shown(node)}")
        pairs: Pairs = {}
        explicit: dict[str, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                sources = value_node.value if isinstance(value_node, SequenceNode) else [value_node]
                for source in sources:
                    for key, pair in self.mapping(source, path).items():
                        pairs.setdefault(key, pair)  # explicit keys and earlier merges win
                continue
            if not isinstance(key_node, ScalarNode):
                raise self.error(key_node, path, f"keys must be strings, not {_shown(key_node)}")
            key = key_node.value
            if key in explicit:
                where = f"{path}.{key}" if path else key
                raise self.error(key_node, where, f"duplicate key (first on line {explicit[key]})")
            explicit[key] = _line(key_node)
            pairs[key] = (key_node, value_node)
        return pairs

    def check_keys(self, pairs: Pairs, valid: tuple[str, ...], path: str) -> None:
        for key, (key_node, _value) in pairs.items():
            if key not in valid:
                close = difflib.get_close_matches(key, valid, n=1)
                hint = f'did you mean "{close[0]}"? ' if close else ""
                raise self.error(
                    key_node,
                    f"{path}.{key}" if path else key,
                    f"unknown key; {hint}valid keys: {', '.join(valid)}",
                )

    def value(self, node: Node, path: str, what: str) -> object:
        if not isinstance(node, ScalarNode) or node.tag == _NULL_TAG:
            raise self.error(node, path, f"expected {what}, got {_shown(node)}")
        try:
            return self.constructor.construct_object(node)
        except (yaml.YAMLError, ValueError, TypeError):
            raise self.error(node, path, f"{_shown(node)} is not {what}") from None

    def string(self, node: Node, path: str, what: str = "a string") -> str:
        value = self.value(node, path, what)
        if not isinstance(value, str) or not value.strip():
            raise self.error(node, path, f"{_shown(node)} is not {what}")
        return value

    def integer(self, node: Node, path: str, low: int, high: int | None, what: str) -> int:
        value = self.value(node, path, what)
        # bool is an int subclass; `port: true` must not mean port 1.
        if type(value) is not int or value < low or (high is not None and value > high):
            raise self.error(node, path, f"{_shown(node)} is not {what}")
        return value

    def number(self, node: Node, path: str, ok: Callable[[float], bool], what: str) -> float:
        value = self.value(node, path, what)
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise self.error(node, path, f"{_shown(node)} is not {what}")
        if not math.isfinite(value) or not ok(value):
            raise self.error(node, path, f"{_shown(node)} is not {what}")
        return float(value)

    def boolean(self, node: Node, path: str) -> bool:
        value = self.value(node, path, "true or false")
        if type(value) is not bool:
            raise self.error(node, path, f"{_shown(node)} is not true or false")
        return value

    def strings(self, node: Node, path: str, what: str) -> list[str]:
        if isinstance(node, SequenceNode):
            return [self.string(item, f"{path}[{i}]", what) for i, item in enumerate(node.value)]
        return [self.string(node, path, f"{what} or a list of them")]

    def document(
        self, root: Node | None
    ) -> tuple[list[ProcessType], list[str] | None, dict[str, Any]]:
        if root is None:
            raise ConfigError("is empty; it needs a `processes:` mapping", self.file)
        top = self.mapping(root, "")
        self.check_keys(top, _TOP_KEYS, "")
        env_file = None
        if "env_file" in top:
            env_file = self.strings(top["env_file"][1], "env_file", "a file name")
        settings: dict[str, Any] = {}
        if "log_max_size" in top:
            settings["log_max_size"] = self.size(top["log_max_size"][1], "log_max_size")
        if "sample_interval" in top:
            settings["sample_interval"] = self.number(
                top["sample_interval"][1],
                "sample_interval",
                lambda v: 0.1 <= v <= 3600,
                "seconds between samples (0.1-3600)",
            )
        if "metrics_port" in top:
            settings["metrics_port"] = self.integer(
                top["metrics_port"][1], "metrics_port", 1, 65535, "a port (1-65535)"
            )
        if "log_keep" in top:
            settings["log_keep"] = self.integer(
                top["log_keep"][1], "log_keep", 0, 1000, "a number of rotated files (0-1000)"
            )
        if "processes" not in top:
            raise self.error(root, "", "missing `processes:`, the mapping of process types")
        procs_key, procs_node = top["processes"]
        procs = self.mapping(procs_node, "processes")
        if not procs:
            raise self.error(procs_key, "processes", "declares no process types")
        types: list[ProcessType] = []
        port_owner: dict[int, tuple[str, int]] = {}
        for name, (key_node, node) in procs.items():
            path = f"processes.{name}"
            if not NAME_RE.fullmatch(name):
                raise self.error(
                    key_node, path, "not a process type name (letters, digits, '_' and '-')"
                )
            ptype, port_node = self.process(name, key_node, node, path)
            if ptype.port is not None and port_node is not None:
                if ptype.port in port_owner:
                    other, line = port_owner[ptype.port]
                    message = f"{ptype.port} is already the port of {other} (line {line})"
                    raise self.error(port_node, f"{path}.port", message)
                port_owner[ptype.port] = (name, _line(port_node))
            types.append(ptype)
        return types, env_file, settings

    def process(
        self, name: str, key_node: Node, node: Node, path: str
    ) -> tuple[ProcessType, Node | None]:
        pairs = self.mapping(node, path)
        self.check_keys(pairs, _TYPE_KEYS, path)
        if "cmd" not in pairs:
            raise self.error(key_node, path, "missing `cmd:`, the command to run")
        got = {key: (value, f"{path}.{key}") for key, (_key, value) in pairs.items()}
        port = None
        if "port" in got:
            port = self.integer(*got["port"], 1, 65535, "a port (1-65535)")
        socket = self.boolean(*got["socket"]) if "socket" in got else port is not None
        if socket and port is None:
            raise self.error(*got["socket"], "true needs a `port:` to bind")
        seconds = "a number of seconds"
        parsers: dict[str, Callable[[Node, str], object]] = {
            "cmd": lambda n, p: self.string(n, p, "a command (a non-empty string)"),
            "instances": self.instances,
            "env": self.env,
            "cwd": self.cwd,
            "restart": self.restart,
            "kill_timeout": lambda n, p: self.number(n, p, lambda v: v >= 0, f"{seconds} >= 0"),
            "max_memory": self.size,
            "ready": lambda n, p: self.ready(n, p, port),
            "ready_timeout": lambda n, p: self.number(n, p, lambda v: v > 0, f"{seconds} > 0"),
            "min_uptime": lambda n, p: self.number(n, p, lambda v: v >= 0, f"{seconds} >= 0"),
            "max_restarts": lambda n, p: self.integer(n, p, 1, None, "an integer >= 1"),
            "autoscale": lambda n, p: self.autoscale(n, p, socket),
        }
        opts: dict[str, object] = {
            "line": _line(key_node),
            "port": port,
            "socket": socket,
            "ready": ReadyCheck("port" if port is not None else "none"),
        }
        for key, parse in parsers.items():
            if key in got:
                opts[key] = parse(*got[key])
        port_node = got["port"][0] if "port" in got else None
        return ProcessType(name=name, **opts), port_node  # type: ignore[arg-type]

    def restart(self, node: Node, path: str) -> RestartPolicy:
        what = "always, on-failure or never"
        text = self.string(node, path, what)
        try:
            return RestartPolicy(text)
        except ValueError:
            raise self.error(node, path, f"{text} is not {what}") from None

    def instances(self, node: Node, path: str) -> int:
        what = 'an integer >= 0 or "max"'
        value = self.value(node, path, what)
        if value == "max":
            return cpu_count()
        if type(value) is not int or value < 0:
            raise self.error(node, path, f"{_shown(node)} is not {what}")
        return value

    def env(self, node: Node, path: str) -> dict[str, str]:
        env: dict[str, str] = {}
        for key, (key_node, value_node) in self.mapping(node, path).items():
            where = f"{path}.{key}"
            if not key or "=" in key or "\0" in key:
                raise self.error(key_node, where, "not a valid environment variable name")
            if not isinstance(value_node, ScalarNode):
                raise self.error(value_node, where, f"expected a value, got {_shown(value_node)}")
            # The text as written, so `1.10` stays "1.10" and `yes` stays "yes"; null is "".
            text = "" if value_node.tag == _NULL_TAG else value_node.value
            if "\0" in text:
                raise self.error(value_node, where, "a NUL character cannot go in the environment")
            env[key] = text
        return env

    def cwd(self, node: Node, path: str) -> Path:
        text = self.string(node, path, "a directory")
        resolved = Path(os.path.normpath(self.project.absolute() / os.path.expanduser(text)))
        if not resolved.is_dir():
            problem = "is not a directory" if resolved.exists() else "does not exist"
            raise self.error(node, path, f"{text} ({resolved}) {problem}")
        return resolved

    def size(self, node: Node, path: str) -> int:
        value = self.value(node, path, _SIZE_HELP)
        if type(value) is int:
            number, power = float(value), 0
        else:
            match = _SIZE_RE.fullmatch(value.strip()) if isinstance(value, str) else None
            if match is None:
                raise self.error(node, path, f"{_shown(node)} is not {_SIZE_HELP}")
            # float is exact enough: 1.5G and friends are binary fractions times 1024**k
            number, power = float(match[1]), _SIZE_POWERS[(match[2] or "").upper()]
        size = int(value) if type(value) is int else int(number * 1024**power)
        if size < 1:
            raise self.error(node, path, f"{_shown(node)} is not {_SIZE_HELP} (at least 1 byte)")
        return size

    def ready(self, node: Node, path: str, port: int | None) -> ReadyCheck:
        text = self.string(node, path, "none, port, notify or http:/path")
        try:
            check = ReadyCheck.parse(text)
        except ValueError as exc:
            raise self.error(node, path, str(exc)) from None
        if check.kind in ("port", "http") and port is None:
            raise self.error(node, path, f"{text} needs a `port:` on this process type")
        return check

    def autoscale(self, node: Node, path: str, socket: bool) -> Autoscale:
        pairs = self.mapping(node, path)
        self.check_keys(pairs, _AUTOSCALE_KEYS, path)
        missing = [key for key in ("min", "max") if key not in pairs]
        if missing:
            raise self.error(node, path, f"needs min and max (missing: {', '.join(missing)})")
        if not {"cpu", "memory", "queue"} & pairs.keys():
            raise self.error(node, path, "needs a target: cpu (%), memory (like 300M) or queue")
        got = {key: (value, f"{path}.{key}") for key, (_key, value) in pairs.items()}
        low = self.integer(*got["min"], 0, None, "an integer >= 0")
        high = self.integer(*got["max"], 1, None, "an integer >= 1")
        if low > high:
            raise self.error(pairs["min"][1], f"{path}.min", f"{low} is above max ({high})")
        if "queue" in got and not socket:
            raise self.error(
                *got["queue"],
                "needs a listener procman holds: queue counts the connections waiting in each "
                "instance's held socket, and this type has none (give it a `port:` with "
                "`socket: true`, or scale it on cpu or memory)",
            )
        parsers: dict[str, Callable[[Node, str], object]] = {
            "cpu": lambda n, p: self.number(n, p, lambda v: 0 < v <= 100, "a CPU % in (0, 100]"),
            "memory": self.size,
            "queue": lambda n, p: self.number(n, p, lambda v: v > 0, "a number of connections > 0"),
            "window": lambda n, p: self.number(n, p, lambda v: v >= 0, "seconds >= 0"),
        }
        opts = {key: parse(*got[key]) for key, parse in parsers.items() if key in got}
        return Autoscale(min=low, max=high, **opts)  # type: ignore[arg-type]


def parse_yaml(
    text: str, file: str, project: Path, port_base: int = 5000
) -> tuple[list[ProcessType], list[str] | None, dict[str, Any]]:
    """Parse procman.yaml `text`: (types in file order, env_file entries or None if absent,
    top-level settings such as log_max_size and log_keep that were given).

    `file` is only used in messages; `cwd:` is taken relative to `project`. `port_base` is
    accepted for symmetry with the Procfile parser: yaml ports are always explicit.
    """
    try:
        root = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark, context_mark = exc.problem_mark or exc.context_mark, exc.context_mark
        parts = [exc.context or "", exc.problem or ""]
        if exc.context and context_mark and mark and context_mark.line != mark.line:
            parts[0] += f" (line {context_mark.line + 1})"
        lines = text.splitlines()
        if mark and mark.line < len(lines) and "\t" in lines[mark.line]:
            parts[1] += " (a tab? YAML indents with spaces only)"
        message = "invalid YAML: " + ", ".join(part for part in parts if part)
        raise ConfigError(message, file, mark.line + 1 if mark else None) from None
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        code = ord(exc.character) if isinstance(exc.character, str) else exc.character
        raise ConfigError(f"invalid YAML: {exc.reason} (#x{code:04x})", file, line) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML: {str(exc).splitlines()[0]}", file) from None
    try:
        return _Parser(file, project).document(root)
    except RecursionError:
        # An alias inside its own anchor (`a: &x {<<: *x}`) composes fine but never ends.
        raise ConfigError("an alias refers to the mapping that contains it", file) from None
