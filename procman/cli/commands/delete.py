"""`procman delete NAME`: stop and remove an ad-hoc app."""

from __future__ import annotations

import click

from procman.cli import render
from procman.cli.options import Project, complete_target, project_options


@click.command()
@click.argument("name", metavar="NAME", shell_complete=complete_target)
@project_options
def delete(project: Project, name: str) -> None:
    """Stop the ad-hoc app NAME (started with `procman start CMD --name NAME`) and remove it
    from the formation; the other types run on. A type of the formation file stays: remove
    it from the file and reload, or scale it to 0."""
    with render.waiting(f"deleting {name}…"):
        result = project.client.call("delete", {"type": name})
    stopped = f" (stopped {', '.join(result['stopped'])})" if result["stopped"] else ""
    render.info(f"deleted {name}{stopped}")
