"""`procman start`: bring the formation up, detached or in the foreground."""

from __future__ import annotations

import re
import sys
from typing import Any

import click

from procman.cli import render
from procman.cli.client import ensure_daemon
from procman.cli.options import Project, count_param, project_options, source_params
from procman.errors import ProcmanError, RemoteError, UsageError

ASSIGNMENT = re.compile(r"^[A-Za-z0-9_-]+=\S+$")


@click.command(context_settings={"ignore_unknown_options": False})
@click.argument("args", nargs=-1, metavar="[TARGET] [TYPE=N ...]")
@click.option("-i", "--instances", metavar="N|max", help="Count for every type without TYPE=N.")
@click.option("--name", default="web", show_default=True, help="Type name for an ad-hoc command.")
@click.option(
    "-p",
    "--port",
    type=click.IntRange(1, 65535),
    help="Port of an ad-hoc command, or the Procfile base port (default 5000).",
)
@click.option("-e", "--env-file", "env_files", metavar="FILES", help="Env files, comma-separated.")
@click.option("--no-env-file", is_flag=True, help="Load no .env file.")
@click.option("--foreground", is_flag=True, help="Stay attached, Foreman style; Ctrl-C stops all.")
@click.option("--no-prefix", is_flag=True, help="Foreground: bare lines, no time and name.")
@click.option("--no-color", "--no-colour", "no_color", is_flag=True, help="Foreground: no colour.")
@click.option("-q", "--quiet", multiple=True, metavar="TYPE,...", help="Foreground: hide these.")
@project_options
def start(
    project: Project,
    args: tuple[str, ...],
    instances: str | None,
    name: str,
    port: int | None,
    env_files: str | None,
    no_env_file: bool,
    foreground: bool,
    no_prefix: bool,
    no_color: bool,
    quiet: tuple[str, ...],
) -> None:
    """Start the daemon if needed and bring the formation up.

    TARGET is a Procfile/YAML path, a script (app.py) or a command ("python app.py"),
    PM2 style. Returns once every instance is ready or has failed (exit 1).

    \b
      procman start                     the project's procman.yaml or Procfile
      procman start -i max              one instance of every type per CPU
      procman start web=4 worker=2      set counts per type
      procman start app.py -i 4         a script, PM2 style (type "web")
      procman start "node srv.js" --name api --port 8000 -i max
      procman start --foreground        attached, Foreman style; Ctrl-C stops all
      procman start --foreground -q worker --no-prefix    Honcho's output flags
    """
    from procman.counts import parse_assignment

    counts = dict(parse_assignment(a) for a in args if ASSIGNMENT.match(a))
    targets = [a for a in args if not ASSIGNMENT.match(a)]
    if len(targets) > 1:
        raise UsageError(f"one TARGET at most, got {len(targets)}: {' '.join(targets)}")
    params = {
        "source": source_params(
            project, targets[0] if targets else None, name, port, env_files, no_env_file
        ),
        "counts": {k: str(v) for k, v in counts.items()},
        "instances": count_param(instances),
    }
    if foreground:
        hidden = [n.strip() for item in quiet for n in item.split(",") if n.strip()]
        sink = render.foreground_sink(not no_prefix, False if no_color else None, hidden)
        sys.exit(_foreground(project, params, sink, hidden))
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


def _foreground(project: Project, params: dict[str, Any], sink: Any, quiet: list[str]) -> int:
    from pathlib import Path

    from procman.daemon import main as daemon

    if project.client.alive():
        raise ProcmanError(f'a daemon already runs for {project.dir}; use "procman logs -f"')
    if quiet:
        _check_quiet(Path(project.dir), params, quiet)
    return daemon.run(
        Path(project.dir), autostart=params, sink=sink, on_error=render.error, log_level=40
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
