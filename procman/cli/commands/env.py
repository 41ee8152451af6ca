"""`procman env ID`: the environment an instance's process started with."""

from __future__ import annotations

import click

from procman.cli import render, views
from procman.cli.options import Project, complete_target, project_options


@click.command()
@click.argument("target", metavar="ID", shell_complete=complete_target)
@click.option("--reveal", is_flag=True, help="Show the values of secret-looking names too.")
@click.option("--json", "as_json", is_flag=True, help="Print it as a JSON object.")
@project_options
def env(project: Project, target: str, reveal: bool, as_json: bool) -> None:
    """The environment of an instance's current (or last) process, NAME=value a line. Values
    of names that look secret (KEY, SECRET, TOKEN, PASSWORD, ...) are masked unless --reveal."""
    result = project.client.call("env", {"target": target, "reveal": reveal})
    render.print_json(result["env"]) if as_json else views.environment(result)
