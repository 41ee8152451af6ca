"""Samples, statistics, result rows, and a wall-clock guard for whole workloads."""

from __future__ import annotations

import signal
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any


class BenchTimeout(Exception):
    """A workload ran past its time limit."""


@contextmanager
def deadline(seconds: float, what: str) -> Iterator[None]:
    """Raise BenchTimeout in the main thread after `seconds` (interrupts blocking reads)."""

    def expire(signum: int, frame: Any) -> None:
        raise BenchTimeout(f"{what} took longer than {seconds:g}s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def timed(func: Callable[[], Any]) -> tuple[float, Any]:
    """(seconds, result) of one call, on the monotonic high-resolution clock."""
    t0 = time.perf_counter()
    value = func()
    return time.perf_counter() - t0, value


@dataclass
class Stats:
    n: int
    median: float
    min: float
    max: float
    samples: list[float]

    @classmethod
    def of(cls, samples: list[float]) -> Stats:
        if not samples:
            raise ValueError("no samples")
        return cls(len(samples), statistics.median(samples), min(samples), max(samples), samples)

    def scaled(self, factor: float) -> Stats:
        return Stats.of([s * factor for s in self.samples])


@dataclass
class Row:
    """One line of the results table: procman against its same-run baseline."""

    workload: str
    metric: str
    unit: str
    procman: Stats
    baseline: Stats | None = None
    baseline_label: str = ""
    target: float | None = None
    target_text: str = ""
    higher_is_better: bool = False
    # The target as a ratio to the same baseline measured earlier on this box (when the issue
    # gives one): robust to how fast the box happens to be today.
    ratio_target: float | None = None

    @property
    def ratio(self) -> float | None:
        if self.baseline is None or not self.baseline.median:
            return None
        return self.procman.median / self.baseline.median

    @property
    def met(self) -> bool | None:
        if self.target is None:
            return None
        if self.higher_is_better:
            return self.procman.median >= self.target
        return self.procman.median <= self.target

    @property
    def ratio_met(self) -> bool | None:
        if self.ratio_target is None or self.ratio is None:
            return None
        if self.higher_is_better:
            return self.ratio >= self.ratio_target
        return self.ratio <= self.ratio_target

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ratio"] = self.ratio
        data["met"] = self.met
        data["ratio_met"] = self.ratio_met
        return data


TOOLS = ("procman", "pm2", "supervisord", "circus", "honcho")


@dataclass
class Compare:
    """One line of the side-by-side table: the same workload under every tool, same run.

    `tools` holds what was measured, `na` why a tool has no figure. `versus` names the
    tools (or baseline labels) procman's target is set against; the best of them is the
    reference, and `target` bounds procman / reference (≤, or ≥ when higher is better)."""

    workload: str
    metric: str
    unit: str
    tools: dict[str, Stats] = field(default_factory=dict)
    na: dict[str, str] = field(default_factory=dict)
    baselines: dict[str, Stats] = field(default_factory=dict)
    versus: tuple[str, ...] = ()
    versus_text: str = "best peer"
    target: float | None = None
    higher_is_better: bool = False
    note: str = ""
    # An absolute bound on procman's own figure (its `limit_stat`: median, or max for
    # "in every run"), beside or instead of the ratio target.
    limit: float | None = None
    limit_stat: str = "median"

    def _figure(self, name: str) -> Stats | None:
        return self.tools.get(name) or self.baselines.get(name)

    @property
    def reference(self) -> str | None:
        """The best of `versus` that has a figure."""
        have = [(n, s) for n in self.versus if (s := self._figure(n)) is not None]
        if not have:
            return None
        pick = max if self.higher_is_better else min
        return pick(have, key=lambda item: item[1].median)[0]

    @property
    def ratio(self) -> float | None:
        ref = self.reference
        procman = self.tools.get("procman")
        if ref is None or procman is None:
            return None
        base = self._figure(ref)
        assert base is not None
        if not base.median:
            return None if not procman.median else float("inf")
        return procman.median / base.median

    @property
    def met(self) -> bool | None:
        verdicts = []
        sign = (lambda a, b: a >= b) if self.higher_is_better else (lambda a, b: a <= b)
        if self.target is not None:
            ratio = self.ratio
            if ratio is None:
                return None
            verdicts.append(sign(ratio, self.target))
        if self.limit is not None:
            procman = self.tools.get("procman")
            if procman is None:
                return None
            verdicts.append(sign(getattr(procman, self.limit_stat), self.limit))
        return all(verdicts) if verdicts else None

    @property
    def target_text(self) -> str:
        parts = []
        op = "≥" if self.higher_is_better else "≤"
        if self.target is not None:
            parts.append(f"{op} {self.target:g}× {self.versus_text}")
        if self.limit is not None:
            every = " in every run" if self.limit_stat == "max" else ""
            parts.append(f"{op} {self.limit:g} {self.unit}{every}")
        return "; ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["reference"] = self.reference
        data["ratio"] = self.ratio
        data["met"] = self.met
        data["target_text"] = self.target_text
        return data


@dataclass
class WorkloadResult:
    name: str
    compare: list[Compare] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    error: str | None = None
    leftovers: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "compare": [c.to_dict() for c in self.compare],
            "rows": [r.to_dict() for r in self.rows],
            "extra": self.extra,
            "notes": self.notes,
            "seconds": round(self.seconds, 2),
            "error": self.error,
            "leftovers": self.leftovers,
        }
