"""`procman flush [TYPE]`."""

from __future__ import annotations

import click

from procman.cli import render
from procman.cli.options import Project, project_options


@click.command()
@click.argument("target", required=False, metavar="[TYPE|all]")
@click.option("--json", "as_json", is_flag=True, help="Print what was emptied as JSON.")
@project_options
def flush(project: Project, target: str | None, as_json: bool) -> None:
    """Empty the log files of a type (default: every type), rotated ones included.

    Lines the instances write meanwhile are not lost: each goes either to the old files or
    to the new, empty one. A reader holding an old file open reads it to its end.
    """
    result = project.client.call("flush", {"target": target})
    if as_json:
        render.print_json(result)
    else:
        render.flushed(result)
