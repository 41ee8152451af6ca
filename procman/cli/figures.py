"""Numbers as the CLI prints them: durations, sizes, and autoscale figures and targets.
Stdlib only (render.py, monit and the autoscale view share them)."""

from __future__ import annotations

from typing import Any


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


def figure(metric: str, value: float | None) -> str:
    """A metric's figure or target: 93%, 300.0 MB, 3.5."""
    if value is None or metric == "memory":
        return size(None if value is None else int(value))
    return f"{value:.0f}%" if metric == "cpu" else f"{value:.1f}".removesuffix(".0")


def rule_text(rule: dict[str, Any]) -> str:
    """The targets of an autoscale rule: `cpu 70%, queue 4`."""
    return ", ".join(
        f"{metric} {figure(metric, rule[metric])}"
        for metric in ("cpu", "memory", "queue")
        if rule.get(metric) is not None
    )
