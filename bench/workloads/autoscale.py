"""Autoscaling under a step of load: how soon procman has enough instances, and what the
requests see meanwhile; the `queue` rule against the `cpu` rule on the same app.

The app is tests/programs/one_at_a_time.py, one request at a time per instance (a sync
worker of a pre-fork server), 50 ms a request: waiting (the I/O-bound app: a worker waiting
on its database) or burning the CPU (the CPU-bound app). At the step, an open-loop load
(bench/programs/stepload.py, fixed intervals, a new connection per request, 5 s timeout)
starts against one instance and lasts STEP_S seconds:

- I/O-bound app at 70 req/s: enough = 4 instances (3.5 of them busy). Rules `queue: 2`
  and `cpu: 50`, min 1, max 8; baseline: 4 instances from the start, no rule.
- CPU-bound app at 24 req/s: enough = 2 instances (1.2 cores busy, of the box's 2). Same
  rules; baseline: 2 instances from the start.

Every formation samples each INTERVAL seconds with a scale-down window of WINDOW seconds.
Times come from the daemon's events stream, stamped by the bench as they arrive. Per run:
the reaction (step -> first scale-out decision; procman's target: within two sample
intervals), the time to enough (step -> that many instances running), p99 latency of the
requests sent before enough was reached and over the whole step (a failed request counts
at the timeout), failures, scale-down decisions during the step, and, after the step,
the time back to min.

The reference, stated and not run: a Kubernetes HPA by default evaluates every 15 s
(kube-controller-manager --horizontal-pod-autoscaler-sync-period), after its metric
pipeline has seen the load (metrics-server scrapes every 15 s by default), and scales down
only once the 300 s stabilisation window has passed
(--horizontal-pod-autoscaler-downscale-stabilization).
"""

from __future__ import annotations

import json
import math
import subprocess
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from bench.core import Row, Stats, WorkloadResult
from bench.project import PROGRAMS, PYTHON, Pool, Project
from bench.workloads.http import free_port
from procman.cli.client import Client
from procman.errors import ProcmanError
from tests.harness import PROGRAMS as TEST_PROGRAMS
from tests.harness import wait_until

APP = str(TEST_PROGRAMS / "one_at_a_time.py")
STEPLOAD = str(PROGRAMS / "stepload.py")
SERVICE_S = 0.05
INTERVAL = 1.0
WINDOW = 10.0
STEP_S = 30.0  # longer than the window, so a scale-down during the load shows
TIMEOUT_S = 5.0
MAX = 8
HPA_SYNC_S, HPA_DOWN_S = 15.0, 300.0

ASYNC_APP = str(PROGRAMS / "async_app.py")

#: (scenario, app, its mode argument, rate, enough)
SCENARIOS = (
    ("io", APP, "", 70.0, 4),
    ("cpu-bound", APP, "burn", 24.0, 2),
    ("async cpu-bound", ASYNC_APP, "burn", 24.0, 2),
)
RULES = ("queue", "cpu", "static")


@dataclass
class Watch:
    """A type's running count over time and its autoscale decisions, from the events
    stream (read on a thread of its own until the daemon closes the stream)."""

    project: Project
    name: str
    counts: list[tuple[float, int]] = field(default_factory=list)  # (unix time, running)
    decisions: list[tuple[float, int, int, str]] = field(default_factory=list)
    ready: threading.Event = field(default_factory=threading.Event)

    def start(self) -> None:
        threading.Thread(target=self._read, daemon=True).start()
        if not self.ready.wait(15):
            raise RuntimeError("no `subscribed` event within 15 s")

    def _read(self) -> None:
        running: set[str] = set()
        try:
            for event in Client(self.project.root, self.project.sock).stream("events"):
                now, kind = time.time(), event.get("event")
                if kind == "subscribed":
                    rows = event.get("instances") or []
                    running = {
                        r["id"] for r in rows if r["type"] == self.name and r["state"] == "running"
                    }
                    self.counts.append((now, len(running)))
                    self.ready.set()
                elif kind == "state" and event.get("type") == self.name:
                    (running.add if event["state"] == "running" else running.discard)(event["id"])
                    self.counts.append((now, len(running)))
                elif kind == "autoscale" and event.get("type") == self.name:
                    at = event.get("time") or now
                    self.decisions.append((at, event["from"], event["to"], event["reason"]))
        except (ProcmanError, OSError):
            return

    def first(self, after: float, ok: Any) -> float | None:
        """The first time at or after `after` when ok(running count) held."""
        before = [c for t, c in self.counts if t < after]
        if before and ok(before[-1]):
            return after
        return next((t for t, c in self.counts if t >= after and ok(c)), None)


def p99(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(0.99 * len(ordered)) - 1)]


