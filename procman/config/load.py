"""Find the formation file, pick its parser, build the Formation, apply count overrides.

Cheap to import: the CLI imports this on every command, so yaml and dotenv are imported only by
the functions that read such files.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from procman.config.adhoc import AdHoc
from procman.config.envfiles import display_path, read_env_files
from procman.config.procfile import (
    DEFAULT_BASE,
    FOREMAN_FILE,
    foreman_counts,
    foreman_ports,
    parse_procfile,
    port_base,
)
from procman.counts import cpu_count
from procman.errors import ConfigError, ErrorCode
from procman.model import NAME_RE, Formation, ProcessType
from procman.order import RELEASE

__all__ = ["AdHoc", "Source", "apply_counts", "cpu_count", "find_file", "load_formation"]

#: Looked for in the project directory, in this order.
CANDIDATES = ("procman.yaml", "procman.yml", "Procfile")
YAML_SUFFIXES = (".yaml", ".yml")


def _is_port(value: object) -> bool:
    return type(value) is int and 1 <= value <= 65535


@dataclass(frozen=True, slots=True)
class Source:
    """What to load: a formation file (or none) plus the ad-hoc apps started beside it.
    JSON-able: it travels over the control socket and into state.json."""

    procfile: str | None = None  # -f FILE; relative paths are taken from the project dir
    no_file: bool = False  # no formation file: the ad-hoc apps are the whole formation
    apps: tuple[AdHoc, ...] = ()  # `procman start CMD --name N`, in the order they came
    env_files: tuple[str, ...] | None = None  # None = .env or the yaml's env_file
    no_env_file: bool = False
    port_base: int | None = None  # -p: the Procfile's base port; None = Foreman's fallbacks
    share: tuple[str, ...] = ()  # --share: Procfile types whose instances share one port
    watch: bool = False  # `start --watch`: every type without a watch rule watches its cwd

    def __post_init__(self) -> None:
        if self.env_files is not None and not isinstance(self.env_files, tuple):
            object.__setattr__(self, "env_files", tuple(self.env_files))
        if not isinstance(self.apps, tuple):
            object.__setattr__(self, "apps", tuple(self.apps))
        if not isinstance(self.share, tuple):
            object.__setattr__(self, "share", tuple(self.share))
        for name in self.share:
            if not isinstance(name, str) or not NAME_RE.fullmatch(name):
                raise ConfigError(f"--share: {name!r} is not a process type name")
        if self.share and self.no_file:
            raise ConfigError("--share is for Procfile types; an ad-hoc app shares --port")
        if self.procfile is not None and self.no_file:
            raise ConfigError("give a formation file or a command to run, not both")
        names = [app.name for app in self.apps]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ConfigError(f"ad-hoc app {twice[0]!r} is given twice")
        if self.port_base is not None and not _is_port(self.port_base):
            raise ConfigError(f"port base {self.port_base} is not a port (1-65535)")

    def app(self, name: str) -> AdHoc | None:
        return next((app for app in self.apps if app.name == name), None)

    def to_dict(self) -> dict:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["apps"] = [app.to_dict() for app in self.apps]
        if self.env_files is not None:
            data["env_files"] = list(self.env_files)
        data["share"] = list(self.share)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> Source:
        if not isinstance(data, dict):
            raise ConfigError(f"source: expected an object, got {type(data).__name__}")
        data = _legacy(data)
        shapes: dict[str, tuple[type, ...]] = {
            "procfile": (str, type(None)),
            "no_file": (bool,),
            "apps": (list, tuple),
            "env_files": (list, tuple, type(None)),
            "no_env_file": (bool,),
            "port_base": (int, type(None)),
            "share": (list, tuple),
            "watch": (bool,),
        }
        for key, value in data.items():
            if key not in shapes:
                raise ConfigError(f"source: unknown key {key!r}; valid keys: {', '.join(shapes)}")
            # bool is an int subclass, and `port_base: true` is a bug, not port 1.
            if not isinstance(value, shapes[key]) or (key == "port_base" and value is True):
                raise ConfigError(f"source.{key}: {value!r} has the wrong type")
        for key in ("env_files", "share"):
            items = data.get(key)
            if items is not None and not all(isinstance(item, str) for item in items):
                raise ConfigError(f"source.{key}: {items!r} is not a list of strings")
        apps = tuple(AdHoc.from_dict(app) for app in data.get("apps", ()))
        return cls(**{**data, "apps": apps})


def _legacy(data: dict) -> dict:
    """The one-command source of procman before ad-hoc apps (state.json of an older daemon):
    {"command", "name", "port"} becomes a formation of that one app."""
    if "command" not in data:
        return data
    data = dict(data)
    if data.get("port_base") == DEFAULT_BASE:  # that version's default, not a -p
        data["port_base"] = None
    command, name, port = data.pop("command"), data.pop("name", "web"), data.pop("port", None)
    if command is None:
        return data
    if data.get("procfile") is not None:
        raise ConfigError("give a formation file or a command to run, not both")
    if not isinstance(command, str) or not isinstance(name, str):
        raise ConfigError("source.command: expected a string")
    if port is not None and (type(port) is not int or not _is_port(port)):
        raise ConfigError(f"source.port: {port!r} is not a port (1-65535)")
    base = data.get("port_base") or DEFAULT_BASE
    app = AdHoc.create(name, command, port, port_base=base if _is_port(base) else DEFAULT_BASE)
    return {**data, "no_file": True, "apps": [app.to_dict()]}


def find_file(project: Path, source: Source) -> Path:
    """The formation file `source` names, or the first of CANDIDATES in `project`."""
    if source.procfile is not None:
        path = Path(os.path.normpath(project / os.path.expanduser(source.procfile)))
        if not path.exists():
            raise ConfigError(f"{display_path(path, project)} does not exist")
        return path
    for name in CANDIDATES:
        if (project / name).is_file():
            return project / name
    raise ConfigError(f"no Procfile or procman.yaml in {project} (create one, or pass -f FILE)")


def load_formation(
    project: Path, source: Source, environ: Mapping[str, str] | None = None
) -> Formation:
    """Read everything `source` points at, relative to the project directory. `environ` is
    procman's own environment (default os.environ): its $PORT may set a Procfile's base."""
    project = project.absolute()
    environ = os.environ if environ is None else environ
    procfile = False
    yaml_env_files: list[str] | None = None
    settings: dict[str, Any] = {}
    path: Path | None = None
    types: list[ProcessType] = []
    if not source.no_file:
        path = find_file(project, source)
        shown = display_path(path, project)
        try:
            text = path.read_text(encoding="utf-8")
        except IsADirectoryError:
            raise ConfigError(
                "is a directory; -f takes a Procfile or procman.yaml", shown
            ) from None
        except UnicodeDecodeError as exc:
            raise ConfigError(f"not UTF-8 text ({exc.reason} at byte {exc.start})", shown) from None
        except OSError as exc:
            raise ConfigError(f"cannot read: {exc.strerror}", shown) from None
        if path.suffix.lower() in YAML_SUFFIXES:
            from procman.config.yamlfile import parse_yaml  # pulls in yaml: only for yaml files

            if source.share:
                raise ConfigError(
                    f"--share is for Procfile types; in {shown}, a type's `port:` is already "
                    "shared by its instances"
                )
            types, yaml_env_files, settings = parse_yaml(text, shown, project)
        else:
            procfile = True
            types = parse_procfile(text, shown, port_base=None)
            # Foreman keeps counts beside the Procfile: `.foreman`, `formation: web=2,...`
            counts = foreman_counts(path.parent / FOREMAN_FILE, [t.name for t in types])
            types = [replace(t, instances=counts.get(t.name, t.instances)) for t in types]
        if not types:
            raise ConfigError("declares no process types", shown)
        _check_apps(types, source.apps, shown)

    if source.no_env_file:
        names: list[str] = []
    elif source.env_files is not None:
        names = list(source.env_files)
    elif yaml_env_files is not None:
        names = yaml_env_files
    else:
        # is_file, not exists: `python -m venv .env` makes a directory of that name.
        names = [".env"] if (project / ".env").is_file() else []
    env_files = tuple(Path(os.path.normpath(project / os.path.expanduser(n))) for n in names)
    env = read_env_files(env_files, project)
    if procfile:
        base = port_base(source.port_base, env, environ)
        types = foreman_ports(types, base, source.share, display_path(path or project, project))
    types += [app.ptype() for app in source.apps]  # their ports were fixed when they came
    if source.watch:  # a one-shot type (release) is not run again on every save
        types = [
            t if t.watch or t.one_shot else replace(t, watch=(str(t.cwd or project),))
            for t in types
        ]
    return Formation(
        root=project,
        types=tuple(types),
        source=path,
        env=env,
        env_files=env_files,
        **settings,
    )


def _check_apps(types: list[ProcessType], apps: tuple[AdHoc, ...], shown: str) -> None:
    """A file type must not take the name of an ad-hoc app: which would run is a guess."""
    for ptype in types:
        if any(app.name == ptype.name for app in apps):
            raise ConfigError(
                f'process type "{ptype.name}" is also an ad-hoc app of this project; '
                f'rename one, or "procman delete {ptype.name}" first',
                shown,
                ptype.line,
            )


def apply_counts(
    formation: Formation,
    default_instances: int | None = None,
    counts: dict[str, int] | None = None,
) -> Formation:
    """`-i N` sets every type not named in `counts` (but release, which runs once);
    `counts` (TYPE=N) set their types."""
    counts = counts or {}
    unknown = [name for name in counts if formation.get(name) is None]
    if unknown:
        error = ConfigError(f'no process type "{unknown[0]}" (known: {", ".join(formation.names)})')
        error.code = ErrorCode.NOT_FOUND
        raise error
    for name, count in [("-i", default_instances), *counts.items()]:
        if count is not None and (type(count) is not int or count < 0):
            raise ConfigError(f"{name}: {count!r} is not a count (an integer >= 0)")
    types = []
    for ptype in formation.types:
        every = None if ptype.name == RELEASE else default_instances  # release runs once
        count = counts.get(ptype.name, every)
        types.append(ptype if count is None else replace(ptype, instances=count))
    return replace(formation, types=tuple(types))


def resolve_start(
    project: Path, source: Source, words: list[str], environ: Mapping[str, str] | None = None
) -> tuple[Formation, list[str] | None]:
    """`procman start TYPE ...`: the formation and the types to start (None: all of them).
    Every word must name a type: Foreman's `start PROCESS`. (Whether one word is a type or
    an ad-hoc command is settled before, in daemon/apps.py.)"""
    if not words:
        return load_formation(project, source, environ), None
    try:
        formation = load_formation(project, source, environ)
    except ConfigError:
        no_file = source.procfile is None and not any(
            (project / name).is_file() for name in CANDIDATES
        )
        if no_file:
            error = ConfigError(
                f"no process types {' '.join(words)!r}: there is no Procfile or procman.yaml "
                f'in {project}; a command and its arguments go in quotes: "{" ".join(words)}"'
            )
            error.code = ErrorCode.NOT_FOUND
            raise error from None
        raise
    unknown = [word for word in words if formation.get(word) is None]
    if unknown:
        error = ConfigError(
            f'no process type "{unknown[0]}" (types: {", ".join(formation.names)}); '
            f'a command and its arguments go in quotes: "{" ".join(words)}"'
        )
        error.code = ErrorCode.NOT_FOUND
        raise error
    return formation, list(dict.fromkeys(words))
