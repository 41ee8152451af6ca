"""`--since` values: a duration back from now (`30s`, `10m`, `2h`, `1d`, `1h30m`) or a
point in time (ISO 8601: `2026-11-28T10:00`, `2026-11-28 10:00:05+01:00`, a `Z` suffix;
or a time of day, `10:00`, meaning today). A time without an offset is local time.
Stdlib only: the CLI parses these before anything crosses the socket."""

from __future__ import annotations

import re
import time
from datetime import date, datetime
from datetime import time as dt_time

_DURATION = re.compile(r"(?:(\d+(?:\.\d+)?)([smhd]))+")
_PART = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_since(text: str, now: float | None = None) -> float:
    """The unix time `text` names; ValueError with a message saying what is accepted."""
    now = time.time() if now is None else now
    value = text.strip()
    if _DURATION.fullmatch(value):
        return now - sum(float(n) * UNITS[unit] for n, unit in _PART.findall(value))
    if re.fullmatch(r"\d+(?:\.\d+)?", value):
        raise ValueError(
            f"{text!r} needs a unit: {value}s, {value}m, {value}h (or a time of day: 10:00)"
        )
    iso = value[:-1] + "+00:00" if value[-1:] in ("Z", "z") else value
    try:
        when = datetime.fromisoformat(iso)
    except ValueError:
        try:  # a time of day: today's
            when = datetime.combine(date.fromtimestamp(now), dt_time.fromisoformat(iso))
        except ValueError:
            raise ValueError(
                f"{text!r} is neither a duration (30s, 10m, 2h, 1d, 1h30m) nor a time "
                "(2026-11-28T10:00, 2026-11-28 10:00:05+01:00, 10:00)"
            ) from None
    return when.timestamp()
