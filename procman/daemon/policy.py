"""Pure decisions over sampled figures: which instance passed its memory limit, and how many
instances an autoscaled type should have. Figures and a clock value in, decisions out; the
supervisor applies them.

Autoscaling decides the way a Kubernetes HorizontalPodAutoscaler does. Each metric of the
rule (cpu %, memory bytes, queue: connections waiting in a slot's accept queue) proposes

    proposal = ceil(current × mean per instance / target)

or the current count when the mean is within ±10 % of the target (the tolerance band). With
several metrics the highest proposal wins. The result is kept within [min, max], at most
doubles per step, and, for scale-down, is the highest recommendation of the stabilisation
window (default 60 s), so a short lull does not shed instances that the next burst needs.
A metric with no figure yet proposes nothing and holds off any scale-down the others ask
for (an HPA does the same with a metric it cannot read).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from procman.model import Autoscale

TOLERANCE = 0.1
MB = 1024 * 1024


def shown(metric: str, value: float) -> str:
    """A figure or target as people read it: 93%, 412 MB, 3.5."""
    if metric == "cpu":
        return f"{value:.0f}%" if value >= 1 or value == 0 else f"{value:.1f}%"
    if metric == "memory":
        return f"{value / MB:.0f} MB"
    return f"{value:.1f}" if value != int(value) else f"{value:.0f}"


@dataclass(frozen=True, slots=True)
class Reading:
    """One metric at one sample: its mean per instance against its target, and the count it
    proposes (None without a figure)."""

    metric: str
    target: float
    current: float | None
    proposal: int | None
    within: bool = False  # inside the tolerance band: proposes the current count

    @property
    def why(self) -> str:
        if self.current is None:
            return f"{self.metric}: no figure yet"
        sign = "≈" if self.within else ">" if self.current > self.target else "<"
        target = f"{self.target:g}%" if self.metric == "cpu" else shown(self.metric, self.target)
        return f"{self.metric} {shown(self.metric, self.current)} {sign} {target}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "current": None if self.current is None else round(self.current, 2),
            "target": self.target,
            "proposal": self.proposal,
        }


def reading(metric: str, target: float, mean: float | None, current: int) -> Reading:
    if mean is None or current == 0:
        return Reading(metric, target, mean, None)
    ratio = mean / target
    if abs(ratio - 1) <= TOLERANCE:
        return Reading(metric, target, mean, current, within=True)
    return Reading(metric, target, mean, math.ceil(current * ratio))


@dataclass
class Scaler:
    spec: Autoscale
    manual: bool = False  # `procman scale` took over until `procman autoscale TYPE on`
    target: int | None = None  # the count it last asked for
    last: str | None = None  # the last decision, as logged
    decided: dict[str, Any] | None = None  # the last decision: time, from, to, reason
    readings: list[Reading] = field(default_factory=list)  # of the last sample
    proposal: int | None = None  # the highest proposal of the last sample, before limits
    condition: str | None = None  # why the count is what it is after the last sample
    history: deque[tuple[float, int]] = field(default_factory=deque)

    def recommend(
        self, now: float, current: int, figures: Mapping[str, float | None]
    ) -> tuple[int, str] | None:
        """(new count, why) when the count should change, else None. figures: metric ->
        mean per instance (None: no figure yet)."""
        spec = self.spec
        self.readings = [
            reading(metric, target, figures.get(metric), current)
            for metric, target in spec.targets().items()
        ]
        known = [r for r in self.readings if r.proposal is not None]
        condition = None
        if current == 0 or not known:
            raw, why = max(current, spec.min, 1 if current == 0 else 0), "no figures yet"
            self.proposal = None
        else:
            winner = max(known, key=lambda r: r.proposal or 0)  # the first of equals
            raw = winner.proposal or 0
            why = ", ".join(r.why for r in known if r.proposal == raw)  # every one that agrees
            if winner.within:
                condition = f"within tolerance (±{TOLERANCE:.0%} of the target)"
            if raw < current and len(known) < len(self.readings):
                raw, condition = current, "no scale-down while a metric has no figure"
            self.proposal = raw
        cap = max(2 * current, spec.min, 1)
        limited = min(max(raw, spec.min), spec.max, cap)
        if limited < raw:
            condition = (
                f"limited by max {spec.max}"
                if limited == spec.max
                else (f"limited to doubling ({current} → {cap})")
            )
        elif limited > raw:
            condition = f"limited by min {spec.min}"
        self.history.append((now, limited))
        while self.history and self.history[0][0] < now - spec.window:
            self.history.popleft()
        desired = limited
        if limited < current:
            desired = max(r for _, r in self.history)  # stabilisation: the window's highest
            if desired > limited:
                condition = (
                    f"scale-down held: {desired} is the highest recommendation of the "
                    f"last {spec.window:g}s"
                )
        if current < spec.min or current > spec.max:
            desired = min(max(current, spec.min), spec.max)
            why = condition = f"outside min {spec.min} / max {spec.max}"
        if self.manual:
            condition = "a manual count holds (procman autoscale TYPE on gives it back)"
        self.target = desired
        self.condition = condition or ("at the recommended count" if desired == current else why)
        if desired == current:
            return None
        return desired, why

    def decide(self, decision: ScaleDecision) -> None:
        self.last = decision.line
        self.decided = {
            "time": decision.time,
            "from": decision.current,
            "to": decision.count,
            "reason": decision.why,
        }

    def report(self) -> dict[str, Any]:
        """The rule and its state, for the type summary (see docs/protocol.md)."""
        spec = self.spec
        return {
            "min": spec.min,
            "max": spec.max,
            "window": spec.window,
            "cpu": spec.cpu,
            "memory": spec.memory,
            "queue": spec.queue,
            "target": self.target,
            "manual": self.manual,
            "metrics": [r.as_dict() for r in self.readings],
            "proposal": self.proposal,
            "condition": self.condition,
            "last": self.last,
            "decision": self.decided,
        }


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
    time: float | None = None  # unix time of the sample that decided it

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
            "time": self.time,
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


def _mean(values: list[Any]) -> float | None:
    known = [v for v in values if v is not None]
    return sum(known) / len(known) if known else None


def figures(rows: list[dict[str, Any]], current: int, queued: int | None) -> dict[str, Any]:
    """A type's means per instance: cpu and memory over its running instances, queue the
    connections waiting in all its slots' listeners over its desired count."""
    running = [r for r in rows if r["state"] == "running"]
    return {
        "cpu": _mean([r["cpu_percent"] for r in running]),
        "memory": _mean([r["memory_bytes"] for r in running]),
        "queue": queued / current if queued is not None and current else None,
    }


def scale_decisions(
    scalers: Mapping[str, Scaler],
    rows: list[dict[str, Any]],
    desired: Mapping[str, int],
    queued: Mapping[str, int | None],
    now: float,
    wall: float | None = None,
) -> list[ScaleDecision]:
    """For each autoscaled type not held by a manual count: the new count, if it changes.
    queued: type -> connections waiting in its held listeners (None: it holds none)."""
    out = []
    for name, scaler in scalers.items():
        current = desired.get(name, 0)
        mine = [r for r in rows if r["type"] == name]
        proposal = scaler.recommend(now, current, figures(mine, current, queued.get(name)))
        if proposal is None or scaler.manual:
            continue
        decision = ScaleDecision(name, current, *proposal, time=wall)
        scaler.decide(decision)
        out.append(decision)
    return out
