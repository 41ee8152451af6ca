"""Resource awareness: autoscaling on CPU, max_memory, the metrics method and /metrics."""

from __future__ import annotations

import json
import urllib.request

from tests.harness import PROGRAMS, PY, Harness, wait_until


def count(pm: Harness, name: str) -> int:
    return len([r for r in pm.status(name) if r["state"] == "running"])


def test_autoscale_grows_under_cpu_load_then_shrinks(pm: Harness) -> None:
    flag = pm.root / "burn.flag"
    flag.write_text("on")
    pm.yaml(f"""sample_interval: 0.3
processes:
  burn:
    cmd: {PY} {PROGRAMS / "burn.py"} {flag}
    autoscale: {{min: 1, max: 3, cpu: 30, window: 1.5}}
""")
    pm.run("start")
    wait_until(lambda: count(pm, "burn") == 3, 30, "three burners")
    log = pm.run("logs", "-n", "200").stdout
    assert "autoscale burn 1 → 2: cpu" in log and "% > 30%" in log
    # the rule asked for 3 (on a loaded box the three may already be too slow for 30 % each,
    # and the rule steps back down before this line: so the log, not the current target)
    assert "→ 3: cpu" in log, log
    assert not pm.client.call("status")["types"][0]["autoscale"]["manual"]
    flag.unlink()
    wait_until(lambda: count(pm, "burn") == 1 and len(pm.status("burn")) == 1, 30, "back to one")
    assert "% < 30%" in pm.run("logs", "-n", "200").stdout
    # a manual count holds until autoscale is turned back on
    pm.run("scale", "burn=2")
    assert pm.client.call("status")["types"][0]["autoscale"]["manual"] is True
    out = pm.run("autoscale", "burn", "on").stdout
    assert "autoscale on" in out
    wait_until(lambda: len(pm.status("burn")) == 1, 30, "the rule takes over again")
    assert pm.run("autoscale", "nosuch", "on", expect=2).returncode == 2


def test_max_memory_restarts_with_the_reason(pm: Harness) -> None:
    pm.yaml(f"""sample_interval: 0.3
processes:
  hog:
    cmd: {PY} {PROGRAMS / "hog.py"} 80
    max_memory: 40M
    min_uptime: 0
""")
    pm.run("start")
    row = wait_until(
        lambda: (r := pm.by_id()["hog.1"]) and r["restarts"] >= 1 and r, 30, "a memory restart"
    )
    assert row["reason"].startswith("memory ") and row["reason"].endswith("> 40 MB")
    assert "hog.1: memory" in pm.run("status").stdout
    assert "hog.1 memory" in pm.run("logs", "-n", "100").stdout


def test_metrics_method_and_prometheus_endpoint(pm: Harness, port: int) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    pm.yaml(f"""metrics_port: {port}
processes:
  web:
    cmd: {PY} {PROGRAMS / "printenv.py"}
    instances: 2
""")
    pm.run("start")
    payload = pm.client.call("metrics")
    assert [r["id"] for r in payload["instances"]] == ["web.1", "web.2"]
    assert payload["types"] == [
        {"name": "web", "desired": 2, "running": 2, "watch": [], "cron_restart": None,
         "autoscale": None}
    ]  # fmt: skip

    def scrape() -> str | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                return r.read().decode()
        except OSError:
            return None

    text = wait_until(scrape, 10, "the metrics endpoint")
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert {
        "procman_instance_cpu_percent",
        "procman_instance_memory_bytes",
        "procman_instance_restarts",
        "procman_instance_state",
        "procman_instance_uptime_seconds",
        "procman_type_desired_instances",
        "procman_type_running_instances",
    } <= set(families)
    states = families["procman_instance_state"].samples
    assert {(s.labels["instance"], s.labels["state"]) for s in states} == {
        ("web.1", "running"),
        ("web.2", "running"),
    }
    desired = families["procman_type_desired_instances"].samples[0]
    assert desired.labels == {"type": "web"} and desired.value == 2
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5):
        pass
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/nope", timeout=5)
    except urllib.error.HTTPError as exc:
        assert exc.code == 404
    assert json.loads(pm.run("status", "--json").stdout)[0]["id"] == "web.1"
