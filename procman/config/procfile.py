"""Procfile text -> process types, Foreman/Honcho compatible.

One `name: command` per line; `#` comments and blank lines are ignored. Where Foreman silently
skips a line it cannot read, we stop with the file and line, so a typo never drops a process.

Ports follow Foreman exactly: every type gets a PORT, `base + 100 * position + index`, position
being its 0-based index among all types in the file and index the instance's (0-based). The
base is `-p/--port`, else PORT from the env files, else $PORT in procman's own environment,
else 5000 (see port_base). As under Foreman, each instance binds its own PORT itself.
`--share TYPE` turns a type into procman.yaml's `port:` form: one port, base + 100 * position,
for all of its instances, on listeners the daemon holds and passes on fd 3 (socket=True).

A type whose command mentions `$PORT` is taken to serve on it: it gets `ready: port`
(its instance listens on its port); any other type is ready once spawned.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path

from procman.errors import ConfigError
from procman.model import NAME_RE, ProcessType, ReadyCheck, RestartPolicy
from procman.order import RELEASE

# `$PORT`, `${PORT}` and `${PORT:-5000}`, but not `$PORTAL`.
PORT_RE = re.compile(r"\$\{?PORT(?![A-Za-z0-9_])")
PORT_STEP = 100
DEFAULT_BASE = 5000
_LINE_FORM = "expected `name: command`, like `web: python app.py`"


def mentions_port(cmd: str) -> bool:
    return PORT_RE.search(cmd) is not None


def port_base(
    explicit: int | None, env_files: Mapping[str, str], environ: Mapping[str, str]
) -> int:
    """Foreman's base port: -p/--port, else PORT from the env files, else $PORT, else 5000."""
    if explicit is not None:
        return explicit
    for where, env in (("the env files", env_files), ("procman's environment", environ)):
        text = env.get("PORT")
        if text is None or text == "":
            continue
        if not text.strip().isdigit() or not 1 <= int(text) <= 65535:
            raise ConfigError(
                f"PORT={text!r} in {where} is not a port (1-65535); it is the Procfile's base "
                "port: fix it, or pass -p/--port"
            )
        return int(text)
    return DEFAULT_BASE


def parse_procfile(
    text: str, file: str, port_base: int | None = DEFAULT_BASE, share: Iterable[str] = ()
) -> list[ProcessType]:
    """Parse Procfile `text`; `file` is only used in messages. With port_base None the
    ports are left for the caller's foreman_ports (the loader's base needs the env files)."""
    types: list[ProcessType] = []
    first_line: dict[str, int] = {}
    # An editor's BOM would otherwise become part of the first type's name.
    for lineno, raw in enumerate(text.removeprefix("\ufeff").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, cmd = line.partition(":")
        name, cmd = name.strip(), cmd.strip()
        if not sep:
            raise ConfigError(f"no ':' in {line!r}; {_LINE_FORM}", file, lineno)
        if not NAME_RE.fullmatch(name):
            raise ConfigError(
                f"{name!r} is not a process type name (letters, digits, '_' and '-'); {_LINE_FORM}",
                file,
                lineno,
            )
        if name in first_line:
            raise ConfigError(
                f'duplicate process type "{name}" (first on line {first_line[name]})', file, lineno
            )
        if not cmd:
            raise ConfigError(
                f'process type "{name}" has an empty command; {_LINE_FORM}', file, lineno
            )
        first_line[name] = lineno
        types.append(
            ProcessType(
                name=name,
                cmd=cmd,
                ready=ReadyCheck("port") if mentions_port(cmd) else ReadyCheck("none"),
                # Heroku's release phase runs once, to completion
                restart=RestartPolicy.NEVER if name == RELEASE else RestartPolicy.ALWAYS,
                line=lineno,
            )
        )
    return types if port_base is None else foreman_ports(types, port_base, share, file)


def foreman_ports(
    types: list[ProcessType], base: int, share: Iterable[str], file: str
) -> list[ProcessType]:
    """Every type's port by position; the types in `share` hold one port for all instances."""
    shared = set(share)
    unknown = sorted(shared - {t.name for t in types})
    if unknown:
        known = ", ".join(t.name for t in types)
        raise ConfigError(f"--share: no process type {unknown[0]!r} in {file} (types: {known})")
    out = []
    for position, ptype in enumerate(types):
        port = base + PORT_STEP * position
        if not 1 <= port <= 65535:
            raise ConfigError(
                f'process type "{ptype.name}" would get port {port} (base {base} + '
                f"{PORT_STEP} x {position}), which is not a port (1-65535); pass a lower --port",
                file,
                ptype.line,
            )
        if ptype.name in shared:
            ptype = replace(ptype, socket=True, ready=ReadyCheck("port"))
        out.append(replace(ptype, port=port, instance_ports=ptype.name not in shared))
    return out


FOREMAN_FILE = ".foreman"


def foreman_counts(path: Path, names: list[str]) -> dict[str, int]:
    """The counts of a Foreman `.foreman` file's `formation: web=2,worker=1` line (`all=N`
    sets every type); {} when there is no such file or line."""
    try:
        text = path.read_text(encoding="utf-8")
    except (FileNotFoundError, IsADirectoryError):
        return {}
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", path.name) from None
    for number, line in enumerate(text.splitlines(), 1):
        key, sep, value = line.partition(":")
        if not sep or key.strip() != "formation":
            continue
        counts: dict[str, int] = {}
        for item in value.strip().strip("'\"").split(","):
            name, _, count = item.strip().partition("=")
            name = name.strip()
            if not count.strip().isdigit():
                raise ConfigError(f"{item.strip()!r} is not TYPE=N", path.name, number)
            if name == "all":
                counts.update(dict.fromkeys(names, int(count)))
            elif name in names:
                counts[name] = int(count)
            else:
                known = ", ".join(names)
                raise ConfigError(f"no process type {name!r} (types: {known})", path.name, number)
        return counts
    return {}
