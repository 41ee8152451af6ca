"""Watch mode's decisions, pure: which process types a changed path concerns, and when a
burst of changes has settled enough to act. Paths and times in, "act on web" out; the
watcher (watch.py) feeds it and applies what it decides.

A path counts for a type when it is under one of the type's watched paths and neither the
defaults below nor the type's `ignore:` globs exclude it. A glob without a `/` matches any
part of the path (`tmp` ignores every tmp directory, `*.sqlite` every such file); one with a
`/` matches the path relative to the watched directory (`build/*`, `docs/*.md`).

Debounce: a type is acted on once no change concerning it came for `quiet` seconds, or
`longest` seconds after the first change of the burst, whichever is sooner (so a tool that
writes without pause still gets its reload).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from fnmatch import fnmatchcase

from procman.model import ProcessType

#: Directories whose contents never count (virtualenvs are also found by their pyvenv.cfg).
IGNORED_DIRS = frozenset(
    {".git", ".hg", ".svn", "node_modules", "__pycache__", ".venv", "venv", ".procman"}
    | {".mypy_cache", ".pytest_cache", ".ruff_cache", ".tox", ".nox"}
)
#: File names that never count: log files, bytecode, editors' swap and backup files.
IGNORED_FILES = (
    "*.log", "*.log.[0-9]*", "*.pyc", "*.pyo", "*.swp", "*.swx", "*~", ".#*", "#*#", "4913",
)  # fmt: skip
QUIET = 0.1  # seconds without a change before acting: write -> reload start stays < 300 ms
LONGEST = 1.0  # seconds from a burst's first change to acting, however long it lasts


@dataclass(frozen=True, slots=True)
class WatchRule:
    type: str
    roots: tuple[str, ...]  # absolute, normalised
    ignore: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Decision:
    type: str
    paths: tuple[str, ...]  # what changed (a few, for the log line)
    count: int  # how many different paths changed in the burst

    def what(self, root: str | None = None) -> str:
        """`src/app.py and 3 more changed`, paths shown relative to root where under it."""
        rel = [
            os.path.relpath(p, root) if root and _under(p, root) is not None else p
            for p in self.paths
        ]
        shown = ", ".join(rel)
        more = f" and {self.count - len(self.paths)} more" if self.count > len(self.paths) else ""
        return f"{shown}{more} changed"


@dataclass(slots=True)
class _Burst:
    first: float
    last: float
    paths: list[str] = field(default_factory=list)  # the first few, for the log line
    seen: set[str] = field(default_factory=set)


def _under(path: str, root: str) -> str | None:
    """path relative to root ('' for root itself), or None when it is not under it."""
    if path == root:
        return ""
    if path.startswith(root.rstrip(os.sep) + os.sep):
        return path[len(root.rstrip(os.sep)) + 1 :]
    return None


def _globbed(rel: str, patterns: Iterable[str]) -> bool:
    parts = rel.split(os.sep)
    for pattern in patterns:
        pattern = pattern.strip(os.sep)
        if os.sep in pattern:
            prefixes = (os.sep.join(parts[: i + 1]) for i in range(len(parts)))
            if any(fnmatchcase(p, pattern) for p in prefixes):
                return True
        elif any(fnmatchcase(part, pattern) for part in parts):
            return True
    return False


class WatchPolicy:
    def __init__(
        self, rules: Iterable[WatchRule], quiet: float = QUIET, longest: float = LONGEST
    ) -> None:
        self.rules = tuple(rules)
        self.quiet, self.longest = quiet, max(longest, quiet)
        # directories nothing under counts, beyond IGNORED_DIRS: virtualenvs (found by their
        # pyvenv.cfg), the daemon's own state and logs wherever PROCMAN_HOME puts them
        self.skipped: set[str] = set()
        self._bursts: dict[str, _Burst] = {}

    @property
    def roots(self) -> list[str]:
        return sorted({root for rule in self.rules for root in rule.roots})

    def ignored(self, path: str, rule: WatchRule) -> bool:
        """True when `path` is not one `rule` watches, or one it ignores."""
        for root in rule.roots:
            rel = _under(path, root)
            if rel is None:
                continue
            if any(_under(path, skip) is not None for skip in self.skipped):
                return True
            return bool(rel) and (
                any(part in IGNORED_DIRS for part in rel.split(os.sep))
                or any(fnmatchcase(os.path.basename(rel), p) for p in IGNORED_FILES)
                or _globbed(rel, rule.ignore)
            )
        return True

    def concerns(self, path: str) -> list[str]:
        """The types a change of `path` is for."""
        return [rule.type for rule in self.rules if not self.ignored(path, rule)]

    def prunes(self, directory: str) -> bool:
        """Nothing under `directory` can count for any type: the watcher need not look."""
        return not self.concerns(directory)

    def changed(self, paths: Iterable[str], now: float) -> list[str]:
        """Record changes seen at `now`; returns the types they concern."""
        touched: list[str] = []
        for path in paths:
            for name in self.concerns(path):
                burst = self._bursts.get(name)
                if burst is None:
                    burst = self._bursts[name] = _Burst(first=now, last=now)
                    touched.append(name)
                burst.last = now
                if path not in burst.seen and len(burst.paths) < 3:
                    burst.paths.append(path)
                burst.seen.add(path)
        return touched

    def deadline(self) -> float | None:
        """When due() next has something to say, or None when nothing is pending."""
        if not self._bursts:
            return None
        return min(min(b.last + self.quiet, b.first + self.longest) for b in self._bursts.values())

    def due(self, now: float) -> list[Decision]:
        """The types whose burst has settled (or lasted long enough) by `now`."""
        ready = [
            name
            for name, b in self._bursts.items()
            if now >= b.last + self.quiet or now >= b.first + self.longest
        ]
        decisions = []
        for name in ready:
            burst = self._bursts.pop(name)
            decisions.append(Decision(name, tuple(burst.paths), len(burst.seen)))
        return decisions


def rules_of(types: Iterable[ProcessType]) -> list[WatchRule]:
    """One rule per process type that watches something."""
    return [
        WatchRule(t.name, tuple(os.path.normpath(p) for p in t.watch), t.ignore)
        for t in types
        if t.watch
    ]
