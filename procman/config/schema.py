"""The JSON Schema of procman.yaml, built from the loader's own table of keys (keys.py).

`procman schema` prints it; procman/config/procman.schema.json is the same text, shipped in
the package for editors (`# yaml-language-server: $schema=...`), and a test checks that it
is up to date. The schema checks shapes and ranges; what only the loader can know (a `cwd`
that exists, an `after:` that names a type, no cycle, one port per type) stays the loader's.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from procman.config.keys import (
    AUTOSCALE_KEYS,
    AUTOSCALE_TARGETS,
    CRON_PATTERN,
    NAME_PATTERN,
    READY_PATTERN,
    SIGNAL_PATTERN,
    SIZE_PATTERN,
    TOP_KEYS,
    TYPE_KEYS,
    Key,
)

DRAFT = "http://json-schema.org/draft-07/schema#"

Obj = dict[str, Any]


def _number(key: Key, kind: str = "number") -> Obj:
    out: Obj = {"type": kind}
    if key.low is not None:
        out["exclusiveMinimum" if key.above else "minimum"] = _plain(key.low)
    if key.high is not None:
        out["maximum"] = _plain(key.high)
    return out


def _plain(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def _nonempty() -> Obj:
    return {"type": "string", "minLength": 1, "pattern": r"\S"}


FRAGMENTS: dict[str, Callable[[Key], Obj]] = {
    "command": lambda key: _nonempty(),
    "instances": lambda key: {
        "oneOf": [{"type": "integer", "minimum": 0}, {"type": "string", "enum": ["max"]}]
    },
    "port": lambda key: _number(key, "integer"),
    "integer": lambda key: _number(key, "integer"),
    "seconds": _number,
    "percent": _number,
    "boolean": lambda key: {"type": "boolean"},
    "env": lambda key: {
        "type": "object",
        "propertyNames": {"pattern": "^[^=\\u0000]+$"},
        "additionalProperties": {"type": ["string", "number", "boolean", "null"]},
    },
    "directory": lambda key: _nonempty(),
    "choice": lambda key: {"type": "string", "enum": list(key.choices)},
    "size": lambda key: {
        "oneOf": [{"type": "integer", "minimum": 1}, {"type": "string", "pattern": SIZE_PATTERN}]
    },
    "ready": lambda key: {"type": "string", "pattern": READY_PATTERN},
    "signal": lambda key: {
        "oneOf": [
            {"type": "integer", "minimum": 1, "maximum": 64},
            {"type": "string", "pattern": SIGNAL_PATTERN},
        ]
    },
    "files": lambda key: {
        "oneOf": [_nonempty(), {"type": "array", "items": _nonempty(), "minItems": 1}]
    },
    "types": lambda key: {
        "oneOf": [
            {"type": "string", "pattern": NAME_PATTERN},
            {"type": "array", "items": {"type": "string", "pattern": NAME_PATTERN}},
        ]
    },
    "watch": lambda key: {
        "oneOf": [{"type": "boolean"}, _nonempty(), {"type": "array", "items": _nonempty()}]
    },
    "globs": lambda key: {"oneOf": [_nonempty(), {"type": "array", "items": _nonempty()}]},
    "cron": lambda key: {"type": "string", "pattern": CRON_PATTERN},
    "connections": _number,
    "autoscale": lambda key: {
        **_object(AUTOSCALE_KEYS),
        "anyOf": [{"required": [name]} for name in AUTOSCALE_TARGETS],
    },
    "processes": lambda key: {
        "type": "object",
        "minProperties": 1,
        "propertyNames": {"pattern": NAME_PATTERN},
        "additionalProperties": _object(TYPE_KEYS),
    },
}


def _property(key: Key) -> Obj:
    out = {"description": key.doc, **FRAGMENTS[key.kind](key)}
    if key.default is not None:
        out["default"] = key.default
    return out


def _object(keys: tuple[Key, ...]) -> Obj:
    out: Obj = {
        "type": "object",
        "additionalProperties": False,
        "properties": {key.name: _property(key) for key in keys},
    }
    required = [key.name for key in keys if key.required]
    if required:
        out["required"] = required
    return out


def schema() -> Obj:
    return {
        "$schema": DRAFT,
        "title": "procman.yaml",
        "description": "A procman formation: process types and how each one runs.",
        **_object(TOP_KEYS),
    }


def schema_text() -> str:
    """The schema as the shipped file holds it."""
    return json.dumps(schema(), indent=2, ensure_ascii=False) + "\n"
