"""`procman monit`: the live dashboard (procman.cli.monit does the work)."""

from __future__ import annotations

import click

from procman.cli.options import Project, project_options


@click.command()
@project_options
def monit(project: Project) -> None:
    """A live dashboard: state, cpu, memory, restarts and cpu history per type and instance
    (q quits, tab/n/p pick a type, a shows all)."""
    from procman.cli.monit import run_monit

    run_monit(project.client)
