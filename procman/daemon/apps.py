"""What a formation is made of: its file (or none) and the ad-hoc apps started beside it, and
the rules by which `start` and `delete` change them. Pure decisions over Sources: the
supervisor loads and applies what these return.

* `start CMD --name N` adds app N to what runs (a name already running is replaced only
  with force; a type of the file is never replaced by an app).
* `start [FILE]` while a formation runs: the same file (re)starts it, a formation of apps
  only gets the file's types beside them, another file is refused unless replace (the
  apps stay: they leave by `delete`). No file named (`start -e x.env`): the env files or
  base port change for what runs.
* With nothing loaded (a fresh daemon), the request wins; a daemon that ended uncleanly
  hands over its source (file and apps) through state.json first.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from procman.config.adhoc import AdHoc
from procman.config.envfiles import display_path
from procman.config.load import Source, find_file, load_formation, resolve_start
from procman.config.procfile import DEFAULT_BASE
from procman.counts import CountSpec, cpu_count
from procman.daemon import phases
from procman.errors import ConfigError, Conflict, NotFound, UsageError
from procman.model import Formation


@dataclass(slots=True)
class Plan:
    source: Source
    notes: list[str] = field(default_factory=list)  # what changed, for the user
    counts: dict[str, int] = field(default_factory=dict)  # the new app's count, if given
    every: int | None = None  # -i for every type (not with an app: then it is the app's)
    replaced: list[str] = field(default_factory=list)  # types whose processes must restart


def plan_start(
    project: Path,
    current: Source | None,
    loaded: Formation | None,
    requested: dict[str, Any] | None,
    app: dict[str, Any] | None,
    instances: int | str | None = None,
    force: bool = False,
    replace_file: bool = False,
) -> Plan:
    """current: the source that runs (or that state.json restores); loaded: the formation
    that runs, None in a fresh daemon; instances: `-i`, for the app when one is given."""
    count = None if instances is None else CountSpec.parse(str(instances)).apply(0, cpu_count())
    wanted = Source.from_dict(requested) if requested is not None else None
    current = _usable(current)
    watch = bool(wanted and wanted.watch) or bool(current and current.watch)
    if wanted is not None and replace(wanted, watch=False) == Source():
        wanted = None  # `start --watch` alone: what runs, watched
    if app is not None:
        plan = _add_app(current, loaded, wanted, app, count, force)
    else:
        plan = _switch_file(project, current, loaded, wanted, replace_file)
        plan.every = count
    if watch:  # --watch holds until the daemon shuts down
        plan.source = replace(plan.source, watch=True)
    return plan


def _switch_file(
    project: Path,
    current: Source | None,
    loaded: Formation | None,
    wanted: Source | None,
    replace_file: bool,
) -> Plan:
    if wanted is None:
        return Plan(current or Source())
    if loaded is None or current is None:
        return Plan(replace(wanted, apps=current.apps if current else ()))
    if wanted.procfile is None:  # no file named: env files or a base port for what runs
        settings = {k: getattr(wanted, k) for k in ("env_files", "no_env_file", "port_base")}
        return Plan(replace(current, **settings))
    path = find_file(project, wanted)
    shown = display_path(path, project)
    if current.no_file:
        names = ", ".join(a.name for a in current.apps)
        return Plan(replace(wanted, apps=current.apps), [f"{shown} joins the apps ({names})"])
    if loaded.source == path:
        return Plan(replace(wanted, apps=current.apps))
    running = display_path(loaded.source, project) if loaded.source else "ad-hoc apps"
    if not replace_file:
        raise Conflict(
            f"this project's daemon runs {running} ({', '.join(loaded.names) or 'no types'}); "
            f'"procman start --replace" runs {shown} instead, or "procman shutdown" first'
        )
    notes = [f"{shown} replaces {running}"]
    if current.apps:
        notes.append(f"ad-hoc apps kept: {', '.join(a.name for a in current.apps)}")
    return Plan(replace(wanted, apps=current.apps), notes)


def _add_app(
    current: Source | None,
    loaded: Formation | None,
    wanted: Source | None,
    app: dict[str, Any],
    count: int | None,
    force: bool,
) -> Plan:
    base = current or Source(no_file=True)
    if wanted is not None:  # -e / --no-env-file given with the app: the formation's env
        base = replace(base, env_files=wanted.env_files, no_env_file=wanted.no_env_file)
    name, cmd, port = _app_fields(app)
    old = base.app(name)
    ptype = loaded.get(name) if loaded else None
    if ptype is not None and old is None:
        where = display_path(loaded.source, loaded.root) if loaded and loaded.source else "the file"
        raise Conflict(
            f'"{name}" is a process type of {where}; give the app another --name '
            f"(or change {where} and reload)"
        )
    if old is not None and not force:
        raise Conflict(
            f'an app named "{name}" is already in the formation ({old.cmd}); '
            "--force replaces it, --name picks another name"
        )
    taken = {t.port for t in loaded.types if t.port and t.name != name} if loaded else set()
    taken |= {a.port for a in base.apps if a.port and a.name != name}
    instances = count if count is not None else (old.instances if old else 1)
    entry = AdHoc.create(name, cmd, port, instances, taken, base.port_base or DEFAULT_BASE)
    apps = [entry if a.name == name else a for a in base.apps]
    if old is None:
        apps.append(entry)
    plan = Plan(replace(base, apps=tuple(apps)))
    if count is not None or old is None:
        plan.counts[name] = instances
    if old is not None:
        plan.notes.append(f"replaced {name} (was: {old.cmd})")
        plan.replaced.append(name)
    return plan


def read_words(
    project: Path,
    current: Source | None,
    requested: dict[str, Any] | None,
    words: list[str],
    app: dict[str, Any] | None,
    environ: Mapping[str, str],
) -> tuple[list[str], dict[str, Any] | None]:
    """`procman start WORD`: a word that names a type of the formation is a type (Foreman's
    `start PROCESS`), and only one that names none is the ad-hoc command `app` offers for
    it (`procman start htop`). Returns (types to start, the app to add)."""
    if not words or app is None or words != [app.get("cmd")]:
        return words, app
    source = (
        Source.from_dict(requested) if requested is not None else (_usable(current) or Source())
    )
    try:
        formation = load_formation(project, source, environ)
    except ConfigError:  # no formation file: the word can only be a command
        return [], app
    return (words, None) if formation.get(words[0]) is not None else ([], app)


def without_app(current: Source | None, loaded: Formation, name: str) -> tuple[Source, Formation]:
    """The source and the formation after `procman delete NAME` (nothing is re-read)."""
    if current is None or current.app(name) is None:
        if loaded.get(name) is None:
            known = ", ".join(a.name for a in current.apps) if current else ""
            raise NotFound(f'no ad-hoc app "{name}" (ad-hoc apps: {known or "none"})')
        where = display_path(loaded.source, loaded.root) if loaded.source else "the formation"
        raise Conflict(
            f'"{name}" is a process type of {where}, not an ad-hoc app: remove it there and '
            f'run "procman reload", or "procman scale {name}=0"'
        )
    kept = tuple(t for t in loaded.types if t.name != name)
    apps = tuple(a for a in current.apps if a.name != name)
    return replace(current, apps=apps), replace(loaded, types=kept)


def _usable(source: Source | None) -> Source | None:
    """A source with nothing in it (its last app deleted) means the project's own file."""
    if source is not None and source.no_file and not source.apps:
        return None
    return source


