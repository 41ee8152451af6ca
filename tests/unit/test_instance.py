"""Instance state machine on a fake clock, a fake spawner and hand-fired fake timers."""

from __future__ import annotations

import itertools
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from procman.daemon.instance import (
    ALLOWED,
    BACKOFF_CAP,
    Instance,
    InvalidTransition,
    backoff_delay,
    describe_exit,
)
from procman.errors import SpawnError
from procman.model import InstanceState, ProcessType, ReadyCheck, RestartPolicy

S = InstanceState
TERM, KILL = signal.SIGTERM, signal.SIGKILL


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass(eq=False)
class FakeHandle:
    delay: float
    callback: Callable[[], Any]
    cancelled: bool = False
    fired: bool = False

    def cancel(self) -> None:
        self.cancelled = True

    def fire(self) -> None:
        """Run the callback the way the loop would (even a cancelled one, to model a race)."""
        self.fired = True
        self.callback()


@dataclass
class FakeTimers:
    handles: list[FakeHandle] = field(default_factory=list)

    def call_later(self, delay: float, callback: Callable[[], Any]) -> FakeHandle:
        handle = FakeHandle(delay, callback)
        self.handles.append(handle)
        return handle

    @property
    def pending(self) -> list[FakeHandle]:
        return [h for h in self.handles if not h.cancelled and not h.fired]

    def only_pending(self) -> FakeHandle:
        pending = self.pending
        assert len(pending) == 1, pending
        return pending[0]


@dataclass
class FakeSpawner:
    spawned: list[int] = field(default_factory=list)
    kills: list[tuple[int, int]] = field(default_factory=list)
    fail: str | None = None  # message of the SpawnError to raise
    _pids: itertools.count = field(default_factory=lambda: itertools.count(101))

    def spawn(self, instance: Instance) -> int:
        if self.fail is not None:
            raise SpawnError(self.fail)
        pid = next(self._pids)
        self.spawned.append(pid)
        return pid

    def kill_group(self, pid: int, sig: int) -> None:
        self.kills.append((pid, sig))


@dataclass
class World:
    clock: FakeClock
    timers: FakeTimers
    spawner: FakeSpawner
    changes: list[tuple[InstanceState, InstanceState]] = field(default_factory=list)

    def make(self, **kwargs: Any) -> Instance:
        kwargs.setdefault("min_uptime", 5.0)
        kwargs.setdefault("max_restarts", 10)
        kwargs.setdefault("kill_timeout", 3.0)
        ptype = ProcessType(name="web", cmd="server", **kwargs)
        inst: Instance | None = None

        def on_change(changed: Instance, old: InstanceState) -> None:
            assert changed is inst
            assert old in ALLOWED and changed.state in ALLOWED[old]
            self.changes.append((old, changed.state))

        inst = Instance(
            ptype,
            0,
            spawner=self.spawner,
            timers=self.timers,
            clock=self.clock,
            on_change=on_change,
        )
        return inst

    def running(self, **kwargs: Any) -> Instance:
        inst = self.make(**kwargs)
        inst.start()
        assert inst.pid is not None
        inst.mark_ready(inst.pid)
        assert inst.state == S.RUNNING
        self.changes.clear()
        return inst


@pytest.fixture
def world() -> World:
    return World(FakeClock(), FakeTimers(), FakeSpawner())


def crash(world: World, inst: Instance, code: int = 1, after: float = 0.5) -> int:
    """Let the current process live `after` seconds, then exit with `code`; return its pid."""
    pid = inst.pid
    assert pid is not None
    world.clock.advance(after)
    inst.exited(pid, code)
    return pid


def into_backoff(world: World, inst: Instance, code: int = 1) -> None:
    """Two early exits in a row: the first restarts at once, the second backs off."""
    crash(world, inst, code)
    assert inst.state == S.STARTING and world.timers.pending == []
    crash(world, inst, code)
    assert inst.state == S.BACKOFF


