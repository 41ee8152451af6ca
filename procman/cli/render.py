"""Everything the CLI prints. rich only on a terminal, imported there and nowhere else;
piped output is plain text (and `--json` is JSON) so scripts and `status` stay fast."""

from __future__ import annotations

import os
import sys
import zlib

from procman.cli.figures import rule_text
from procman.cli.statustext import (  # noqa: F401  (COLUMNS, STALE_MARK, TypeTotals: for callers)
    COLUMNS,
    STALE_MARK,
    TypeTotals,
    cells,
    conflict_lines,
    decisions,
    did_not_come_up,
    duration,
    notes,
    outcome_lines,
    own_line,
    size,
    status_lines,
    total_cells,
    type_totals,
)

TYPE_CHECKING = False  # typing costs `procman status` ~2 ms: annotations only (mypy reads it)
if TYPE_CHECKING:
    from types import TracebackType
    from typing import Any

PALETTE = (36, 33, 32, 35, 34, 91, 96, 93, 92, 95)  # ANSI: cyan yellow green magenta blue ...
STATE_STYLE = {
    "running": "green",
    "starting": "cyan",
    "backoff": "yellow",
    "stopping": "yellow",
    "stopped": "dim",
    "exited": "dim",
    "errored": "bold red",
}


def fancy(stream: Any = None) -> bool:
    stream = stream or sys.stdout
    return stream.isatty() and os.environ.get("TERM") != "dumb"


def colour_on(stream: Any = None) -> bool:
    return fancy(stream) and not os.environ.get("NO_COLOR")


def _console(stderr: bool = False):
    from rich.console import Console

    return Console(stderr=stderr, highlight=False)


def error(message: str) -> None:
    if colour_on(sys.stderr):
        sys.stderr.write(f"\033[31merror:\033[0m {message}\n")
    else:
        sys.stderr.write(f"error: {message}\n")


def warn(message: str) -> None:
    prefix = "\033[33mwarning:\033[0m" if colour_on(sys.stderr) else "warning:"
    sys.stderr.write(f"{prefix} {message}\n")


def info(message: str) -> None:
    sys.stdout.write(message + "\n")


def version_notice(daemon_version: str | None) -> None:
    """One line on stderr when the daemon runs another procman than this CLI (after an
    upgrade); a daemon that does not say its version says nothing here."""
    from procman import __version__

    if daemon_version and daemon_version != __version__:
        sys.stderr.write(
            f"note: the daemon runs procman {daemon_version}, and {__version__} is installed; "
            '"procman update" switches it over without restarting the instances\n'
        )


def updated(result: dict[str, Any]) -> None:
    """`procman update`: what runs now."""
    old, new = result["old_version"], result["version"]
    change = f"{old} -> {new}" if old != new else f"{new} (the same version, re-executed)"
    info(
        f"daemon pid {result['pid']} runs procman {change}; "
        f"{result['instances']} instance(s) kept running, none restarted"
    )
    for ident in result.get("exited", []):
        info(f"{ident} exited during the update and was handled as an exit")


def print_json(value: Any) -> None:
    sys.stdout.write(indented_json(value) + "\n")


def indented_json(value: Any) -> str:
    """json.dumps(value, indent=2), ~10× faster for a list of flat objects (status rows):
    Python 3.11's C encoder ignores indent, so each row is encoded by it with the newline
    and indent as its item separator (put only between items, never inside a string)."""
    import json

    flat = isinstance(value, list) and all(
        isinstance(row, dict) and not any(isinstance(v, (dict, list, tuple)) for v in row.values())
        for row in value
    )
    if not flat or not value:
        return json.dumps(value, indent=2)
    encode = json.JSONEncoder(separators=(",\n    ", ": ")).encode
    rows = [f"{{\n    {encode(row)[1:-1]}\n  }}" if row else "{}" for row in value]
    return "[\n  " + ",\n  ".join(rows) + "\n]"


def status_table(
    rows: list[dict[str, Any]],
    types: list[dict[str, Any]] | None = None,
    changed: list[str] | None = None,
) -> None:
    """Instances grouped by type, each type closed by a total line."""
    if not rows or not fancy():
        for line in status_lines(rows, types, changed):
            info(line)
        return
    summaries = {t["name"]: t for t in types or []}
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(row["type"], []).append(row)
    said = notes(rows, changed) + decisions(summaries)
    from rich.table import Table

    table = Table(box=None, header_style="bold", pad_edge=False)
    for name in COLUMNS:
        table.add_column(
            name,
            justify="right" if name in ("pid", "restarts", "cpu", "memory") else "left",
        )
    for name, members in groups.items():
        for row in members:
            shown = cells(row)
            shown[0] = f"[{type_style(row['type'])}]{shown[0]}[/]"
            shown[2] = f"[{STATE_STYLE.get(row['state'], '')}]{shown[2]}[/]"
            table.add_row(*shown)
        if len(groups) > 1 or own_line(summaries.get(name)):
            totals = type_totals(name, members, summaries.get(name))
            table.add_row(*total_cells(totals), style="dim")
    console = _console()
    console.print(table)
    for note in said:
        console.print(f"[yellow]{note}[/]")


