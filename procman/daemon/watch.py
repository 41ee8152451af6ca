"""Watch mode: one watcher per daemon over the paths every type watches; decisions from
watchpolicy.py, applied through the supervisor's reload or restart (refresh.py).

Two parts, and both wait on the kernel, so an unchanging tree costs the daemon nothing:
- watchfiles' Rust watcher (RustNotify: the notify crate on inotify, in a thread of its own
  that sleeps in epoll) holds a watch on every directory that can matter and collects what
  changed. Reading that set means calling its watch(), which polls every `step` ms until the
  set is quiet: about 20 wakeups a second if it ran all the time (measured, docs/benchmarks.md).
- So it runs only after the doorbell rings: an inotify descriptor of the daemon's own, on
  the loop beside the control socket, watching the same directories. A ring runs one
  watch() in a worker thread (it returns ~20 ms after the change), the policy debounces on
  a loop timer, and the timer's decisions go to `act`.
Directories nothing can count in (.git, node_modules, virtualenvs, ignore: globs, ...) are
never watched by either part; a directory created later is added to both.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import threading
from collections.abc import Callable, Iterable
from typing import Any

from procman.daemon.inotify import (
    CHANGES,
    IN_CREATE,
    IN_IGNORED,
    IN_ISDIR,
    IN_MOVED_TO,
    IN_ONLYDIR,
    IN_Q_OVERFLOW,
    Inotify,
)
from procman.daemon.watchpolicy import LONGEST, QUIET, WatchPolicy, WatchRule, rules_of
from procman.model import ProcessType

log = logging.getLogger("procman.watch")

STEP_MS = 10  # watch(): the set is read when it did not grow for one step
GROUP_MS = 50  # watch(): and at the latest this long after its first change
TIMEOUT_MS = 500  # watch(): the doorbell rang but watchfiles saw nothing (yet): give up

Act = Callable[[str, str], None]  # (type, why): reload or restart it


class Watcher:
    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        act: Act,
        say: Callable[[str], None],
        *,
        root: str | None = None,
        skip: Iterable[str] = (),
        clock: Callable[[], float] | None = None,
        quiet: float = QUIET,
        longest: float = LONGEST,
    ) -> None:
        self.loop, self.act, self.say, self.root = loop, act, say, root
        self.skip = [os.path.normpath(p) for p in skip]  # never watched (the daemon's home)
        self.clock = clock or loop.time
        self.quiet, self.longest = quiet, longest
        self.rules: tuple[WatchRule, ...] = ()
        self.policy = WatchPolicy(())
        self.dirs: dict[int, str] = {}  # doorbell wd -> directory
        self._bell: Inotify | None = None
        self._rust: Any = None  # watchfiles' RustNotify
        self._stop = threading.Event()
        self._rang = self._stale = False
        self._task: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None

    @property
    def watching(self) -> bool:
        return self._bell is not None

    def update(self, types: Iterable[ProcessType]) -> None:
        """Watch what these types ask for (a re-read formation); nothing when unchanged."""
        rules = tuple(rules_of(types))
        if rules == self.rules:
            return
        self.close()
        self.rules = rules
        if not rules:
            return
        try:
            self._open()
        except (OSError, ImportError, AttributeError) as exc:  # no inotify: not Linux
            self.close()
            self.say(f"watch: cannot watch {', '.join(r.type for r in rules)}: {exc}")
            return
        names = ", ".join(r.type for r in rules)
        count = len(self.dirs)
        self.say(f"watch: {names} ({count} director{'y' if count == 1 else 'ies'} watched)")

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._bell is not None:
            self.loop.remove_reader(self._bell.fd)
            self._bell.close()
            self._bell = None
        self._stop.set()  # a watch() in the worker thread returns within a step
        if self._task is None:
            self._close_rust()
        else:  # the collector closes it once its watch() has returned
            self._rust, self._task = None, None
        self.rules, self.dirs = (), {}

    # -- the two watchers -----------------------------------------------------------------

    def _open(self) -> None:
        self.policy = WatchPolicy(self.rules, self.quiet, self.longest)
        self.policy.skipped.update(self.skip)
        self._stop = threading.Event()
        self._bell = Inotify()
        for root in self.policy.roots:
            if not os.path.isdir(root):  # a watched file: its directory, not recursively
                self._add_dir(os.path.dirname(root) or "/")
            else:
                self._add_tree(root)
        self._rust = self._new_rust()
        self.loop.add_reader(self._bell.fd, self._on_bell)

    def _new_rust(self) -> Any:
        from watchfiles._rust_notify import RustNotify  # only for a daemon that watches

        paths = sorted(set(self.dirs.values()) | set(self.policy.roots))
        return RustNotify(paths, False, False, 300, False, True)

    def _close_rust(self) -> None:
        if self._rust is not None:
            self._rust.close()
            self._rust = None

    def _add_dir(self, directory: str) -> bool:
        assert self._bell is not None
        try:
            self.dirs[self._bell.add(directory, CHANGES | IN_ONLYDIR)] = directory
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                raise OSError(
                    exc.errno, "out of inotify watches (raise fs.inotify.max_user_watches)"
                ) from None
            return False  # gone already, or not ours to read
        return True

    def _add_tree(self, top: str) -> bool:
        """Watch top and every directory under it that can matter; True if any was new."""
        added = False
        for here, subdirs, files in os.walk(top):
            if "pyvenv.cfg" in files:  # a virtualenv, whatever its name
                self.policy.skipped.add(here)
                subdirs.clear()
                continue
            added = self._add_dir(here) or added
            subdirs[:] = [d for d in subdirs if not self.policy.prunes(os.path.join(here, d))]
        return added

    # -- a change -------------------------------------------------------------------------

    def _on_bell(self) -> None:
        """Readable doorbell: ring when a path that counts changed; add new directories."""
        assert self._bell is not None
        ring = False
        for wd, mask, name in self._bell.read():
            if mask & IN_Q_OVERFLOW:  # the kernel dropped events: assume everything changed
                self.policy.changed([p for r in self.rules for p in r.roots[:1]], self.clock())
                ring = True
                continue
            directory = self.dirs.get(wd)
            if mask & IN_IGNORED:
                self.dirs.pop(wd, None)
                continue
            if directory is None:
                continue
            path = os.path.join(directory, name) if name else directory
            if name == "pyvenv.cfg" and mask & IN_CREATE:  # a virtualenv being made
                self.policy.skipped.add(directory)
            new_dir = mask & IN_ISDIR and mask & (IN_CREATE | IN_MOVED_TO)
            if new_dir and not self.policy.prunes(path) and self._add_tree(path):
                self._stale = True  # watchfiles needs the new directories too
            ring = ring or bool(self.policy.concerns(path))
        if ring:
            self._rang = True
            if self._task is None:
                self._task = self.loop.create_task(self._collect(self._stop))

    async def _collect(self, stop: threading.Event) -> None:
        """Ask watchfiles what changed, as long as the doorbell keeps ringing."""
        try:
            while self._rang and not stop.is_set():
                self._rang = False
                rust = self._rust
                if self._stale:  # the new watcher first, so nothing falls between the two
                    self._stale = False
                    self._rust = self._new_rust()
                result = await self.loop.run_in_executor(
                    None, rust.watch, GROUP_MS, STEP_MS, TIMEOUT_MS, stop
                )
                if rust is not self._rust:  # replaced, or the watcher was closed meanwhile
                    rust.close()
                if isinstance(result, set) and not stop.is_set():
                    self.policy.changed([path for _change, path in result], self.clock())
                    self._arm()
        except Exception:
            log.exception("watch: reading the changes failed")
        finally:
            if self._task is asyncio.current_task():
                self._task = None

    def _arm(self) -> None:
        deadline = self.policy.deadline()
        if deadline is None or self._bell is None:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self.loop.call_later(max(0.0, deadline - self.clock()), self._fire)

    def _fire(self) -> None:
        self._timer = None
        for decision in self.policy.due(self.clock()):
            try:
                self.act(decision.type, f"watch: {decision.what(self.root)}")
            except Exception:
                log.exception("watch: acting on %s failed", decision.type)
        self._arm()
