"""`procman monit`: a live dashboard over the daemon's `events` stream.

Three parts, so that only the last needs a terminal:
- `MonitState` (monit_model.py): the pure model of the events and the keys.
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
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from procman.cli import figures, render
from procman.cli.client import Client
from procman.cli.monit_model import (
    MonitState,
    handle_key,
    parse_keys,
    sparkline,
)
from procman.cli.render import TypeTotals
from procman.errors import DaemonUnavailable, ProcmanError

REFRESH = 1.0  # seconds between redraws (uptime ticks)
EVENT_GAP = 0.2  # an event redraws at once, but not more often than this
FIRST_EVENT_TIMEOUT = 10.0
HELP = "q quit · tab/n next type · p previous · a all"


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
        readings = ", ".join(
            f"{r['metric']} {figures.figure(r['metric'], r.get('current'))}"
            f"/{figures.figure(r['metric'], r.get('target'))}"
            for r in a.get("metrics") or []
        )
        line.append(
            f" · autoscale {a.get('min')}..{a.get('max')} at {readings or figures.rule_text(a)},"
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
    if state.recent:
        parts.append(Text("autoscale decisions", style="bold"))
        for at, line in state.recent:
            when = time.strftime("%H:%M:%S", time.localtime(at)) if at else "--:--:--"
            parts.append(Text(f"  {when} {line}", style="cyan"))
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