# -- start / ready ---------------------------------------------------------------------


def test_new_instance_is_stopped(world: World) -> None:
    inst = world.make()
    assert str(inst.id) == "web.1"
    assert inst.index == 0
    assert inst.state == S.STOPPED
    assert inst.pid is None and not inst.live
    assert inst.uptime() is None
    assert inst.restarts == 0
    assert world.spawner.spawned == [] and world.changes == []


def test_start_spawns_and_moves_to_starting(world: World) -> None:
    inst = world.make()
    inst.start()
    assert world.spawner.spawned == [101]
    assert inst.pid == 101 and inst.live
    assert inst.state == S.STARTING
    assert inst.started_at == world.clock.now
    assert world.changes == [(S.STOPPED, S.STARTING)]
    assert world.timers.handles == []


def test_mark_ready_moves_to_running(world: World) -> None:
    inst = world.make()
    inst.start()
    inst.mark_ready(101)
    assert inst.state == S.RUNNING
    assert world.changes == [(S.STOPPED, S.STARTING), (S.STARTING, S.RUNNING)]
    inst.mark_ready(101)  # a second ready signal changes nothing
    assert len(world.changes) == 2


def test_mark_ready_with_another_pid_is_ignored(world: World) -> None:
    inst = world.make()
    inst.start()
    inst.mark_ready(999)
    assert inst.state == S.STARTING


@pytest.mark.parametrize("ready", [False, True])
def test_start_while_up_does_nothing(world: World, ready: bool) -> None:
    inst = world.running() if ready else world.make()
    if not ready:
        inst.start()
        world.changes.clear()
    inst.start()
    assert world.spawner.spawned == [101]
    assert world.changes == []


def test_uptime_follows_the_clock(world: World) -> None:
    inst = world.make()
    inst.start()
    assert inst.uptime() == 0.0
    world.clock.advance(2.5)
    assert inst.uptime() == 2.5
    world.clock.now -= 10  # a clock that steps back never gives a negative uptime
    assert inst.uptime() == 0.0
    world.clock.advance(20)
    inst.stop()
    inst.exited(101, -15)
    assert inst.uptime() is None


# -- exits and restarts ----------------------------------------------------------------


@pytest.mark.parametrize("after", [5.0, 60.0])
def test_exit_after_min_uptime_restarts_at_once(world: World, after: float) -> None:
    inst = world.running()
    old = crash(world, inst, code=1, after=after)
    assert world.spawner.kills == [(old, KILL)]
    assert world.spawner.spawned == [101, 102]
    assert inst.pid == 102
    assert inst.state == S.STARTING
    assert inst.restarts == 1
    assert inst.crashes_in_row == 0
    assert inst.exit_code == 1
    assert inst.reason == "exited with code 1"
    assert inst.started_at == world.clock.now
    assert world.timers.handles == []
    assert world.changes == [(S.RUNNING, S.STARTING)]


@pytest.mark.parametrize("ready", ["notify", "port", "http:/"])
def test_an_exit_before_ready_is_early_whatever_the_uptime(world: World, ready: str) -> None:
    # the issue's `sleep 6; exit 1`: up past min_uptime, never ready. It used to be
    # "restarted at once" every time and never counted toward max_restarts.
    inst = world.make(ready=ReadyCheck.parse(ready), port=8000, max_restarts=3)
    inst.start()
    crash(world, inst, code=1, after=6)
    assert inst.crashes_in_row == 1
    assert inst.reason == f"exited with code 1 before it was ready (ready: {ready})"
    assert inst.state == S.STARTING and inst.pid == 102  # the first one: at once
    crash(world, inst, code=1, after=6)
    assert inst.state == S.BACKOFF and inst.crashes_in_row == 2
    world.timers.only_pending().fire()
    crash(world, inst, code=1, after=600)
    assert inst.state == S.ERRORED
    assert inst.reason is not None and "gave up after 3 early exits in a row" in inst.reason


