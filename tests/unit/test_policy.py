"""The pure autoscale and memory decisions (procman/daemon/policy.py): figures in, counts out,
no processes and no clock but the numbers passed in."""

from __future__ import annotations

from typing import Any

import pytest

from procman.daemon.policy import (
    MB,
    Scaler,
    figures,
    memory_restarts,
    scale_decisions,
)
from procman.model import Autoscale


def scaler(**rule: Any) -> Scaler:
    rule.setdefault("min", 1)
    rule.setdefault("max", 16)
    return Scaler(Autoscale(**rule))


def test_one_metric_follows_the_hpa_formula() -> None:
    s = scaler(cpu=50)
    assert s.recommend(0, 2, {"cpu": 90}) == (4, "cpu 90% > 50%")  # ceil(2 * 90 / 50)
    assert s.readings[0].as_dict() == {
        "metric": "cpu",
        "current": 90,
        "target": 50,
        "proposal": 4,
    }
    assert s.proposal == 4 and s.target == 4


def test_several_metrics_the_highest_proposal_wins() -> None:
    s = scaler(cpu=70, memory=300 * MB, queue=4)
    figures_ = {"cpu": 35.0, "memory": 450.0 * MB, "queue": 10.0}
    # cpu proposes 2, memory ceil(4 * 1.5) = 6, queue ceil(4 * 2.5) = 10
    assert s.recommend(0, 4, figures_) == (8, "queue 10 > 4")  # 10 capped at doubling
    assert [(r.metric, r.proposal) for r in s.readings] == [
        ("cpu", 2),
        ("memory", 6),
        ("queue", 10),
    ]
    assert s.proposal == 10
    assert s.condition == "limited to doubling (4 → 8)"
    # memory wins when it asks for most
    s = scaler(cpu=70, memory=300 * MB)
    assert s.recommend(0, 2, {"cpu": 80.0, "memory": 600.0 * MB}) == (4, "memory 600 MB > 300 MB")


def test_a_lower_proposal_never_wins_over_a_higher_one_for_scale_down() -> None:
    s = scaler(cpu=70, queue=4, window=0)
    # cpu alone would shrink 4 -> 1; queue keeps 4 (within tolerance): the higher wins
    assert s.recommend(0, 4, {"cpu": 5.0, "queue": 4.2}) is None
    assert s.target == 4
    assert s.condition == "within tolerance (±10% of the target)"
    assert s.recommend(1, 4, {"cpu": 5.0, "queue": 1.0}) == (1, "cpu 5% < 70%, queue 1 < 4")


@pytest.mark.parametrize(("mean", "changes"), [(64, False), (76.9, False), (77.1, True)])
def test_tolerance_band(mean: float, changes: bool) -> None:
    s = scaler(cpu=70)
    proposal = s.recommend(0, 10, {"cpu": mean})
    assert (proposal is not None) is changes
    if not changes:
        assert s.target == 10 and "within tolerance" in (s.condition or "")


def test_doubling_cap_and_max() -> None:
    s = scaler(queue=1, max=6)
    assert s.recommend(0, 1, {"queue": 20.0}) == (2, "queue 20 > 1")
    assert s.condition == "limited to doubling (1 → 2)"
    assert s.recommend(1, 2, {"queue": 20.0}) == (4, "queue 20 > 1")
    assert s.recommend(2, 4, {"queue": 20.0}) == (6, "queue 20 > 1")
    assert s.condition == "limited by max 6"
    assert s.recommend(3, 6, {"queue": 20.0}) is None
    assert s.target == 6


def test_min_floor() -> None:
    s = scaler(cpu=50, min=3, window=0)
    assert s.recommend(0, 5, {"cpu": 1.0}) == (3, "cpu 1% < 50%")
    assert s.condition == "limited by min 3"


def test_scale_down_waits_for_the_window() -> None:
    s = scaler(queue=2, window=10)
    assert s.recommend(0.0, 4, {"queue": 2.0}) is None  # on target: 4 is the recommendation
    # the load goes: 1 would do, but 4 was recommended within the last 10 s
    assert s.recommend(3.0, 4, {"queue": 0.0}) is None
    assert s.condition == "scale-down held: 4 is the highest recommendation of the last 10s"
    assert s.recommend(9.0, 4, {"queue": 0.0}) is None
    # 10 s after the last recommendation of 4, the window's highest is 1
    assert s.recommend(10.5, 4, {"queue": 0.0}) == (1, "queue 0 < 2")
    # scale-up is never held
    assert s.recommend(11.0, 1, {"queue": 10.0}) == (2, "queue 10 > 2")


def test_scale_down_steps_through_the_window_highest() -> None:
    s = scaler(cpu=50, window=5)
    s.recommend(0.0, 8, {"cpu": 50.0})  # 8
    s.recommend(2.0, 8, {"cpu": 25.0})  # 4
    assert s.recommend(5.5, 8, {"cpu": 12.5}) == (4, "cpu 12% < 50%")  # 8 left the window


