"""`procman reload`: the zero-downtime rolling reload."""

from __future__ import annotations

import sys

import click

from procman.cli import render
from procman.cli.options import Project, complete_target, project_options


@click.command()
@click.argument("target", required=False, metavar="[TYPE|all]", shell_complete=complete_target)
@click.option(
    "--parallel",
    default=1,
    show_default=True,
    type=click.IntRange(1, 1000),
    help="Slots replaced at a time.",
)
@project_options
def reload(project: Project, target: str | None, parallel: int) -> None:
    """Zero-downtime rolling reload: re-read the formation and env files, then for each
    instance start its replacement on the same listener, wait until it is ready, and only
    then stop the old one. A replacement that fails stops the rollout (exit 1) and leaves
    the old instances serving.

    \b
      procman reload web                one slot at a time
      procman reload all --parallel 4   four slots at a time
    """
    with render.waiting("reloading…"):
        result = project.client.call("reload", {"target": target, "parallel": parallel})
    if not render.outcome(result, "reload"):
        sys.exit(1)
