"""`procman logs [-f] [--err|--out] [--json|--raw] [--since T]`."""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

import click

from procman.cli import logview
from procman.cli.options import Project, complete_target, project_options


class Since(click.ParamType):
    """A duration back from now or a point in time, as unix time (bad ones exit 2)."""

    name = "since"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from procman.timespec import parse_since

        try:
            return parse_since(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


def _one_of(ctx: click.Context, names: tuple[str, ...]) -> None:
    given = [f"--{n}" for n in names if ctx.params.get(f"_{n}")]
    if len(given) > 1:
        raise click.UsageError(f"{' and '.join(given)} exclude each other", ctx)


@click.command()
@click.argument("target", required=False, metavar="[TYPE|ID]", shell_complete=complete_target)
@click.option(
    "-n",
    "--lines",
    default=None,
    type=click.IntRange(0, 100_000),
    help="How many recent lines (default 50; with --since, every line since then).",
)
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines until Ctrl-C.")
@click.option("--err", "_err", is_flag=True, help="Only stderr.")
@click.option("--out", "_out", is_flag=True, help="Only stdout.")
@click.option(
    "--since",
    type=Since(),
    metavar="10m|TIME",
    help="Only lines since: 30s, 10m, 2h, 1d, or a time (2026-11-28T10:00, 10:00).",
)
@click.option("--json", "_json", is_flag=True, help="A JSON object a line: time, id, stream, text.")
@click.option("--raw", "_raw", is_flag=True, help="The text of each line only, no prefix.")
@project_options(short_f=False)
@click.pass_context
def logs(
    ctx: click.Context,
    project: Project,
    target: str | None,
    lines: int | None,
    follow: bool,
    since: float | None,
    **flags: bool,
) -> None:
    """Recent output of every instance, merged in time order: `HH:MM:SS web.3 | line`,
    with `!` in place of `|` for stderr.

    \b
      procman logs                      the last 50 lines of everything
      procman logs web -n 200           one type
      procman logs web.2 -f             one instance, then follow
      procman logs --err --since 10m    stderr of the last ten minutes
      procman logs --json | jq .text    machine-readable
    """
    _one_of(ctx, ("err", "out"))
    _one_of(ctx, ("json", "raw"))
    stream = "err" if flags["_err"] else "out" if flags["_out"] else None
    style = "json" if flags["_json"] else "raw" if flags["_raw"] else "lines"
    fmt = logview.log_formatter(style=style)
    params: dict[str, Any] = {"target": target, "follow": follow}
    if stream is not None:
        params["stream"] = stream
    if lines is not None:
        params["lines"] = lines
    if since is not None:
        params["since"] = since
    if follow:  # "until Ctrl-C", even if our parent started us with SIGINT ignored
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        for chunk in project.client.stream("logs", params):
            logview.log_lines(chunk["lines"], fmt)
            if not follow:
                break
    except KeyboardInterrupt:
        pass
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