def test_a_ready_instance_that_ran_past_min_uptime_resets_the_count(world: World) -> None:
    inst = world.make(ready=ReadyCheck.parse("notify"))
    inst.start()
    crash(world, inst, code=1, after=1)
    assert inst.crashes_in_row == 1
    inst.mark_ready(102)
    crash(world, inst, code=1, after=6)
    assert inst.crashes_in_row == 0 and inst.state == S.STARTING
    assert inst.reason == "exited with code 1"  # it had been ready


def test_first_early_exit_restarts_at_once_then_back_off_doubles(world: World) -> None:
    inst = world.running(max_restarts=100)
    first = crash(world, inst, code=2, after=1.0)  # SIGKILLed after 1 s, say
    assert world.spawner.kills[-1] == (first, KILL)
    assert inst.state == S.STARTING and inst.pid == 102
    assert inst.crashes_in_row == 1 and inst.restarts == 1
    assert world.timers.handles == []
    assert world.changes[-1] == (S.RUNNING, S.STARTING)
    delays = []
    for n in range(2, 8):
        pid = crash(world, inst, code=2, after=0.2)
        assert world.spawner.kills[-1] == (pid, KILL)
        assert inst.state == S.BACKOFF
        assert inst.pid is None
        assert inst.crashes_in_row == n
        assert inst.restarts == n - 1
        assert world.spawner.spawned[-1] == pid  # nothing spawned before the timer fires
        handle = world.timers.only_pending()
        delays.append(handle.delay)
        handle.fire()
        assert inst.state == S.STARTING
        assert inst.pid == world.spawner.spawned[-1] != pid
        assert inst.restarts == n
    assert delays == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.6, 3.2])


@pytest.mark.parametrize(
    ("crashes", "delay"),
    [(0, 0.0), (1, 0.0), (2, 0.1), (3, 0.2), (4, 0.4), (10, 25.6), (11, 30.0), (12, 30.0)],
)
def test_backoff_delay(crashes: int, delay: float) -> None:
    assert backoff_delay(crashes) == pytest.approx(delay)


def test_backoff_delay_is_capped_even_far_out() -> None:
    assert BACKOFF_CAP == 30.0
    assert backoff_delay(1000) == 30.0


def test_max_restarts_early_exits_in_a_row_give_up(world: World) -> None:
    inst = world.running(max_restarts=3)
    crash(world, inst, code=3)  # at once
    crash(world, inst, code=3)
    world.timers.only_pending().fire()
    pid = crash(world, inst, code=3)
    assert inst.state == S.ERRORED
    assert inst.pid is None
    assert inst.exit_code == 3
    assert inst.reason is not None
    assert inst.reason.startswith("exited with code 3")
    assert "gave up after 3 early exits in a row (min_uptime 5s)" in inst.reason
    assert world.spawner.kills[-1] == (pid, KILL)
    assert world.timers.pending == []
    assert len(world.spawner.spawned) == 3
    assert world.changes[-1] == (S.STARTING, S.ERRORED)


def test_give_up_reason_names_a_signal(world: World) -> None:
    inst = world.running(max_restarts=1)
    crash(world, inst, code=-int(signal.SIGSEGV))
    assert inst.state == S.ERRORED
    assert inst.reason is not None and inst.reason.startswith("killed by SIGSEGV")


def test_a_long_run_resets_the_crash_count(world: World) -> None:
    inst = world.running(max_restarts=4)
    into_backoff(world, inst)
    world.timers.only_pending().fire()
    assert inst.crashes_in_row == 2
    inst.mark_ready(inst.pid or 0)
    crash(world, inst, after=10)  # ready and up long enough: restarted at once, count reset
    assert inst.state == S.STARTING and inst.crashes_in_row == 0
    crash(world, inst)
    assert inst.state == S.STARTING  # a first early exit again: at once
    crash(world, inst)
    assert inst.state == S.BACKOFF
    assert world.timers.only_pending().delay == pytest.approx(0.1)


