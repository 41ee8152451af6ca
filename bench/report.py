"""Tables from a results file: plain text for the terminal, Markdown for docs/benchmarks.md:
`.venv/bin/python -m bench report [bench/results/latest.json]`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

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
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


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


def rows(results: dict[str, Any]) -> list[tuple[str, ...]]:
    out = []
    for workload in results["workloads"].values():
        out.extend(_cells(row) for row in workload["rows"])
    return out


def markdown(results: dict[str, Any]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + " --- |" * len(HEADER)]
    lines += [
        "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |" for cells in rows(results)
    ]
    return "\n".join(lines)


def text(results: dict[str, Any]) -> str:
    table = [HEADER, *rows(results)]
    widths = [max(len(r[i].replace("**", "")) for r in table) for i in range(len(HEADER))]
    return "\n".join(
        "  ".join(c.replace("**", "").ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
        for r in table
    )


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())
