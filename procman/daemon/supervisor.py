"""The formation at runtime: one Group per process type, and every verb that changes them
(start, delete, scale, stop, restart, reload, shutdown), plus wait(), the one way a verb
waits for its instances. One asyncio loop, no threads; instances never block it.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from procman.config.envfiles import instance_env
from procman.config.load import Source, load_formation
from procman.counts import resolve_counts
from procman.daemon import apps, conflicts, describe, phases, policy, report, targets
from procman.daemon.feed import EventBus
from procman.daemon.group import Group, preflight, regroup, scale_decisions
from procman.daemon.instance import Instance, Spawner
from procman.daemon.launcher import Launcher
from procman.daemon.listeners import HeldSockets
from procman.daemon.logs import LogHub
from procman.daemon.persist import StateFile, saved_source
from procman.daemon.prometheus import MetricsEndpoint
from procman.daemon.readiness import ReadinessTracker
from procman.daemon.reaper import Reaper
from procman.daemon.refresh import Refresher, Triggers
from procman.daemon.rollout import rolling_reload
from procman.daemon.sampler import Sampler
from procman.daemon.sampling import SampleTimer
from procman.daemon.waiters import Waiters, bound, gone_for_good, up_or_gave_up
from procman.daemon.watchdog import Watchdog
from procman.errors import ErrorCode, NotFound, ProcmanError, UsageError
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
        self.wait_up = functools.partial(conflicts.wait_up, self.wait)  # start, scale, restart
        self._outcome = functools.partial(self.waiters.outcome, self.instances, wait=self.wait_up)
        self.restored = state.unclean()
        self.read: list[describe.Stamp] = []  # the formation's files as last read
        refresher = Refresher(  # watch mode and cron_restart: a reload or restart of their own
            lambda name: self.groups.get(name), reload=self.reload, restart=self.restart,
            say=logs.system, background=self._background,
        )  # fmt: skip
        self.triggers = Triggers(loop, refresher, str(project), str(state.path.parent))

    # -- the verbs ------------------------------------------------------------------------

    async def start(
        self,
        source: dict[str, Any] | None = None,
        counts: dict[str, Any] | None = None,
        instances: int | str | None = None,
        types: list[str] | None = None,
        app: dict[str, Any] | None = None,
        force: bool = False,
        replace: bool = False,
    ) -> dict[str, Any]:
        """Load (or re-read) the formation, add an ad-hoc app (apps.py), bring the instances
        up in start order (phases.py): every type's, or only `types`."""
        first = self.formation is None
        current = saved_source(self.restored) if first else self.source
        keep = (self.restored or {}).get("counts", {}) if first else self.desired()
        request = apps.StartRequest(
            source, counts or {}, instances, types or [], app, force, replace
        )
        plan, formation, only, wanted = apps.prepare_start(
            self.project, current, self.formation, keep, request, self.base_env
        )
        self._check_ports(formation, {n: wanted[n] for n in only or wanted})
        self._install(formation, plan.source)
        for name, count in wanted.items():
            self.groups[name].desired = count
        self.restored = None
        retired = [i for g in list(self.groups.values()) if not g.defined for i in g.converge()]
        for inst in (i for n in plan.replaced for i in self.groups[n].instances() if i.live):
            if inst.launched is None or inst.launched.stale:  # a replaced app's old command
                inst.restart()
        self._forget_retired()
        self._save(running=True)
        for note in plan.notes:
            self.logs.system(note)
        touched, skipped, late = await phases.start_in_waves(
            self.groups, formation, only, self.wait_up
        )
        seconds = bound(retired, start=False)
        await self.wait(retired, self._settled, seconds)
        late += [(i, seconds) for i in retired if not self._settled(i)]
        outcome = report.outcome(
            retired + touched, self.instances(), skipped, self.logs.last_lines, late,
            self.waiters.released,
        )  # fmt: skip
        return {**outcome, "notes": plan.notes}

    async def delete(self, name: str) -> dict[str, Any]:
        """Stop and remove an ad-hoc app; the rest of the formation runs on."""
        formation = self._require_formation()
        source, rest = apps.without_app(self.source, formation, name)
        self._install(rest, source)
        gone = self.groups[name].converge() if name in self.groups else []
        self._save(running=True)
        self.logs.system(f"deleted {name}")
        await self.wait(gone, self._settled, bound(gone, start=False))
        self._forget_retired()
        return {"deleted": name, "stopped": [str(i.id) for i in gone], "types": self.summaries()}

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
        """Stop in the reverse start order: what waits for a type stops before it."""
        picked = self.select(target)
        late = await phases.stop_in_waves(
            self.groups, self.formation, picked, lambda g, insts: g.stop(insts), self.wait
        )
        down = report.outcome(picked, [], late=late, closing=self.waiters.released)
        return {**down, "status": report.sampled_rows(picked, self.sampler)}

    async def restart(self, target: str | None = None, update: bool = True) -> dict[str, Any]:
        """Stop then start; with update, on the formation and env files as they are now."""
        if update:
            self._reread()
        picked = [i for i in self.select(target) if self.groups[i.id.type].defined]
        picked = phases.restartable(picked, target)
        self._check_ports(self._require_formation(), self.desired())
        for inst in picked:
            self.groups[inst.id.type].ensure_listener(inst)
            inst.restart()
        return await self._outcome(picked, picked, up_or_gave_up, bound(picked))

    async def reload(self, target: str | None = None, parallel: int = 1) -> dict[str, Any]:
        """Re-read the formation and env files, then replace each picked slot's process by a
        new one that must be ready before the old one stops (see rollout.py)."""
        formation = self._reread()
        picked = phases.start_order(formation, phases.restartable(self.select(target), None))
        bad = await phases.release_first(self.groups, target, self.wait)
        if bad is not None:  # Heroku's release phase failed: nothing is replaced
            late = [] if bad.state in DOWN else [(bad, bound([bad]))]  # still running
            return report.outcome([bad], self.instances(), output=self.logs.last_lines, late=late)
        serving, failed = await rolling_reload(self.groups, picked, self.wait, parallel)
        return {"ok": not failed, "failed": failed, "status": report.plain_rows(serving)}

    def autoscale(self, name: str | None, on: bool | None) -> dict[str, Any]:
        """Turn a type's rule on or off (on=None: only report); the autoscaled types."""
        self._require_formation()
        if name is None and on is not None:
            raise UsageError("autoscale on/off needs a type")
        scaler = self.groups[name].scaler if name in self.groups else None
        if name is not None and scaler is None:
            raise NotFound(f"{name!r} has no autoscale rule in the formation")
        if scaler is not None and on is not None:
            scaler.manual = not on
            self.logs.system(f"autoscale {name} {'on' if on else 'off (manual count holds)'}")
        picked = [s for s in self.summaries() if s["autoscale"] and name in (None, s["name"])]
        return {"types": picked}

    def signal(self, target: str | None, signum: int, group: bool) -> dict[str, Any]:
        """signum to each picked instance's process, or with group to its process group."""
        picked = self.select(target)
        self.launcher.signal(picked, signum, group)
        return report.signalled(picked, signum, group)

    async def shutdown(self) -> None:
        self.timer.stop()
        self.triggers.close()
        self.endpoint.close()
        self.waiters.release()  # a verb in progress answers now, with its outcome
        replacements = [i for i in self._everyone() if i.replacement]
        for inst in replacements:
            inst.stop()
        late = await phases.stop_in_waves(
            self.groups, self.formation, self.instances(), phases.stop_now, self.wait,
            gone_for_good,
        )  # fmt: skip
        await self.wait(replacements, lambda i: not i.live, bound(replacements, start=False))
        self.launcher.end_all(late)  # and whatever they left behind
        self.held.close_all()
        if self.formation is not None:
            self._save(running=False)

    # -- what it reports ------------------------------------------------------------------

    def status(self, target: str | None = None) -> list[dict[str, Any]]:
        picked = self.select(target) if target else self.instances()
        return report.sampled_rows(picked, self.sampler)

    def summaries(self) -> list[dict[str, Any]]:
        """One entry per type of the formation: counts and autoscale state."""
        if self.formation is None:
            return []
        return [self.groups[name].summary() for name in self.formation.names]

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
        for decision in scale_decisions(self.groups, rows, self.loop.time(), payload["time"]):
            self.logs.system(decision.line)
            self.groups[decision.type].scale_to(decision.count)
            self._save(running=True)
            self.events.publish(decision.event())
        payload["types"] = self.summaries()  # with this sample's readings
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
        desired, formation = self.groups[inst.id.type].desired, self._require_formation()
        return instance_env(self.base_env, formation, inst.ptype, inst.index, desired)

    def _install(self, formation: Formation, source: Source) -> None:
        """Adopt a (re-read) formation: new spawns use the new definitions."""
        self.formation, self.source = formation, source
        self.read = describe.stamps(formation)
        self.logs.max_size, self.logs.keep = formation.log_max_size, formation.log_keep
        self.timer.interval = formation.sample_interval
        self.groups = regroup(self.groups, formation, self._new_group)
        self.launcher.installed(formation.env, self._everyone())  # who runs an old definition
        self._forget_retired()
        self.endpoint.ensure(formation.metrics_port)
        self.timer.wake()
        self.triggers.update(formation.types)

    def take_over(self, formation: Formation, source: Source) -> None:
        """`procman update`, in the new image: the old one's formation, nothing spawned."""
        self._install(formation, source)
        self.restored = None

    @property
    def background(self) -> int:
        """Work under way on the daemon's own initiative (drains, watch and cron refreshes)."""
        return len(self._tasks)

    def _new_group(self, ptype: ProcessType) -> Group:
        group = Group(
            ptype, held=self.held, new_instance=self._new_instance, background=self._background
        )
        group.desired = ptype.instances  # a type new in a re-read file: `start` brings it up
        return group

    def _forget_retired(self) -> None:
        """Types gone from the file whose last instance has been removed."""
        for name in [n for n, g in self.groups.items() if not g.defined and not g.slots]:
            del self.groups[name]

    def _background(self, coro: Coroutine[Any, Any, None]) -> None:
        task = self.loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _check_ports(self, formation: Formation, counts: dict[str, int]) -> None:
        own = {i.pid for i in self.instances() if i.pid}
        preflight(self.groups, formation, counts, self.held.host, own)

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

    # -- helpers --------------------------------------------------------------------------

    def _sampling_needed(self) -> bool:
        wanted = self.endpoint.wanted or self.events.wanted
        policies = any(g.scaler is not None or g.ptype.max_memory for g in self.groups.values())
        return self.formation is not None and (wanted or policies)

    def _reread(self) -> Formation:
        """reload and restart: the formation and env files as they are now."""
        self._require_formation()
        source = self.source or Source()
        formation = load_formation(self.project, source, self.base_env)
        self._install(formation, source)
        self._save(running=True)
        return formation

    def _require_formation(self) -> Formation:
        if self.formation is None:
            raise ProcmanError('no formation is loaded; run "procman start"', ErrorCode.NOT_FOUND)
        return self.formation

    def _save(self, running: bool) -> None:
        self.state.record(self.source, self.formation, self.desired(), running)
