"""`procman monit`: a live dashboard over the daemon's `events` stream.

Three parts, so that only the last needs a terminal:
- `MonitState`: a pure model. `apply(event)` folds `subscribed`, `state`, `metrics` and
  `autoscale` events into per-instance rows, a CPU history per instance and per-type totals;
  it also holds the selected type.
- `view(state)`: a rich renderable of the model (per type a header line with totals and the
  autoscale target / last decision, then one row per instance with a CPU sparkline).
- `run_monit(client)`: a thread reads the blocking event stream into a queue and pokes a
  socketpair; the main thread waits on that and on stdin (cbreak mode), applies events,
  handles keys and redraws about once a second through rich.live.Live.
"""

from __future__ import annotations

import os
import queue
import select
import signal
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from procman.cli import render
from procman.cli.client import Client
from procman.cli.render import TypeTotals, type_totals
from procman.errors import DaemonUnavailable, ProcmanError

REFRESH = 1.0  # seconds between redraws (uptime ticks)
EVENT_GAP = 0.2  # an event redraws at once, but not more often than this
HISTORY = 30  # CPU samples kept per instance
FIRST_EVENT_TIMEOUT = 10.0
BARS = "▁▂▃▄▅▆▇█"
LIVE_STATES = ("starting", "running", "stopping")
HELP = "q quit · tab/n next type · p previous · a all"


# -- the model -------------------------------------------------------------------------------


def sparkline(values: Iterable[float], width: int = 0, top: float = 100.0) -> str:
    """One bar per value on a 0..top scale (or 0..max when a value exceeds top), padded on
    the left to width so that the newest sample is always in the last column."""
    values = list(values)
    scale = max([top, *values]) or 1.0
    bars = "".join(BARS[min(7, max(0, int(v / scale * 7 + 0.5)))] for v in values)
    return bars.rjust(width)


