"""What every command shares: -f/--procfile and -d/--dir (project_options), the error edge
(ProcmanError -> one line on stderr, exit 1), and the parsing of a start/check/export source.

Light on purpose (click, the client, render): `procman status` imports this and nothing more.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import Any

import click

from procman.cli import render
from procman.cli.client import Client
from procman.errors import ErrorCode, ProcmanError, RemoteError, UsageError

USAGE_CODES = {ErrorCode.BAD_PARAMS, ErrorCode.NOT_FOUND, ErrorCode.BAD_REQUEST}
INTERPRETERS = {".py": sys.executable, ".js": "node", ".sh": "sh", ".rb": "ruby"}


class Project:
    def __init__(self, directory: str, procfile: str | None) -> None:
        self.dir, self.procfile = directory, procfile
        self.client = Client(directory)


def project_options(func: Callable[..., Any] | None = None, *, short_f: bool = True) -> Any:
    """-f/--procfile and -d/--dir on every command; the function gets `project`.
    `logs` keeps -f for --follow (tail's and PM2's meaning) and spells --procfile in full."""
    if func is None:
        return functools.partial(project_options, short_f=short_f)
    flags = ("-f", "--procfile") if short_f else ("--procfile",)

    @click.option(
        *flags,
        "procfile",
        type=click.Path(dir_okay=False),
        help="The Procfile or procman.yaml (default: the one in the project dir).",
    )
    @click.option(
        "-d",
        "--dir",
        "directory",
        type=click.Path(file_okay=False),
        help="The project directory (default: the Procfile's, else the current one).",
    )
    @functools.wraps(func)
    def wrapper(procfile: str | None, directory: str | None, **kwargs: Any) -> Any:
        if procfile is not None:
            procfile = os.path.realpath(procfile)
        if directory is None:
            directory = os.path.dirname(procfile) if procfile is not None else os.getcwd()
        project = Project(os.path.realpath(directory), procfile)
        try:
            return func(project=project, **kwargs)
        except RemoteError as exc:
            render.error(exc.message)
            sys.exit(2 if exc.code in USAGE_CODES else 1)
        except UsageError as exc:
            raise click.UsageError(exc.message) from None
        except ProcmanError as exc:
            render.error(exc.message)
            sys.exit(1)

    return wrapper


def complete_target(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
    """shell_complete= of TARGET arguments: names from the running daemon. The work is in
    procman.cli.completion, imported only while a shell asks for completions."""
    from procman.cli.completion import targets

    return targets(ctx, param, incomplete)


def source_params(
    project: Project,
    target: str | None,
    name: str,
    port: int | None,
    env_files: str | None,
    no_env_file: bool,
    share: tuple[str, ...] = (),
    watch: bool = False,
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """What the daemon should load (None: whatever it had, or the project's file), and the
    ad-hoc app to add when TARGET is a command or a script (PM2's `start`)."""
    import shlex
    from pathlib import Path

    from procman.config.load import Source

    procfile = project.procfile
    command = None
    if target:
        path = Path(target)
        if path.is_file() and (
            path.suffix in (".yaml", ".yml") or path.name.startswith("Procfile")
        ):
            procfile = str(path.resolve())
        elif path.is_file():
            runner = INTERPRETERS.get(path.suffix)
            quoted = shlex.quote(str(path.resolve()))
            command = f"{shlex.quote(runner)} {quoted}" if runner else quoted
        else:
            command = target
    if command is not None and procfile is not None:
        raise UsageError("give a formation file or a command to run, not both")
    files = tuple(f.strip() for f in env_files.split(",") if f.strip()) if env_files else None
    app = {"name": name, "cmd": command, "port": port} if command is not None else None
    if not (procfile or files or no_env_file or (port and app is None) or share or watch):
        return None, app
    source = Source(
        procfile=procfile,
        env_files=files,
        no_env_file=no_env_file,
        port_base=port if port and app is None else None,
        share=share,
        watch=watch,
    )
    return source.to_dict(), app


def is_formation_file(target: str) -> bool:
    """A TARGET that is a Procfile or procman.yaml rather than a script or a type."""
    from pathlib import Path

    path = Path(target)
    return path.is_file() and (path.suffix in (".yaml", ".yml") or path.name.startswith("Procfile"))


def share_option(func: Callable[..., Any]) -> Any:
    """--share TYPE (repeatable, or a comma list): the function gets `share`, a tuple."""

    def split(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> tuple:
        return tuple(n.strip() for v in values for n in v.split(",") if n.strip())

    return click.option(
        "--share",
        multiple=True,
        metavar="TYPE[,TYPE]",
        callback=split,
        help="Procfile types whose instances share one port (base + 100 x position) on "
        "listeners the daemon holds and passes on fd 3.",
    )(func)


def counts_options(func: Callable[..., Any]) -> Any:
    """-m/--formation (Foreman) and -c/--concurrency (Honcho): `web=2,worker=1`, repeatable;
    the function gets `formation`, a tuple of TYPE=N strings."""

    def split(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> tuple:
        return tuple(a.strip() for v in values for a in v.split(",") if a.strip())

    return click.option(
        "-m",
        "--formation",
        "-c",
        "--concurrency",
        "formation",
        multiple=True,
        metavar="TYPE=N,...",
        callback=split,
        help="Counts, as TYPE=N does (Foreman's -m, Honcho's -c); all=N sets every type.",
    )(func)


def parse_counts(words: tuple[str, ...]) -> tuple[dict[str, str], str | None]:
    """TYPE=N words -> ({type: count}, the count of `all=N` or None)."""
    from procman.counts import parse_assignment

    counts: dict[str, str] = {}
    every = None
    for word in words:
        name, spec = parse_assignment(word)
        if name == "all":
            every = str(spec)
        else:
            counts[name] = str(spec)
    return counts, every


def count_param(text: str | None) -> str | None:
    if text is None:
        return None
    from procman.counts import CountSpec

    spec = CountSpec.parse(text)
    if spec.kind == "rel":
        raise UsageError(f"-i takes a number or max, not {text!r}")
    return str(spec)
