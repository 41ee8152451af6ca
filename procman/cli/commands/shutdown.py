"""`procman shutdown` (and `procman kill`)."""

from __future__ import annotations

import click

from procman.cli import render
from procman.cli.options import Project, project_options


@click.command()
@project_options
def shutdown(project: Project) -> None:
    """Stop every instance, then the daemon exits."""
    with render.waiting("shutting down…"):
        result = project.client.call("shutdown")
    render.info(f"stopped {result['stopped']} instance(s); the daemon has exited")
