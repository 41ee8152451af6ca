"""`procman completion SHELL`: click's own completion script for bash, zsh or fish."""

from __future__ import annotations

import click

from procman.cli import render

SHELLS = {"bash": "~/.bashrc", "zsh": "~/.zshrc", "fish": "~/.config/fish/config.fish"}


@click.command()
@click.argument("shell", type=click.Choice(sorted(SHELLS)))
def completion(shell: str) -> None:
    """Print the completion script for SHELL: verbs, options, and the types and instances
    of the running daemon.

    \b
      eval "$(procman completion bash)"       in ~/.bashrc
      eval "$(procman completion zsh)"        in ~/.zshrc
      procman completion fish | source        in ~/.config/fish/config.fish
    """
    from click.shell_completion import get_completion_class

    from procman.cli.app import cli

    script = get_completion_class(shell)
    if script is None:  # click knows all three; a click without one is a broken install
        raise click.UsageError(f"this click has no {shell} completion")
    render.info(script(cli, {}, "procman", "_PROCMAN_COMPLETE").source())
