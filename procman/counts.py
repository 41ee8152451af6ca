"""Scale arithmetic: `4`, `max`, `+2`, `-1` and `web=+2`. Stdlib only (plus procman.errors).

The CLI parses with these, the daemon applies them against its live counts, so both sides agree
on what `procman scale web=+2` means.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from procman.errors import NotFound, UsageError
from procman.names import NAME_RE

# ASCII digits only: str.isdigit() would let "²" through to int().
_COUNT_RE = re.compile(r"([+-]?)([0-9]+)")
_VALID = "a count is N, max, +N or -N (e.g. 4, max, +2, -1)"


def cpu_count() -> int:
    """What `max` means: the machine's CPU count, never 0."""
    return os.cpu_count() or 1


@dataclass(frozen=True, slots=True)
class CountSpec:
    kind: str  # "abs" | "rel" | "max"
    value: int

    @classmethod
    def parse(cls, text: str) -> CountSpec:
        stripped = text.strip()
        if stripped.lower() == "max":
            return cls("max", 0)
        match = _COUNT_RE.fullmatch(stripped)
        if match is None:
            raise UsageError(f"{text!r} is not a count; {_VALID}")
        sign, digits = match.groups()
        if sign:
            return cls("rel", int(sign + digits))
        return cls("abs", int(digits))

    def apply(self, current: int, cpus: int) -> int:
        if self.kind == "max":
            return max(cpus, 1)
        if self.kind == "abs":
            return self.value
        target = current + self.value
        if target < 0:
            raise UsageError(f"would go below 0: {current} - {-self.value}")
        return target

    def __str__(self) -> str:
        if self.kind == "max":
            return "max"
        if self.kind == "rel":
            return f"{self.value:+d}"
        return str(self.value)


def parse_assignment(text: str) -> tuple[str, CountSpec]:
    """`web=+2` -> ("web", CountSpec("rel", 2))."""
    name, sep, count = text.partition("=")
    name = name.strip()
    if not sep:
        raise UsageError(f"{text!r}: expected TYPE=COUNT, like web=4, web=max, web=+2 or web=-1")
    if not NAME_RE.match(name):
        raise UsageError(
            f"{text!r}: {name!r} is not a process type name (letters, digits, '_' and '-')"
        )
    try:
        return name, CountSpec.parse(count)
    except UsageError as exc:
        raise UsageError(f"{name}: {exc.message}") from None


def resolve_counts(
    counts: Mapping[str, Any], current: Mapping[str, int], names: Sequence[str]
) -> dict[str, int]:
    """`{"web": "+2"}` against the live counts -> `{"web": 6}`; every name must be a type."""
    out: dict[str, int] = {}
    for name, value in counts.items():
        if name not in names:
            raise NotFound(f"no process type {name!r} (types: {', '.join(names)})")
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise UsageError(f"{name}: count must be a number, max, +N or -N")
        spec = CountSpec.parse(str(value))
        try:
            out[name] = spec.apply(current.get(name, 0), cpu_count())
        except UsageError as exc:
            raise UsageError(f"cannot scale {name}: {exc}") from None
    return out


def start_counts(
    defaults: Mapping[str, int],
    keep: Mapping[str, Any],
    every: int | None,
    fixed: Mapping[str, int],
    counts: Mapping[str, Any],
) -> dict[str, int]:
    """What `start` sets, later wins: the file's counts (defaults, one per type), what ran
    (keep), -i for every type, the counts the start itself fixes (a new app's), TYPE=N."""
    wanted = dict(defaults)
    wanted.update({n: c for n, c in keep.items() if n in wanted and type(c) is int})
    if every is not None:
        wanted = dict.fromkeys(wanted, every)
    wanted.update(fixed)
    wanted.update(resolve_counts(counts, wanted, list(defaults)))
    return wanted