# -- restart policies ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "state", "reason"),
    [
        (0, S.EXITED, "exited with code 0"),
        (1, S.ERRORED, "exited with code 1"),
        (-9, S.ERRORED, "killed by SIGKILL"),
    ],
)
@pytest.mark.parametrize("after", [0.1, 60.0])
def test_policy_never_does_not_restart(
    world: World, code: int, state: InstanceState, reason: str, after: float
) -> None:
    inst = world.running(restart=RestartPolicy.NEVER)
    pid = crash(world, inst, code=code, after=after)
    assert inst.state == state
    assert inst.reason == reason
    assert inst.exit_code == code
    assert inst.pid is None
    assert world.spawner.spawned == [pid]
    assert world.spawner.kills == [(pid, KILL)]
    assert world.timers.handles == []
    assert inst.restarts == 0


@pytest.mark.parametrize("after", [0.1, 60.0])
def test_policy_on_failure_clean_exit_is_exited(world: World, after: float) -> None:
    inst = world.running(restart=RestartPolicy.ON_FAILURE)
    crash(world, inst, code=0, after=after)
    assert inst.state == S.EXITED
    assert inst.reason == "exited with code 0"
    assert len(world.spawner.spawned) == 1


def test_policy_on_failure_restarts_a_failure(world: World) -> None:
    inst = world.running(restart=RestartPolicy.ON_FAILURE)
    crash(world, inst, code=1, after=60)
    assert inst.state == S.STARTING and inst.restarts == 1
    inst.mark_ready(102)
    crash(world, inst, code=-15, after=0.1)
    assert inst.state == S.STARTING and inst.restarts == 2
    crash(world, inst, code=-15, after=0.1)
    assert inst.state == S.BACKOFF
    assert inst.reason == "killed by SIGTERM"
    world.timers.only_pending().fire()
    assert inst.state == S.STARTING and inst.restarts == 3


def test_policy_always_restarts_a_clean_exit(world: World) -> None:
    inst = world.running(restart=RestartPolicy.ALWAYS)
    crash(world, inst, code=0, after=60)
    assert inst.state == S.STARTING and inst.restarts == 1


@pytest.mark.parametrize("policy", list(RestartPolicy))
@pytest.mark.parametrize("code", [0, 1, -9])
@pytest.mark.parametrize("stopping", [False, True])
def test_leader_exit_always_kills_its_group(
    world: World, policy: RestartPolicy, code: int, stopping: bool
) -> None:
    inst = world.running(restart=policy)
    if stopping:
        inst.stop()
    pid = crash(world, inst, code=code)
    assert world.spawner.kills[-1] == (pid, KILL)
    assert world.spawner.kills.count((pid, KILL)) == 1


# -- stop / restart --------------------------------------------------------------------


def test_stop_sends_sigterm_then_sigkill_after_kill_timeout(world: World) -> None:
    inst = world.running(kill_timeout=2.5)
    inst.stop()
    assert inst.state == S.STOPPING
    assert world.spawner.kills == [(101, TERM)]
    handle = world.timers.only_pending()
    assert handle.delay == 2.5
    handle.fire()
    assert world.spawner.kills == [(101, TERM), (101, KILL)]
    assert inst.state == S.STOPPING
    inst.exited(101, -9)
    assert inst.state == S.STOPPED
    assert inst.pid is None
    assert world.spawner.spawned == [101]
    assert inst.restarts == 0
    assert world.changes == [(S.RUNNING, S.STOPPING), (S.STOPPING, S.STOPPED)]
    assert world.timers.pending == []


