"""`procman startup`'s unit: one systemd service that runs `procman daemon` for a project at
boot. Pure: the caller (procman/cli/startup.py) writes it and talks to systemctl.

Type=notify: the daemon sends READY=1 to $NOTIFY_SOCKET once the formation is up (and keeps
that socket from its instances). ExecReload is `procman reload all`. KillMode=mixed sends
SIGTERM to the daemon alone, which stops the instances its own way (stop_signal, drain,
kill_timeout); what is left after TimeoutStopSec gets SIGKILL. Delegate=yes hands the
daemon its cgroup subtree, where it gives every instance process a cgroup of its own
(daemon/cgroups.py), for a user unit too. Nothing needs saving: the formation, counts and
logs live in the project.

The CLI in a shell and the daemon systemd starts must find the same control socket, so the
unit carries the environment that decides where it is ($PROCMAN_SOCKET, $PROCMAN_HOME, and
for a system unit $XDG_RUNTIME_DIR, with the unit that makes /run/user/UID before login),
and $PATH, so commands find the same programs they find in the shell.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from procman.export.common import safe_name
from procman.export.systemd import _env_assignment, _escape, _path, _timespan, _unit_text
from procman.paths import project_key

#: Environment the unit keeps from the shell that ran `procman startup`.
KEPT_ENV = ("PROCMAN_SOCKET", "PROCMAN_HOME", "PATH")
START_MARGIN = 30.0  # seconds beyond the slowest type's ready_timeout + kill_timeout
STOP_MARGIN = 15.0  # seconds beyond the longest kill_timeout (drain, the daemon's own exit)


@dataclass(frozen=True, slots=True)
class StartupUnit:
    project: str  # absolute
    python: str  # the interpreter procman is installed in (absolute)
    procfile: str | None = None  # -f FILE, absolute
    user_unit: bool = False  # systemctl --user
    user: str | None = None  # system units: User= (None: root)
    uid: int = 0
    ready_s: float = 60.0  # the formation's slowest ready_timeout + kill_timeout
    stop_s: float = 5.0  # the formation's longest kill_timeout


def unit_name(project: str) -> str:
    """`procman-<dir>-<key>.service`: readable, and one per project directory."""
    base = safe_name(os.path.basename(project) or "root", "project", lower=True, allowed="a-z0-9_-")
    return f"procman-{base}-{project_key(project)[:8]}.service"


def unit_dir(user_unit: bool, env: Mapping[str, str]) -> str:
    if not user_unit:
        return "/etc/systemd/system"
    config = env.get("XDG_CONFIG_HOME") or os.path.join(env.get("HOME", "~"), ".config")
    return os.path.join(config, "systemd", "user")


def _word(text: str) -> str:
    """One ExecStart=/ExecReload= argument, double-quoted the way systemd reads it back."""
    return '"' + _escape(text, '"', dollar=True) + '"'


def render_unit(unit: StartupUnit, env: Mapping[str, str]) -> str:
    project = unit.project
    daemon = [unit.python, "-m", "procman", "daemon", "-d", project]
    if unit.procfile:
        daemon += ["-f", unit.procfile]
    reload = [unit.python, "-m", "procman", "reload", "all", "-d", project]
    if unit.procfile:
        reload += ["-f", unit.procfile]
    about = [
        f"Description=procman: the formation in {_path(project)}",
        "Documentation=man:systemd.service(5)",
    ]
    service = ["Type=notify", "NotifyAccess=main", f"WorkingDirectory={_path(project)}"]
    if not unit.user_unit:
        about += ["Wants=network-online.target", "After=network-online.target"]
        if unit.user:
            service.append(f"User={unit.user}")
    kept = {name: env[name] for name in KEPT_ENV if env.get(name)}
    runtime = env.get("XDG_RUNTIME_DIR")
    if runtime and not unit.user_unit and not env.get("PROCMAN_SOCKET"):
        kept["XDG_RUNTIME_DIR"] = runtime
        if runtime == f"/run/user/{unit.uid}":  # made at login; this unit starts before one
            about += [
                f"Requires=user-runtime-dir@{unit.uid}.service",
                f"After=user-runtime-dir@{unit.uid}.service",
            ]
    service += [f"Environment={_env_assignment([(f'{k}={v}', False)])}" for k, v in kept.items()]
    service += [
        f"ExecStart={' '.join(_word(w) for w in daemon)}",
        f"ExecReload={' '.join(_word(w) for w in reload)}",
        "KillMode=mixed",
        "Delegate=yes",
        f"TimeoutStartSec={_timespan(round(unit.ready_s + START_MARGIN))}",
        f"TimeoutStopSec={_timespan(round(unit.stop_s + STOP_MARGIN))}",
        "Restart=on-failure",
        "RestartSec=1",
    ]
    install = [f"WantedBy={'default.target' if unit.user_unit else 'multi-user.target'}"]
    header = (
        f"# Written by `procman startup` for {project}: runs its daemon at boot.\n"
        "# `procman unstartup` removes it. Changes to the formation need no new unit.\n"
    )
    return header + _unit_text([("Unit", about), ("Service", service), ("Install", install)])
