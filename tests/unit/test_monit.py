"""monit's model, view, keys and loop, without a terminal or a daemon."""

from __future__ import annotations

import io
import queue
import select
import socket
from typing import Any

import pytest
from rich.console import Console

from procman.cli import monit, monit_model
from procman.cli.monit import Ended, MonitState, parse_keys, sparkline, view
from procman.errors import DaemonUnavailable, RemoteError


def row(ident: str, state: str = "running", **extra: Any) -> dict[str, Any]:
    type_name, _, n = ident.partition(".")
    base = {
        "id": ident,
        "type": type_name,
        "index": int(n) - 1,
        "pid": 1000 + int(n) + (100 if type_name == "worker" else 0),
        "state": state,
        "uptime_s": 10.0,
        "restarts": 0,
        "cpu_percent": None,
        "memory_bytes": None,
        "port": None,
        "exit_code": None,
        "reason": None,
        "status_text": None,
    }
    return {**base, **extra}


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def subscribed(*rows: dict[str, Any]) -> dict[str, Any]:
    return {"event": "subscribed", "instances": list(rows)}


def metrics(rows: list[dict[str, Any]], types: list[dict[str, Any]] | None = None) -> dict:
    return {"event": "metrics", "time": 1_700_000_000.0, "instances": rows, "types": types or []}


def formation_state(clock: Clock | None = None) -> MonitState:
    state = MonitState("/srv/app", clock=clock or Clock())
    state.apply(subscribed(row("web.1"), row("web.2"), row("worker.1")))
    return state


def render_text(state: MonitState, width: int = 120) -> str:
    console = Console(record=True, width=width, file=io.StringIO())
    console.print(view(state, width))
    return console.export_text()


# -- the model --------------------------------------------------------------------------------


def test_subscribed_gives_rows_in_type_then_index_order() -> None:
    state = MonitState()
    state.apply(subscribed(row("worker.1"), row("web.2"), row("web.1")))
    assert state.type_names() == ["worker", "web"]
    assert [r["id"] for r in state.instances()] == ["worker.1", "web.1", "web.2"]
    assert [r["id"] for r in state.instances("web")] == ["web.1", "web.2"]


def test_state_event_updates_one_row_and_adds_new_ones() -> None:
    state = formation_state()
    state.apply({"event": "state", "old": "running", **row("web.2", "backoff", reason="exit 1")})
    state.apply({"event": "state", "old": "stopped", **row("web.3", "starting")})
    rows = {r["id"]: r for r in state.instances()}
    assert rows["web.2"]["state"] == "backoff"
    assert rows["web.2"]["reason"] == "exit 1"
    assert "old" not in rows["web.2"] and "event" not in rows["web.2"]
    assert rows["web.3"]["state"] == "starting"
    assert state.totals("web").running == 1


def test_state_event_keeps_the_last_sample_of_the_same_process_only() -> None:
    state = formation_state()
    state.apply(metrics([row("web.1", cpu_percent=5.0, memory_bytes=2048)]))
    state.apply({"event": "state", "old": "running", **row("web.1", "stopping")})
    assert state.rows["web.1"]["memory_bytes"] == 2048
    state.apply({"event": "state", "old": "starting", **row("web.1", "running", pid=4242)})
    assert state.rows["web.1"]["memory_bytes"] is None
    assert state.rows["web.1"]["cpu_percent"] is None


def test_metrics_replace_rows_and_build_a_bounded_cpu_history() -> None:
    state = MonitState(history=3)
    state.apply(subscribed(row("web.1"), row("web.2")))
    for cpu in (1.0, 2.0, 3.0, 4.0):
        state.apply(metrics([row("web.1", cpu_percent=cpu, memory_bytes=1 << 20)]))
    assert list(state.history["web.1"]) == [2.0, 3.0, 4.0]
    assert "web.2" not in state.rows  # gone from the formation
    assert state.sampled_at == 1_700_000_000.0


def test_totals_per_type() -> None:
    state = MonitState()
    state.apply(
        metrics(
            [
                row("web.1", cpu_percent=10.0, memory_bytes=100, restarts=2),
                row("web.2", "backoff", cpu_percent=None, memory_bytes=None, restarts=3),
                row("worker.1", cpu_percent=1.5, memory_bytes=50),
            ],
            [
                {"name": "web", "desired": 4, "running": 1, "autoscale": None},
                {"name": "worker", "desired": 1, "running": 1, "autoscale": None},
            ],
        )
    )
    web = state.totals("web")
    assert (web.instances, web.running, web.desired) == (2, 1, 4)
    assert (web.cpu, web.memory, web.restarts) == (10.0, 100, 5)
    empty = MonitState()
    empty.apply(subscribed(row("web.1")))
    assert (empty.totals("web").cpu, empty.totals("web").memory) == (None, None)


