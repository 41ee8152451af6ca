"""Pure decisions over sampled rows: which instance passed its memory limit, and how many
instances an autoscaled type should have. Rows and a clock value in, decisions out; the
supervisor applies them.

Autoscaling decides the way a Kubernetes HorizontalPodAutoscaler does:

    desired = ceil(current × mean_cpu / target)

kept within [min, max], left alone inside a ±10 % tolerance band, at most doubling per step,
and, for scale-down, the highest recommendation of the stabilisation window (default 60 s)
so a short lull does not shed instances that the next burst needs.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from procman.model import Autoscale

TOLERANCE = 0.1


@dataclass
class Scaler:
    spec: Autoscale
    manual: bool = False  # `procman scale` took over until `procman autoscale TYPE on`
    target: int | None = None  # the count it last asked for
    last: str | None = None  # the last decision, as logged
    history: deque[tuple[float, int]] = field(default_factory=deque)

    def recommend(self, now: float, current: int, mean_cpu: float | None) -> tuple[int, str] | None:
        """(new count, why) when the count should change, else None."""
        spec = self.spec
        if mean_cpu is None or current == 0:
            raw, why = max(current, spec.min, 1 if current == 0 else 0), "no cpu figures yet"
        else:
            ratio = mean_cpu / spec.cpu
            raw = current if abs(ratio - 1) <= TOLERANCE else math.ceil(current * ratio)
            sign = ">" if mean_cpu > spec.cpu else "<"
            why = f"cpu {mean_cpu:.0f}% {sign} {spec.cpu:g}%"
        raw = min(max(raw, spec.min), spec.max, max(2 * current, spec.min, 1))
        self.history.append((now, raw))
        while self.history and self.history[0][0] < now - spec.window:
            self.history.popleft()
        desired = raw
        if raw < current:
            desired = max(r for _, r in self.history)  # stabilisation: the window's highest
        if current < spec.min or current > spec.max:
            desired = min(max(current, spec.min), spec.max)
            why = f"outside min {spec.min} / max {spec.max}"
        self.target = desired
        if desired == current:
            return None
        return desired, why


MB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class MemoryRestart:
    id: str
    reason: str


@dataclass(frozen=True, slots=True)
class ScaleDecision:
    type: str
    current: int
    count: int
    why: str

    @property
    def line(self) -> str:
        return f"autoscale {self.type} {self.current} → {self.count}: {self.why}"

    def event(self) -> dict[str, Any]:
        """The `events` stream's word for it."""
        return {
            "event": "autoscale",
            "type": self.type,
            "from": self.current,
            "to": self.count,
            "reason": self.why,
        }


def memory_restarts(
    rows: Iterable[dict[str, Any]], limits: Mapping[str, int | None]
) -> list[MemoryRestart]:
    """Running instances whose tree's RSS passed their type's max_memory."""
    out = []
    for row in rows:
        limit, used = limits.get(row["type"]), row["memory_bytes"]
        if limit and used and used > limit and row["state"] == "running":
            out.append(MemoryRestart(row["id"], f"memory {used / MB:.0f} MB > {limit / MB:.0f} MB"))
    return out


def scale_decisions(
    scalers: Mapping[str, Scaler],
    rows: list[dict[str, Any]],
    desired: Mapping[str, int],
    now: float,
) -> list[ScaleDecision]:
    """For each autoscaled type not held by a manual count: the new count, if it changes."""
    out = []
    for name, scaler in scalers.items():
        running = [r for r in rows if r["type"] == name and r["state"] == "running"]
        cpus = [r["cpu_percent"] for r in running if r["cpu_percent"] is not None]
        mean = sum(cpus) / len(cpus) if cpus else None
        current = desired.get(name, 0)
        proposal = scaler.recommend(now, current, mean)
        if proposal is None or scaler.manual:
            continue
        decision = ScaleDecision(name, current, *proposal)
        scaler.last = decision.line
        out.append(decision)
    return out
