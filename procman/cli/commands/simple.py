"""`procman stop`: a target in, an outcome out."""

from __future__ import annotations

import sys

import click

from procman.cli import render
from procman.cli.options import Project, complete_target, project_options


def _simple_verb(method: str, doc: str, waiting: str) -> click.Command:
    @click.argument(
        "target", required=False, metavar="[TYPE|ID|all]", shell_complete=complete_target
    )
    @project_options
    def command(project: Project, target: str | None) -> None:
        with render.waiting(waiting):
            result = project.client.call(method, {"target": target})
        if not render.outcome(result, method):
            sys.exit(1)

    command.__doc__ = doc
    return click.command(method)(command)


stop = _simple_verb(
    "stop", "Stop instances (default: all); the daemon and the counts stay.", "stopping…"
)
