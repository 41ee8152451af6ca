"""What `procman autoscale [TYPE]` prints: plain text after `kubectl describe hpa`."""

from __future__ import annotations

import time
from typing import Any

from procman.cli.figures import duration, figure

METRIC_LABELS = {
    "cpu": "cpu per instance",
    "memory": "memory per instance",
    "queue": "queue per slot",
}


def autoscale_lines(types: list[dict[str, Any]], now: float) -> list[str]:
    """`procman autoscale [TYPE]`, after kubectl describe hpa: per type each metric's current
    value against its target and proposal, the counts, the condition, the last decision."""
    if not types:
        return ["no process type has an autoscale rule"]
    lines = []
    for t in types:
        rule = t["autoscale"]
        mode = "off: a manual count holds" if rule["manual"] else "on"
        lines.append(
            f"{t['name']}: autoscale {mode}; {rule['min']}-{rule['max']} instances, "
            f"scale-down window {rule['window']:g}s"
        )
        readings = rule.get("metrics") or [
            {"metric": m, "current": None, "target": rule[m], "proposal": None}
            for m in ("cpu", "memory", "queue")
            if rule.get(m) is not None
        ]
        table = [("  metric", "current", "target", "proposal")] + [
            (
                f"  {METRIC_LABELS.get(r['metric'], r['metric'])}",
                figure(r["metric"], r["current"]),
                figure(r["metric"], r["target"]),
                "-" if r["proposal"] is None else str(r["proposal"]),
            )
            for r in readings
        ]
        widths = [max(len(row[i]) for row in table) for i in range(4)]
        lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
                  for row in table]  # fmt: skip
        asks = "-" if rule["target"] is None else rule["target"]
        proposal = "-" if rule.get("proposal") is None else rule["proposal"]
        lines.append(
            f"  instances: {t['running']} running, {t['desired']} desired; highest proposal "
            f"{proposal}, the rule asks for {asks}"
        )
        lines.append(f"  condition: {rule.get('condition') or 'no sample yet'}")
        last = rule.get("decision")
        if last:
            when = time.strftime("%H:%M:%S", time.localtime(last["time"]))
            ago = duration(max(0.0, now - last["time"]))
            lines.append(
                f"  last decision: {when} ({ago} ago) {last['from']} → {last['to']}: "
                f"{last['reason']}"
            )
        else:
            lines.append("  last decision: none yet")
    return lines
