"""`procman logs [-f]`."""

from __future__ import annotations

import os
import signal
import sys

import click

from procman.cli import render
from procman.cli.options import Project, project_options


@click.command()
@click.argument("target", required=False, metavar="[TYPE|ID]")
@click.option(
    "-n",
    "--lines",
    default=50,
    show_default=True,
    type=click.IntRange(0, 100_000),
    help="How many recent lines.",
)
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines until Ctrl-C.")
@project_options(short_f=False)
def logs(project: Project, target: str | None, lines: int, follow: bool) -> None:
    """Recent output of every instance, merged in time order: `HH:MM:SS web.3 | line`.

    \b
      procman logs                      the last 50 lines of everything
      procman logs web -n 200           one type
      procman logs web.2 -f             one instance, then follow
    """
    fmt = render.log_formatter()
    params = {"target": target, "lines": lines, "follow": follow}
    if follow:  # "until Ctrl-C", even if our parent started us with SIGINT ignored
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        for chunk in project.client.stream("logs", params):
            render.log_lines(chunk["lines"], fmt)
            if not follow:
                break
    except KeyboardInterrupt:
        pass
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
