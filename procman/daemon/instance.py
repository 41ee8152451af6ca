"""One instance's state machine. No OS calls: it drives a Spawner and a Timers object.

The supervisor owns instances and calls start/stop/restart; the reaper calls exited();
readiness calls mark_ready() or not_ready(). Every state change goes through _move(), which
checks ALLOWED and tells the owner through on_change.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from typing import Any, Protocol

from procman.errors import SpawnError
from procman.model import InstanceId, InstanceState, ProcessType, RestartPolicy

ALLOWED: dict[InstanceState, frozenset[InstanceState]] = {
    InstanceState.STOPPED: frozenset({InstanceState.STARTING, InstanceState.ERRORED}),
    InstanceState.STARTING: frozenset(
        {
            InstanceState.RUNNING,
            InstanceState.STARTING,
            InstanceState.STOPPING,
            InstanceState.BACKOFF,
            InstanceState.EXITED,
            InstanceState.ERRORED,
        }
    ),
    InstanceState.RUNNING: frozenset(
        {
            InstanceState.STARTING,
            InstanceState.STOPPING,
            InstanceState.BACKOFF,
            InstanceState.EXITED,
            InstanceState.ERRORED,
        }
    ),
    InstanceState.BACKOFF: frozenset(
        {InstanceState.STARTING, InstanceState.STOPPED, InstanceState.ERRORED}
    ),
    InstanceState.STOPPING: frozenset({InstanceState.STOPPED}),
    InstanceState.EXITED: frozenset(
        {InstanceState.STARTING, InstanceState.STOPPED, InstanceState.ERRORED}
    ),
    InstanceState.ERRORED: frozenset(
        {InstanceState.STARTING, InstanceState.STOPPED, InstanceState.ERRORED}
    ),
}

BACKOFF_FIRST = 0.1
BACKOFF_CAP = 30.0


def backoff_delay(crashes_in_row: int) -> float:
    """No wait after the first early exit (a first crash restarts at once, as PM2, supervisord
    and Kubernetes do); 0.1 s after the second in a row, doubling with each one more,
    capped at 30 s."""
    if crashes_in_row < 2:
        return 0.0
    return min(BACKOFF_FIRST * 2 ** (crashes_in_row - 2), BACKOFF_CAP)


class TimerHandle(Protocol):
    def cancel(self) -> None: ...


class Timers(Protocol):
    def call_later(self, delay: float, callback: Callable[[], Any]) -> TimerHandle: ...


class Spawner(Protocol):
    def spawn(self, instance: Instance) -> int:
        """Start the instance's process in its own session; return its pid or raise SpawnError."""

    def kill_group(self, pid: int, sig: int) -> None:
        """Send sig to the process group led by pid; a gone group is not an error."""


class InvalidTransition(RuntimeError):
    pass