def test_autoscale_event_and_metrics_record_the_last_decision() -> None:
    auto = {"min": 1, "max": 8, "cpu": 70, "target": 2, "manual": False, "last": None}
    state = MonitState()
    state.apply(metrics([row("web.1")], [{"name": "web", "desired": 2, "autoscale": auto}]))
    state.apply(
        {"event": "autoscale", "type": "web", "from": 2, "to": 4, "reason": "cpu 93% > 70%"}
    )
    totals = state.totals("web")
    assert totals.last == "autoscale web 2 → 4: cpu 93% > 70%"
    assert totals.autoscale is not None and totals.autoscale["target"] == 4
    later = {**auto, "target": 3, "last": "autoscale web 4 → 3: cpu 20% < 35%"}
    state.apply(metrics([row("web.1")], [{"name": "web", "desired": 3, "autoscale": later}]))
    assert state.totals("web").last == "autoscale web 4 → 3: cpu 20% < 35%"


def test_unknown_events_change_nothing() -> None:
    state = formation_state()
    version = state.version
    assert not state.apply({"event": "gossip"})
    assert not state.apply({"event": "autoscale"})
    assert state.version == version


def test_uptime_ticks_only_for_live_states() -> None:
    clock = Clock()
    state = formation_state(clock)
    state.apply({"event": "state", "old": "running", **row("web.2", "stopped", uptime_s=None)})
    clock.now += 5
    assert state.uptime("web.1") == 15.0
    assert state.uptime("web.2") is None


def test_type_cycling() -> None:
    state = formation_state()
    assert state.shown_types() == ["web", "worker"]
    state.select(1)
    assert state.selected == "web" and state.shown_types() == ["web"]
    state.select(1)
    assert state.selected == "worker"
    state.select(1)
    assert state.selected is None
    state.select(-1)
    assert state.selected == "worker"
    state.select_all()
    assert state.selected is None


def test_a_selected_type_that_disappears_falls_back_to_all() -> None:
    state = formation_state()
    state.select(1)
    state.select(1)
    state.apply(metrics([row("web.1")], [{"name": "web", "desired": 1, "autoscale": None}]))
    assert state.selected is None


def test_sparkline() -> None:
    assert sparkline([]) == ""
    assert sparkline([0, 50, 100]) == "▁▅█"
    assert sparkline([0, 100, 200]) == "▁▅█"  # over 100%: scaled to the highest
    assert sparkline([150, -1]) == "█▁"
    assert sparkline([0, 100], width=5) == "   ▁█"


# -- keys -------------------------------------------------------------------------------------


def test_parse_keys() -> None:
    assert parse_keys(b"q") == ["quit"]
    assert parse_keys(b"\tnp\x1b[Za") == ["next", "next", "prev", "prev", "all"]
    assert parse_keys(b"x\x1b[Ay\x1b[C") == ["next"]  # up arrow and stray letters are skipped
    assert parse_keys(b"\x03") == ["quit"]


# -- the view ---------------------------------------------------------------------------------


def test_view_without_metrics_shows_dashes() -> None:
    text = render_text(formation_state())
    assert "procman monit" in text and "/srv/app" in text
    assert "waiting for a sample" in text
    lines = {line.split()[0]: line for line in text.splitlines() if line.strip()}
    assert "web.1" in lines and "web.2" in lines and "worker.1" in lines
    assert lines["web.1"].split()[1:7] == ["1001", "running", "10s", "0", "-", "-"]
    assert "web  2/2 running · cpu - · mem - · restarts 0" in text
    assert "q quit" in text


def test_view_with_metrics_shows_totals_sparkline_and_autoscale() -> None:
    state = formation_state()
    auto = {
        "min": 1,
        "max": 8,
        "cpu": 70,
        "target": 4,
        "manual": False,
        "last": "autoscale web 2 → 4: cpu 93% > 70%",
    }
    for cpu in (0.0, 50.0, 100.0):
        state.apply(
            metrics(
                [
                    row("web.1", cpu_percent=cpu, memory_bytes=10 << 20),
                    row("web.2", cpu_percent=1.0, memory_bytes=10 << 20),
                    row("worker.1", "errored", pid=None, reason="exited 3", uptime_s=None),
                ],
                [
                    {"name": "web", "desired": 4, "running": 2, "autoscale": auto},
                    {"name": "worker", "desired": 1, "running": 0, "autoscale": None},
                ],
            )
        )
    text = render_text(state, width=200)
    assert "web  2/4 running · cpu 101.0% · mem 20.0 MB · restarts 0" in text
    assert "autoscale 1..8 at cpu 70%, target 4" in text
    assert "autoscale web 2 → 4: cpu 93% > 70%" in text
    web1 = next(line for line in text.splitlines() if line.startswith("web.1"))
    assert "100.0%" in web1 and "10.0 MB" in web1 and "▁▅█" in web1
    worker = next(line for line in text.splitlines() if line.startswith("worker.1"))
    assert "errored" in worker and "exited 3" in worker
    assert "sampled" in text


def test_view_of_a_selected_type_hides_the_others() -> None:
    state = formation_state()
    state.select(1)
    state.select(1)
    text = render_text(state)
    assert "worker.1" in text and "web.1" not in text


def test_view_of_an_empty_daemon() -> None:
    state = MonitState("/srv/app")
    state.apply(subscribed())
    assert 'no instances; run "procman start"' in render_text(state)


# -- the loop and the reader ------------------------------------------------------------------


