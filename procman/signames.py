"""Signal names as users write them: `TERM`, `SIGQUIT`, `ttin`, or a number. Stdlib only."""

from __future__ import annotations

import signal


def valid_names() -> list[str]:
    """Every signal name this system has, without SIG, in number order."""
    return [s.name.removeprefix("SIG") for s in sorted(set(signal.Signals), key=int)]


def _invalid(text: str) -> ValueError:
    numbers = sorted(signal.valid_signals())
    return ValueError(
        f"{text!r} is not a signal; valid: {' '.join(valid_names())} "
        f"(with or without SIG), or a number {int(numbers[0])}-{int(numbers[-1])}"
    )


def parse_signal(value: str | int) -> signal.Signals | int:
    """`TERM`, `SIGTERM`, `sigterm` or `15` -> signal.SIGTERM (a real-time signal without
    a name stays an int); ValueError lists what is valid."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value not in signal.valid_signals():
            raise _invalid(str(value))
        try:
            return signal.Signals(value)
        except ValueError:
            return value
    text = str(value).strip()
    if text.isdigit():
        return parse_signal(int(text))
    name = text.upper()
    if not name.startswith("SIG"):
        name = "SIG" + name
    try:
        return signal.Signals[name]
    except KeyError:
        raise _invalid(text) from None


def signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)
