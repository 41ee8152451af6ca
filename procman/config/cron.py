"""cron_restart expressions: checked when the formation loads, and the next time one fires.

croniter does the parsing and the calendar (imported here only, so only formations with a
cron_restart pay for it). Times are the local wall clock, as cron's are.
"""

from __future__ import annotations

from datetime import datetime

MACROS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")


def check_cron(text: str) -> str:
    """The expression, normalised; ValueError saying what is wrong."""
    from croniter import croniter

    expr = " ".join(text.split())
    if not (expr.lower() in MACROS or len(expr.split()) == 5):
        raise ValueError(
            f"{text!r} is not a cron expression: five fields (minute hour day month weekday, "
            f'like "0 3 * * *") or one of {", ".join(MACROS)}'
        )
    try:
        croniter(expr)
    except (ValueError, KeyError, TypeError) as exc:  # croniter's errors are ValueErrors
        raise ValueError(f"{text!r} is not a cron expression: {exc}") from None
    return expr


def next_fire(expr: str, after: float) -> float:
    """The first time (epoch seconds) strictly after `after` that `expr` names."""
    from croniter import croniter

    start = datetime.fromtimestamp(after)  # naive local time: cron's calendar
    return float(croniter(expr, start).get_next(float))
