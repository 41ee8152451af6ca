"""Everything the CLI prints. rich only on a terminal, imported there and nowhere else;
piped output is plain text (and `--json` is JSON) so scripts and `status` stay fast."""

from __future__ import annotations

import os
import sys
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple

COLUMNS = ("id", "pid", "state", "uptime", "restarts", "cpu", "memory", "port")
STALE_MARK = "*"  # beside the state: the process runs an older definition than the daemon's
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


def info(message: str) -> None:
    sys.stdout.write(message + "\n")


def print_json(value: Any) -> None:
    import json

    sys.stdout.write(json.dumps(value, indent=2) + "\n")


# -- numbers --------------------------------------------------------------------------------


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    if seconds < 86400:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 86400}d{seconds % 86400 // 3600:02d}h"


def size(nbytes: int | None) -> str:
    if nbytes is None:
        return "-"
    value = float(nbytes)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"


def _cells(row: dict[str, Any]) -> list[str]:
    cpu = row.get("cpu_percent")
    return [
        row["id"],
        str(row["pid"] or "-"),
        row["state"] + (STALE_MARK if row.get("stale") else ""),
        duration(row.get("uptime_s")),
        str(row.get("restarts", 0)),
        "-" if cpu is None else f"{cpu:.1f}%",
        size(row.get("memory_bytes")),
        str(row.get("port") or "-"),
    ]


# -- status ---------------------------------------------------------------------------------


def _notes(rows: list[dict[str, Any]], changed: list[str] | None = None) -> list[str]:
    """Why instances are down or were restarted, what they say about themselves, and which
    run an older definition than the files."""
    notes = []
    for r in rows:
        if r.get("reason") and (r["state"] in ("errored", "backoff") or r.get("restarts")):
            notes.append(f"{r['id']}: {r['reason']}")
        if r.get("status_text"):
            notes.append(f"{r['id']}: {r['status_text']}")
    stale = [r["id"] for r in rows if r.get("stale")]
    if stale:
        notes.append(
            f"{STALE_MARK} {', '.join(stale)}: started before the formation was last read, "
            'so running an older command or env; "procman restart" (or reload) runs the new one'
        )
    if changed:
        notes.append(
            f"{', '.join(changed)} changed since the daemon read it; "
            '"procman restart" (or reload) runs what the files say now'
        )
    return notes


class TypeTotals(NamedTuple):
    """One process type summed over its instances: status's total line, monit's header."""

    name: str
    instances: int
    running: int
    desired: int | None  # None when the daemon did not say
    cpu: float | None  # None when no instance has a sample yet
    memory: int | None
    restarts: int
    autoscale: dict[str, Any] | None
    last: str | None  # the last autoscale decision
    watch: list[str] | None = None  # the paths a change under reloads the type
    cron: str | None = None  # cron_restart


def type_totals(
    name: str,
    rows: list[dict[str, Any]],
    summary: dict[str, Any] | None = None,
    last: str | None = None,
) -> TypeTotals:
    """rows: the type's instances; summary: its entry in the daemon's `types` list."""
    cpus = [r["cpu_percent"] for r in rows if r.get("cpu_percent") is not None]
    mems = [r["memory_bytes"] for r in rows if r.get("memory_bytes") is not None]
    summary = summary or {}
    return TypeTotals(
        name=name,
        instances=len(rows),
        running=sum(1 for r in rows if r.get("state") == "running"),
        desired=summary.get("desired"),
        cpu=sum(cpus) if cpus else None,
        memory=sum(mems) if mems else None,
        restarts=sum(r.get("restarts") or 0 for r in rows),
        autoscale=summary.get("autoscale"),
        last=last,
        watch=summary.get("watch") or None,
        cron=summary.get("cron_restart"),
    )


def _total_cells(t: TypeTotals) -> list[str]:
    """The per-type line: running/desired, summed cpu and memory, the autoscale target."""
    desired = t.desired if t.desired is not None else t.instances
    scale = t.autoscale
    note = ""
    if scale:
        mode = "manual" if scale["manual"] else f"target {scale['target'] or desired}"
        note = f"autoscale {scale['min']}-{scale['max']} @{scale['cpu']:g}% ({mode})"
    extras = [note] if note else []
    if t.watch:
        extras.append("watched")
    if t.cron:
        extras.append(f"cron {t.cron}")
    note = ", ".join(extras)
    return [
        f"{t.name} total",
        "",
        f"{t.running}/{desired} running",
        "",
        "",
        "-" if t.cpu is None else f"{t.cpu:.1f}%",
        "-" if t.memory is None else size(t.memory),
        note,
    ]


def _own_line(summary: dict[str, Any] | None) -> bool:
    """A type whose settings say something gets its total line even when alone."""
    summary = summary or {}
    return bool(summary.get("autoscale") or summary.get("watch") or summary.get("cron_restart"))


def status_table(
    rows: list[dict[str, Any]],
    types: list[dict[str, Any]] | None = None,
    changed: list[str] | None = None,
) -> None:
    """Instances grouped by type, each type closed by a total line."""
    if not rows:
        info("no instances")
        for note in _notes(rows, changed):
            info(note)
        return
    summaries = {t["name"]: t for t in types or []}
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(row["type"], []).append(row)
    notes = _notes(rows, changed) + [
        f"{t['name']}: {t['autoscale']['last']}"
        for t in summaries.values()
        if t.get("autoscale") and t["autoscale"].get("last")
    ]
    if not fancy():
        lines = [list(COLUMNS)]
        for name, members in groups.items():
            lines += [_cells(r) for r in members]
            if len(groups) > 1 or _own_line(summaries.get(name)):
                lines.append(_total_cells(type_totals(name, members, summaries.get(name))))
        widths = [max(len(c[i]) for c in lines) for i in range(len(COLUMNS))]
        for line in lines:
            info("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())
        for note in notes:
            info(note)
        return
    from rich.table import Table

    table = Table(box=None, header_style="bold", pad_edge=False)
    for name in COLUMNS:
        table.add_column(
            name,
            justify="right" if name in ("pid", "restarts", "cpu", "memory") else "left",
        )
    for name, members in groups.items():
        for row in members:
            cells = _cells(row)
            cells[0] = f"[{type_style(row['type'])}]{cells[0]}[/]"
            cells[2] = f"[{STATE_STYLE.get(row['state'], '')}]{cells[2]}[/]"
            table.add_row(*cells)
        if len(groups) > 1 or _own_line(summaries.get(name)):
            totals = type_totals(name, members, summaries.get(name))
            table.add_row(*_total_cells(totals), style="dim")
    console = _console()
    console.print(table)
    for note in notes:
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
            error(f"{ident} did not come up ({state}): {reason}")
        for line in failure.get("output") or []:  # a failed release phase's last words
            info(f"  {ident} | {line}")
    return bool(result.get("ok", True))


@contextmanager
def waiting(message: str) -> Iterator[None]:
    """A spinner on a terminal; nothing when piped."""
    if not fancy(sys.stderr):
        yield
        return
    with _console(stderr=True).status(message):
        yield


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
            extras.append(f"autoscale={scale['min']}-{scale['max']}@cpu{scale['cpu']:g}%")
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