def test_exit_during_stopping_cancels_the_kill_timer(world: World) -> None:
    inst = world.running()
    inst.stop()
    handle = world.timers.only_pending()
    inst.exited(101, -15)
    assert handle.cancelled
    assert inst.state == S.STOPPED
    assert inst.reason is None  # a requested stop is not a failure
    assert world.spawner.kills == [(101, TERM), (101, KILL)]  # the second: leader-exit rule


def test_stop_while_starting(world: World) -> None:
    inst = world.make()
    inst.start()
    inst.stop()
    assert inst.state == S.STOPPING
    assert world.spawner.kills == [(101, TERM)]
    inst.exited(101, 0)
    assert inst.state == S.STOPPED


def test_stopping_exit_is_never_restarted_whatever_the_uptime(world: World) -> None:
    inst = world.running()
    inst.stop()
    crash(world, inst, code=1, after=0.1)
    assert inst.state == S.STOPPED
    assert world.timers.pending == []
    assert world.spawner.spawned == [101]


def test_stop_during_backoff_cancels_the_timer(world: World) -> None:
    inst = world.running()
    into_backoff(world, inst)
    handle = world.timers.only_pending()
    inst.stop()
    assert handle.cancelled
    assert inst.state == S.STOPPED
    assert world.changes[-1] == (S.BACKOFF, S.STOPPED)
    kills = list(world.spawner.kills)
    handle.fire()  # a callback that raced the cancel must not resurrect it
    assert inst.state == S.STOPPED
    assert world.spawner.spawned == [101, 102]
    assert world.spawner.kills == kills


@pytest.mark.parametrize("how", ["stopped", "exited", "errored"])
def test_stop_when_nothing_runs_sends_nothing(world: World, how: str) -> None:
    inst = world.make(restart=RestartPolicy.NEVER)
    if how != "stopped":
        inst.start()
        inst.exited(101, 0 if how == "exited" else 1)
    kills = list(world.spawner.kills)
    inst.stop()
    # exited and errored become stopped: a stopped (or scaled-away) slot says so
    assert inst.state == S.STOPPED
    assert world.spawner.kills == kills
    assert world.timers.pending == []


def test_late_kill_timer_never_hits_the_next_process(world: World) -> None:
    inst = world.running()
    inst.restart()
    handle = world.timers.only_pending()
    inst.exited(101, -15)
    assert inst.pid == 102
    handle.fire()  # fired anyway, after the cancel
    assert (102, KILL) not in world.spawner.kills


def test_restart_running_is_stop_then_start_after_the_exit(world: World) -> None:
    inst = world.running()
    inst.restart()
    assert inst.state == S.STOPPING
    assert world.spawner.kills == [(101, TERM)]
    assert world.spawner.spawned == [101]  # no overlap: the old one must go first
    inst.exited(101, -15)
    assert world.spawner.spawned == [101, 102]
    assert inst.state == S.STARTING and inst.pid == 102
    assert inst.crashes_in_row == 0
    assert world.timers.pending == []
    assert world.changes == [
        (S.RUNNING, S.STOPPING),
        (S.STOPPING, S.STOPPED),
        (S.STOPPED, S.STARTING),
    ]


def test_restart_twice_while_stopping_starts_once(world: World) -> None:
    inst = world.running()
    inst.restart()
    inst.restart()
    assert world.spawner.kills == [(101, TERM)]
    inst.exited(101, -15)
    assert world.spawner.spawned == [101, 102]


def test_stop_after_restart_cancels_the_pending_start(world: World) -> None:
    inst = world.running()
    inst.restart()
    inst.stop()
    inst.exited(101, -15)
    assert inst.state == S.STOPPED
    assert world.spawner.spawned == [101]


def test_start_while_stopping_starts_after_the_exit(world: World) -> None:
    inst = world.running()
    inst.stop()
    inst.start()
    assert inst.state == S.STOPPING
    assert world.spawner.spawned == [101]
    inst.exited(101, -15)
    assert inst.state == S.STARTING and inst.pid == 102