def _app_fields(app: dict[str, Any]) -> tuple[str, str, int | None]:
    unknown = set(app) - {"name", "cmd", "port"}
    if unknown:
        raise UsageError(f"app: unknown key {sorted(unknown)[0]!r} (known: name, cmd, port)")
    name, cmd, port = app.get("name"), app.get("cmd"), app.get("port")
    if not isinstance(name, str) or not isinstance(cmd, str):
        raise UsageError("app: name and cmd must be strings")
    if port is not None and (type(port) is not int or not 1 <= port <= 65535):
        raise UsageError(f"app: port {port!r} is not a port (1-65535)")
    return name, cmd, port


@dataclass(frozen=True, slots=True)
class StartRequest:
    """The `start` method's params."""

    source: dict[str, Any] | None
    counts: dict[str, Any]
    instances: int | str | None
    types: list[str]
    app: dict[str, Any] | None
    force: bool
    replace: bool


def prepare_start(
    project: Path,
    current: Source | None,
    loaded: Formation | None,
    keep: Mapping[str, Any],
    request: StartRequest,
    environ: Mapping[str, str],
) -> tuple[Plan, Formation, list[str] | None, dict[str, int]]:
    """What a start does: (the plan, the formation to install, the types to start (None:
    all), the counts to set). keep: the counts that ran (or that state.json restores)."""
    words, app = read_words(project, current, request.source, request.types, request.app, environ)
    plan = plan_start(
        project, current, loaded, request.source, app, request.instances, request.force,
        request.replace,
    )  # fmt: skip
    formation, only = resolve_start(project, plan.source, words, environ)
    if app is not None:
        only = list(plan.counts) or [app["name"]]
    elif only is not None:  # TYPE=N names a type to start too
        only = list(dict.fromkeys([*only, *request.counts]))
    every = None if app is not None else request.instances
    counts = {**plan.counts, **request.counts}
    return plan, formation, only, phases.wanted_counts(formation, keep, every, counts, only)
