"""`procman restart`: stop then start, on the formation as the files say now."""

from __future__ import annotations

import sys

import click

from procman.cli import render
from procman.cli.options import Project, complete_target, project_options


@click.command()
@click.argument("target", required=False, metavar="[TYPE|ID|all]", shell_complete=complete_target)
@click.option(
    "--no-update",
    is_flag=True,
    help="Keep the definitions the daemon runs; do not re-read the files.",
)
@project_options
def restart(project: Project, target: str | None, no_update: bool) -> None:
    """Stop then start instances (default: all). The formation and env files are re-read
    first, as reload does, so the restarted instances run what the files say now;
    --no-update keeps the definitions the daemon has."""
    with render.waiting("restarting…"):
        result = project.client.call("restart", {"target": target, "update": not no_update})
    if not render.outcome(result, "restart"):
        sys.exit(1)
