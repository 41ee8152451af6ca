"""Typed values out of a YAML node tree, each error with the file, line and key path:
the reading half of the procman.yaml parser (yamlfile.py holds what the keys mean).

Scalars are typed by YAML's own resolver (so `"3"` is a string and `true` is never a
number); merge keys (`<<: *base`) work; a key given twice in one mapping is an error
rather than YAML's silent "last one wins".
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from procman.errors import ConfigError

MERGE_TAG = "tag:yaml.org,2002:merge"
NULL_TAG = "tag:yaml.org,2002:null"

Pairs = dict[str, tuple[Node, Node]]


def line_of(node: Node) -> int:
    return node.start_mark.line + 1


def shown(node: Node) -> str:
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    if node.tag == NULL_TAG:
        return "an empty value"
    style = getattr(node, "style", None)
    return node.value if not style else repr(node.value)  # libyaml says '' for plain


class NodeReader:
    def __init__(self, file: str, project: Path) -> None:
        self.file, self.project = file, project
        self.constructor = SafeConstructor()

    def error(self, node: Node, path: str, message: str) -> ConfigError:
        return ConfigError(message, self.file, line_of(node), path or None)

    def mapping(self, node: Node, path: str) -> Pairs:
        """Keys to (key node, value node), in file order, merge keys applied, duplicates refused."""
        if not isinstance(node, MappingNode):
            raise self.error(node, path, f"expected a mapping, got {shown(node)}")
        pairs: Pairs = {}
        explicit: dict[str, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == MERGE_TAG:
                sources = value_node.value if isinstance(value_node, SequenceNode) else [value_node]
                for source in sources:
                    for key, pair in self.mapping(source, path).items():
                        pairs.setdefault(key, pair)  # explicit keys and earlier merges win
                continue
            if not isinstance(key_node, ScalarNode):
                raise self.error(key_node, path, f"keys must be strings, not {shown(key_node)}")
            key = key_node.value
            if key in explicit:
                where = f"{path}.{key}" if path else key
                raise self.error(key_node, where, f"duplicate key (first on line {explicit[key]})")
            explicit[key] = line_of(key_node)
            pairs[key] = (key_node, value_node)
        return pairs

    def check_keys(self, pairs: Pairs, valid: tuple[str, ...], path: str) -> None:
        for key, (key_node, _value) in pairs.items():
            if key not in valid:
                import difflib  # only for a typo: ~0.2 MiB the daemon keeps otherwise

                close = difflib.get_close_matches(key, valid, n=1)
                hint = f'did you mean "{close[0]}"? ' if close else ""
                raise self.error(
                    key_node,
                    f"{path}.{key}" if path else key,
                    f"unknown key; {hint}valid keys: {', '.join(valid)}",
                )

    def value(self, node: Node, path: str, what: str) -> object:
        if not isinstance(node, ScalarNode) or node.tag == NULL_TAG:
            raise self.error(node, path, f"expected {what}, got {shown(node)}")
        try:
            return self.constructor.construct_object(node)
        except (yaml.YAMLError, ValueError, TypeError):
            raise self.error(node, path, f"{shown(node)} is not {what}") from None

    def string(self, node: Node, path: str, what: str = "a string") -> str:
        value = self.value(node, path, what)
        if not isinstance(value, str) or not value.strip():
            raise self.error(node, path, f"{shown(node)} is not {what}")
        return value

    def whole(self, node: Node, path: str, low: int, high: int | None, what: str) -> int:
        value = self.value(node, path, what)
        # bool is an int subclass; `port: true` must not mean port 1.
        if type(value) is not int or value < low or (high is not None and value > high):
            raise self.error(node, path, f"{shown(node)} is not {what}")
        return value

    def number(self, node: Node, path: str, ok: Callable[[float], bool], what: str) -> float:
        value = self.value(node, path, what)
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise self.error(node, path, f"{shown(node)} is not {what}")
        if not math.isfinite(value) or not ok(value):
            raise self.error(node, path, f"{shown(node)} is not {what}")
        return float(value)

    def flag(self, node: Node, path: str) -> bool:
        value = self.value(node, path, "true or false")
        if type(value) is not bool:
            raise self.error(node, path, f"{shown(node)} is not true or false")
        return value

    def strings(self, node: Node, path: str, what: str) -> list[str]:
        if isinstance(node, SequenceNode):
            return [self.string(item, f"{path}[{i}]", what) for i, item in enumerate(node.value)]
        return [self.string(node, path, f"{what} or a list of them")]

    # -- one parser per kind of config/keys.py -----------------------------------------
