"""Signal names as users write them: `TERM`, `SIGQUIT`, `int`, or a number. Stdlib only."""

from __future__ import annotations

import signal


def parse_signal(value: str | int) -> signal.Signals:
    """`TERM`, `SIGTERM`, `sigterm` or `15` -> signal.SIGTERM; ValueError says what is valid."""
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            return signal.Signals(value)
        except ValueError:
            raise ValueError(f"{value} is not a signal number on this system") from None
    text = str(value).strip()
    if text.isdigit():
        return parse_signal(int(text))
    name = text.upper()
    if not name.startswith("SIG"):
        name = "SIG" + name
    try:
        return signal.Signals[name]
    except KeyError:
        raise ValueError(
            f"{text!r} is not a signal; use a name like TERM, SIGQUIT, INT or a number"
        ) from None


def signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)
