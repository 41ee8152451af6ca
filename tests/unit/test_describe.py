"""describe_formation: the formation as plain data (check --json, the daemon's formation)."""

from __future__ import annotations

import json
from pathlib import Path

from procman.config.describe import describe_formation
from procman.model import Formation, ProcessType


def formation() -> Formation:
    return Formation(
        root=Path("/srv/app"),
        source=Path("/srv/app/Procfile"),
        types=(
            ProcessType(
                "web",
                "python app.py",
                instances=2,
                port=8000,
                socket=True,
                env={"API_TOKEN": "s3cret", "MODE": "prod"},
            ),
            ProcessType("worker", "python worker.py"),
        ),
    )


def test_describe_is_plain_json_with_secrets_masked() -> None:
    described = describe_formation(formation())
    assert json.loads(json.dumps(described)) == described
    assert (described["root"], described["source"]) == ("/srv/app", "/srv/app/Procfile")
    web, worker = described["types"]
    assert (web["name"], web["instances"], web["port"], web["socket"]) == ("web", 2, 8000, True)
    assert web["env"] == {"API_TOKEN": "****", "MODE": "prod"}
    assert (worker["ready"], worker["restart"]) == ("none", "always")
    assert "desired" not in web


def test_desired_counts_per_type() -> None:
    web, worker = describe_formation(formation(), desired={"web": 5})["types"]
    assert (web["desired"], worker["desired"]) == (5, 1)


def test_every_setting_ports_per_instance_and_the_start_order() -> None:
    from procman.config.procfile import parse_procfile

    types = parse_procfile("release: migrate\nweb: serve $PORT\nworker: work\n", "Procfile")
    f = Formation(root=Path("/srv/app"), types=tuple(types), env={"DB_PASSWORD": "x"})
    described = describe_formation(f, desired={"web": 2})
    release, web, worker = described["types"]
    assert web["ports"] == [5100, 5101] and web["port_per_instance"] is True
    assert worker["ports"] == [5200]
    assert (release["restart"], web["stop_signal"], web["after"]) == ("never", "SIGTERM", [])
    for key in (
        "max_memory",
        "autoscale",
        "kill_timeout",
        "ready",
        "ready_timeout",
        "min_uptime",
        "max_restarts",
        "restart",
        "stop_signal",
        "after",
        "env",
        "cwd",
    ):
        assert key in web, key
    assert described["start_order"] == [["release"], ["web", "worker"]]
    assert described["depends"]["web"] == ["release"]
    assert described["env"] == {"DB_PASSWORD": "****"}
