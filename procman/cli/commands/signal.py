"""`procman signal TARGET SIGNAL`: a signal to each instance's main process (or group)."""

from __future__ import annotations

import sys

import click

from procman.cli import render, views
from procman.cli.options import Project, project_options
from procman.errors import UsageError


@click.command("signal")
@click.argument("target", metavar="TYPE|ID|all")
@click.argument("signame", metavar="SIGNAL")
@click.option("--group", is_flag=True, help="Send it to each instance's whole process group.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@project_options
def signal(project: Project, target: str, signame: str, group: bool, as_json: bool) -> None:
    """Send SIGNAL (a name like TTIN or SIGUSR2, or a number) to each instance's main
    process; exit 1 when no instance had a process to receive it.

    \b
      procman signal web TTIN           gunicorn: one worker more (TTOU: one fewer)
      procman signal web.2 USR2         puma: phased restart of one instance
      procman signal all HUP --group    every process of every instance
    """
    from procman.signames import parse_signal

    try:
        number = int(parse_signal(signame))
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    result = project.client.call("signal", {"target": target, "signal": number, "group": group})
    if as_json:
        render.print_json(result)
    else:
        views.signalled(result)
    if not result["sent"]:
        sys.exit(1)