def test_loop_applies_events_handles_keys_and_quits() -> None:
    clock = Clock()
    state = formation_state(clock)
    inbox: queue.Queue = queue.Queue()
    script = [[], ["next"], ["next"], ["quit"]]
    seen: list[Any] = []

    def wait(timeout: float) -> list[str]:
        assert 0 <= timeout <= monit.REFRESH
        clock.now += timeout
        if len(script) == 4:
            inbox.put({"event": "state", "old": "running", **row("web.1", "stopping")})
        return script.pop(0)

    def draw() -> None:
        seen.append((state.selected, state.rows["web.1"]["state"]))

    assert monit.loop(state, inbox, wait, draw, clock) is None
    assert seen[0] == (None, "running")
    assert (None, "stopping") in seen
    assert seen[-1] == ("worker", "stopping")


def test_loop_returns_why_the_stream_ended() -> None:
    state = formation_state()
    inbox: queue.Queue = queue.Queue()
    inbox.put({"event": "state", "old": "running", **row("web.1", "stopping")})
    inbox.put(Ended("the daemon closed the event stream"))
    draws: list[str] = []
    result = monit.loop(
        state, inbox, lambda t: [], lambda: draws.append(state.rows["web.1"]["state"])
    )
    assert result == "the daemon closed the event stream"
    assert draws[-1] == "stopping"


class FakeClient:
    project = "/srv/app"

    def __init__(self, events: list[Any], error: Exception | None = None) -> None:
        self.events = events
        self.error = error

    def stream(self, method: str, params: Any = None):
        assert method == "events"
        yield from self.events
        if self.error:
            raise self.error


def read_all(client: FakeClient) -> list[Any]:
    inbox: queue.Queue = queue.Queue()
    wake_r, wake_w = socket.socketpair()
    with wake_r, wake_w:
        wake_w.setblocking(False)
        monit.read_events(client, inbox, wake_w)  # type: ignore[arg-type]
        assert wake_r.recv(100)  # poked
    return [inbox.get_nowait() for _ in range(inbox.qsize())]


def test_reader_forwards_events_then_says_the_stream_ended() -> None:
    items = read_all(FakeClient([subscribed(row("web.1"))]))
    assert items[0]["event"] == "subscribed"
    assert isinstance(items[1], Ended) and items[1].error is None
    assert "closed the event stream" in items[1].message


def test_reader_reports_errors() -> None:
    gone = DaemonUnavailable('no daemon for /srv/app; run "procman start"')
    items = read_all(FakeClient([], gone))
    assert items[0].error is gone
    items = read_all(FakeClient([subscribed()], RemoteError("failed", "client too slow")))
    assert "client too slow" in items[1].message


def test_first_event_raises_when_the_stream_never_started() -> None:
    inbox: queue.Queue = queue.Queue()
    gone = DaemonUnavailable("no daemon")
    inbox.put(Ended("no daemon", gone))
    with pytest.raises(DaemonUnavailable) as caught:
        monit._first_event(inbox, lambda t: [])
    assert caught.value is gone


def test_inputs_without_a_terminal_wake_on_the_socket_and_read_no_keys() -> None:
    wake_r, wake_w = socket.socketpair()
    with wake_r, wake_w:
        wake_r.setblocking(False)
        inputs = monit.Inputs(wake_r, stdin=io.StringIO())
        assert inputs.fd is None
        assert inputs.wait(0) == []
        wake_w.send(b"!!")
        assert inputs.wait(1.0) == []
        assert not select.select([wake_r], [], [], 0)[0]  # drained
        inputs.close()


def test_decisions_are_listed_as_they_come_with_each_metric_against_its_target() -> None:
    state = formation_state()
    auto = {
        "min": 1,
        "max": 8,
        "cpu": 70,
        "memory": None,
        "queue": 4,
        "target": 4,
        "manual": False,
        "metrics": [
            {"metric": "cpu", "current": 3.2, "target": 70, "proposal": 1},
            {"metric": "queue", "current": 6.5, "target": 4, "proposal": 4},
        ],
        "last": None,
    }
    state.apply(
        metrics([row("web.1"), row("web.2")], [{"name": "web", "desired": 2, "autoscale": auto}])
    )
    at = 1_700_000_000.0
    for n, (old, new) in enumerate(((1, 2), (2, 4))):
        event = {"event": "autoscale", "type": "web", "from": old, "to": new, "time": at + n}
        state.apply({**event, "reason": f"queue {6 + n} > 4"})
    text = render_text(state, width=200)
    assert "autoscale 1..8 at cpu 3%/70%, queue 6.5/4, target 4" in text
    listed = text[text.index("autoscale decisions") :].splitlines()[1:3]
    assert [line.split(" ", 3)[3] for line in listed] == [
        "autoscale web 1 → 2: queue 6 > 4",
        "autoscale web 2 → 4: queue 7 > 4",
    ]
    for _ in range(monit_model.DECISIONS + 2):
        state.apply({"event": "autoscale", "type": "web", "from": 4, "to": 4, "reason": "x"})
    assert len(state.recent) == monit_model.DECISIONS
