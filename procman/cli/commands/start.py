"""`procman start`: bring the formation up, detached or in the foreground."""

from __future__ import annotations

import re
import sys
from typing import Any

import click

from procman.cli import render
from procman.cli.client import ensure_daemon
from procman.cli.options import (
    Project,
    count_param,
    counts_options,
    is_formation_file,
    parse_counts,
    project_options,
    share_option,
    source_params,
)
from procman.errors import ProcmanError, RemoteError, UsageError
from procman.names import NAME_RE

ASSIGNMENT = re.compile(r"^[A-Za-z0-9_-]+=\S+$")


@click.command(context_settings={"ignore_unknown_options": False})
@click.argument("args", nargs=-1, metavar="[TARGET|TYPE ...] [TYPE=N ...]")
@click.option("-i", "--instances", metavar="N|max", help="Count for every type without TYPE=N.")
@click.option("--name", default="web", show_default=True, help="Type name of an ad-hoc app.")
@click.option(
    "-p",
    "--port",
    type=click.IntRange(1, 65535),
    help="Port of an ad-hoc command, or the Procfile base port (default 5000).",
)
@click.option("-e", "--env-file", "env_files", metavar="FILES", help="Env files, comma-separated.")
@click.option("--no-env-file", is_flag=True, help="Load no .env file.")
@click.option("--force", is_flag=True, help="Replace the ad-hoc app of that --name.")
@click.option("--replace", is_flag=True, help="Run this formation file instead of the one running.")
@click.option("--foreground", is_flag=True, help="Stay attached, Foreman style; Ctrl-C stops all.")
@click.option("--watch", is_flag=True, help="Reload (or restart) each type when its files change.")
@click.option("--no-prefix", is_flag=True, help="Foreground: bare lines, no time and name.")
@click.option("--no-color", "--no-colour", "no_color", is_flag=True, help="Foreground: no colour.")
@click.option("-q", "--quiet", multiple=True, metavar="TYPE,...", help="Foreground: hide these.")
@counts_options
@share_option
@project_options
def start(
    project: Project,
    args: tuple[str, ...],
    instances: str | None,
    name: str,
    port: int | None,
    env_files: str | None,
    no_env_file: bool,
    force: bool,
    replace: bool,
    foreground: bool,
    watch: bool,
    no_prefix: bool,
    no_color: bool,
    quiet: tuple[str, ...],
    formation: tuple[str, ...],
    share: tuple[str, ...],
) -> None:
    """Start the daemon if needed and bring the formation up.

    TARGET is a Procfile/YAML path, or a script (app.py) or command ("python app.py") that
    runs as an ad-hoc app beside the formation's types, PM2 style (`procman delete NAME`
    removes it). Another formation file than the one running is refused unless --replace.
    Returns once every instance is ready or has failed (exit 1).

    \b
      procman start                     the project's procman.yaml or Procfile
      procman start -i max              one instance of every type per CPU
      procman start web=4 worker=2      set counts per type (also -m web=4,worker=2)
      procman start worker              only the worker type; the others stay as they are
      procman start --share web -i 4    web's 4 instances share one port (fd 3)
      procman start app.py -i 4         a script, PM2 style (type "web")
      procman start "node srv.js" --name api --port 8000 -i max
      procman start "python jobs.py" --name jobs      added beside api
      procman start --foreground        attached, Foreman style; Ctrl-C stops all
      procman start --watch             reload each type when files in its cwd change
      procman start --foreground -q worker --no-prefix    Honcho's output flags
    """
    counts, every = parse_counts(tuple(a for a in args if ASSIGNMENT.match(a)) + formation)
    rest = [a for a in args if not ASSIGNMENT.match(a)]
    files = [a for a in rest if is_formation_file(a)]
    types = [a for a in rest if a not in files and NAME_RE.match(a)]  # the daemon knows types
    targets = files + [a for a in rest if a not in files and a not in types]
    if len(targets) > 1:
        raise UsageError(f"one TARGET at most, got {len(targets)}: {' '.join(targets)}")
    if types and targets and not files:
        raise UsageError(f"a command runs alone; start it without the type names {types}")
    target = targets[0] if targets else None
    source, app = source_params(project, target, name, port, env_files, no_env_file, share, watch)
    if app is None and len(types) == 1 and not files:
        # one bare word: the daemon starts the type it names, or else runs it as a command
        app = {"name": name, "cmd": types[0], "port": port}
    params = {
        "source": source,
        "counts": counts,
        "instances": count_param(instances or every),
        "types": types or None,
        "app": app,
        "force": force,
        "replace": replace,
    }
    if foreground:
        hidden = [n.strip() for item in quiet for n in item.split(",") if n.strip()]
        sys.exit(_foreground(project, params, not no_prefix, no_color, hidden))
    if no_prefix or no_color or quiet:
        raise UsageError("--no-prefix, --no-color and -q/--quiet go with --foreground")
    started = ensure_daemon(project.dir, project.client)
    try:
        with render.waiting("starting the formation…"):
            result = project.client.call("start", params)
    except RemoteError:
        if started:  # a daemon we started for a formation that cannot load: take it back
            project.client.call("shutdown")
        raise
    if not render.outcome(result, "start"):
        sys.exit(1)


def _foreground(
    project: Project, params: dict[str, Any], prefix: bool, no_color: bool, quiet: list[str]
) -> int:
    from pathlib import Path

    from procman.cli import logview
    from procman.daemon import main as daemon

    if project.client.alive():
        raise ProcmanError(f'a daemon already runs for {project.dir}; use "procman logs -f"')
    if quiet:
        _check_quiet(Path(project.dir), params, quiet)
    return daemon.run(
        Path(project.dir),
        autostart=params,
        sink=logview.foreground_sink(prefix, False if no_color else None, quiet),
        on_error=render.error,
        log_level=40,
    )


def _check_quiet(project: Any, params: dict[str, Any], quiet: list[str]) -> None:
    """-q names types of the formation (or `procman`, the daemon's own lines)."""
    from procman.config.load import Source, load_formation

    try:
        formation = load_formation(project, Source.from_dict(params["source"] or {}))
    except ProcmanError:
        return  # the daemon reports what is wrong with the formation
    unknown = [n for n in quiet if n != "procman" and formation.get(n) is None]
    if unknown:
        known = ", ".join(formation.names)
        raise UsageError(f"-q {unknown[0]}: no process type {unknown[0]!r} (types: {known})")
