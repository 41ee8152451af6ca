"""`procman daemon`: exec the supervisor in the foreground."""

from __future__ import annotations

import os
import sys

import click

from procman.cli.options import Project, count_param, project_options


@click.command()
@click.option("--detach", is_flag=True, help="Fork into the background (what `start` uses).")
@click.option("-i", "--instances", metavar="N|max", help="Count for every type.")
@click.option(
    "--metrics-port",
    type=click.IntRange(1, 65535),
    help="Serve Prometheus /metrics on this port ($PROCMAN_METRICS_HOST, 127.0.0.1).",
)
@click.option("--no-prefix", is_flag=True, help="Bare output lines, no time and name.")
@click.option("-q", "--quiet", multiple=True, metavar="TYPE,...", help="Hide these types' output.")
@project_options
def daemon(
    project: Project,
    detach: bool,
    instances: str | None,
    metrics_port: int | None,
    no_prefix: bool,
    quiet: tuple[str, ...],
) -> None:
    """Run the supervisor in the foreground (containers, systemd, PID 1) and start the
    formation; SIGTERM or SIGINT stops everything gracefully. Logs go to stdout."""
    argv = [sys.executable, "-m", "procman.daemon", "-d", str(project.dir)]
    if project.procfile:
        argv += ["-f", str(project.procfile)]
    if instances:
        argv += ["-i", count_param(instances) or ""]
    if metrics_port:
        argv += ["--metrics-port", str(metrics_port)]
    if no_prefix:
        argv.append("--no-prefix")
    argv += [arg for item in quiet for arg in ("-q", item)]
    if detach:
        argv.append("--detach")
    sys.stdout.flush()
    # exec, not call: same pid (PID 1, systemd), and the long-lived process sheds click/rich
    os.execv(sys.executable, argv)
