"""`procman scale TYPE=N ...`."""

from __future__ import annotations

import sys

import click

from procman.cli import render
from procman.cli.options import Project, complete_target, project_options


@click.command()
@click.argument(
    "assignments",
    nargs=-1,
    required=True,
    metavar="TYPE=N [TYPE=N ...]",
    shell_complete=complete_target,
)
@project_options
def scale(project: Project, assignments: tuple[str, ...]) -> None:
    """Set counts; returns when the new instances are ready and the surplus has stopped.

    \b
      procman scale web=8               exactly 8
      procman scale web=max             one per CPU
      procman scale web=+2 worker=-1    relative to what runs now
    """
    from procman.counts import parse_assignment

    counts = {name: str(spec) for name, spec in map(parse_assignment, assignments)}
    with render.waiting("scaling…"):
        result = project.client.call("scale", {"counts": counts})
    if not render.outcome(result, "scale"):
        sys.exit(1)
