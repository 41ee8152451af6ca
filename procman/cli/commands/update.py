"""`procman update`: the daemon execs the installed procman in place (same pid)."""

from __future__ import annotations

import click

from procman.cli import render
from procman.cli.options import Project, project_options
from procman.errors import ProcmanError, RemoteError


@click.command()
@click.option("--json", "as_json", is_flag=True, help="The daemon's answer as JSON.")
@project_options
def update(project: Project, as_json: bool) -> None:
    """Run the installed procman in the daemon, in place: same pid, every instance and
    listener kept, none restarted. Use it after upgrading procman."""
    try:
        with render.waiting("updating the daemon…"):
            result = project.client.call("update")
    except RemoteError as exc:
        if exc.code != "unknown_method":
            raise
        raise ProcmanError(
            "this daemon predates `procman update`; restart it once with "
            '"procman shutdown" and "procman start"'
        ) from None
    if as_json:
        render.print_json(result)
    else:
        render.updated(result)