@pytest.mark.parametrize("how", ["stopped", "exited", "errored", "backoff"])
def test_restart_when_down_starts(world: World, how: str) -> None:
    policy = RestartPolicy.ALWAYS if how == "backoff" else RestartPolicy.NEVER
    inst = world.make(restart=policy)
    if how == "backoff":
        inst.start()
        into_backoff(world, inst)
    elif how != "stopped":
        inst.start()
        crash(world, inst, code=0 if how == "exited" else 1)
    assert inst.state.value == how
    pending = world.timers.pending
    inst.restart()
    assert inst.state == S.STARTING
    assert inst.pid == world.spawner.spawned[-1]
    assert all(h.cancelled for h in pending)
    assert world.timers.pending == []


def test_start_on_errored_clears_the_crash_count(world: World) -> None:
    inst = world.running(max_restarts=2)
    crash(world, inst)
    crash(world, inst)
    assert inst.state == S.ERRORED and inst.crashes_in_row == 2
    inst.start()
    assert inst.state == S.STARTING
    assert inst.crashes_in_row == 0
    assert inst.reason is None  # asked for: the old failure no longer explains anything
    crash(world, inst)  # a fresh budget: one early exit restarts at once, not errored again
    assert inst.state == S.STARTING and inst.crashes_in_row == 1


def test_start_during_backoff_starts_now_with_a_fresh_count(world: World) -> None:
    inst = world.running()
    into_backoff(world, inst)
    crash_timer = world.timers.only_pending()
    inst.start()
    assert crash_timer.cancelled
    assert inst.state == S.STARTING and inst.crashes_in_row == 0


# -- readiness failure -----------------------------------------------------------------


def test_not_ready_terminates_and_counts_a_crash(world: World) -> None:
    inst = world.make(kill_timeout=4.0)
    inst.start()
    world.clock.advance(60)  # even a long wait for readiness counts as an early exit
    inst.not_ready(101, "not ready within 30s")
    assert inst.state == S.STARTING
    assert world.spawner.kills == [(101, TERM)]
    kill_timer = world.timers.only_pending()
    assert kill_timer.delay == 4.0
    inst.exited(101, -15)
    assert kill_timer.cancelled
    assert world.spawner.kills == [(101, TERM), (101, KILL)]
    assert inst.state == S.STARTING and inst.pid == 102  # a first early exit: at once
    assert inst.reason == "not ready within 30s"
    assert inst.crashes_in_row == 1 and inst.restarts == 1
    inst.not_ready(102, "not ready within 30s")
    inst.exited(102, -15)
    assert inst.state == S.BACKOFF
    assert world.timers.only_pending().delay == pytest.approx(0.1)


def test_not_ready_crash_ignores_restart_never(world: World) -> None:
    inst = world.make(restart=RestartPolicy.NEVER)
    inst.start()
    inst.not_ready(101, "port 5000 never opened")
    inst.exited(101, 0)
    assert inst.state == S.STARTING and inst.crashes_in_row == 1
    assert inst.reason == "port 5000 never opened"


def test_not_ready_kill_timer_sends_sigkill(world: World) -> None:
    inst = world.make()
    inst.start()
    inst.not_ready(101, "no READY=1")
    world.timers.only_pending().fire()
    assert world.spawner.kills == [(101, TERM), (101, KILL)]


def test_not_ready_counts_toward_max_restarts(world: World) -> None:
    inst = world.make(max_restarts=2)
    inst.start()
    inst.not_ready(101, "health check failed")
    inst.exited(101, -15)
    inst.not_ready(102, "health check failed")
    inst.exited(102, -15)
    assert inst.state == S.ERRORED
    assert inst.reason is not None and inst.reason.startswith("health check failed; gave up")


