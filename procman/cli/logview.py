"""How `procman logs` and the foreground daemon print lines: `HH:MM:SS web.3 | text` (`!`
for stderr, coloured per type on a terminal), JSON lines, or the bare text."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable
from typing import Any

from procman.cli.render import colour_on, type_colour

LogFormat = Callable[..., str]  # (time, id, text, stream="out") -> one line


def log_formatter(
    stream: Any = None, style: str = "lines", colour: bool | None = None
) -> LogFormat:
    """How `logs` prints a line: "lines" (`HH:MM:SS web.3 | text`, `!` for stderr, coloured
    on a terminal unless NO_COLOR or colour=False), "json" (one object a line: time, id,
    stream, text) or "raw" (the text)."""
    if style == "json":
        return _json_line
    if style == "raw":
        return lambda now, label, text, std="out": text
    coloured = colour_on(stream) if colour is None else colour and colour_on(stream)
    cache: dict[tuple[str, str], str] = {}

    def fmt(now: float, label: str, text: str, std: str = "out") -> str:
        stamp = time.strftime("%H:%M:%S", time.localtime(now))
        mark = "!" if std == "err" else "|"
        if not coloured:
            return f"{stamp} {label} {mark} {text}"
        prefix = cache.get((label, std))
        colour = type_colour(label.rpartition(".")[0] or label)
        if prefix is None:
            shown = "\033[1;31m!\033[0m" if std == "err" else f"\033[{colour}m|\033[0m"
            prefix = cache[(label, std)] = f"\033[{colour}m{label}\033[0m {shown}"
        return f"\033[{colour}m{stamp}\033[0m {prefix} {text}"

    return fmt


def _json_line(now: float, label: str, text: str, std: str = "out") -> str:
    import json
    from datetime import datetime

    when = datetime.fromtimestamp(now).astimezone().isoformat(timespec="milliseconds")
    return json.dumps({"time": when, "id": label, "stream": std, "text": text})


def log_lines(lines: Iterable[list[Any]], fmt: LogFormat) -> None:
    """Rows as the daemon sends them: [time, id, text, stream] (a daemon from before the
    stream split sends three)."""
    out = sys.stdout
    out.write("".join(fmt(*row) + "\n" for row in lines))
    out.flush()


def foreground_sink(
    prefix: bool = True, colour: bool | None = None, quiet: Iterable[str] = ()
) -> Callable[[float, str, str, bytes], None]:
    """The daemon's log sink for `start --foreground`: merged, coloured, to stdout, as
    Honcho prints it. prefix=False prints the bare lines; quiet names types (or `procman`,
    the daemon's own lines) whose output is not shown (it still reaches the log files)."""
    fmt = log_formatter(sys.stdout, "lines" if prefix else "raw", colour)
    hidden = frozenset(quiet)

    def sink(now: float, label: str, std: str, block: bytes) -> None:
        if hidden and (label.rpartition(".")[0] or label) in hidden:
            return
        text = block.decode(errors="replace")
        log_lines(([now, label, line, std] for line in text.split("\n")[:-1]), fmt)

    return sink