def outcome(result: dict[str, Any], verb: str) -> bool:
    """Print what a start/scale/restart/reload/stop did; True when every instance it
    touched ended as asked (the daemon says which did not, and why)."""
    rows = result.get("status", [])
    for note in result.get("notes", []):
        info(note)
    status_table(rows, result.get("types"))
    for failure in result.get("failed", []):
        ident, state, reason = failure["id"], failure["state"], failure.get("reason")
        if verb == "reload":
            error(f"{ident} not reloaded: {reason}")
        elif verb == "stop":
            error(f"{ident} did not stop ({state}): {reason}")
        else:
            error(did_not_come_up(failure))
        for line in failure.get("output") or []:  # a failed release phase's last words
            info(f"  {ident} | {line}")
        if failure.get("port_conflict"):
            for line in conflict_lines(ident, failure["port_conflict"]):
                sys.stderr.write(f"  {line}\n")
    return bool(result.get("ok", True))


class waiting:  # noqa: N801 - used as `with render.waiting(...)`, like a function
    """A spinner on a terminal; nothing when piped. (A class, not @contextmanager: the CLI's
    fast path does not import contextlib.)"""

    def __init__(self, message: str) -> None:
        self.message = message
        self.status: Any = None

    def __enter__(self) -> None:
        if fancy(sys.stderr):
            self.status = _console(stderr=True).status(self.message)
            self.status.__enter__()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.status is not None:
            self.status.__exit__(kind, exc, tb)


# -- logs -----------------------------------------------------------------------------------


def type_colour(type_name: str) -> int:
    return PALETTE[zlib.crc32(type_name.encode()) % len(PALETTE)]


def type_style(type_name: str) -> str:
    names = {
        36: "cyan",
        33: "yellow",
        32: "green",
        35: "magenta",
        34: "blue",
        91: "bright_red",
        96: "bright_cyan",
        93: "bright_yellow",
        92: "bright_green",
        95: "bright_magenta",
    }
    return names[type_colour(type_name)]


def flushed(result: dict[str, Any]) -> None:
    for entry in result["flushed"]:
        files = entry["files"]
        info(f"flushed {entry['type']}: {len(files)} file(s), {size(entry['bytes'])}")
    if not result["flushed"]:
        info("no log files to flush")


# -- check ----------------------------------------------------------------------------------


def formation(info_: dict[str, Any]) -> None:
    """`procman check`: the formation as loaded, every setting, ports and start order."""
    info(f"formation: {info_['source'] or 'ad-hoc command'} ({info_['root']})")
    if info_.get("env_files"):
        info(f"env files: {', '.join(info_['env_files'])}")
    for t in info_["types"]:
        count = t.get("desired", t["instances"])
        extras = [f"instances={count}"]
        if t.get("ports"):
            ports = ",".join(str(p) for p in t["ports"]) if t["port_per_instance"] else t["port"]
            extras.append(f"port={ports}" + (" (held socket, fd 3)" if t.get("socket") else ""))
        for key in ("ready", "restart", "stop_signal", "kill_timeout", "ready_timeout"):
            extras.append(f"{key}={t[key]}")
        extras += [f"min_uptime={t['min_uptime']}", f"max_restarts={t['max_restarts']}"]
        if t.get("max_memory"):
            extras.append(f"max_memory={size(t['max_memory'])}")
        if t.get("autoscale"):
            scale = t["autoscale"]
            targets = rule_text(scale).replace(", ", ",").replace(" ", "")  # cpu70%,queue4
            extras.append(f"autoscale={scale['min']}-{scale['max']}@{targets}")
        if t.get("after"):
            extras.append(f"after={','.join(t['after'])}")
        if t.get("cwd"):
            extras.append(f"cwd={t['cwd']}")
        if t.get("cron_restart"):
            extras.append(f"cron_restart={t['cron_restart']!r}")
        info(f"  {t['name']}: {t['cmd']}")
        info(f"      {' '.join(extras)}")
        for key, value in t.get("env", {}).items():
            info(f"      env {key}={value}")
        if t.get("watch"):
            ignoring = f" (ignoring {', '.join(t['ignore'])})" if t.get("ignore") else ""
            info(f"      watch {', '.join(t['watch'])}{ignoring}")
    waves = info_.get("start_order") or []
    if len(waves) > 1:
        info("start order: " + " -> ".join(", ".join(wave) for wave in waves))
    migrate = info_.get("tcp_migrate_req")
    if any(t.get("socket") for t in info_["types"]) and migrate is not None:
        info(
            "kernel: net.ipv4.tcp_migrate_req="
            + (
                "1: a closing listener hands its queue to the others"
                if migrate
                else "0: procman steers new connections away from a stopping instance and drains"
                " its queue before closing its listener"
            )
        )
