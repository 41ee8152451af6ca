"""Frozen config (dataclasses of enums, paths, tuples and dicts) as JSON values and back,
led by the dataclasses' own type hints, so a field added later needs no change here.
Stdlib only. `procman update` carries the running formation across the exec with it."""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from enum import Enum
from pathlib import Path
from typing import Any, Union

PLAIN = (bool, int, float, str)


def to_plain(value: Any) -> Any:
    if value is None or isinstance(value, PLAIN) and not isinstance(value, Enum):
        return value
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Path):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (tuple, list)):
        return [to_plain(item) for item in value]
    if isinstance(value, Mapping):
        return {str(key): to_plain(item) for key, item in value.items()}
    raise TypeError(f"cannot write a {type(value).__name__} as JSON")


def from_plain(hint: Any, value: Any) -> Any:
    """The inverse of to_plain for the type `hint`: a key the dataclass does not have is
    dropped, a field the value lacks takes its default. TypeError/ValueError if it does not
    fit."""
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        for option in options:
            if option is type(None):
                continue
            try:
                return from_plain(option, value)
            except (TypeError, ValueError):
                continue
        raise TypeError(f"{value!r} is none of {hint}")
    if origin in (tuple, list):
        if not isinstance(value, list):
            raise TypeError(f"expected a list, got {value!r}")
        args = typing.get_args(hint)
        if origin is tuple and args and args[-1] is not Ellipsis:
            return tuple(from_plain(a, v) for a, v in zip(args, value, strict=True))
        item = args[0] if args else Any
        items = [from_plain(item, v) for v in value]
        return tuple(items) if origin is tuple else items
    if origin in (dict, Mapping):
        if not isinstance(value, dict):
            raise TypeError(f"expected an object, got {value!r}")
        _, item = typing.get_args(hint) or (str, Any)
        return {key: from_plain(item, v) for key, v in value.items()}
    if hint is Any:
        return value
    if not isinstance(hint, type):
        raise TypeError(f"cannot read a {hint}")
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            raise TypeError(f"expected an object for {hint.__name__}, got {value!r}")
        hints = typing.get_type_hints(hint)
        known = {f.name for f in dataclasses.fields(hint) if f.init}
        return hint(**{k: from_plain(hints[k], v) for k, v in value.items() if k in known})
    if issubclass(hint, Enum):
        return hint(value)
    if issubclass(hint, Path):
        if not isinstance(value, str):
            raise TypeError(f"expected a path, got {value!r}")
        return Path(value)
    if hint is float and type(value) is int:
        return float(value)
    if isinstance(value, hint) and not (isinstance(value, bool) and hint is not bool):
        return value
    raise TypeError(f"expected {hint.__name__}, got {value!r}")