class Instance:
    def __init__(
        self,
        ptype: ProcessType,
        index: int,
        *,
        spawner: Spawner,
        timers: Timers,
        clock: Callable[[], float],
        on_change: Callable[[Instance, InstanceState], None] = lambda i, old: None,
    ) -> None:
        self.ptype = ptype
        self.id = InstanceId(ptype.name, index)
        self.spawner, self.timers, self.clock, self.on_change = spawner, timers, clock, on_change
        self.state = InstanceState.STOPPED
        self.pid: int | None = None
        self.started_at: float | None = None
        self.restarts = 0
        self.crashes_in_row = 0
        self.exit_code: int | None = None
        self.reason: str | None = None
        self.status_text: str | None = None  # from sd_notify STATUS=
        self.port_conflict: dict[str, Any] | None = None  # its port was taken (conflicts.py)
        # Facts the daemon's parts keep about this instance, here so each has one owner:
        self.replacement = False  # a reload's new process, not yet serving its slot: never
        # restarted (its exit fails the reload) and kept out of the port's traffic
        self.draining = False  # steered around while it accepts what its listener queued
        self.listener: Any = None  # the held socket its process got on fd 3, if any
        self.notified: Any = None  # readiness: an asyncio.Event set by READY=1 (notify types)
        self.probe: Any = None  # readiness: the task checking this process, if one runs
        self.launched: Any = None  # launcher: what the current (or last) process started with
        self._timer: TimerHandle | None = None
        self._start_after_stop = False
        self._crash_on_exit = False  # a stop we asked for because the instance failed

    @property
    def index(self) -> int:
        return self.id.index

    @property
    def live(self) -> bool:
        return self.pid is not None

    def uptime(self) -> float | None:
        if self.pid is None or self.started_at is None:
            return None
        return max(0.0, self.clock() - self.started_at)

    # -- commands from the supervisor -------------------------------------------------

    def start(self) -> None:
        """Bring the instance up; clears errored/exited and the crash count."""
        if self.state == InstanceState.STOPPING:
            self._start_after_stop = True
            return
        if self.state in (InstanceState.STARTING, InstanceState.RUNNING):
            return
        self._cancel_timer()
        self.crashes_in_row = 0
        self.reason = None  # asked for: an old failure no longer explains the state
        self.port_conflict = None
        self._spawn()

    def stop(self) -> None:
        """stop_signal (SIGTERM) to the group now, SIGKILL after kill_timeout; no restart."""
        self._start_after_stop = False
        if self.state == InstanceState.BACKOFF:
            self._cancel_timer()
            self._move(InstanceState.STOPPED)
        elif self.state in (InstanceState.EXITED, InstanceState.ERRORED):
            self._move(InstanceState.STOPPED)
        elif self.state in (InstanceState.STARTING, InstanceState.RUNNING):
            self._terminate()
            self._move(InstanceState.STOPPING)

    def restart(self) -> None:
        if self.state in (InstanceState.STARTING, InstanceState.RUNNING, InstanceState.STOPPING):
            self.stop()
            self._start_after_stop = True
            self.reason = None
        else:
            self.start()

    def memory_restart(self, reason: str) -> None:
        """Past max_memory: a graceful restart, the reason kept for status."""
        self.restart()
        self.reason = reason
        self.restarts += 1

    def mark_ready(self, pid: int) -> None:
        if self.state == InstanceState.STARTING and self.pid == pid:
            self._move(InstanceState.RUNNING)

    def not_ready(self, pid: int, reason: str) -> None:
        """Readiness failed: stop the process and count its exit as a crash."""
        if self.state == InstanceState.STARTING and self.pid == pid:
            self.reason = reason
            self._crash_on_exit = True
            self._terminate()

    # -- facts from the reaper --------------------------------------------------------

    def exited(self, pid: int, code: int) -> None:
        """The process we spawned is gone (code < 0 means killed by signal -code)."""
        if pid != self.pid:
            return
        uptime = self.uptime() or 0.0
        ready = self.state == InstanceState.RUNNING  # this process got ready at some point
        self.pid = None
        self.exit_code = code
        self._cancel_timer()
        # Whatever the instance left in its process group goes with it: nothing unsupervised.
        self.spawner.kill_group(pid, signal.SIGKILL)
        if self.state == InstanceState.STOPPING:
            self._crash_on_exit = False
            self._move(InstanceState.STOPPED)
            if self._start_after_stop:
                self._start_after_stop = False
                self.crashes_in_row = 0
                self._spawn()
            return
        crash = self._crash_on_exit
        self._crash_on_exit = False
        if not crash:
            self.reason = describe_exit(code)
            if not ready and self.ptype.ready.kind != "none":
                self.reason += f" before it was ready (ready: {self.ptype.ready})"
        if self.replacement:  # a reload's new process is never restarted: the reload failed
            self._move(InstanceState.ERRORED)
            return
        policy = self.ptype.restart
        if not crash and (
            policy == RestartPolicy.NEVER or (policy == RestartPolicy.ON_FAILURE and code == 0)
        ):
            self._move(InstanceState.EXITED if code == 0 else InstanceState.ERRORED)
            return
        # early: within min_uptime, or before it was ever ready, however long that took
        if not crash and ready and uptime >= self.ptype.min_uptime:
            self.crashes_in_row = 0
            self.restarts += 1
            self._spawn()
            return
        self.crashes_in_row += 1
        if self.crashes_in_row >= self.ptype.max_restarts:
            self.reason = (
                f"{self.reason}; gave up after {self.crashes_in_row} early exits in a row "
                f"(min_uptime {self.ptype.min_uptime:g}s)"
            )
            self._move(InstanceState.ERRORED)
            return
        delay = backoff_delay(self.crashes_in_row)
        if delay <= 0:  # the first early exit: at once
            self.restarts += 1
            self._spawn()
            return
        self._move(InstanceState.BACKOFF)
        self._timer = self.timers.call_later(delay, self._restart_from_backoff)

    # -- a daemon update (handover.py carries instances across the exec) ---------------

    def timer_due(self) -> float | None:
        """When the pending back-off or SIGKILL timer fires, on the timers' clock."""
        when = getattr(self._timer, "when", None)
        return when() if when is not None else None

    def resume_timer(self, delay: float) -> None:
        """In the new image: re-arm the timer the old one had pending (every kind of timer
        an instance can have must be told apart here)."""
        if self.state == InstanceState.BACKOFF:
            self._timer = self.timers.call_later(delay, self._restart_from_backoff)
        elif self.pid is not None:
            pid = self.pid
            self._timer = self.timers.call_later(delay, lambda: self._kill(pid))

    # -- internals --------------------------------------------------------------------

    def _restart_from_backoff(self) -> None:
        self._timer = None
        if self.state == InstanceState.BACKOFF:
            self.restarts += 1
            self._spawn()

    def _spawn(self) -> None:
        self.status_text = None
        self._crash_on_exit = False
        try:
            pid = self.spawner.spawn(self)
        except SpawnError as exc:
            self.pid = None
            self.reason = str(exc)
            self.exit_code = None
            self._move(InstanceState.ERRORED)
            return
        self.pid = pid
        self.started_at = self.clock()
        self._move(InstanceState.STARTING)

    def _terminate(self) -> None:
        if self.pid is None:
            return
        self.spawner.kill_group(self.pid, self.ptype.stop_signal)  # SIGTERM unless stop_signal
        self._cancel_timer()
        pid = self.pid
        self._timer = self.timers.call_later(self.ptype.kill_timeout, lambda: self._kill(pid))

    def _kill(self, pid: int) -> None:
        self._timer = None
        if self.pid == pid:
            self.spawner.kill_group(pid, signal.SIGKILL)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _move(self, new: InstanceState) -> None:
        old = self.state
        if new not in ALLOWED[old]:
            raise InvalidTransition(f"{self.id}: {old.value} -> {new.value}")
        self.state = new
        self.on_change(self, old)


def describe_exit(code: int) -> str:
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"killed by {name}"
    return f"exited with code {code}"