@pytest.mark.parametrize("case", ["other pid", "running"])
def test_not_ready_ignored_unless_starting_with_that_pid(world: World, case: str) -> None:
    inst = world.running() if case == "running" else world.make()
    if case == "other pid":
        inst.start()
    inst.not_ready(999 if case == "other pid" else 101, "late")
    assert world.spawner.kills == []
    assert inst.reason is None


def test_not_ready_then_stop_does_not_taint_the_next_process(world: World) -> None:
    inst = world.make()
    inst.start()
    inst.not_ready(101, "not ready within 30s")
    inst.stop()
    inst.exited(101, -15)
    assert inst.state == S.STOPPED
    inst.start()
    inst.mark_ready(102)
    crash(world, inst, code=1, after=60)  # long-lived: should restart at once
    assert inst.reason == "exited with code 1"
    assert inst.state == S.STARTING
    assert inst.restarts == 1


# -- stale pids, spawn errors ----------------------------------------------------------


def test_stale_pids_are_ignored(world: World) -> None:
    inst = world.running()
    old = crash(world, inst, after=60)
    assert inst.pid == 102
    changes, kills = list(world.changes), list(world.spawner.kills)
    inst.exited(old, 1)  # a second report for the old process
    inst.exited(4242, 1)  # never ours
    inst.mark_ready(old)
    inst.not_ready(old, "old")
    assert inst.state == S.STARTING and inst.pid == 102
    assert world.changes == changes
    assert world.spawner.kills == kills
    assert inst.restarts == 1


def test_exit_report_after_stopped_is_ignored(world: World) -> None:
    inst = world.running()
    inst.stop()
    inst.exited(101, -15)
    kills = list(world.spawner.kills)
    inst.exited(101, -15)
    assert inst.state == S.STOPPED
    assert world.spawner.kills == kills


def test_spawn_error_on_start_is_errored_with_the_message(world: World) -> None:
    world.spawner.fail = "cannot start 'server' in /app: No such file or directory"
    inst = world.make()
    inst.start()
    assert inst.state == S.ERRORED
    assert inst.reason == "cannot start 'server' in /app: No such file or directory"
    assert inst.pid is None and inst.uptime() is None
    assert inst.exit_code is None
    assert world.changes == [(S.STOPPED, S.ERRORED)]
    world.spawner.fail = None
    inst.start()
    assert inst.state == S.STARTING and inst.pid == 101


def test_spawn_error_when_leaving_backoff(world: World) -> None:
    inst = world.running()
    into_backoff(world, inst)
    world.spawner.fail = "fork failed"
    world.timers.only_pending().fire()
    assert inst.state == S.ERRORED and inst.reason == "fork failed"
    assert world.changes[-1] == (S.BACKOFF, S.ERRORED)


def test_spawn_error_on_immediate_restart(world: World) -> None:
    inst = world.running()
    world.spawner.fail = "no such cwd"
    crash(world, inst, after=60)
    assert inst.state == S.ERRORED and inst.reason == "no such cwd"
    assert inst.exit_code is None


def test_spawn_error_on_restart_after_stop(world: World) -> None:
    inst = world.running()
    inst.restart()
    world.spawner.fail = "EAGAIN"
    inst.exited(101, -15)
    assert inst.state == S.ERRORED and inst.reason == "EAGAIN"
    assert world.changes[-2:] == [(S.STOPPING, S.STOPPED), (S.STOPPED, S.ERRORED)]


def test_spawn_error_on_errored_stays_errored(world: World) -> None:
    world.spawner.fail = "first"
    inst = world.make()
    inst.start()
    world.spawner.fail = "second"
    inst.start()
    assert inst.state == S.ERRORED and inst.reason == "second"
    assert world.changes[-1] == (S.ERRORED, S.ERRORED)


# -- transitions -----------------------------------------------------------------------


def test_allowed_covers_every_state() -> None:
    assert set(ALLOWED) == set(InstanceState)
    assert ALLOWED[S.STOPPING] == {S.STOPPED}


