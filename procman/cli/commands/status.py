"""`procman status` (and `procman ps`): the one command that must start fastest."""

from __future__ import annotations

import click

from procman.cli import render
from procman.cli.options import Project, complete_target, project_options
from procman.errors import DaemonUnavailable


@click.command()
@click.argument("target", required=False, metavar="[TYPE|ID]", shell_complete=complete_target)
@click.option("--json", "as_json", is_flag=True, help="A JSON list, one object per instance.")
@project_options
def status(project: Project, target: str | None, as_json: bool) -> None:
    """Show every instance: id, pid, state, uptime, restarts, cpu, memory, port."""
    try:
        result = project.client.call("status", {"target": target})
    except DaemonUnavailable as exc:
        from procman.cli.daemons import others_hint

        raise DaemonUnavailable(exc.message + others_hint(project.client.sock_path)) from None
    render.version_notice(result.get("version"))
    if as_json:
        render.print_json(result["instances"])
    else:
        render.status_table(result["instances"], result.get("types"), result.get("changed_files"))