def test_a_metric_without_a_figure_holds_off_scale_down_not_scale_up() -> None:
    s = scaler(cpu=50, queue=2, window=0)
    assert s.recommend(0, 4, {"cpu": None, "queue": 0.0}) is None
    assert s.condition == "no scale-down while a metric has no figure"
    assert s.recommend(1, 4, {"cpu": None, "queue": 6.0}) == (8, "queue 6 > 2")
    assert s.readings[0].proposal is None and s.readings[0].why == "cpu: no figure yet"


def test_no_figures_at_all() -> None:
    s = scaler(cpu=50, min=2)
    assert s.recommend(0, 2, {}) is None
    assert s.proposal is None
    # no instance at all: start the floor (at least one)
    assert scaler(cpu=50, min=0).recommend(0, 0, {}) == (1, "no figures yet")


def test_outside_min_max_comes_back_inside() -> None:
    s = scaler(cpu=50, min=2, max=4)
    assert s.recommend(0, 9, {"cpu": 50.0}) == (4, "outside min 2 / max 4")


def test_manual_still_reads_and_reports_but_is_not_applied() -> None:
    s = scaler(cpu=50)
    s.manual = True
    decided = scale_decisions({"web": s}, [row("web.1", cpu=150.0)], {"web": 1}, {}, 0.0, 99.0)
    assert decided == []
    assert s.target == 2 and s.readings[0].current == 150.0
    assert s.condition and "manual" in s.condition
    assert s.last is None


def row(ident: str, state: str = "running", cpu: float | None = None, mem: int | None = None):
    return {
        "id": ident,
        "type": ident.split(".")[0],
        "state": state,
        "cpu_percent": cpu,
        "memory_bytes": mem,
    }


def test_figures_per_type() -> None:
    rows = [
        row("web.1", cpu=20.0, mem=100 * MB),
        row("web.2", cpu=40.0, mem=300 * MB),
        row("web.3", state="starting", cpu=90.0, mem=900 * MB),  # not running: not counted
    ]
    got = figures(rows, 3, 9)
    assert got == {"cpu": 30.0, "memory": 200.0 * MB, "queue": 3.0}
    assert figures([], 0, None) == {"cpu": None, "memory": None, "queue": None}
    assert figures(rows, 3, None)["queue"] is None  # no held listener, no queue figure


def test_scale_decisions_per_type_with_queue_and_the_event() -> None:
    web, hog = scaler(queue=2, cpu=80, max=4), scaler(memory=50 * MB, max=3)
    rows = [row("web.1", cpu=3.0), row("hog.1", mem=80 * MB), row("hog.2", mem=82 * MB)]
    decided = scale_decisions(
        {"web": web, "hog": hog}, rows, {"web": 1, "hog": 2}, {"web": 7, "hog": None}, 0.0, 123.0
    )
    assert [(d.type, d.current, d.count, d.why) for d in decided] == [
        ("web", 1, 2, "queue 7 > 2"),
        ("hog", 2, 3, "memory 81 MB > 50 MB"),
    ]
    assert decided[0].line == "autoscale web 1 → 2: queue 7 > 2"
    assert decided[0].event() == {
        "event": "autoscale",
        "type": "web",
        "from": 1,
        "to": 2,
        "reason": "queue 7 > 2",
        "time": 123.0,
    }
    assert web.last == decided[0].line
    assert web.decided == {"time": 123.0, "from": 1, "to": 2, "reason": "queue 7 > 2"}
    report = web.report()
    assert report["metrics"][0] == {"metric": "cpu", "current": 3.0, "target": 80, "proposal": 1}
    assert report["metrics"][1]["metric"] == "queue" and report["metrics"][1]["proposal"] == 4
    assert (report["proposal"], report["target"], report["decision"]["to"]) == (4, 2, 2)
    assert (report["cpu"], report["memory"], report["queue"]) == (80, None, 2)


def test_cpu_only_rule_as_before() -> None:
    s = scaler(cpu=30, min=1, max=3, window=1.5)
    rows = [row("burn.1", cpu=95.0)]
    (d,) = scale_decisions({"burn": s}, rows, {"burn": 1}, {"burn": None}, 0.0)
    assert d.line == "autoscale burn 1 → 2: cpu 95% > 30%"


def test_memory_restarts() -> None:
    rows = [
        row("hog.1", mem=80 * MB),
        row("hog.2", mem=10 * MB),
        row("hog.3", state="starting", mem=99 * MB),
        row("web.1", mem=500 * MB),
    ]
    out = memory_restarts(rows, {"hog": 40 * MB, "web": None})
    assert [(m.id, m.reason) for m in out] == [("hog.1", "memory 80 MB > 40 MB")]
