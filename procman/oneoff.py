"""`procman run`: what a one-off command gets (argv, environment, directory), decided here so
the CLI only parses and execs. No daemon is involved.

The environment is procman's own, then the formation's env files; with a type (`-t TYPE`,
or a single word naming a type, Foreman's `run PROCESS`), that type's env and what its
first instance would get (PORT, PS, PROCMAN_*), from the same instance_env the daemon uses.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from procman.config.envfiles import instance_env, read_env_files
from procman.config.load import CANDIDATES, Source, load_formation
from procman.errors import UsageError
from procman.model import Formation
from procman.shell import exec_script, plain_argv


@dataclass(frozen=True, slots=True)
class OneOff:
    argv: list[str]
    env: dict[str, str]
    cwd: Path | None  # None: stay where we are


def command_argv(args: Sequence[str]) -> list[str]:
    """One argument is a command line (through /bin/sh -c when it needs a shell, `exec`'d
    so the program keeps the pid); several are an argv, run as given."""
    if len(args) != 1:
        return list(args)
    return plain_argv(args[0]) or ["/bin/sh", "-c", exec_script(args[0])]


def _has_formation(project: Path, source: Source) -> bool:
    return source.procfile is not None or any((project / n).is_file() for n in CANDIDATES)


def _env_only(project: Path, source: Source) -> dict[str, str]:
    """No Procfile or procman.yaml: the env files alone (Foreman's run works without one)."""
    if source.no_env_file:
        return {}
    names = list(source.env_files) if source.env_files is not None else [".env"]
    paths = [project / os.path.expanduser(n) for n in names]
    if source.env_files is None:
        paths = [p for p in paths if p.is_file()]
    return read_env_files(paths, project)


def prepare(
    project: Path,
    source: Source,
    args: Sequence[str],
    type_name: str | None,
    base: Mapping[str, str],
) -> OneOff:
    if not args:
        raise UsageError("run needs a command, like `procman run python manage.py migrate`")
    if type_name is None and not _has_formation(project, source):
        return OneOff(command_argv(args), {**base, **_env_only(project, source)}, None)
    formation = load_formation(project, source)
    if type_name is None and len(args) == 1 and formation.get(args[0]) is not None:
        type_name = args[0]
        args = [formation.get(type_name).cmd]  # type: ignore[union-attr]
    if type_name is None:
        return OneOff(command_argv(args), {**base, **formation.env}, None)
    ptype = formation.get(type_name)
    if ptype is None:
        raise _no_type(formation, type_name)
    return OneOff(command_argv(args), instance_env(base, formation, ptype, 0), ptype.cwd)


def _no_type(formation: Formation, name: str) -> UsageError:
    return UsageError(f"no process type {name!r} (types: {', '.join(formation.names)})")
