"""Start-up order: which process types wait for which, as waves to start and to stop.

Two sources of edges: procman.yaml's `after: [TYPE, ...]`, and Heroku's release phase, the
implicit case: a type named `release` comes before every other type, except those it waits
for itself (`release: {after: [db]}` runs the migration once the database is up, and the
rest after the migration). A wave is the types whose dependencies are all in earlier waves,
in file order; stop goes through the waves backwards. Pure and stdlib only: the loader
checks for cycles with it, `check` prints it, the daemon applies it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from procman.model import ProcessType

RELEASE = "release"

Deps = dict[str, tuple[str, ...]]


def explicit(types: Sequence[ProcessType]) -> Deps:
    """Each type's `after:` names that are types of the formation."""
    names = {t.name for t in types}
    return {t.name: tuple(n for n in t.after if n in names and n != t.name) for t in types}


def dependencies(types: Sequence[ProcessType]) -> Deps:
    """`after:` plus the release phase: every type that release does not wait for (even
    through others) waits for release."""
    deps = explicit(types)
    if RELEASE not in deps:
        return deps
    before_release = reachable(deps, RELEASE)
    for name, after in deps.items():
        if name != RELEASE and name not in before_release and RELEASE not in after:
            deps[name] = (*after, RELEASE)
    return deps


def reachable(deps: Mapping[str, Iterable[str]], start: str) -> set[str]:
    """Every type `start` waits for, directly or through others."""
    seen: set[str] = set()
    todo = list(deps.get(start, ()))
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(deps.get(name, ()))
    return seen


def find_cycle(deps: Mapping[str, Sequence[str]]) -> list[str] | None:
    """A cycle as [a, b, ..., a] (a waits for b, ...), the first one in file order; else None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(name: str) -> list[str] | None:
        state[name] = 1
        path.append(name)
        for dep in deps.get(name, ()):
            if state.get(dep) == 1:
                return [*path[path.index(dep) :], dep]
            if dep in deps and dep not in state:
                found = visit(dep)
                if found:
                    return found
        path.pop()
        state[name] = 2
        return None

    for name in deps:
        if name not in state:
            found = visit(name)
            if found:
                return found
    return None


def waves(deps: Mapping[str, Sequence[str]], only: Iterable[str] | None = None) -> list[list[str]]:
    """The start waves: each one's types wait only for types of earlier waves. With `only`,
    the graph is cut down to those types (a dependency outside the set is not waited for).
    A cycle (the loader refuses one) would leave its types out: they go in a last wave."""
    keep = list(deps) if only is None else [n for n in deps if n in set(only)]
    members = set(keep)
    pending = {n: {d for d in deps[n] if d in members} for n in keep}
    out: list[list[str]] = []
    while pending:
        wave = [n for n in keep if n in pending and not pending[n]]
        if not wave:
            out.append([n for n in keep if n in pending])
            break
        out.append(wave)
        for name in wave:
            del pending[name]
        for left in pending.values():
            left.difference_update(wave)
    return out


def start_waves(types: Sequence[ProcessType], only: Iterable[str] | None = None) -> list[list[str]]:
    return waves(dependencies(types), only)


def stop_waves(types: Sequence[ProcessType], only: Iterable[str] | None = None) -> list[list[str]]:
    """The start waves backwards: what started last stops first."""
    return list(reversed(start_waves(types, only)))
