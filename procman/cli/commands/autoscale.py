"""`procman autoscale [TYPE] [on|off]`."""

from __future__ import annotations

import time

import click

from procman.cli import render
from procman.cli.options import Project, complete_target, project_options


@click.command()
@click.argument("type_name", metavar="[TYPE]", required=False, shell_complete=complete_target)
@click.argument("switch", type=click.Choice(["on", "off"]), required=False)
@click.option("--json", "as_json", is_flag=True, help="The autoscaled types as JSON.")
@project_options
def autoscale(project: Project, type_name: str | None, switch: str | None, as_json: bool) -> None:
    """Show each autoscaled type's metrics against their targets, the proposal and the
    last decision (TYPE: only that one). `on` hands TYPE's count back to its rule, `off`
    holds the current count; `procman scale` on an autoscaled type turns it off."""
    if type_name in ("on", "off") and switch is None:
        raise click.UsageError(f"which type? procman autoscale TYPE {type_name}")
    on = None if switch is None else switch == "on"
    result = project.client.call("autoscale", {"type": type_name, "on": on})
    if as_json:
        render.print_json(result["types"])
    elif switch is not None:
        rule = result["types"][0]["autoscale"]
        state = "manual count" if rule["manual"] else f"target {rule['target']}"
        render.info(
            f"{type_name}: autoscale {switch} ({rule['min']}-{rule['max']} "
            f"@{render.rule_text(rule)}, {state})"
        )
    else:
        from procman.cli.autoscale_view import autoscale_lines

        for line in autoscale_lines(result["types"], time.time()):
            render.info(line)
