"""`procman describe ID|TYPE`: everything the daemon knows of a type and its instances."""

from __future__ import annotations

import click

from procman.cli import render, views
from procman.cli.options import Project, complete_target, project_options


@click.command()
@click.argument("target", metavar="ID|TYPE", shell_complete=complete_target)
@click.option("--json", "as_json", is_flag=True, help="Print it as JSON.")
@project_options
def describe(project: Project, target: str, as_json: bool) -> None:
    """The command as run, cwd, environment (secrets masked), pid and process group, uptime,
    restarts and last exit, readiness, held listener, limits and log files of an instance
    (web.2) or of every instance of a type."""
    result = project.client.call("describe", {"target": target})
    render.print_json(result) if as_json else views.description(result)
