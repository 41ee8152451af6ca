"""Procfile text -> process types, Foreman/Honcho compatible.

One `name: command` per line; `#` comments and blank lines are ignored. Where Foreman silently
skips a line it cannot read, we stop with the file and line, so a typo never drops a process.

Ports follow Foreman: a type whose command mentions `$PORT` (or `${PORT}`) gets
`port_base + 100 * position`, position being its 0-based index among all types in the file, one
port per type shared by its instances. Such a type gets `socket=False`: as under Foreman, the
command binds `$PORT` itself (with SO_REUSEPORT when it runs more than one instance, e.g.
gunicorn `--reuse-port`), and the daemon only waits for the port to accept connections.
Only procman.yaml can ask the daemon to bind and pass the listener (`socket: true`).
"""

from __future__ import annotations

import re
from pathlib import Path

from procman.errors import ConfigError
from procman.model import NAME_RE, ProcessType, ReadyCheck

# `$PORT`, `${PORT}` and `${PORT:-5000}`, but not `$PORTAL`.
PORT_RE = re.compile(r"\$\{?PORT(?![A-Za-z0-9_])")
PORT_STEP = 100
_LINE_FORM = "expected `name: command`, like `web: python app.py`"


def mentions_port(cmd: str) -> bool:
    return PORT_RE.search(cmd) is not None


def parse_procfile(text: str, file: str, port_base: int = 5000) -> list[ProcessType]:
    """Parse Procfile `text`; `file` is only used in messages."""
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
        port = None
        if mentions_port(cmd):
            port = port_base + PORT_STEP * len(types)
            if not 1 <= port <= 65535:
                raise ConfigError(
                    f'process type "{name}" mentions $PORT but its port {port} '
                    f"(base {port_base} + {PORT_STEP} x {len(types)}) is not a port (1-65535); "
                    "pass a lower --port",
                    file,
                    lineno,
                )
        types.append(
            ProcessType(
                name=name,
                cmd=cmd,
                port=port,
                socket=False,
                ready=ReadyCheck("port") if port is not None else ReadyCheck("none"),
                line=lineno,
            )
        )
    return types


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
