"""The model behind `procman monit`: `MonitState` folds the daemon's `subscribed`,
`state`, `metrics` and `autoscale` events into per-instance rows, a CPU history per instance
and per-type totals, and holds the selected type; keys become actions. Pure: no terminal,
no socket, no rich."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from procman.cli.render import TypeTotals, type_totals

HISTORY = 30  # CPU samples kept per instance
DECISIONS = 5  # autoscale decisions listed under the instances, newest last
BARS = "▁▂▃▄▅▆▇█"
LIVE_STATES = ("starting", "running", "stopping")


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
        self.recent: deque[tuple[float | None, str]] = deque(maxlen=DECISIONS)  # as they came
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
            moved = f"{event.get('from')} → {event.get('to')}"
            line = f"autoscale {name} {moved}: {event.get('reason')}"
            self.decisions[name] = line
            self.recent.append((event.get("time"), line))
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
