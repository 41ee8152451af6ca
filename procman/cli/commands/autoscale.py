"""`procman autoscale TYPE on|off`."""

from __future__ import annotations

import click

from procman.cli import render
from procman.cli.options import Project, complete_target, project_options


@click.command()
@click.argument("type_name", metavar="TYPE", shell_complete=complete_target)
@click.argument("switch", type=click.Choice(["on", "off"]))
@project_options
def autoscale(project: Project, type_name: str, switch: str) -> None:
    """Hand TYPE's count back to its autoscale rule (on), or hold the current count (off).
    `procman scale` on an autoscaled type turns it off until `procman autoscale TYPE on`."""
    result = project.client.call("autoscale", {"type": type_name, "on": switch == "on"})
    for summary in result["types"]:
        if summary["name"] == type_name and summary["autoscale"]:
            rule = summary["autoscale"]
            state = "manual count" if rule["manual"] else f"target {rule['target']}"
            render.info(
                f"{type_name}: autoscale {switch} ({rule['min']}-{rule['max']} "
                f"@{rule['cpu']:g}% cpu, {state})"
            )
