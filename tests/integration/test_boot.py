"""The daemon at boot and on a schedule, with real daemons: cron_restart on an injected
clock, READY=1 to systemd's notify socket, `startup` units that `systemd-analyze verify`
accepts, and shell completion from the running daemon."""

from __future__ import annotations

import math
import os
import shutil
import socket
import subprocess
import tempfile
import time
from datetime import datetime
from pathlib import Path

import pytest

from procman.cli.startup import systemd_running
from procman.export.startup import unit_name
from tests.harness import EXAMPLES, PROGRAMS, PY, Harness, wait_until

APP = f"{PY} {EXAMPLES / 'app.py'}"
PRINTENV = f"{PY} {PROGRAMS / 'printenv.py'}"
# the daemon, with cron's wall clock moved by argv[1] seconds (the clock is injectable)
SKEWED_DAEMON = """
import sys, time
import procman.daemon.cron as cron
offset = float(sys.argv[1])
cron.wall_clock = lambda: time.time() + offset
from procman.daemon.__main__ import main
sys.exit(main(["-d", sys.argv[2]]))
"""


def pids(pm: Harness) -> dict[str, int | None]:
    return {r["id"]: r["pid"] for r in pm.status()}


def test_a_cron_rule_a_minute_ahead_fires(pm: Harness, port: int) -> None:
    now = time.time()
    fire = math.ceil((now + 60) / 60) * 60  # the start of a minute at least 60 s ahead
    when = datetime.fromtimestamp(fire)
    rule = f"{when.minute} {when.hour} * * *"
    pm.yaml(f"""processes:
  web:
    cmd: {APP}
    instances: 2
    port: {port}
    min_uptime: 0.3
    cron_restart: "{rule}"
  worker:
    cmd: {PRINTENV}
    cron_restart: "{rule}"
""")
    offset = fire - now - 4  # the skewed clock reaches the rule's minute 4 s from now
    daemon = subprocess.Popen(
        [PY, "-c", SKEWED_DAEMON, str(offset), str(pm.root)],
        env=pm.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    pm.background.append(daemon)
    wait_until(lambda: len(pm.status()) == 3 if pm.daemon_pid() else False, 20, "a daemon")
    wait_until(lambda: {r["state"] for r in pm.status()} == {"running"}, 20, "all running")
    before = pids(pm)
    summary = {t["name"]: t for t in pm.client.call("status")["types"]}
    assert summary["web"]["cron_restart"] == rule
    assert f"cron {rule}" in pm.run("status").stdout

    def replaced() -> bool:
        rows = pm.status()
        return all(r["state"] == "running" and r["pid"] != before[r["id"]] for r in rows)

    wait_until(replaced, 30, "every instance replaced at the rule's time")
    pm.wait_log(f"cron '{rule}'; reloading web")  # a held socket: a rolling reload
    pm.wait_log(f"cron '{rule}'; restarting worker")


def test_the_daemon_tells_systemd_it_is_ready_and_keeps_its_socket_from_instances(
    pm: Harness,
) -> None:
    folder = tempfile.mkdtemp(prefix="pm-notify-", dir="/tmp")
    path = os.path.join(folder, "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as manager:
        manager.bind(path)
        manager.settimeout(20)
        pm.procfile(f"worker: {PRINTENV}\n")
        daemon = subprocess.Popen(
            [PY, "-m", "procman", "daemon"],
            cwd=pm.root,
            env={**pm.env, "NOTIFY_SOCKET": path},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        pm.background.append(daemon)
        ready = manager.recv(4096).decode()
        assert ready.startswith("READY=1\n") and f"STATUS=serving {pm.root}" in ready
        assert pm.by_id()["worker.1"]["state"] == "running"  # ready means the formation is up
        assert pm.env_of("worker.1")["NOTIFY_SOCKET"] is None
        pm.client.call("shutdown")
        assert manager.recv(4096) == b"STOPPING=1"
        assert daemon.wait(20) == 0
    shutil.rmtree(folder, ignore_errors=True)


def systemd_analyze() -> str:
    path = shutil.which("systemd-analyze")
    if path is None:
        pytest.skip("systemd-analyze is not installed (Debian: apt-get install systemd)")
    return path


def verify(analyze: str, unit: Path) -> None:
    check = subprocess.run(
        [analyze, "verify", "--man=no", f"./{unit.name}"],
        cwd=unit.parent,
        capture_output=True,
        text=True,
        timeout=60,
    )
    output = check.stdout + check.stderr
    ours = [line for line in output.splitlines() if "procman" in line or str(unit) in line]
    assert check.returncode == 0 and not ours, output


def test_startup_writes_units_systemd_analyze_accepts(pm: Harness, tmp_path: Path) -> None:
    analyze = systemd_analyze()
    pm.yaml(f"processes:\n  web:\n    cmd: {APP}\n    ready_timeout: 20\n")
    name = unit_name(str(pm.root))
    system = tmp_path / "system"
    out = pm.run("startup", "--unit-dir", str(system)).stdout
    assert f"wrote {system / name}" in out and "nothing is enabled" in out
    verify(analyze, system / name)
    text = (system / name).read_text()
    assert "Type=notify" in text and f'"{PY}" "-m" "procman" "daemon" "-d" "{pm.root}"' in text
    assert "ExecReload=" in text and '"reload" "all"' in text and "TimeoutStartSec=55" in text
    pm.run("unstartup", "--unit-dir", str(system))
    assert not (system / name).exists()

    if systemd_running():  # this box has a user manager that enable would really talk to
        return
    pm.env["XDG_CONFIG_HOME"] = str(tmp_path / "config")
    out = pm.run("startup", "--user").stdout
    unit = tmp_path / "config" / "systemd" / "user" / name
    assert f"wrote {unit}" in out and "systemd is not running here" in out
    assert f"systemctl --user daemon-reload && systemctl --user enable --now {name}" in out
    verify(analyze, unit)
    assert "WantedBy=default.target" in unit.read_text()
    assert f"removed {unit}" in pm.run("unstartup", "--user").stdout
    assert "nothing to remove" in pm.run("unstartup", "--user").stdout


def complete(pm: Harness, words: str, cwd: Path | None = None) -> list[str]:
    env = {**pm.env, "COMP_WORDS": words, "COMP_CWORD": str(len(words.split(" ")) - 1)}
    env["_PROCMAN_COMPLETE"] = "bash_complete"
    started = time.monotonic()
    done = subprocess.run(
        [PY, "-m", "procman"], cwd=cwd or pm.root, env=env, capture_output=True, text=True,
        timeout=30,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - started < 10
    return [line.partition(",")[2] for line in done.stdout.splitlines()]


def test_completion_names_come_from_the_running_daemon(pm: Harness, tmp_path: Path) -> None:
    for shell, marker in (("bash", "complete -o"), ("zsh", "compdef"), ("fish", "complete ")):
        script = pm.run("completion", shell).stdout
        assert "_PROCMAN_COMPLETE" in script and marker in script
    assert "start" in complete(pm, "procman sta")
    assert complete(pm, "procman restart ") == ["all"]  # no daemon: no names, quietly
    pm.procfile(f"web: {PRINTENV}\nworker: {PRINTENV}\n")
    pm.run("start", "web=2")
    assert complete(pm, "procman restart ") == [
        "web",
        "worker",
        "web.1",
        "web.2",
        "worker.1",
        "all",
    ]
    assert complete(pm, "procman reload w") == ["web", "worker"]
    assert complete(pm, "procman logs web.") == ["web.1", "web.2"]
    assert complete(pm, "procman scale ") == ["web=", "worker="]
    elsewhere = tmp_path / "other"
    elsewhere.mkdir()
    assert complete(pm, f"procman status -d {pm.root} w", cwd=elsewhere) == [
        "web", "worker", "web.1", "web.2", "worker.1",
    ]  # fmt: skip
