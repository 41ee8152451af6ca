"""Tables from a results file: plain text for the terminal, Markdown for docs/benchmarks.md
(`.venv/bin/python -m bench report [FILE]`, default the run bench/results/latest.json
points at), and a comparison of two runs (`python -m bench compare OLD NEW`).

Two tables: side by side (every tool, same run, procman / the reference and the target),
and procman against bare baselines (diagnostics that split a cost into its parts).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

TOOLS = ("procman", "pm2", "supervisord", "circus", "honcho")
SIDE_HEADER = ("workload", *TOOLS, "baselines", "procman ÷ ref.", "target", "met?")
HEADER = (
    "workload",
    "procman median [min–max]",
    "baseline median",
    "ratio",
    "target",
    "met?",
    "ratio target",
    "met?",
)
MET = {True: "yes", False: "**no**", None: "—"}


def _num(value: float) -> str:
    if value != value:
        return "nan"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _stats(stats: dict[str, Any]) -> str:
    if stats["n"] == 1:
        return f"{_num(stats['median'])} (n=1)"
    return f"{_num(stats['median'])} [{_num(stats['min'])}–{_num(stats['max'])}]"


def _ratio(value: float | None) -> str:
    if value is None:
        return "—"
    if value == float("inf"):
        return "∞"
    return f"{value:.2g}×" if value < 10 else f"{value:.0f}×"


def side_cells(row: dict[str, Any], notes: dict[str, int]) -> tuple[str, ...]:
    counts = sorted({s["n"] for s in row["tools"].values()})
    n = f", n={'/'.join(map(str, counts))}" if counts else ""
    cells = [f"{row['metric']} ({row['unit']}{n})"]
    for tool in TOOLS:
        if tool in row["tools"]:
            cell = _stats(row["tools"][tool])
            if tool == row.get("reference"):
                cell += " ◆"
            cells.append(cell)
        elif tool in row["na"]:
            reason = row["na"][tool]
            mark = notes.setdefault(f"{tool}: {reason}", len(notes) + 1)
            cells.append(f"n/a [{mark}]")
        else:
            cells.append("—")
    bases = []
    for label, stats in row["baselines"].items():
        mark = " ◆" if label == row.get("reference") else ""
        bases.append(f"{label}: {_num(stats['median'])}{mark}")
    cells.append("; ".join(bases) or "—")
    cells.append(_ratio(row["ratio"]))
    target = row["target_text"] or "—"
    cells.append(target)
    cells.append(MET[row["met"]])
    if row.get("note"):
        cells[0] += f" — {row['note']}"
    return tuple(cells)


def _cells(row: dict[str, Any]) -> tuple[str, ...]:
    unit = row["unit"]
    pm = row["procman"]
    spread = f"{_num(pm['median'])} {unit} [{_num(pm['min'])}–{_num(pm['max'])}] (n={pm['n']})"
    base = row["baseline"]
    baseline = f"{_num(base['median'])} {unit} ({row['baseline_label']})" if base else "—"
    ratio = "—" if row["ratio"] is None else f"{row['ratio']:.2g}×"
    ratio_target = row.get("ratio_target")
    wanted = (
        "—"
        if ratio_target is None
        else f"{'≥' if row['higher_is_better'] else '≤'} {ratio_target:.2g}×"
    )
    return (
        row["metric"],
        spread,
        baseline,
        ratio,
        row["target_text"] or "—",
        MET[row["met"]],
        wanted,
        MET[row.get("ratio_met")],
    )


def side_rows(results: dict[str, Any]) -> tuple[list[tuple[str, ...]], dict[str, int]]:
    notes: dict[str, int] = {}
    out = []
    for workload in results["workloads"].values():
        out.extend(side_cells(row, notes) for row in workload.get("compare", []))
    return out, notes


def rows(results: dict[str, Any]) -> list[tuple[str, ...]]:
    out = []
    for workload in results["workloads"].values():
        out.extend(_cells(row) for row in workload["rows"])
    return out


def _md_table(header: tuple[str, ...], body: list[tuple[str, ...]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |" for cells in body]
    return lines


def _text_table(header: tuple[str, ...], body: list[tuple[str, ...]]) -> list[str]:
    table = [header, *body]
    widths = [max(len(r[i].replace("**", "")) for r in table) for i in range(len(header))]
    return [
        "  ".join(c.replace("**", "").ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
        for r in table
    ]


def _footnotes(notes: dict[str, int]) -> list[str]:
    return [f"[{n}] {text}" for text, n in sorted(notes.items(), key=lambda kv: kv[1])]


def run_notes(results: dict[str, Any]) -> list[str]:
    return [
        f"{name}: {note}"
        for name, workload in results["workloads"].items()
        for note in workload.get("notes", [])
    ]


def markdown(results: dict[str, Any]) -> str:
    side, notes = side_rows(results)
    lines: list[str] = []
    if side:
        lines += _md_table(SIDE_HEADER, side)
        lines += ["", "◆ marks the reference the ratio is taken against (the best of the "
                  "tools or baselines the target names). n/a:", ""]  # fmt: skip
        lines += [f"{note}  " for note in _footnotes(notes)]
        lines.append("")
    diagnostics = rows(results)
    if diagnostics:
        lines += ["procman against bare baselines (diagnostics):", ""]
        lines += _md_table(HEADER, diagnostics)
    if run_notes(results):
        lines += ["", "Notes from the run:", ""] + [f"- {note}" for note in run_notes(results)]
    return "\n".join(lines)


def text(results: dict[str, Any]) -> str:
    side, notes = side_rows(results)
    lines: list[str] = []
    if side:
        lines += _text_table(SIDE_HEADER, side)
        lines += ["", "◆ = the reference of the ratio. n/a:", *_footnotes(notes), ""]
    diagnostics = rows(results)
    if diagnostics:
        lines += ["procman against bare baselines (diagnostics):"]
        lines += _text_table(HEADER, diagnostics)
    if run_notes(results):
        lines += ["", "notes:"] + [f"  {note}" for note in run_notes(results)]
    return "\n".join(lines)


def compare(old: dict[str, Any], new: dict[str, Any]) -> str:
    """procman's median and its ratio to the reference, row by row, in two runs."""
    header = ("workload", "old procman", "new procman", "change", "old ratio", "new ratio")
    body = []
    for name, workload in new["workloads"].items():
        before = {r["metric"]: r for r in old.get("workloads", {}).get(name, {}).get("compare", [])}
        for row in workload.get("compare", []):
            prev = before.get(row["metric"])
            now = row["tools"].get("procman")
            then = prev["tools"].get("procman") if prev else None
            change = "—"
            if now and then and then["median"]:
                change = f"{100 * (now['median'] / then['median'] - 1):+.0f}%"
            body.append(
                (
                    f"{row['metric']} ({row['unit']})",
                    _num(then["median"]) if then else "—",
                    _num(now["median"]) if now else "—",
                    change,
                    _ratio(prev["ratio"]) if prev else "—",
                    _ratio(row["ratio"]),
                )
            )
    title = (
        f"{old.get('started_utc', '?')} ({old.get('machine', {}).get('procman_commit', '?')}) → "
        f"{new.get('started_utc', '?')} ({new.get('machine', {}).get('procman_commit', '?')})"
    )
    return "\n".join([title, "", *_md_table(header, body)])


#: bench/results/latest.json holds no results, only the name of the newest run's file.
POINTER_KEY = "latest"


def resolve(path: Path) -> Path:
    """The results file `path` means: itself, or for a pointer (`{"latest": "X.json"}`, as
    bench/results/latest.json is) the file it names, beside it."""
    data = json.loads(path.read_text())
    if isinstance(data, dict) and set(data) == {POINTER_KEY}:
        return path.parent / data[POINTER_KEY]
    return path


def write_pointer(pointer: Path, target: Path) -> None:
    """Make `pointer` name `target` (a file in the same directory), atomically."""
    tmp = pointer.with_name(pointer.name + ".tmp")
    tmp.write_text(json.dumps({POINTER_KEY: target.name}) + "\n")
    tmp.replace(pointer)


def load(path: Path) -> dict[str, Any]:
    """A results file's contents; a pointer such as latest.json is followed."""
    return json.loads(resolve(path).read_text())
