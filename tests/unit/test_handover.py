"""`procman update` without processes: the formation and instances as JSON and back, the
timers re-armed in the new image, when an update must wait, an exec that fails."""

from __future__ import annotations

import errno
import json
import os
import signal
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from procman.daemon import handover, updater
from procman.daemon.handlers import Handlers
from procman.daemon.instance import Instance
from procman.errors import ProcmanError
from procman.model import (
    Autoscale,
    Formation,
    InstanceState,
    ProcessType,
    ReadyCheck,
    RestartPolicy,
)
from procman.plain import from_plain, to_plain

S = InstanceState


@dataclass(eq=False)
class Handle:
    due: float
    callback: Any
    cancelled: bool = False

    def cancel(self) -> None:
        self.cancelled = True

    def when(self) -> float:  # as asyncio.TimerHandle has
        return self.due


@dataclass
class Timers:
    now: float = 500.0
    handles: list[Handle] = field(default_factory=list)

    def call_later(self, delay: float, callback: Any) -> Handle:
        handle = Handle(self.now + delay, callback)
        self.handles.append(handle)
        return handle

    def pending(self) -> list[Handle]:
        return [h for h in self.handles if not h.cancelled]


@dataclass
class Spawner:
    next_pid: int = 100
    kills: list[tuple[int, int]] = field(default_factory=list)

    def spawn(self, instance: Instance) -> int:
        self.next_pid += 1
        return self.next_pid

    def kill_group(self, pid: int, sig: int) -> None:
        self.kills.append((pid, sig))


def formation() -> Formation:
    web = ProcessType(
        name="web",
        cmd="python app.py",
        instances=4,
        port=8000,
        socket=True,
        env={"LOG_LEVEL": "info"},
        cwd=Path("/srv/app/web"),
        restart=RestartPolicy.ON_FAILURE,
        kill_timeout=2.5,
        max_memory=512 * 1024 * 1024,
        ready=ReadyCheck("http", "/healthz"),
        min_uptime=1,
        autoscale=Autoscale(min=2, max=8, cpu=70.0, window=30.0),
        line=3,
    )
    worker = ProcessType(name="worker", cmd="python worker.py", ready=ReadyCheck("notify"))
    return Formation(
        root=Path("/srv/app"),
        types=(web, worker),
        source=Path("/srv/app/procman.yaml"),
        env={"A": "1"},
        env_files=(Path("/srv/app/.env"),),
        metrics_port=9100,
    )


def make(timers: Timers, spawner: Spawner, **kwargs: Any) -> Instance:
    ptype = ProcessType(name="web", cmd="server", min_uptime=5, kill_timeout=3, **kwargs)
    return Instance(ptype, 2, spawner=spawner, timers=timers, clock=lambda: timers.now)


def test_the_formation_survives_json_whole() -> None:
    original = formation()
    carried = json.loads(json.dumps(to_plain(original)))
    assert from_plain(Formation, carried) == original


def test_unknown_keys_are_dropped_and_missing_fields_take_their_defaults() -> None:
    plain = to_plain(formation())
    plain["types"][1]["added_by_a_later_version"] = True
    del plain["types"][1]["kill_timeout"]
    worker = from_plain(Formation, plain).types[1]
    assert worker.kill_timeout == ProcessType("w", "c").kill_timeout
    with pytest.raises(TypeError):
        from_plain(ProcessType, {"name": "w", "cmd": "c", "port": "eighty"})


def test_a_backing_off_instance_comes_back_with_its_count_and_its_timer() -> None:
    timers, spawner = Timers(), Spawner()
    old = make(timers, spawner)
    old.start()
    timers.now += 1
    old.exited(old.pid or 0, 3)  # a first early exit: restarted at once
    old.exited(old.pid or 0, 3)  # the second in a row backs off
    assert old.state == S.BACKOFF
    facts = json.loads(json.dumps(handover.instance_facts(old)))
    assert facts["index"] == 2 and facts["timer_due"] == pytest.approx(501.1)

    new_timers = Timers(now=501.05)  # the new image, 50 ms later on the same clock
    new = make(new_timers, spawner)
    handover.restore_instance(new, facts, shift=0.0)
    assert (new.state, new.pid, new.exit_code, new.crashes_in_row) == (S.BACKOFF, None, 3, 2)
    assert new.reason == "exited with code 3"
    new.resume_timer(facts["timer_due"] - new_timers.now)
    (timer,) = new_timers.pending()
    assert timer.due == pytest.approx(501.1)
    timer.callback()
    assert new.state == S.STARTING and new.pid == spawner.next_pid and new.restarts == 2


def test_a_stopping_instance_keeps_its_sigkill_deadline() -> None:
    timers, spawner = Timers(), Spawner()
    old = make(timers, spawner)
    old.start()
    old.mark_ready(old.pid or 0)
    old.restart()  # SIGTERM now, SIGKILL in 3 s, then a new process
    facts = handover.instance_facts(old)
    new = make(Timers(now=502.0), spawner)
    handover.restore_instance(new, facts, shift=0.0)
    assert new.state == S.STOPPING and new.pid == old.pid and new.started_at == 500.0
    new.resume_timer(facts["timer_due"] - 502.0)
    (timer,) = new.timers.pending()  # type: ignore[attr-defined]
    assert timer.due == pytest.approx(503.0)
    timer.callback()
    assert spawner.kills[-1] == (old.pid, signal.SIGKILL)
    new.exited(old.pid or 0, -9)  # and the restart the old image had promised happens
    assert new.state == S.STARTING and new.pid != old.pid


