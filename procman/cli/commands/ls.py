"""`procman ls` (and `procman list`): every daemon of yours on this machine."""

from __future__ import annotations

import click

from procman.cli import daemons, render, views


@click.command()
@click.option("--json", "as_json", is_flag=True, help="A JSON list, one object per daemon.")
def ls(as_json: bool) -> None:
    """Every daemon of yours on this machine: project, types (running/desired), uptime, cpu
    and memory. Daemons are found in the default socket directory; one whose PROCMAN_SOCKET
    puts its socket elsewhere is not listed. Sockets of daemons that are gone are removed."""
    found = daemons.every()
    render.print_json(found) if as_json else views.daemons(found)
