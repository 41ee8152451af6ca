"""The `procman` command: a click group that imports a verb's module only when that verb runs.

Thin on purpose: no domain decisions here. Each verb lives in procman.cli.commands, one module
per verb, and imports only what it uses, so `procman status` loads click, the client and
render, and not config, yaml, rich (when piped), psutil, asyncio or the other verbs.
"""

from __future__ import annotations

import sys
from importlib import import_module

import click

from procman import __version__

#: verb -> "module:attribute" in procman.cli.commands; an alias names the same command
COMMANDS = {
    "autoscale": "autoscale:autoscale",
    "check": "check:check",
    "completion": "completion:completion",
    "daemon": "daemon:daemon",
    "dashboard": "dashboard:dashboard",
    "delete": "delete:delete",
    "describe": "describe:describe",
    "env": "env:env",
    "export": "export:export",
    "flush": "flush:flush",
    "kill": "shutdown:shutdown",
    "list": "ls:ls",
    "logs": "logs:logs",
    "ls": "ls:ls",
    "monit": "monit:monit",
    "ps": "status:status",
    "reload": "reload:reload",
    "reopen": "reopen:reopen",
    "restart": "restart:restart",
    "run": "run:run",
    "scale": "scale:scale",
    "schema": "schema:schema",
    "shutdown": "shutdown:shutdown",
    "signal": "signal:signal",
    "start": "start:start",
    "startup": "startup:startup",
    "status": "status:status",
    "stop": "simple:stop",
    "unstartup": "startup:unstartup",
    "update": "update:update",
}


class LazyGroup(click.Group):
    """click's lazy-loading Group: commands are named in a table and imported on first use
    (`--help` imports them all, for their short help)."""

    def __init__(self, *args: object, lazy_commands: dict[str, str], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.lazy_commands = lazy_commands

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy_commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = self.lazy_commands.get(cmd_name)
        if target is None:
            return super().get_command(ctx, cmd_name)
        module, _, attribute = target.partition(":")
        command = getattr(import_module(f"procman.cli.commands.{module}"), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"procman.cli.commands.{target} is not a click command")
        return command


@click.group(
    cls=LazyGroup,
    lazy_commands=COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(__version__, prog_name="procman")
@click.option("--debug", is_flag=True, hidden=True, help="Show tracebacks.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Run a Procfile or procman.yaml formation: N copies of each process type, restarted
    when they crash, web types sharing one port through SO_REUSEPORT.

    \b
      procman start -i max        every type gets one instance per CPU
      procman scale web=8         also web=max, web=+2, web=-1
      procman status              what runs (--json for scripts)
      procman ls                  every daemon of yours, in every project
      procman logs -f             merged logs, live
      procman dashboard --open    a web page to watch and steer every project
      procman shutdown            stop everything and the daemon
    """
    ctx.obj = {"debug": debug}


def main() -> None:
    try:
        cli(prog_name="procman", standalone_mode=True)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # a bug: say so briefly, the traceback is one flag away
        if "--debug" in sys.argv:
            raise
        from procman.cli import render

        render.error(f"internal error: {exc!r}; run with --debug for the traceback")
        sys.exit(1)
