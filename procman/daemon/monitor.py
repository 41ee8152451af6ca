"""The periodic sample: CPU and memory of every instance, max_memory, autoscaling, and the
`metrics` event for live dashboards.

It runs on a loop timer every sample_interval, and only samples when something uses the
figures (a type with max_memory or autoscale, an event subscriber, the metrics endpoint): a
formation of idle workers costs the daemon no CPU at all.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from procman.daemon.autoscale import Scaler
from procman.model import Formation, InstanceState

if TYPE_CHECKING:
    import asyncio

    from procman.daemon.supervisor import Supervisor

log = logging.getLogger("procman.monitor")
S = InstanceState
MB = 1024 * 1024


class Monitor:
    def __init__(self, sup: Supervisor, loop: asyncio.AbstractEventLoop) -> None:
        self.sup, self.loop = sup, loop
        self.scalers: dict[str, Scaler] = {}
        self.interval = 2.0
        self.always = False  # the metrics endpoint wants fresh figures
        self._timer: asyncio.TimerHandle | None = None

    def configure(self, formation: Formation) -> None:
        self.interval = formation.sample_interval
        scalers = {}
        for ptype in formation.types:
            if ptype.autoscale is not None:
                old = self.scalers.get(ptype.name)
                scaler = Scaler(ptype.autoscale, manual=old.manual if old else False)
                scalers[ptype.name] = scaler
        self.scalers = scalers
        self.wake()

    def wake(self) -> None:
        """Start the timer if anything needs samples (a new formation, a subscriber)."""
        if self._timer is None and self._needed():
            self._timer = self.loop.call_later(self.interval, self._tick)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _needed(self) -> bool:
        formation = self.sup.formation
        if formation is None:
            return False
        return (
            self.always
            or bool(self.sup.feeds)
            or bool(self.scalers)
            or any(t.max_memory for t in formation.types)
        )

    def _tick(self) -> None:
        self._timer = None
        if not self._needed():
            return  # idle: no timer at all until wake()
        self._timer = self.loop.call_later(self.interval, self._tick)
        try:
            self.sample()
        except Exception:  # one bad sample must not stop the next
            log.exception("sampling failed")

    def sample(self) -> dict[str, Any]:
        """Sample, act on the figures, tell subscribers; the `metrics` payload."""
        sup = self.sup
        rows = sup.status()
        self._enforce_memory(rows)
        self._autoscale(rows)
        payload = {"time": time.time(), "instances": rows, "types": self.types()}
        if sup.feeds:
            event = {"event": "metrics", **payload}
            for feed in sup.feeds:
                feed.offer(event)
        return payload

    def types(self) -> list[dict[str, Any]]:
        sup = self.sup
        out = []
        for ptype in sup.formation.types if sup.formation else ():
            insts = sup.slots.get(ptype.name, {}).values()
            scaler = self.scalers.get(ptype.name)
            out.append(
                {
                    "name": ptype.name,
                    "desired": sup.desired.get(ptype.name, 0),
                    "running": sum(1 for i in insts if i.state == S.RUNNING),
                    "autoscale": None
                    if scaler is None
                    else {
                        "min": scaler.spec.min,
                        "max": scaler.spec.max,
                        "cpu": scaler.spec.cpu,
                        "target": scaler.target,
                        "manual": scaler.manual,
                        "last": scaler.last,
                    },
                }
            )
        return out

    def _enforce_memory(self, rows: list[dict[str, Any]]) -> None:
        by_id = {str(i.id): i for i in self.sup.instances()}
        for row in rows:
            inst = by_id.get(row["id"])
            limit = inst.ptype.max_memory if inst else None
            used = row["memory_bytes"]
            if inst and limit and used and used > limit and inst.state == S.RUNNING:
                reason = f"memory {used / MB:.0f} MB > {limit / MB:.0f} MB"
                self.sup.memory_restart(inst, reason)

    def _autoscale(self, rows: list[dict[str, Any]]) -> None:
        now = self.loop.time()
        for name, scaler in self.scalers.items():
            running = [r for r in rows if r["type"] == name and r["state"] == "running"]
            cpus = [r["cpu_percent"] for r in running if r["cpu_percent"] is not None]
            mean = sum(cpus) / len(cpus) if cpus else None
            current = self.sup.desired.get(name, 0)
            decision = scaler.recommend(now, current, mean)
            if decision is None or scaler.manual:
                continue
            count, why = decision
            scaler.last = f"autoscale {name} {current} → {count}: {why}"
            self.sup.autoscale_to(name, current, count, why, scaler.last)