class MonitState:
    def __init__(
        self, project: str = "", history: int = HISTORY, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.project = project
        self.clock = clock
        self.history_len = history
        self.rows: dict[str, dict[str, Any]] = {}
        self.seen: dict[str, float] = {}  # clock() when each row arrived, to tick uptimes
        self.history: dict[str, deque[float]] = {}
        self.types: dict[str, dict[str, Any]] = {}  # from metrics: name -> {desired, ...}
        self.decisions: dict[str, str] = {}  # type -> last autoscale decision
        self.sampled_at: float | None = None  # unix time of the last metrics event
        self.selected: str | None = None
        self.version = 0  # bumped by every change, so a plain screen prints only news

    # events

    def apply(self, event: dict[str, Any]) -> bool:
        """Fold one event in; False when it was not understood (and changed nothing)."""
        kind = event.get("event")
        if kind == "subscribed":
            self._replace(event.get("instances") or [])
            self._types(event)
        elif kind == "state":
            self._merge({k: v for k, v in event.items() if k not in ("event", "old")})
        elif kind == "metrics":
            self.sampled_at = event.get("time")
            self._replace(event.get("instances") or [])
            for row in event.get("instances") or []:
                if row.get("cpu_percent") is not None:
                    self.history.setdefault(row["id"], deque(maxlen=self.history_len)).append(
                        float(row["cpu_percent"])
                    )
            self._types(event)
        elif kind == "autoscale":
            name = event.get("type")
            if not name:
                return False
            self.decisions[name] = (
                f"autoscale {name} {event.get('from')} → {event.get('to')}: {event.get('reason')}"
            )
            auto = (self.types.get(name) or {}).get("autoscale")
            if auto is not None:
                auto["target"] = event.get("to")
        else:
            return False
        if self.selected is not None and self.selected not in self.type_names():
            self.selected = None
        self.version += 1
        return True

    def _types(self, event: dict[str, Any]) -> None:
        if "types" not in event:
            return
        self.types = {t["name"]: t for t in event["types"] or [] if "name" in t}
        for name, info in self.types.items():
            last = (info.get("autoscale") or {}).get("last")
            if last:
                self.decisions[name] = last

    def _replace(self, rows: list[dict[str, Any]]) -> None:
        now = self.clock()
        self.rows = {row["id"]: dict(row) for row in rows if "id" in row}
        self.seen = {ident: now for ident in self.rows}
        self.history = {k: v for k, v in self.history.items() if k in self.rows}

    def _merge(self, row: dict[str, Any]) -> None:
        ident = row.get("id")
        if not ident:
            return
        old = self.rows.get(ident)
        if old is not None and old.get("pid") == row.get("pid"):
            # state events carry no metrics: keep the last sample of the same process
            for key in ("cpu_percent", "memory_bytes"):
                if row.get(key) is None:
                    row[key] = old.get(key)
        self.rows[ident] = row
        self.seen[ident] = self.clock()

    # queries

    def type_names(self) -> list[str]:
        """Formation order when a metrics event told it, else order of appearance."""
        names = list(self.types)
        for row in self.rows.values():
            if row.get("type") and row["type"] not in names:
                names.append(row["type"])
        return names

    def shown_types(self) -> list[str]:
        return [self.selected] if self.selected else self.type_names()

    def instances(self, type_name: str | None = None) -> list[dict[str, Any]]:
        order = {name: i for i, name in enumerate(self.type_names())}
        rows = [r for r in self.rows.values() if type_name is None or r.get("type") == type_name]
        return sorted(rows, key=lambda r: (order.get(r.get("type", ""), 0), r.get("index", 0)))

    def uptime(self, ident: str) -> float | None:
        row = self.rows[ident]
        up = row.get("uptime_s")
        if up is None or row.get("state") not in LIVE_STATES:
            return up
        return up + max(0.0, self.clock() - self.seen.get(ident, self.clock()))

    def totals(self, name: str) -> TypeTotals:
        rows, summary = self.instances(name), self.types.get(name)
        return type_totals(name, rows, summary, self.decisions.get(name))

    # the selected type

    def select(self, step: int) -> None:
        """Cycle all -> first type -> ... -> last type -> all (step -1 goes backwards)."""
        cycle: list[str | None] = [None, *self.type_names()]
        at = cycle.index(self.selected) if self.selected in cycle else 0
        self.selected = cycle[(at + step) % len(cycle)]
        self.version += 1

    def select_all(self) -> None:
        self.selected = None
        self.version += 1


# -- keys ------------------------------------------------------------------------------------

KEYS = {
    b"\x1b[Z": "prev",  # shift-tab
    b"\x1b[C": "next",  # right
    b"\x1b[D": "prev",  # left
    b"\t": "next",
    b"n": "next",
    b"p": "prev",
    b"a": "all",
    b"q": "quit",
    b"Q": "quit",
    b"\x03": "quit",  # ctrl-c, should the terminal not turn it into SIGINT
    b"\x04": "quit",  # ctrl-d
}


def parse_keys(data: bytes) -> list[str]:
    """Bytes read from a cbreak terminal -> actions; anything else is skipped."""
    actions = []
    while data:
        for seq, action in KEYS.items():
            if data.startswith(seq):
                actions.append(action)
                data = data[len(seq) :]
                break
        else:
            data = data[3:] if data.startswith(b"\x1b[") else data[1:]
    return actions


def handle_key(state: MonitState, action: str) -> bool:
    """Apply one action; True means quit."""
    if action == "quit":
        return True
    if action == "next":
        state.select(1)
    elif action == "prev":
        state.select(-1)
    elif action == "all":
        state.select_all()
    return False


# -- the view --------------------------------------------------------------------------------


def _cpu(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}%"


def _type_header(t: TypeTotals):
    from rich.text import Text

    line = Text()
    line.append(t.name, style=f"bold {render.type_style(t.name)}")
    desired = t.desired if t.desired is not None else t.instances
    line.append(
        f"  {t.running}/{desired} running", style="green" if t.running == desired else "yellow"
    )
    line.append(f" · cpu {_cpu(t.cpu)} · mem {render.size(t.memory)} · restarts {t.restarts}")
    if t.autoscale:
        a = t.autoscale
        line.append(
            f" · autoscale {a.get('min')}..{a.get('max')} at cpu {a.get('cpu')}%,"
            f" target {a.get('target')}" + (" (held by a manual scale)" if a.get("manual") else ""),
            style="cyan",
        )
    if t.last:
        line.append(f" · {t.last}", style="dim")
    return line


# (header, width, right-justified) of the fixed columns after the id
COLUMNS = (("pid", 7, True), ("state", 8, False), ("uptime", 6, True), ("↺", 3, True))
METRIC_COLUMNS = (("cpu", 6, True), ("memory", 9, True))


def _table(id_width: int, spark_width: int, note_width: int, header: bool):
    from rich.table import Table

    table = Table(
        box=None, show_header=header, header_style="bold", pad_edge=False, padding=(0, 1, 0, 0)
    )
    table.add_column("id", width=id_width, no_wrap=True)
    for name, width, right in COLUMNS + METRIC_COLUMNS:
        table.add_column(name, width=width, no_wrap=True, justify="right" if right else "left")
    table.add_column("cpu history", width=spark_width, no_wrap=True)
    table.add_column("note", max_width=note_width, no_wrap=True, overflow="ellipsis", style="dim")
    return table


def view(state: MonitState, width: int = 120):
    """The dashboard as one rich renderable, for a console this wide."""
    from rich.console import Group
    from rich.text import Text

    rows = state.instances()
    running = sum(1 for r in rows if r.get("state") == "running")
    title = Text()
    title.append("procman monit", style="bold")
    title.append(f"  {state.project}  {running}/{len(rows)} running")
    if state.sampled_at is None:
        title.append("  (cpu/memory: waiting for a sample)", style="dim")
    else:
        title.append(f"  sampled {time.strftime('%H:%M:%S', time.localtime(state.sampled_at))}")
    parts: list[Any] = [title]
    if not state.type_names():
        parts.append(Text('no instances; run "procman start"', style="dim"))
    id_width = max([4, *(len(r["id"]) for r in rows)])
    fixed = id_width + sum(w + 1 for _, w, _ in COLUMNS + METRIC_COLUMNS) + 1
    spark_width = max(11, min(state.history_len, width - fixed - 12))  # leave room for notes
    note_width = max(4, width - fixed - spark_width - 1)
    parts.append(_table(id_width, spark_width, note_width, header=True))
    for name in state.shown_types():
        parts.append(_type_header(state.totals(name)))
        table = _table(id_width, spark_width, note_width, header=False)
        for row in state.instances(name):
            ident = row["id"]
            note = row.get("status_text") or ""
            if row.get("state") in ("errored", "backoff", "exited") and row.get("reason"):
                note = row["reason"]
            table.add_row(
                Text(ident, style=render.type_style(name)),
                str(row.get("pid") or "-"),
                Text(row.get("state", "?"), style=render.STATE_STYLE.get(row.get("state", ""), "")),
                render.duration(state.uptime(ident)),
                str(row.get("restarts") or 0),
                _cpu(row.get("cpu_percent")),
                render.size(row.get("memory_bytes")),
                Text(
                    sparkline(list(state.history.get(ident, ()))[-spark_width:], spark_width),
                    "cyan",
                ),
                note,
            )
        parts.append(table)
    footer = Text("view: ", style="dim")
    views: list[tuple[str, str | None]] = [("all", None), *((n, n) for n in state.type_names())]
    for label, view in views:
        footer.append(f" {label} ", style="reverse" if state.selected == view else "")
    footer.append(f"   {HELP}", style="dim")
    parts.append(footer)
    return Group(*parts)


# -- the event reader ------------------------------------------------------------------------


@dataclass
class Ended:
    """The stream is over: message says why; error is set when it never started."""

    message: str
    error: ProcmanError | None = None


def read_events(client: Client, inbox: queue.Queue, wake: socket.socket) -> None:
    """The reader thread: every event of the stream, then an Ended, onto inbox."""
    try:
        for event in client.stream("events"):
            inbox.put(event)
            _poke(wake)
        inbox.put(Ended("the daemon closed the event stream (it has stopped)"))
    except DaemonUnavailable as exc:
        inbox.put(Ended(str(exc), exc))
    except ProcmanError as exc:
        inbox.put(Ended(f"the event stream ended: {exc}", exc))
    except Exception as exc:  # a bug: the main thread reports it
        inbox.put(Ended(f"the event stream failed: {exc!r}", ProcmanError(repr(exc))))
    _poke(wake)


def _poke(wake: socket.socket) -> None:
    try:
        wake.send(b"!")
    except OSError:  # full (a wakeup is pending anyway) or closed (monit has quit)
        pass


# -- the loop --------------------------------------------------------------------------------


def loop(
    state: MonitState,
    inbox: queue.Queue,
    wait: Callable[[float], list[str]],
    draw: Callable[[], None],
    clock: Callable[[], float] = time.monotonic,
) -> str | None:
    """Until quit (returns None) or the stream ends (returns why). wait(timeout) blocks until
    a key, an event or the timeout, and returns the key actions."""
    draw()
    drawn = clock()
    dirty = False
    while True:
        deadline = drawn + (EVENT_GAP if dirty else REFRESH)
        actions = wait(max(0.0, deadline - clock()))
        while True:
            try:
                item = inbox.get_nowait()
            except queue.Empty:
                break
            if isinstance(item, Ended):
                draw()
                return item.message
            dirty = state.apply(item) or dirty
        for action in actions:
            if handle_key(state, action):
                return None
        if actions or clock() >= deadline:
            draw()
            drawn = clock()
            dirty = False


class Inputs:
    """wait() for loop(): select on the wakeup socket and, on a terminal, stdin in cbreak mode
    (restored on close, whatever happened)."""

    def __init__(self, wake: socket.socket, stdin: Any = None) -> None:
        self.wake = wake
        self.fd: int | None = None
        self.saved: Any = None
        stdin = stdin if stdin is not None else sys.stdin
        try:
            fd = stdin.fileno()
        except (AttributeError, ValueError, OSError):
            return
        if os.isatty(fd):
            import termios
            import tty

            self.saved = termios.tcgetattr(fd)
            self.fd = fd
            tty.setcbreak(fd)

    def wait(self, timeout: float) -> list[str]:
        fds = [self.wake.fileno()] + ([self.fd] if self.fd is not None else [])
        ready = select.select(fds, [], [], timeout)[0]
        actions: list[str] = []
        if self.wake.fileno() in ready:
            try:
                self.wake.recv(4096)
            except BlockingIOError:
                pass
        if self.fd is not None and self.fd in ready:
            data = os.read(self.fd, 64)
            actions = parse_keys(data) if data else ["quit"]  # EOF: the terminal went away
        return actions

    def close(self) -> None:
        if self.fd is not None:
            import termios

            termios.tcsetattr(self.fd, termios.TCSADRAIN, self.saved)
            self.fd = None


def _first_event(inbox: queue.Queue, wait: Callable[[float], list[str]]) -> dict[str, Any]:
    deadline = time.monotonic() + FIRST_EVENT_TIMEOUT
    while True:
        try:
            item = inbox.get_nowait()
        except queue.Empty:
            left = deadline - time.monotonic()
            if left <= 0:
                raise DaemonUnavailable(
                    f"the daemon did not answer 'events' within {FIRST_EVENT_TIMEOUT:g}s"
                ) from None
            if "quit" in wait(left):
                raise KeyboardInterrupt from None
            continue
        if isinstance(item, Ended):
            raise item.error or ProcmanError(item.message)
        return item


def run_monit(client: Client) -> None:
    """The dashboard until `q`, Ctrl-C or the daemon going away (then a message)."""
    from rich.console import Console
    from rich.live import Live

    # Ctrl-C quits, whatever the program that started us did with SIGINT: a background job
    # of a shell gets it ignored, and an ignored signal stays ignored across exec
    signal.signal(signal.SIGINT, signal.default_int_handler)
    state = MonitState(client.project)
    inbox: queue.Queue = queue.Queue()
    wake_r, wake_w = socket.socketpair()
    wake_r.setblocking(False)
    wake_w.setblocking(False)
    # a daemon thread: it sits in the stream's recv(), and ends with the process
    threading.Thread(
        target=read_events, args=(client, inbox, wake_w), name="monit-events", daemon=True
    ).start()
    inputs = None
    try:
        inputs = Inputs(wake_r)
        state.apply(_first_event(inbox, inputs.wait))
        if render.fancy(sys.stdout):
            console = Console(highlight=False)
            with Live(
                view(state, console.width),
                console=console,
                screen=True,
                auto_refresh=False,
                redirect_stdout=False,
                redirect_stderr=False,
            ) as live:
                ended = loop(
                    state,
                    inbox,
                    inputs.wait,
                    lambda: live.update(view(state, console.width), refresh=True),
                )
        else:
            ended = loop(state, inbox, inputs.wait, _plain_printer(state))
    except KeyboardInterrupt:
        ended = None
    finally:
        if inputs is not None:
            inputs.close()
        wake_r.close()
        wake_w.close()
    if ended:
        render.info(f"procman monit: {ended}")


def _plain_printer(state: MonitState) -> Callable[[], None]:
    """Piped or TERM=dumb: print a plain frame when something changed, at most once a second."""
    from rich.console import Console

    console = Console(force_terminal=False, highlight=False)
    printed = {"version": -1, "at": 0.0}

    def draw() -> None:
        now = time.monotonic()
        if state.version == printed["version"] or now - printed["at"] < REFRESH:
            return
        printed.update(version=state.version, at=now)
        console.print(view(state, console.width))
        console.print()
        console.file.flush()

    return draw
