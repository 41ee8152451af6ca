"""Autoscaling decisions, the way a Kubernetes HorizontalPodAutoscaler makes them:

    desired = ceil(current × mean_cpu / target)

kept within [min, max], left alone inside a ±10 % tolerance band, at most doubling per step,
and, for scale-down, the highest recommendation of the stabilisation window (default 60 s)
so a short lull does not shed instances that the next burst needs. Pure: a clock value in,
a decision out.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

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
