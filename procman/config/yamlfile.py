"""procman.yaml -> process types, read from the YAML node tree.

We compose nodes instead of loading Python objects so that every error can say where it is:
`procman.yaml:12: processes.web.port: 70000 is not a port (1-65535)`; yamlnodes.py reads the
typed values. Which keys exist and how each is checked is one table, config/keys.py, which
the JSON Schema (config/schema.py) is built from as well.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import Node, ScalarNode, SequenceNode

from procman import order
from procman.config.keys import AUTOSCALE_KEYS, AUTOSCALE_TARGETS, TOP_KEYS, TYPE_KEYS, Key, names
from procman.config.yamlnodes import NULL_TAG, NodeReader, Pairs, line_of, shown
from procman.counts import cpu_count
from procman.errors import ConfigError
from procman.model import NAME_RE, Autoscale, ProcessType, ReadyCheck, RestartPolicy
from procman.order import RELEASE
from procman.signames import parse_signal

_SIZE_RE = re.compile(r"([0-9]+(?:\.[0-9]+)?)\s*(?:([KMGT])(i?B)?|(B))?", re.IGNORECASE)
_SIZE_POWERS = {"": 0, "K": 1, "M": 2, "G": 3, "T": 4}
_BOOL_TAG = "tag:yaml.org,2002:bool"
QUEUE_NEEDS_SOCKET = (
    "needs a listener procman holds: queue counts the connections waiting in each instance's "
    "held socket, and this type has none (give it a `port:` with `socket: true`, or scale it "
    "on cpu or memory)"
)


class _Parser(NodeReader):
    """procman.yaml's keys (config/keys.py), one parser per kind."""

    def parse(self, key: Key, node: Node, path: str) -> Any:
        return getattr(self, key.kind)(node, path, key)

    def table(
        self,
        pairs: Pairs,
        keys: tuple[Key, ...],
        path: str,
        owner: Node,
        missing: Callable[[list[str]], str],
    ) -> dict[str, Any]:
        """Check a mapping's keys against a table of config/keys.py and parse each value
        given; `missing` words the error for required keys that are absent."""
        self.check_keys(pairs, names(keys), path)
        absent = [key.name for key in keys if key.required and key.name not in pairs]
        if absent:
            raise self.error(owner, path, missing(absent))
        values: dict[str, Any] = {}
        for key in keys:
            if key.name in pairs:
                where = f"{path}.{key.name}" if path else key.name
                values[key.name] = self.parse(key, pairs[key.name][1], where)
        return values

    def command(self, node: Node, path: str, key: Key) -> str:
        return self.string(node, path, key.what())

    def port(self, node: Node, path: str, key: Key) -> int:
        return self.whole(node, path, 1, 65535, key.what())

    def integer(self, node: Node, path: str, key: Key) -> int:
        high = int(key.high) if key.high is not None else None
        return self.whole(node, path, int(key.low or 0), high, key.what())

    def seconds(self, node: Node, path: str, key: Key) -> float:
        low, high, above = key.low, key.high, key.above

        def ok(v: float) -> bool:
            if low is not None and (v <= low if above else v < low):
                return False
            return high is None or v <= high

        return self.number(node, path, ok, key.what())

    percent = connections = seconds

    def boolean(self, node: Node, path: str, key: Key) -> bool:
        return self.flag(node, path)

    def choice(self, node: Node, path: str, key: Key) -> str:
        text = self.string(node, path, key.what())
        if text not in key.choices:
            raise self.error(node, path, f"{text} is not {key.what()}")
        return text

    def files(self, node: Node, path: str, key: Key) -> list[str]:
        return self.strings(node, path, "a file name")

    def signal(self, node: Node, path: str, key: Key) -> int:
        value = self.value(node, path, key.what())
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise self.error(node, path, f"{shown(node)} is not {key.what()}")
        try:
            return int(parse_signal(value))
        except ValueError as exc:
            raise self.error(node, path, str(exc)) from None

    def types(self, node: Node, path: str, key: Key) -> tuple[str, ...]:
        found = self.strings(node, path, "a process type name")
        for i, name in enumerate(found):
            if not NAME_RE.fullmatch(name):
                item = node.value[i] if isinstance(node, SequenceNode) else node
                raise self.error(item, path, f"{name!r} is not a process type name")
        return tuple(found)

    # -- the document ---------------------------------------------------------------------

    def document(
        self, root: Node | None
    ) -> tuple[list[ProcessType], list[str] | None, dict[str, Any]]:
        if root is None:
            raise ConfigError("is empty; it needs a `processes:` mapping", self.file)
        top = self.mapping(root, "")
        settings = self.table(
            top, TOP_KEYS, "", root, lambda _: "missing `processes:`, the mapping of process types"
        )
        env_file = settings.pop("env_file", None)
        types = settings.pop("processes")
        self.check_order(types, top["processes"][1])
        return types, env_file, settings

    def processes(self, node: Node, path: str, key: Key) -> list[ProcessType]:
        procs = self.mapping(node, path)
        if not procs:
            raise self.error(node, path, "declares no process types")
        types: list[ProcessType] = []
        port_owner: dict[int, tuple[str, int]] = {}
        for name, (key_node, type_node) in procs.items():
            where = f"{path}.{name}"
            if not NAME_RE.fullmatch(name):
                raise self.error(
                    key_node, where, "not a process type name (letters, digits, '_' and '-')"
                )
            ptype, port_node = self.process(name, key_node, type_node, where)
            if ptype.port is not None and port_node is not None:
                if ptype.port in port_owner:
                    other, line = port_owner[ptype.port]
                    message = f"{ptype.port} is already the port of {other} (line {line})"
                    raise self.error(port_node, f"{where}.port", message)
                port_owner[ptype.port] = (name, line_of(port_node))
            types.append(ptype)
        return types

    def process(
        self, name: str, key_node: Node, node: Node, path: str
    ) -> tuple[ProcessType, Node | None]:
        pairs = self.mapping(node, path)
        values = self.table(
            pairs, TYPE_KEYS, path, key_node, lambda _: "missing `cmd:`, the command to run"
        )
        node_of = {key: value for key, (_key, value) in pairs.items()}
        port = values.get("port")
        socket = values.setdefault("socket", port is not None)
        if socket and port is None:
            raise self.error(node_of["socket"], f"{path}.socket", "true needs a `port:` to bind")
        ready = values.get("ready")
        if ready is not None and ready.kind in ("port", "http") and port is None:
            message = f"{ready} needs a `port:` on this process type"
            raise self.error(node_of["ready"], f"{path}.ready", message)
        values.setdefault("ready", ReadyCheck("port" if port is not None else "none"))
        scale = values.get("autoscale")
        if scale is not None and scale.queue is not None and not socket:
            queue = self.mapping(node_of["autoscale"], f"{path}.autoscale")["queue"][1]
            raise self.error(queue, f"{path}.autoscale.queue", QUEUE_NEEDS_SOCKET)
        if "restart" in values:
            values["restart"] = RestartPolicy(values["restart"])
        if values.get("watch") is True:  # the type's own directory
            values["watch"] = (str(values.get("cwd") or self.project.absolute()),)
        elif values.get("watch") is False:
            values["watch"] = ()
        if values.get("ignore") and not values.get("watch"):
            message = "needs `watch:` (true or a list of paths)"
            raise self.error(node_of["ignore"], f"{path}.ignore", message)
        if name == RELEASE:
            if values.get("restart", RestartPolicy.NEVER) != RestartPolicy.NEVER:
                message = "the release phase runs once, to completion: it is never restarted"
                raise self.error(node_of["restart"], f"{path}.restart", message)
            values["restart"] = RestartPolicy.NEVER
        return ProcessType(name=name, line=line_of(key_node), **values), node_of.get("port")

    def check_order(self, types: list[ProcessType], procs_node: Node) -> None:
        """`after:` names types of the file, and the start order has no cycle."""
        procs = self.mapping(procs_node, "processes")
        known = {t.name for t in types}

        def after_node(name: str) -> Node:
            pairs = self.mapping(procs[name][1], f"processes.{name}")
            return pairs["after"][1] if "after" in pairs else procs[name][0]

        for ptype in types:
            for i, other in enumerate(ptype.after):
                if other not in known:
                    node = after_node(ptype.name)
                    item = node.value[i] if isinstance(node, SequenceNode) else node
                    raise self.error(
                        item,
                        f"processes.{ptype.name}.after",
                        f"no process type {other!r} (types: {', '.join(t.name for t in types)})",
                    )
        cycle = order.find_cycle(order.dependencies(types))
        if cycle:
            # release's implicit edges never close a cycle (see order.dependencies)
            first = cycle[0]
            raise self.error(
                after_node(first),
                f"processes.{first}.after",
                f"start order has a cycle: {' -> '.join(cycle)}; remove one of these `after:` "
                "entries",
            )

    def watch(self, node: Node, path: str, key: Key) -> tuple[str, ...] | bool:
        """true (the type's cwd), false, or paths relative to the project that must exist."""
        if isinstance(node, ScalarNode) and node.tag == _BOOL_TAG:
            return self.flag(node, path)
        found = []
        for i, text in enumerate(self.strings(node, path, "a path")):
            where = f"{path}[{i}]" if isinstance(node, SequenceNode) else path
            resolved = os.path.normpath(self.project.absolute() / os.path.expanduser(text))
            if not os.path.exists(resolved):
                item = node.value[i] if isinstance(node, SequenceNode) else node
                raise self.error(item, where, f"{text} ({resolved}) does not exist")
            found.append(resolved)
        return tuple(found)

    def globs(self, node: Node, path: str, key: Key) -> tuple[str, ...]:
        return tuple(self.strings(node, path, "a glob"))

    def cron(self, node: Node, path: str, key: Key) -> str:
        from procman.config.cron import check_cron  # croniter: only for formations that use it

        text = self.string(node, path, key.what())
        try:
            return check_cron(text)
        except ValueError as exc:
            raise self.error(node, path, str(exc)) from None

    def instances(self, node: Node, path: str, key: Key) -> int:
        what = key.what()
        value = self.value(node, path, what)
        if value == "max":
            return cpu_count()
        if type(value) is not int or value < 0:
            raise self.error(node, path, f"{shown(node)} is not {what}")
        return value

    def env(self, node: Node, path: str, key: Key) -> dict[str, str]:
        env: dict[str, str] = {}
        for name, (key_node, value_node) in self.mapping(node, path).items():
            where = f"{path}.{name}"
            if not name or "=" in name or "\0" in name:
                raise self.error(key_node, where, "not a valid environment variable name")
            if not isinstance(value_node, ScalarNode):
                raise self.error(value_node, where, f"expected a value, got {shown(value_node)}")
            # The text as written, so `1.10` stays "1.10" and `yes` stays "yes"; null is "".
            text = "" if value_node.tag == NULL_TAG else value_node.value
            if "\0" in text:
                raise self.error(value_node, where, "a NUL character cannot go in the environment")
            env[name] = text
        return env

    def directory(self, node: Node, path: str, key: Key) -> Path:
        text = self.string(node, path, key.what())
        resolved = Path(os.path.normpath(self.project.absolute() / os.path.expanduser(text)))
        if not resolved.is_dir():
            problem = "is not a directory" if resolved.exists() else "does not exist"
            raise self.error(node, path, f"{text} ({resolved}) {problem}")
        return resolved

    def size(self, node: Node, path: str, key: Key) -> int:
        what = key.what()
        value = self.value(node, path, what)
        if type(value) is int:
            number, power = float(value), 0
        else:
            match = _SIZE_RE.fullmatch(value.strip()) if isinstance(value, str) else None
            if match is None:
                raise self.error(node, path, f"{shown(node)} is not {what}")
            # float is exact enough: 1.5G and friends are binary fractions times 1024**k
            number, power = float(match[1]), _SIZE_POWERS[(match[2] or "").upper()]
        size = int(value) if type(value) is int else int(number * 1024**power)
        if size < 1:
            raise self.error(node, path, f"{shown(node)} is not {what} (at least 1 byte)")
        return size

    def ready(self, node: Node, path: str, key: Key) -> ReadyCheck:
        text = self.string(node, path, key.what())
        try:
            return ReadyCheck.parse(text)
        except ValueError as exc:
            raise self.error(node, path, str(exc)) from None

    def autoscale(self, node: Node, path: str, key: Key) -> Autoscale:
        pairs = self.mapping(node, path)
        values = self.table(
            pairs,
            AUTOSCALE_KEYS,
            path,
            node,
            lambda absent: f"needs min and max (missing: {', '.join(absent)})",
        )
        if not any(name in values for name in AUTOSCALE_TARGETS):
            raise self.error(node, path, "needs a target: cpu (%), memory (like 300M) or queue")
        if values["min"] > values["max"]:
            message = f"{values['min']} is above max ({values['max']})"
            raise self.error(pairs["min"][1], f"{path}.min", message)
        return Autoscale(**values)


def parse_yaml(
    text: str, file: str, project: Path, port_base: int = 5000
) -> tuple[list[ProcessType], list[str] | None, dict[str, Any]]:
    """Parse procman.yaml `text`: (types in file order, env_file entries or None if absent,
    top-level settings such as log_max_size and log_keep that were given).

    `file` is only used in messages; `cwd:` is taken relative to `project`. `port_base` is
    accepted for symmetry with the Procfile parser: yaml ports are always explicit.
    """
    try:
        # The pure-Python composer, even where libyaml is installed: the daemon leaves
        # libyaml's extension out (0.4 MiB held for its whole life to parse a file a few
        # times), and `procman check` must word errors as the daemon does. libyaml is
        # faster (0.16 against 1.2 ms for five types, 3 against 23 ms for 100).
        root = yaml.compose(text, Loader=yaml.SafeLoader)
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
