"""`procman reopen`."""

from __future__ import annotations

import click

from procman.cli import render
from procman.cli.options import Project, project_options


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the reopened types as JSON.")
@project_options
def reopen(project: Project, as_json: bool) -> None:
    """Reopen the log files, after an external logrotate moved them (as SIGUSR1 does).

    Lines written before go to the moved files, lines after to new ones at the usual
    paths; none is lost or written twice. In logrotate, use `create` (not `copytruncate`)
    and `postrotate procman reopen -d DIR` (or `kill -USR1` the daemon).
    """
    result = project.client.call("reopen")
    if as_json:
        render.print_json(result)
    else:
        render.info(f"reopened the log files of {', '.join(result['reopened']) or 'no type'}")
