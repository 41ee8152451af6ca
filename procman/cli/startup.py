"""`procman startup` / `unstartup`: write (or remove) the project's boot unit and tell
systemctl, or, where systemd is not running (containers, CI), say what to run where it is.
The unit's text comes from procman/export/startup.py."""

from __future__ import annotations

import os
import pwd
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from procman.errors import ProcmanError
from procman.export.startup import StartupUnit, render_unit, unit_dir, unit_name

Run = Callable[[Sequence[str]], subprocess.CompletedProcess]


def systemd_running() -> bool:
    """systemd's own test (sd_booted): it makes this directory when it is PID 1."""
    return os.path.isdir("/run/systemd/system")


def _run(argv: Sequence[str]) -> subprocess.CompletedProcess:
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=60)


def plan(project: str, procfile: str | None, user_unit: bool) -> StartupUnit:
    """The unit for this project, as the user running the command."""
    from procman.config.load import Source, load_formation  # the formation's timeouts

    uid = os.getuid()
    user = None if user_unit or uid == 0 else pwd.getpwuid(uid).pw_name
    ready_s, stop_s = 60.0, 5.0
    try:
        formation = load_formation(Path(project), Source(procfile=procfile))
    except ProcmanError:
        pass  # a formation that does not load yet: the daemon will say why; defaults here
    else:
        ready_s = max((t.ready_timeout + t.kill_timeout for t in formation.types), default=60)
        stop_s = max((t.kill_timeout for t in formation.types), default=5.0)
    return StartupUnit(
        project=project,
        python=sys.executable,
        procfile=procfile,
        user_unit=user_unit,
        user=user,
        uid=uid,
        ready_s=ready_s,
        stop_s=stop_s,
    )


def systemctl(user_unit: bool, *args: str) -> list[str]:
    return ["systemctl", *(["--user"] if user_unit else []), *args]


def install(
    unit: StartupUnit,
    directory: str | None = None,
    *,
    booted: bool | None = None,
    run: Run = _run,
) -> list[str]:
    """Write the unit and enable it (where systemd runs); the lines that explain it."""
    env = os.environ
    folder = Path(directory or unit_dir(unit.user_unit, env)).expanduser()
    name = unit_name(unit.project)
    path = folder / name
    try:
        folder.mkdir(parents=True, exist_ok=True)
        path.write_text(render_unit(unit, env))
    except PermissionError:
        raise ProcmanError(
            f"cannot write {path}: a system unit needs root (sudo procman startup), "
            "or use `procman startup --user`"
        ) from None
    ctl = " ".join(systemctl(unit.user_unit))
    lines = [f"wrote {path}"]
    if booted is None:
        booted = systemd_running()
    if booted and directory is None:
        for args in (("daemon-reload",), ("enable", name)):
            done = run(systemctl(unit.user_unit, *args))
            if done.returncode != 0:
                raise ProcmanError(f"{ctl} {' '.join(args)} failed: {done.stderr.strip()}")
        lines.append(f"enabled {name}: systemd starts `procman daemon` for {unit.project} at boot")
        lines.append(
            f"to hand the running formation to systemd now: procman shutdown && {ctl} start {name}"
        )
    else:
        why = "systemd is not running here" if not booted else "the unit went to another folder"
        lines.append(f"{why}, so nothing is enabled; where it runs:")
        lines.append(f"  {ctl} daemon-reload && {ctl} enable --now {name}")
    if unit.user_unit:
        user = pwd.getpwuid(unit.uid).pw_name
        lines.append(
            f"a user unit starts at boot only with lingering on: loginctl enable-linger {user}"
        )
    lines.append(f"logs: journalctl {'--user ' if unit.user_unit else ''}-u {name}; procman logs")
    lines.append(f"ExecReload is `procman reload all`: {ctl} reload {name}")
    return lines


def uninstall(
    project: str,
    user_unit: bool,
    directory: str | None = None,
    *,
    booted: bool | None = None,
    run: Run = _run,
) -> list[str]:
    """Disable and remove the unit; the lines that say what was done."""
    name = unit_name(project)
    path = Path(directory or unit_dir(user_unit, os.environ)).expanduser() / name
    if not path.exists():
        return [f"no startup unit for {project} ({path}); nothing to remove"]
    if booted is None:
        booted = systemd_running()
    lines = []
    if booted and directory is None:
        run(systemctl(user_unit, "disable", name))  # a unit never enabled is fine too
        lines.append(f"disabled {name} (a daemon it started keeps running until shutdown)")
    try:
        path.unlink()
    except PermissionError:
        raise ProcmanError(f"cannot remove {path}: a system unit needs root") from None
    if booted and directory is None:
        run(systemctl(user_unit, "daemon-reload"))
    lines.append(f"removed {path}")
    return lines