INVALID = [(old, new) for old in InstanceState for new in InstanceState if new not in ALLOWED[old]]


@pytest.mark.parametrize(("old", "new"), INVALID, ids=[f"{o.value}->{n.value}" for o, n in INVALID])
def test_invalid_transition_raises_and_changes_nothing(
    world: World, old: InstanceState, new: InstanceState
) -> None:
    inst = world.make()
    inst.state = old
    with pytest.raises(InvalidTransition, match=f"web.1: {old.value} -> {new.value}"):
        inst._move(new)
    assert inst.state == old
    assert world.changes == []


def test_every_transition_reports_the_old_state(world: World) -> None:
    seen: list[tuple[Instance, InstanceState, InstanceState]] = []
    inst = Instance(
        ProcessType(name="web", cmd="server", min_uptime=1.0),
        2,
        spawner=world.spawner,
        timers=world.timers,
        clock=world.clock,
        on_change=lambda i, old: seen.append((i, old, i.state)),
    )
    inst.start()
    inst.mark_ready(101)
    crash(world, inst, after=0.1)
    crash(world, inst, after=0.1)
    world.timers.only_pending().fire()
    inst.stop()
    inst.exited(103, -15)
    assert [(old, new) for _, old, new in seen] == [
        (S.STOPPED, S.STARTING),
        (S.STARTING, S.RUNNING),
        (S.RUNNING, S.STARTING),
        (S.STARTING, S.BACKOFF),
        (S.BACKOFF, S.STARTING),
        (S.STARTING, S.STOPPING),
        (S.STOPPING, S.STOPPED),
    ]
    assert all(i is inst for i, _, _ in seen)
    assert str(inst.id) == "web.3"


@pytest.mark.parametrize(
    ("code", "text"),
    [
        (0, "exited with code 0"),
        (137, "exited with code 137"),
        (-int(signal.SIGKILL), "killed by SIGKILL"),
        (-int(signal.SIGTERM), "killed by SIGTERM"),
        (-200, "killed by signal 200"),
    ],
)
def test_describe_exit(code: int, text: str) -> None:
    assert describe_exit(code) == text


# -- a reload's replacement, reasons ---------------------------------------------------------


@pytest.mark.parametrize("how", ["exit", "not ready"])
def test_a_replacement_is_never_restarted(world: World, how: str) -> None:
    inst = world.make(ready=ReadyCheck.parse("notify"))
    inst.replacement = True
    inst.start()
    if how == "not ready":
        inst.not_ready(101, "not ready within 30s (ready: notify)")
    inst.exited(101, 1)
    assert inst.state == S.ERRORED  # the reload failed: no restart, no back-off timer
    assert world.spawner.spawned == [101] and world.timers.pending == []
    assert inst.reason == (
        "not ready within 30s (ready: notify)"
        if how == "not ready"
        else "exited with code 1 before it was ready (ready: notify)"
    )


def test_a_restart_asked_for_clears_the_old_reason(world: World) -> None:
    inst = world.running()
    crash(world, inst, code=127)
    assert inst.reason == "exited with code 127"
    inst.mark_ready(102)
    inst.restart()
    assert inst.reason is None
    inst.exited(102, -15)
    inst.mark_ready(103)
    assert inst.state == S.RUNNING and inst.reason is None


def test_ready_is_a_fact_of_each_process(world: World) -> None:
    inst = world.running()
    crash(world, inst, after=60)  # ready and long-lived: at once, not early
    assert inst.state == S.STARTING and inst.crashes_in_row == 0
    crash(world, inst, after=60)  # this process never got ready: early, however long
    assert inst.crashes_in_row == 1


def test_memory_restart_keeps_its_reason(world: World) -> None:
    inst = world.running()
    inst.memory_restart("memory 530 MB > 512 MB")
    assert inst.state == S.STOPPING and inst.reason == "memory 530 MB > 512 MB"
    assert inst.restarts == 1
