"""`procman startup` and `procman unstartup`: the project's daemon at boot, under systemd."""

from __future__ import annotations

import click

from procman.cli import render
from procman.cli.options import Project, project_options

USER = click.option("--user", "user_unit", is_flag=True, help="A user unit (no root needed).")
UNIT_DIR = click.option(
    "--unit-dir",
    type=click.Path(file_okay=False),
    help="Write the unit here instead of systemd's folder (and enable nothing).",
)


@click.command()
@USER
@UNIT_DIR
@project_options
def startup(project: Project, user_unit: bool, unit_dir: str | None) -> None:
    """Write and enable a systemd unit that runs `procman daemon` for this project at boot
    (Type=notify; `systemctl reload` runs `procman reload all`). Where systemd is not
    running, the unit is written and the commands to enable it are printed.

    \b
      sudo procman startup          a system unit, run as you
      procman startup --user        a user unit (add loginctl enable-linger)
    """
    from procman.cli.startup import install, plan

    for line in install(plan(project.dir, project.procfile, user_unit), unit_dir):
        render.info(line)


@click.command()
@USER
@UNIT_DIR
@project_options
def unstartup(project: Project, user_unit: bool, unit_dir: str | None) -> None:
    """Disable and remove the unit `procman startup` wrote for this project."""
    from procman.cli.startup import uninstall

    for line in uninstall(project.dir, user_unit, unit_dir):
        render.info(line)
