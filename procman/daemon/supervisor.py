"""The formation at runtime: one Group per process type, and every verb that changes them
(start, scale, stop, restart, reload, shutdown), plus wait(), the one way a verb waits for
its instances. One asyncio loop, no threads; instances never block it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from procman.config.describe import describe_formation
from procman.config.envfiles import instance_env
from procman.config.load import Source, cpu_count, load_formation
from procman.counts import CountSpec, resolve_counts
from procman.daemon import policy, report, targets
from procman.daemon.feed import EventBus
from procman.daemon.group import Group, regroup
from procman.daemon.instance import Instance, Spawner
from procman.daemon.launcher import Launcher
from procman.daemon.listeners import HeldSockets, check_port_free
from procman.daemon.logs import LogHub
from procman.daemon.persist import StateFile, saved_source
from procman.daemon.prometheus import MetricsEndpoint
from procman.daemon.readiness import ReadinessTracker
from procman.daemon.reaper import Reaper
from procman.daemon.rollout import rolling_reload
from procman.daemon.sampler import Sampler
from procman.daemon.sampling import SampleTimer
from procman.daemon.waiters import Done, Waiters, bound, gone_for_good, is_down, up_or_gave_up
from procman.daemon.watchdog import Watchdog
from procman.errors import ErrorCode, NotFound, ProcmanError
from procman.model import DOWN, Formation, InstanceState, ProcessType

log = logging.getLogger("procman.supervisor")


class Supervisor:
    def __init__(
        self,
        project: Path,
        *,
        loop: asyncio.AbstractEventLoop,
        logs: LogHub,
        state: StateFile,
        base_env: dict[str, str],
        reaper: Reaper | None = None,
        watchdog: Watchdog | None = None,
        notify_path: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        spawner: Spawner | None = None,
        metrics_port: int | None = None,
    ) -> None:
        self.project, self.loop, self.logs, self.state = project, loop, logs, state
        self.base_env, self.clock = base_env, clock
        self.held = HeldSockets(base_env.get("PROCMAN_HOST", "0.0.0.0"))
        self.groups: dict[str, Group] = {}
        self.formation: Formation | None = None
        self.source: Source | None = None
        self.events = EventBus()
        self.sampler = Sampler()
        self.launcher = Launcher(
            project,
            env_for=self._env_for,
            held=self.held,
            logs=logs,
            reaper=reaper or Reaper(),
            watchdog=watchdog or Watchdog(),
            later=loop.call_later,
            env=base_env,
        )
        self.readiness = ReadinessTracker(loop, notify_path, self.launcher.owner)
        self.launcher.readiness = self.readiness
        self.spawner: Spawner = spawner or self.launcher
        self.timer = SampleTimer(loop, self._sampling_needed, self.sample)
        self.endpoint = MetricsEndpoint(
            loop,
            self.metrics,
            base_env.get("PROCMAN_METRICS_HOST", "127.0.0.1"),
            metrics_port,
            on_error=logs.system,
        )
        self._tasks: set[asyncio.Task[None]] = set()
        self.waiters = Waiters(loop)
        self.wait = self.waiters.wait
        self.restored = state.unclean()
        self.closing = False

    # -- the verbs ------------------------------------------------------------------------

    async def start(
        self,
        source: dict[str, Any] | None = None,
        counts: dict[str, Any] | None = None,
        instances: int | str | None = None,
    ) -> dict[str, Any]:
        """Load (or re-read) the formation, set counts, bring every instance up."""
        first = self.formation is None
        src = self._pick_source(source)
        formation = load_formation(self.project, src)
        # file counts, then what this daemon (or the one before it) had, then -i, then TYPE=N
        wanted = {t.name: t.instances for t in formation.types}
        keep = (self.restored or {}).get("counts", {}) if first else self.desired()
        wanted.update({n: c for n, c in keep.items() if n in wanted and isinstance(c, int)})
        if instances is not None:
            every = CountSpec.parse(str(instances)).apply(0, cpu_count())
            wanted = dict.fromkeys(wanted, every)
        wanted.update(resolve_counts(counts or {}, wanted, formation.names))
        self._check_ports(formation, wanted)
        self._install(formation, src)
        for name, count in wanted.items():
            self.groups[name].desired = count
        self.restored = None
        affected = [i for g in list(self.groups.values()) for i in g.converge()]
        self._forget_retired()
        self._save(running=True)
        return await self._outcome(affected, affected, self._settled, bound(affected))

    async def scale(self, counts: dict[str, Any]) -> dict[str, Any]:
        formation = self._require_formation()
        resolved = resolve_counts(counts, self.desired(), formation.names)
        self._check_ports(formation, resolved)
        affected = []
        for name, count in resolved.items():
            group = self.groups[name]
            if group.scaler is not None:  # a manual count holds until `autoscale TYPE on`
                group.scaler.manual = True
            group.desired = count
            affected += group.converge(everyone=False)
        self._save(running=True)
        wanted = [i for i in affected if i.index < self.groups[i.id.type].desired]
        return await self._outcome(wanted, affected, self._settled, bound(affected))

    async def stop(self, target: str | None = None) -> dict[str, Any]:
        picked = self.select(target)
        await asyncio.gather(*(g.stop(picked_of(g, picked)) for g in self.groups.values()))
        down = await self._outcome(picked, picked, is_down, bound(picked, start=False))
        return {**down, "status": report.sampled_rows(picked, self.sampler)}

    async def restart(self, target: str | None = None) -> dict[str, Any]:
        picked = self.select(target)
        self._check_ports(self._require_formation(), {})
        for inst in picked:
            self.groups[inst.id.type].ensure_listener(inst)
            inst.restart()
        return await self._outcome(picked, picked, up_or_gave_up, bound(picked))

    async def reload(self, target: str | None = None, parallel: int = 1) -> dict[str, Any]:
        """Re-read the formation and env files, then replace each picked slot's process by a
        new one that must be ready before the old one stops (see rollout.py)."""
        source = self._pick_source(None)
        self._install(load_formation(self.project, source), source)
        picked = self.select(target)
        self._save(running=True)
        serving, failed = await rolling_reload(self.groups, picked, self.wait, parallel)
        return {"ok": not failed, "failed": failed, "status": report.plain_rows(serving)}

    def set_autoscale(self, name: str, on: bool) -> dict[str, Any]:
        self._require_formation()
        group = self.groups.get(name)
        if group is None or group.scaler is None:
            raise NotFound(f"{name!r} has no autoscale rule in the formation")
        group.scaler.manual = not on
        self.logs.system(f"autoscale {name} {'on' if on else 'off (manual count holds)'}")
        return {"types": self.summaries()}

    async def shutdown(self) -> None:
        self.timer.stop()
        self.endpoint.close()
        self.closing = True
        self.waiters.release()  # a verb in progress answers now, with its outcome
        everyone = self._everyone()
        for inst in everyone:
            inst.stop()
        gone = await self.wait(everyone, gone_for_good, bound(everyone, start=False))
        if not gone:
            log.warning("instances still up after their kill_timeout: killing them")
        self.launcher.end_all()  # and whatever they left behind
        self.held.close_all()
        if self.formation is not None:
            self._save(running=False)

    def kill_all(self) -> None:
        """The impatient path (a second Ctrl-C): SIGKILL every instance now."""
        self.launcher.kill_all()

    # -- what it reports ------------------------------------------------------------------

    def status(self, target: str | None = None) -> list[dict[str, Any]]:
        picked = self.select(target) if target else self.instances()
        return report.sampled_rows(picked, self.sampler)

    def summaries(self) -> list[dict[str, Any]]:
        """One entry per type of the formation: counts and autoscale state."""
        if self.formation is None:
            return []
        return [self.groups[name].summary() for name in self.formation.names]

    def formation_info(self) -> dict[str, Any]:
        return describe_formation(self._require_formation(), self.desired())

    def metrics(self) -> dict[str, Any]:
        rows = self.status() if self.formation else []
        return {"time": time.time(), "instances": rows, "types": self.summaries()}

    def sample(self) -> dict[str, Any]:
        """The periodic sample: enforce max_memory, autoscale, tell event subscribers."""
        payload = self.metrics()
        rows = payload["instances"]
        limits = {g.name: g.ptype.max_memory for g in self.groups.values()}
        by_id = {str(i.id): i for i in self.instances()}
        for breach in policy.memory_restarts(rows, limits):
            self.logs.system(f"{breach.id} {breach.reason}; restarting")
            by_id[breach.id].memory_restart(breach.reason)
        scalers = {g.name: g.scaler for g in self.groups.values() if g.scaler is not None}
        for decision in policy.scale_decisions(scalers, rows, self.desired(), self.loop.time()):
            self.logs.system(decision.line)
            self.groups[decision.type].scale_to(decision.count)
            self._save(running=True)
            self.events.publish(decision.event())
        if self.events.wanted:
            self.events.publish({"event": "metrics", **payload})
        return payload

    # -- instances ------------------------------------------------------------------------

    def instances(self) -> list[Instance]:
        return [i for g in self.groups.values() for i in g.instances()]

    def desired(self) -> dict[str, int]:
        return {name: g.desired for name, g in self.groups.items()}

    def select(self, target: str | None) -> list[Instance]:
        """all / None, a type name, or an instance id like web.2."""
        return targets.select(self.groups, self._require_formation(), target)

    def parse_target(self, target: str) -> tuple[str, str]:
        return targets.parse(self.groups, self._require_formation(), target)

    def _everyone(self) -> list[Instance]:
        """Every instance with or without a slot: a reload's replacements too."""
        extra = [i for i in self.launcher.by_pid.values() if i.replacement]
        return self.instances() + extra

    def _new_instance(self, ptype: ProcessType, index: int) -> Instance:
        return Instance(
            ptype, index, spawner=self.spawner, timers=self.loop, clock=self.clock,
            on_change=self._changed,
        )  # fmt: skip

    def _env_for(self, inst: Instance) -> dict[str, str]:
        formation = self._require_formation()
        return instance_env(self.base_env, formation, inst.ptype, inst.index)

    def _install(self, formation: Formation, source: Source) -> None:
        """Adopt a (re-read) formation: new spawns use the new definitions."""
        self.formation, self.source = formation, source
        self.logs.max_size, self.logs.keep = formation.log_max_size, formation.log_keep
        self.timer.interval = formation.sample_interval
        self.groups = regroup(self.groups, formation, self._new_group)
        self._forget_retired()
        self.endpoint.ensure(formation.metrics_port)
        self.timer.wake()

    def _new_group(self, ptype: ProcessType) -> Group:
        return Group(
            ptype, held=self.held, new_instance=self._new_instance, background=self._background
        )

    def _forget_retired(self) -> None:
        """Types gone from the file whose last instance has been removed."""
        for name in [n for n, g in self.groups.items() if not g.defined and not g.slots]:
            del self.groups[name]

    def _background(self, coro: Coroutine[Any, Any, None]) -> None:
        task = self.loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _check_ports(self, formation: Formation, counts: dict[str, int]) -> None:
        """Before anything changes: a port type that has nothing up yet must find its port
        free of other programs, or the kernel would let us share it with them silently."""
        own = {i.pid for i in self.instances() if i.pid}
        for ptype in formation.types:
            group = self.groups.get(ptype.name)
            if ptype.port and counts.get(ptype.name, 1) and not (group and group.occupied()):
                check_port_free(ptype.port, self.held.host, own)

    # -- state changes --------------------------------------------------------------------

    def _changed(self, inst: Instance, old: InstanceState) -> None:
        group = self.groups.get(inst.id.type)
        if group is not None:
            group.changed(inst, old)
        note = report.describe_change(inst, old)
        if note:
            self.logs.system(note)
        self.readiness.changed(inst, inst.state)
        if self.events.wanted:
            self.events.publish({"event": "state", "old": old.value, **report.row(inst).as_dict()})
        self.waiters.check()

    def _settled(self, inst: Instance) -> bool:
        group = self.groups.get(inst.id.type)
        return group.settled(inst) if group is not None else inst.state in DOWN

    async def _outcome(
        self, touched: list[Instance], waited: list[Instance], done: Done, seconds: float
    ) -> dict[str, Any]:
        """Wait (at most `seconds`) for `waited`, then say how each of `touched` ended."""
        await self.wait(waited, done, seconds)
        late = [i for i in waited if not done(i)]
        return report.outcome(touched, self.instances(), late, seconds, self.closing)

    # -- helpers --------------------------------------------------------------------------

    def _sampling_needed(self) -> bool:
        if self.formation is None:
            return False
        return (
            self.endpoint.wanted
            or self.events.wanted
            or any(g.scaler is not None or g.ptype.max_memory for g in self.groups.values())
        )

    def _pick_source(self, source: dict[str, Any] | None) -> Source:
        if source is not None:
            return Source.from_dict(source)
        if self.source is not None:
            return self.source
        return saved_source(self.restored) or Source()

    def _require_formation(self) -> Formation:
        if self.formation is None:
            raise ProcmanError('no formation is loaded; run "procman start"', ErrorCode.NOT_FOUND)
        return self.formation

    def _save(self, running: bool) -> None:
        formation = self.formation
        source = self.source.to_dict() if self.source else None
        names = formation.names if formation else []
        counts = {n: g.desired for n, g in self.groups.items() if g.desired or n in names}
        self.state.save(source, names, counts, running)


def picked_of(group: Group, picked: list[Instance]) -> list[Instance]:
    return [i for i in picked if i.id.type == group.name]
