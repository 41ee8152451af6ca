"""`procman startup`'s unit text, and what startup/unstartup do with systemctl (faked)."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

from procman.cli import startup
from procman.export.startup import StartupUnit, render_unit, unit_dir, unit_name

PROJECT = "/srv/shop app"


def unit(**kwargs: object) -> StartupUnit:
    base: dict[str, object] = {"project": PROJECT, "python": "/opt/venv/bin/python"}
    return StartupUnit(**{**base, **kwargs})  # type: ignore[arg-type]


def lines(text: str) -> list[str]:
    return text.splitlines()


def test_system_unit_runs_the_daemon_as_the_user_with_notify_and_reload() -> None:
    text = render_unit(
        unit(user="alice", uid=1000, procfile="/srv/shop app/prod.yaml", ready_s=35, stop_s=5),
        {"PATH": "/opt/venv/bin:/usr/bin", "HOME": "/home/alice"},
    )
    got = lines(text)
    assert "Type=notify" in got and "NotifyAccess=main" in got and "KillMode=mixed" in got
    assert "Delegate=yes" in got  # the daemon's cgroups for its instances
    assert "User=alice" in got and "WorkingDirectory=/srv/shop app" in got
    assert (
        'ExecStart="/opt/venv/bin/python" "-m" "procman" "daemon" "-d" "/srv/shop app" '
        '"-f" "/srv/shop app/prod.yaml"' in got
    )
    assert any(line.startswith('ExecReload="/opt/venv/bin/python" "-m" "procman" "reload" "all"')
               for line in got)  # fmt: skip
    assert 'Environment="PATH=/opt/venv/bin:/usr/bin"' in got
    assert "TimeoutStartSec=65" in got and "TimeoutStopSec=20" in got
    assert "WantedBy=multi-user.target" in got and "After=network-online.target" in got


def test_the_socket_environment_follows_the_shell() -> None:
    env = {"XDG_RUNTIME_DIR": "/run/user/1000", "PROCMAN_HOME": "/var/lib/shop"}
    got = lines(render_unit(unit(user="alice", uid=1000), env))
    assert 'Environment="XDG_RUNTIME_DIR=/run/user/1000"' in got
    assert "Requires=user-runtime-dir@1000.service" in got
    assert 'Environment="PROCMAN_HOME=/var/lib/shop"' in got
    pinned = lines(render_unit(unit(uid=0), {**env, "PROCMAN_SOCKET": "/run/shop.sock"}))
    assert 'Environment="PROCMAN_SOCKET=/run/shop.sock"' in pinned
    assert not any("XDG_RUNTIME_DIR" in line for line in pinned)
    user = lines(render_unit(unit(user_unit=True, uid=1000), env))
    assert "WantedBy=default.target" in user  # the user manager sets XDG_RUNTIME_DIR itself
    assert not any("XDG_RUNTIME_DIR" in line or line.startswith("User=") for line in user)


def test_percent_and_dollar_are_escaped_for_systemd() -> None:
    text = render_unit(unit(project="/srv/100%$x"), {})
    assert "WorkingDirectory=/srv/100%%$x" in text
    assert '"-d" "/srv/100%%$$x"' in text


def test_names_and_folders() -> None:
    assert unit_name(PROJECT).startswith("procman-shop-app-") and unit_name(PROJECT).endswith(
        ".service"
    )
    assert unit_name("/a/shop") != unit_name("/b/shop")
    assert unit_dir(False, {}) == "/etc/systemd/system"
    assert unit_dir(True, {"HOME": "/home/a"}) == "/home/a/.config/systemd/user"
    assert unit_dir(True, {"XDG_CONFIG_HOME": "/c", "HOME": "/h"}) == "/c/systemd/user"


class FakeSystemctl:
    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def __call__(self, argv: Sequence[str]) -> subprocess.CompletedProcess:
        self.calls.append(list(argv))
        return subprocess.CompletedProcess(argv, 0, "", "")


def test_install_enables_where_systemd_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    ctl = FakeSystemctl()
    said = startup.install(unit(user_unit=True, uid=0), booted=True, run=ctl)
    name = unit_name(PROJECT)
    assert (tmp_path / "systemd" / "user" / name).exists()
    assert ctl.calls == [
        ["systemctl", "--user", "daemon-reload"],
        ["systemctl", "--user", "enable", name],
    ]
    assert any(line.startswith(f"enabled {name}") for line in said)
    assert any("loginctl enable-linger" in line for line in said)
    removed = startup.uninstall(PROJECT, True, booted=True, run=ctl)
    assert ctl.calls[2:] == [
        ["systemctl", "--user", "disable", name],
        ["systemctl", "--user", "daemon-reload"],
    ]
    assert removed[-1].startswith("removed") and not (tmp_path / "systemd" / "user" / name).exists()
    assert "nothing to remove" in startup.uninstall(PROJECT, True, booted=True, run=ctl)[0]


def test_install_explains_where_systemd_does_not_run(tmp_path: Path) -> None:
    ctl = FakeSystemctl()
    said = startup.install(unit(uid=0), str(tmp_path), booted=False, run=ctl)
    assert ctl.calls == []
    assert said[0] == f"wrote {tmp_path / unit_name(PROJECT)}"
    assert "systemd is not running here" in said[1]
    assert f"systemctl daemon-reload && systemctl enable --now {unit_name(PROJECT)}" in said[2]