def test_what_a_process_was_started_with_travels_too() -> None:
    from procman.daemon.launcher import Launch

    timers, spawner = Timers(), Spawner()
    old = make(timers, spawner)
    old.start()
    ptype = formation().types[0]
    argv = ["/bin/sh", "-c", "exec app"]
    old.launched = Launch(ptype, {"A": "1"}, argv, "/srv", {"PORT": "8000"},
                          ("0.0.0.0", 8000), 1700000000.5, stale=True)  # fmt: skip
    facts = json.loads(json.dumps(handover.instance_facts(old)))
    new = make(Timers(), spawner)
    handover.restore_instance(new, facts, shift=0.0)
    assert new.launched == old.launched and new.launched is not old.launched
    assert isinstance(new.launched.listener, tuple)


def test_clock_values_move_only_when_the_clock_did_not_go_on() -> None:
    assert handover.clock_shift(0.0, 0.0) == 0.0  # any earlier monotonic time: same boot
    assert handover.clock_shift(1e12, 1e9) < 0  # a clock that went back: mapped by wall time


def quiet_supervisor(**inst: Any) -> SimpleNamespace:
    fields = {"draining": False, "replacement": False, "state": S.RUNNING, "index": 0}
    one = SimpleNamespace(id="web.1", **{**fields, **inst})
    group = SimpleNamespace(name="web", defined=True, desired=1, instances=lambda: [one])
    return SimpleNamespace(
        groups={"web": group},
        launcher=SimpleNamespace(by_pid={7: one}),
        waiters=SimpleNamespace(pending=0),
        background=0,
    )


def test_an_update_waits_for_drains_rollouts_and_scale_downs() -> None:
    assert updater.busy(quiet_supervisor()) is None  # type: ignore[arg-type]
    assert "draining" in updater.busy(quiet_supervisor(draining=True))  # type: ignore[arg-type, operator]
    assert "scaled away" in updater.busy(quiet_supervisor(index=1))  # type: ignore[arg-type, operator]
    assert "reload" in updater.busy(quiet_supervisor(replacement=True))  # type: ignore[arg-type, operator]
    waiting = quiet_supervisor()
    waiting.waiters.pending = 1
    assert "waiting for its instances" in updater.busy(waiting)  # type: ignore[arg-type, operator]
    working = quiet_supervisor()
    working.background = 1
    assert "in the background" in updater.busy(working)  # type: ignore[arg-type, operator]
    handlers = Handlers(None, None, None)  # type: ignore[arg-type]
    handlers.in_flight = ["update", "status", "logs"]
    assert handlers._busy() is None
    handlers.in_flight = ["update", "scale"]
    assert handlers._busy() == "a scale is in progress"


def test_a_failed_exec_leaves_fds_and_signal_mask_as_they_were(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def fail(path: str, argv: list[str]) -> None:
        raise OSError(errno.ENOENT, "No such file or directory")

    monkeypatch.setattr(os, "execv", fail)
    read_fd, write_fd = os.pipe()
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    try:
        with pytest.raises(ProcmanError, match="cannot exec /gone/python: No such file"):
            updater.exec_keeping(["/gone/python", "-m", "procman.daemon"], [read_fd, write_fd])
        assert not os.get_inheritable(read_fd) and not os.get_inheritable(write_fd)
        assert signal.pthread_sigmask(signal.SIG_BLOCK, []) == mask
    finally:
        os.close(read_fd)
        os.close(write_fd)


def description() -> dict[str, Any]:
    return {
        "format": handover.FORMAT,
        "version": "0.0.1",
        "pid": 1234,
        "project": "/srv/app",
        "monotonic": 1.0,
        "wall": 2.0,
        "formation": to_plain(formation()),
        "source": {"procfile": "/srv/app/procman.yaml"},
        "groups": [{"name": "web", "desired": 1, "scaler": None, "instances": []}],
        "listeners": [
            {"port": 8000, "attached": False, "broken": False, "members": [["web", 0, 9]]}
        ],
        "pipes": [{"fd": 11, "type": "web", "label": "web.1", "stream": "out", "partial": ""}],
        "dropped_log_lines": 0,
        "foreground": None,
        "log_level": 20,
        "metrics_port": None,
        "started": 1.0,
        "read": [],
        "fds": {"lock": 5, "control": 6, "notify": 7, "watchdog": [99, 8]},
        "reply": {"fd": 10, "id": 1, "old_version": "0.0.1", "new_version": "x", "exec_at": 0},
    }


def test_the_new_image_knows_every_fd_it_was_handed() -> None:
    resume = handover.Resume(description())
    assert sorted(resume.kept_fds()) == [5, 6, 7, 8, 9, 10, 11]
    assert resume.formation == formation()


def test_the_dry_run_says_yes_to_a_description_and_why_not_to_a_bad_one(capsys: Any) -> None:
    class Stdin:
        def __init__(self, data: Any) -> None:
            self.data = json.dumps(data).encode()

        def read(self) -> bytes:
            return self.data

    import sys

    assert handover.check(Stdin(description()), sys.stdout) == 0  # type: ignore[arg-type]
    assert json.loads(capsys.readouterr().out) == {"ok": True, "version": handover.__version__}
    assert handover.check(Stdin({**description(), "format": 99}), sys.stdout) == 1  # type: ignore[arg-type]
    assert "format 99 is not the 1 this procman reads" in capsys.readouterr().out
    unknown = {**description(), "groups": [{"name": "gone", "desired": 1}]}
    assert handover.check(Stdin(unknown), sys.stdout) == 1  # type: ignore[arg-type]
    assert "type gone is not in the formation" in capsys.readouterr().out
