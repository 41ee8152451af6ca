"""What `procman status` and a verb's outcome say, as plain lines: the table's cells, the
per-type totals, the notes. No terminal and no rich here: render.py prints these lines when
piped (and colours the same cells on a terminal); the dashboard shows them as they are."""

from __future__ import annotations

from typing import Any, NamedTuple

from procman.cli.figures import duration, rule_text, size

COLUMNS = ("id", "pid", "state", "uptime", "restarts", "cpu", "memory", "port")
STALE_MARK = "*"  # beside the state: the process runs an older definition than the daemon's


def cells(row: dict[str, Any]) -> list[str]:
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


def notes(rows: list[dict[str, Any]], changed: list[str] | None = None) -> list[str]:
    """Why instances are down or were restarted, what they say about themselves, and which
    run an older definition than the files."""
    notes = []
    for r in rows:
        if r.get("reason") and (r["state"] in ("errored", "backoff") or r.get("restarts")):
            notes.append(f"{r['id']}: {r['reason']}")
        if r.get("status_text"):
            notes.append(f"{r['id']}: {r['status_text']}")
        if r.get("port_conflict"):
            notes += conflict_lines(r["id"], r["port_conflict"])
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


def conflict_lines(ident: str, conflict: dict[str, Any]) -> list[str]:
    """A port an instance could not bind: the port, who holds it, the fix, its own words."""
    return [
        f"{ident}: port {conflict['port']} is held by {conflict['holder']}",
        f"{ident}:   it said: {conflict['line']}",
        f"{ident}:   fix: {conflict['fix']}",
    ]


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


def total_cells(t: TypeTotals) -> list[str]:
    """The per-type line: running/desired, summed cpu and memory, the autoscale target."""
    desired = t.desired if t.desired is not None else t.instances
    scale = t.autoscale
    note = ""
    if scale:
        mode = "manual" if scale["manual"] else f"target {scale['target'] or desired}"
        note = f"autoscale {scale['min']}-{scale['max']} @{rule_text(scale)} ({mode})"
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


def own_line(summary: dict[str, Any] | None) -> bool:
    """A type whose settings say something gets its total line even when alone."""
    summary = summary or {}
    return bool(summary.get("autoscale") or summary.get("watch") or summary.get("cron_restart"))


def decisions(summaries: dict[str, dict[str, Any]]) -> list[str]:
    return [
        f"{t['name']}: {t['autoscale']['last']}"
        for t in summaries.values()
        if t.get("autoscale") and t["autoscale"].get("last")
    ]


def status_lines(
    rows: list[dict[str, Any]],
    types: list[dict[str, Any]] | None = None,
    changed: list[str] | None = None,
) -> list[str]:
    """The table as plain text, as `procman status` prints it when piped (the dashboard
    shows an action's outcome in these words too)."""
    if not rows:
        return ["no instances", *notes(rows, changed)]
    summaries = {t["name"]: t for t in types or []}
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(row["type"], []).append(row)
    grid = [list(COLUMNS)]
    for name, members in groups.items():
        grid += [cells(r) for r in members]
        if len(groups) > 1 or own_line(summaries.get(name)):
            grid.append(total_cells(type_totals(name, members, summaries.get(name))))
    widths = [max(len(c[i]) for c in grid) for i in range(len(COLUMNS))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip()
             for line in grid]  # fmt: skip
    return lines + notes(rows, changed) + decisions(summaries)


def outcome_lines(result: dict[str, Any]) -> list[str]:
    """What `outcome` prints when piped, stdout and stderr in order, as a list of lines."""
    lines = list(result.get("notes", []))
    lines += status_lines(result.get("status", []), result.get("types"))
    for failure in result.get("failed", []):
        lines.append(f"error: {did_not_come_up(failure)}")
        lines += [f"  {failure['id']} | {line}" for line in failure.get("output") or []]
        if failure.get("port_conflict"):
            lines += [f"  {x}" for x in conflict_lines(failure["id"], failure["port_conflict"])]
    return lines


def did_not_come_up(failure: dict[str, Any]) -> str:
    return f"{failure['id']} did not come up ({failure['state']}): {failure.get('reason')}"
