""".env files and the environment each instance gets.

Files are read with python-dotenv, so quoting, `export X=1` and `${VAR}` expansion behave as
users of most dotenv libraries expect; where that differs from Foreman's and Honcho's own
parsers is listed in docs/formation.md (tests/unit/test_peer_fixtures.py holds each case).
dotenv itself only logs a line it
cannot parse and carries on; we stop with the file and line instead, because a silently
dropped variable is a much harder bug to find than an error at start.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path

from procman.errors import ConfigError
from procman.model import Formation, ProcessType


def display_path(path: Path, root: Path | None) -> str:
    """`path` relative to `root` when inside it (as a user would type it), else as is."""
    if root is not None:
        try:
            return str(path.relative_to(root))
        except ValueError:
            pass
    return str(path)


def read_env_file(path: Path, root: Path | None = None) -> dict[str, str]:
    """One dotenv file. `root` only shortens the name in messages."""
    # dotenv is imported here so that importing procman.config stays cheap for the CLI.
    from dotenv import dotenv_values
    from dotenv.parser import parse_stream

    shown = display_path(path, root)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"env file {shown} does not exist") from None
    except IsADirectoryError:
        raise ConfigError(f"env file {shown} is a directory, not a file") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 text ({exc.reason} at byte {exc.start})", shown) from None
    except OSError as exc:
        raise ConfigError(f"cannot read env file {shown}: {exc.strerror}") from None

    # A cheap first pass only to find the line dotenv would skip; dotenv_values does the real
    # work (interpolation included) on the same text.
    for binding in parse_stream(io.StringIO(text)):
        if binding.error:
            bad = binding.original.string.strip().splitlines()[0]
            raise ConfigError(
                f"cannot parse {bad!r}; expected NAME=value (comments start with #)",
                shown,
                binding.original.line,
            )
    values = dotenv_values(stream=io.StringIO(text))
    # A bare `NAME` line has no value in dotenv's model (None): it sets nothing.
    return {key: value for key, value in values.items() if value is not None}


def read_env_files(paths: Sequence[Path], root: Path | None = None) -> dict[str, str]:
    """Merge the files in order; a later file wins."""
    merged: dict[str, str] = {}
    for path in paths:
        merged.update(read_env_file(path, root))
    return merged


def instance_env(
    base: Mapping[str, str],
    formation: Formation,
    ptype: ProcessType,
    index: int,
    instances: int | None = None,
) -> dict[str, str]:
    """The environment of instance `index` (0-based) of `ptype` when the type's desired count
    is `instances` (default: its configured count). Called on every spawn."""
    env = dict(base)
    # Set before the files so that they (or the type's env) can turn it off; a child that
    # buffers stdout makes `procman logs` look dead.
    env["PYTHONUNBUFFERED"] = "1"
    env.update(formation.env)
    env.update(ptype.env)
    port = ptype.port_of(index)
    if port is not None:
        env["PORT"] = str(port)
    ident = f"{ptype.name}.{index + 1}"
    env["PROCMAN_NAME"] = ptype.name
    env["PROCMAN_INSTANCE"] = str(index)
    env["PROCMAN_ID"] = ident
    env["PS"] = ident
    env.update(instance_share(ptype, instances))
    return env


def instance_share(ptype: ProcessType, instances: int | None = None) -> dict[str, str]:
    """PROCMAN_INSTANCES (the desired count, default the configured one) and
    PROCMAN_MAX_INSTANCES (the autoscale max, never below the count): pools sized as
    budget // PROCMAN_MAX_INSTANCES never add up past the budget, whatever the autoscaler
    or a manual scale does."""
    count = ptype.instances if instances is None else instances
    most = max(count, ptype.autoscale.max if ptype.autoscale else 0)
    return {"PROCMAN_INSTANCES": str(count), "PROCMAN_MAX_INSTANCES": str(most)}


SECRET_WORDS = ("KEY", "SECRET", "TOKEN", "PASSWORD", "PASSWD", "CREDENTIAL", "PRIVATE")


def looks_secret(name: str) -> bool:
    upper = name.upper()
    return any(word in upper for word in SECRET_WORDS)


def mask_env(env: Mapping[str, str]) -> dict[str, str]:
    """The env with values of secret-looking names hidden, for printing."""
    return {k: ("****" if looks_secret(k) and v else v) for k, v in env.items()}
