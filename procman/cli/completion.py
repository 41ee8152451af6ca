"""Shell completion of TARGET arguments from the running daemon: type names, instance ids
(where the argument takes them), `all`, and `TYPE=` for scale. Loaded only while a shell asks
for completions (click's shell_complete), never by a normal command. Quick or silent: no
daemon, a slow daemon or any error completes nothing."""

from __future__ import annotations

import os
from typing import Any

import click
from click.shell_completion import CompletionItem

TIMEOUT = 0.5  # seconds: a completion that waits longer is worse than none


def _project(ctx: click.Context) -> str:
    """The project the command line names so far (-d, -f), else the current directory."""
    directory, procfile = ctx.params.get("directory"), ctx.params.get("procfile")
    if directory is None and procfile:
        directory = os.path.dirname(os.path.realpath(procfile))
    return os.path.realpath(directory or os.getcwd())


def names(project: str) -> tuple[list[str], list[str]]:
    """(type names, instance ids) of the daemon serving project; empty when there is none."""
    from procman.cli.client import Client

    try:
        result = Client(project).call("status", timeout=TIMEOUT)
    except Exception:
        return [], []
    types = [t["name"] for t in result.get("types", []) if isinstance(t, dict) and "name" in t]
    ids = [r["id"] for r in result.get("instances", []) if isinstance(r, dict) and "id" in r]
    return types, ids


def targets(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
    metavar = param.metavar or ""
    types, ids = names(_project(ctx))
    if "=" in metavar:  # scale TYPE=N
        words = [f"{name}=" for name in types]
    else:
        words = list(types)
        if "ID" in metavar:
            words += ids
        if "all" in metavar:
            words.append("all")
    return [CompletionItem(w) for w in words if w.startswith(incomplete)]
