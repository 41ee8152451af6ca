"""What `procman autoscale [TYPE]` prints (kubectl describe hpa as the model), from the
daemon's type summaries; no daemon."""

from __future__ import annotations

from typing import Any

from procman.cli.autoscale_view import autoscale_lines
from procman.cli.figures import figure, rule_text

MB = 1024 * 1024


def summary(**rule: Any) -> dict[str, Any]:
    auto = {
        "min": 1,
        "max": 8,
        "window": 60.0,
        "cpu": 70.0,
        "memory": 300 * MB,
        "queue": 4.0,
        "target": 6,
        "manual": False,
        "metrics": [
            {"metric": "cpu", "current": 12.04, "target": 70.0, "proposal": 1},
            {"metric": "memory", "current": 100.0 * MB, "target": 300.0 * MB, "proposal": 1},
            {"metric": "queue", "current": 11.5, "target": 4.0, "proposal": 12},
        ],
        "proposal": 12,
        "condition": "limited to doubling (3 → 6)",
        "last": "autoscale web 3 → 6: queue 11.5 > 4",
        "decision": {"time": 1_000.0, "from": 3, "to": 6, "reason": "queue 11.5 > 4"},
        **rule,
    }
    return {"name": "web", "desired": 6, "running": 3, "autoscale": auto}


def test_describe_each_metric_proposal_and_the_last_decision() -> None:
    lines = autoscale_lines([summary()], now=1_075.0)
    assert lines[0] == "web: autoscale on; 1-8 instances, scale-down window 60s"
    table = [line.split() for line in lines[1:5]]
    assert table[0] == ["metric", "current", "target", "proposal"]
    assert table[1] == ["cpu", "per", "instance", "12%", "70%", "1"]
    assert table[2] == ["memory", "per", "instance", "100.0", "MB", "300.0", "MB", "1"]
    assert table[3] == ["queue", "per", "slot", "11.5", "4", "12"]
    assert lines[5] == "  instances: 3 running, 6 desired; highest proposal 12, the rule asks for 6"
    assert lines[6] == "  condition: limited to doubling (3 → 6)"
    assert lines[7].startswith("  last decision: ")
    assert lines[7].endswith(" (1m15s ago) 3 → 6: queue 11.5 > 4")


def test_before_the_first_sample_and_when_held() -> None:
    fresh = summary(
        metrics=[], proposal=None, condition=None, decision=None, manual=True, memory=None
    )
    lines = autoscale_lines([fresh], now=0.0)
    assert (
        lines[0] == "web: autoscale off: a manual count holds; 1-8 instances, scale-down window 60s"
    )
    assert [line.split()[0] for line in lines[2:4]] == ["cpu", "queue"]  # the rule's targets
    assert lines[2].split()[3:] == ["-", "70%", "-"]
    assert "  condition: no sample yet" in lines
    assert lines[-1] == "  last decision: none yet"
    assert autoscale_lines([], now=0.0) == ["no process type has an autoscale rule"]


def test_figures_and_rule_text() -> None:
    assert (figure("cpu", 93.4), figure("queue", 4.0), figure("queue", 0.5)) == ("93%", "4", "0.5")
    assert figure("memory", 300 * MB) == "300.0 MB" and figure("cpu", None) == "-"
    assert rule_text({"cpu": 70, "memory": None, "queue": 4}) == "cpu 70%, queue 4"