def one_run(
    pool: Pool, scenario: str, app: str, burn: str, rate: float, enough: int, rule: str
) -> dict:
    port = free_port()
    count = enough if rule == "static" else 1
    scale = "" if rule == "static" else (
        f"\n    autoscale: {{min: 1, max: {MAX}, {rule}: {2 if rule == 'queue' else 50}, "
        f"window: {WINDOW:g}}}"
    )  # fmt: skip
    project = pool.project(
        f"as-{scenario}-{rule}",
        f"""sample_interval: {INTERVAL:g}
processes:
  web:
    cmd: {PYTHON} {app} {SERVICE_S} {burn}
    port: {port}
    instances: {count}{scale}
""",
    )
    try:
        project.cli("start")
        watch = Watch(project, "web")
        watch.start()
        args = [PYTHON, STEPLOAD, str(port), f"{rate:g}", f"{STEP_S:g}", f"{TIMEOUT_S:g}"]
        gen = pool.helper(args, stdout=subprocess.PIPE, text=True)
        out, _ = gen.communicate(timeout=STEP_S + TIMEOUT_S + 60)
        pool.helpers.remove(gen)
        (summary,) = project.client.call("autoscale")["types"] if rule != "static" else [{}]
        data = json.loads(out)
        t0 = data["t0"]
        end = t0 + STEP_S
        enough_at = watch.first(t0, lambda c: c >= enough)
        ups = [t for t, old, new, _ in watch.decisions if t >= t0 and new > old]
        downs = [d for d in watch.decisions if t0 <= d[0] <= end and d[2] < d[1]]
        back_at = None
        if rule != "static" and enough_at is not None:
            try:
                back_at = wait_until(lambda: watch.first(end, lambda c: c <= 1), WINDOW + 20)
            except AssertionError:
                pass  # not back at min in time: recorded as None
        samples = data["samples"]
        lat = [(at, TIMEOUT_S if s is None else s) for at, s in samples]
        until = (enough_at - t0) if enough_at is not None else STEP_S
        reacting = [s for at, s in lat if at <= until]
        return {
            "scenario": scenario,
            "rule": rule,
            "rate": rate,
            "enough": enough,
            "reaction_s": round(ups[0] - t0, 3) if ups else None,
            "to_enough_s": round(enough_at - t0, 3) if enough_at is not None else None,
            "p99_reacting_ms": round((p99(reacting) or 0) * 1000, 1) if reacting else None,
            "p99_step_ms": round((p99([s for _, s in lat]) or 0) * 1000, 1),
            "failed": sum(1 for _, s in samples if s is None),
            "failed_at_s": [at for at, s in samples if s is None][:50],
            "requests": len(samples),
            "peak": max((c for t, c in watch.counts if t >= t0), default=count),
            "downs_during_step": len(downs),
            "back_to_min_s": round(back_at - end, 2) if back_at is not None else None,
            "decisions": [
                (round(t - t0, 2), old, new, why) for t, old, new, why in watch.decisions
            ],
            "readings_at_end": (summary.get("autoscale") or {}).get("metrics"),
        }
    finally:
        project.teardown()
        pool.projects.remove(project)


def run(pool: Pool, quick: bool) -> WorkloadResult:
    reps = 1 if quick else 3
    result = WorkloadResult("autoscale")
    runs: list[dict] = []
    for rep in range(reps):
        for scenario, app, burn, rate, enough in SCENARIOS:
            order = RULES[rep % 3 :] + RULES[: rep % 3]  # rotated, so no rule always goes first
            for rule in order:
                runs.append(one_run(pool, scenario, app, burn, rate, enough, rule))
    result.extra["runs"] = runs
    result.extra["settings"] = {
        "sample_interval_s": INTERVAL, "window_s": WINDOW, "step_s": STEP_S,
        "timeout_s": TIMEOUT_S, "service_ms": SERVICE_S * 1000, "max": MAX,
        "reference_hpa": {"sync_period_s": HPA_SYNC_S, "scale_down_stabilisation_s": HPA_DOWN_S},
    }  # fmt: skip

    def of(scenario: str, rule: str, key: str) -> list[float]:
        return [r[key] for r in runs if (r["scenario"], r["rule"]) == (scenario, rule)
                and r[key] is not None]  # fmt: skip

    for scenario, _app, _burn, rate, enough in SCENARIOS:
        label = f"{scenario} app, {rate:g} req/s"
        static = of(scenario, "static", "p99_step_ms")
        for rule in ("queue", "cpu"):
            never = len(of(scenario, rule, "to_enough_s")) < reps
            if never:
                result.notes.append(
                    f"{label}, {rule} rule: {enough} instances not reached within the "
                    f"{STEP_S:g} s step in {reps - len(of(scenario, rule, 'to_enough_s'))} of "
                    f"{reps} runs"
                )
            if of(scenario, rule, "reaction_s"):
                result.rows.append(Row(
                    "autoscale", f"{label}: step → first decision, {rule} rule", "s",
                    Stats.of(of(scenario, rule, "reaction_s")),
                    target=2 * INTERVAL, target_text=f"≤ 2 sample intervals ({2 * INTERVAL:g} s)",
                ))  # fmt: skip
            if of(scenario, rule, "to_enough_s") and not never:
                result.rows.append(Row(
                    "autoscale", f"{label}: step → {enough} running, {rule} rule", "s",
                    Stats.of(of(scenario, rule, "to_enough_s")),
                    baseline=Stats.of([HPA_SYNC_S]), baseline_label="HPA sync period (reference)",
                ))  # fmt: skip
            result.rows.append(Row(
                "autoscale", f"{label}: p99 during the step, {rule} rule", "ms",
                Stats.of(of(scenario, rule, "p99_step_ms")),
                baseline=Stats.of(static) if static else None,
                baseline_label=f"{enough} instances from the start",
            ))  # fmt: skip
    return result
