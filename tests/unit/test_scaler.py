"""The pure decisions of daemon/policy.py: autoscaling the HPA way, and max_memory."""

from __future__ import annotations

from typing import Any

import pytest

from procman.daemon.policy import Scaler, memory_restarts, scale_decisions
from procman.model import Autoscale

MB = 1024 * 1024


def scaler(**kwargs: Any) -> Scaler:
    spec = {"min": 1, "max": 16, "cpu": 50.0, "window": 60.0, **kwargs}
    return Scaler(Autoscale(**spec))


@pytest.mark.parametrize("mean", [45.1, 50.0, 54.9])
def test_inside_the_tolerance_band_nothing_changes(mean: float) -> None:
    assert scaler().recommend(0.0, 4, {"cpu": mean}) is None


def test_scale_up_is_proportional() -> None:
    count, why = scaler().recommend(0.0, 4, {"cpu": 75.0}) or (None, "")
    assert count == 6  # ceil(4 * 75 / 50)
    assert why == "cpu 75% > 50%"


def test_scale_up_at_most_doubles_per_step() -> None:
    assert scaler().recommend(0.0, 2, {"cpu": 100.0 * 5}) == (4, "cpu 500% > 50%")


def test_scale_up_stops_at_max() -> None:
    assert scaler(max=5).recommend(0.0, 4, {"cpu": 100.0}) == (5, "cpu 100% > 50%")


def test_scale_down_waits_for_the_window_then_takes_its_highest_recommendation() -> None:
    rule = scaler(window=60.0)
    assert rule.recommend(0.0, 8, {"cpu": 50.0}) is None  # at target: recommends 8
    # a lull: raw recommendation 2, but 8 was recommended within the window
    assert rule.recommend(30.0, 8, {"cpu": 12.5}) is None
    assert rule.recommend(59.0, 8, {"cpu": 12.5}) is None
    # 8's recommendation has left the window; the highest since is 2
    assert rule.recommend(91.0, 8, {"cpu": 12.5}) == (2, "cpu 12% < 50%")


def test_scale_down_never_goes_below_min() -> None:
    assert scaler(min=3, window=0.0).recommend(0.0, 8, {"cpu": 1.0}) == (3, "cpu 1% < 50%")


def test_outside_min_and_max_is_brought_back_at_once() -> None:
    assert scaler(min=2, max=4).recommend(0.0, 9, {"cpu": None}) == (4, "outside min 2 / max 4")
    assert scaler(min=2, max=4).recommend(0.0, 1, {"cpu": 50.0}) == (2, "outside min 2 / max 4")


def test_without_figures_a_type_at_zero_gets_one_instance() -> None:
    assert scaler(min=0).recommend(0.0, 0, {"cpu": None}) == (1, "no figures yet")
    assert scaler().recommend(0.0, 3, {"cpu": None}) is None


def row(
    ident: str, state: str = "running", cpu: float | None = None, mem: int | None = None
) -> dict[str, Any]:
    name = ident.split(".")[0]
    return {"id": ident, "type": name, "state": state, "cpu_percent": cpu, "memory_bytes": mem}


def test_scale_decisions_use_the_mean_of_running_instances_and_skip_manual_counts() -> None:
    rows = [row("web.1", cpu=90.0), row("web.2", cpu=70.0), row("web.3", "starting", cpu=0.0)]
    web, api = scaler(), scaler()
    api.manual = True
    decisions = scale_decisions({"web": web, "api": api}, rows + [row("api.1", cpu=99.0)],
                                {"web": 2, "api": 1}, {}, now=0.0)  # fmt: skip
    assert [(d.type, d.current, d.count) for d in decisions] == [("web", 2, 4)]
    assert web.last == "autoscale web 2 → 4: cpu 80% > 50%"
    assert decisions[0].event() == {
        "event": "autoscale",
        "type": "web",
        "from": 2,
        "to": 4,
        "reason": "cpu 80% > 50%",
        "time": None,
    }


def test_memory_restarts_name_running_instances_over_their_limit() -> None:
    rows = [
        row("web.1", mem=600 * MB),
        row("web.2", mem=100 * MB),
        row("web.3", "starting", mem=900 * MB),
        row("worker.1", mem=900 * MB),
    ]
    found = memory_restarts(rows, {"web": 512 * MB, "worker": None})
    assert [(r.id, r.reason) for r in found] == [("web.1", "memory 600 MB > 512 MB")]
