"""The formation at runtime: desired counts vs the instances that exist, and every verb
that changes them. One asyncio loop, no threads; instances never block it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from procman.config.envfiles import instance_env
from procman.config.load import Source, cpu_count, load_formation
from procman.counts import CountSpec
from procman.daemon import spawn
from procman.daemon.instance import Instance, backoff_delay, describe_exit
from procman.daemon.listeners import HeldSockets, foreign_listeners, port_in_use_message
from procman.daemon.logs import LogHub
from procman.daemon.metrics import Sampler
from procman.daemon.monitor import Monitor
from procman.daemon.readiness import wait_ready
from procman.daemon.reaper import Reaper
from procman.daemon.rollout import rolling_reload
from procman.daemon.state import read_state, write_state
from procman.daemon.watchdog import Watchdog
from procman.errors import (
    ConfigError,
    ErrorCode,
    NotFound,
    PortInUse,
    ProcmanError,
    SpawnError,
    UsageError,
)
from procman.model import (
    DOWN,
    UP_OR_GAVE_UP,
    Formation,
    InstanceId,
    InstanceState,
    InstanceStatus,
    ProcessType,
)

log = logging.getLogger("procman.supervisor")
S = InstanceState

EVENT_QUEUE = 4096


@dataclass(eq=False)
class EventFeed:
    queue: deque = field(default_factory=deque)
    wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    dropped: bool = False

    def offer(self, event: dict[str, Any]) -> None:
        if self.dropped:
            return
        if len(self.queue) >= EVENT_QUEUE:
            self.dropped = True
            self.queue.clear()
        else:
            self.queue.append(event)
        self.wakeup.set()


class Supervisor:
    def __init__(
        self,
        project: Path,
        *,
        loop: asyncio.AbstractEventLoop,
        logs: LogHub,
        reaper: Reaper,
        state_path: Path,
        base_env: dict[str, str],
        notify_path: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        watchdog: Watchdog | None = None,
    ) -> None:
        self.project, self.loop, self.logs, self.reaper = project, loop, logs, reaper
        self.state_path, self.base_env, self.notify_path = state_path, base_env, notify_path
        self.clock = clock
        self.watchdog = watchdog or Watchdog()
        self.timers = loop  # loop.call_later is the Timers an Instance needs
        self.host = base_env.get("PROCMAN_HOST", "0.0.0.0")
        self.formation: Formation | None = None
        self.source: Source | None = None
        self.desired: dict[str, int] = {}
        self.slots: dict[str, dict[int, Instance]] = {}
        self.held = HeldSockets(self.host)  # the slots' listeners and their steering
        self._tasks: set[asyncio.Task] = set()
        self.feeds: set[EventFeed] = set()
        self.sampler = Sampler()
        # keyed by Instance, not id: during a reload two instances share a slot's id
        self.notified: dict[Instance, asyncio.Event] = {}
        self._ready_tasks: dict[Instance, asyncio.Task] = {}
        self.replacements: set[Instance] = set()  # new processes of a reload, not yet adopted
        self._waiters: list[tuple[list[Instance], Callable[[Instance], bool], asyncio.Future]] = []
        self._by_pid: dict[int, Instance] = {}
        self.restored = self._previous_state()
        self.monitor = Monitor(self, loop)
        self.metrics_port: int | None = None  # `procman daemon --metrics-port` wins over the file
        self.exporter: asyncio.Server | None = None

    # -- the verbs ------------------------------------------------------------------------

    async def start(
        self,
        source: dict | None = None,
        counts: dict[str, Any] | None = None,
        instances: int | str | None = None,
    ) -> dict[str, Any]:
        """Load (or re-read) the formation, set counts, bring every instance up."""
        first = self.formation is None
        src = self._pick_source(source)
        formation = load_formation(self.project, src)
        # file counts, then what this daemon (or the one before it) had, then -i, then TYPE=N
        wanted = {t.name: t.instances for t in formation.types}
        keep = (self.restored or {}).get("counts", {}) if first else self.desired
        wanted.update({n: c for n, c in keep.items() if n in wanted and isinstance(c, int)})
        if instances is not None:
            every = CountSpec.parse(str(instances)).apply(0, cpu_count())
            wanted = dict.fromkeys(wanted, every)
        wanted.update(self._resolve_counts(counts or {}, wanted, formation))
        self._check_ports(formation, wanted)
        self._install(formation, src)
        for name, count in wanted.items():
            self.desired[name] = count
        for name in list(self.desired):
            if formation.get(name) is None:
                self.desired[name] = 0
        self.restored = None
        affected = self._converge()
        self._save(running=True)
        await self.wait(affected, self._settled)
        return self._outcome(affected)

    async def scale(self, counts: dict[str, Any]) -> dict[str, Any]:
        formation = self._require_formation()
        resolved = self._resolve_counts(counts, self.desired, formation)
        self._check_ports(formation, resolved)
        for name in resolved:  # a manual count holds until `procman autoscale TYPE on`
            if name in self.monitor.scalers:
                self.monitor.scalers[name].manual = True
        self.desired.update(resolved)
        affected = self._converge(only=set(resolved))
        self._save(running=True)
        await self.wait(affected, self._settled)
        return self._outcome([i for i in affected if i.index < self.desired[i.id.type]])

    async def stop(self, target: str | None = None) -> dict[str, Any]:
        picked = self._select(target)
        await asyncio.gather(
            *(self._drain_then_stop(i) for i in sorted(picked, key=lambda i: -i.index))
        )
        await self.wait(picked, lambda i: i.state in DOWN)
        return {"status": self._rows(picked)}

    async def restart(self, target: str | None = None) -> dict[str, Any]:
        picked = self._select(target)
        self._check_ports(self._require_formation(), {})
        for inst in picked:
            self.ensure_listener(inst)
            inst.restart()
        await self.wait(picked, lambda i: i.state in UP_OR_GAVE_UP)
        return self._outcome(picked)

    async def reload(self, target: str | None = None, parallel: int = 1) -> dict[str, Any]:
        """Re-read the formation and env files, then replace each picked slot's process by a
        new one that must be ready before the old one stops (see rollout.py)."""
        formation = load_formation(self.project, self._pick_source(None))
        self._install(formation, self.source)
        picked = self._select(target)
        self._save(running=True)
        serving, failed = await rolling_reload(self, picked, parallel)
        return {"ok": not failed, "failed": failed, "status": self._rows_plain(serving)}

    def memory_restart(self, inst: Instance, reason: str) -> None:
        """max_memory passed: a graceful restart, the reason kept for status."""
        self.logs.system(f"{inst.id} {reason}; restarting")
        inst.restart()
        inst.reason = reason
        inst.restarts += 1

    def autoscale_to(self, name: str, current: int, count: int, why: str, line: str) -> None:
        self.logs.system(line)
        self.desired[name] = count
        self._converge(only=[name])
        self._save(running=True)
        event = {"event": "autoscale", "type": name, "from": current, "to": count, "reason": why}
        for feed in self.feeds:
            feed.offer(event)

    def set_autoscale(self, name: str, on: bool) -> dict[str, Any]:
        self._require_formation()
        scaler = self.monitor.scalers.get(name)
        if scaler is None:
            raise NotFound(f"{name!r} has no autoscale rule in the formation")
        scaler.manual = not on
        self.logs.system(f"autoscale {name} {'on' if on else 'off (manual count holds)'}")
        return {"types": self.monitor.types()}

    def metrics(self) -> dict[str, Any]:
        rows = self.status() if self.formation else []
        return {"time": time.time(), "instances": rows, "types": self.monitor.types()}

    async def _serve_metrics(self, port: int) -> None:
        from procman.daemon import exporter

        host = self.base_env.get("PROCMAN_METRICS_HOST", "127.0.0.1")
        try:
            self.exporter = await exporter.serve(self.metrics, host, port)
        except OSError as exc:
            log.error("no metrics endpoint on %s:%d: %s", host, port, exc)
            self.logs.system(f"metrics endpoint {host}:{port} unavailable: {exc.strerror}")

    async def shutdown(self) -> None:
        self.monitor.stop()
        if self.exporter is not None:
            self.exporter.close()
            self.exporter = None
        everyone = self.instances() + list(self.replacements)
        for inst in everyone:
            inst.stop()
        await self.wait(everyone, lambda i: not i.live and i.state != S.BACKOFF)
        self.held.close_all()
        if self.formation is not None:
            self._save(running=False)

    def kill_all(self) -> None:
        """The impatient path (a second Ctrl-C): SIGKILL every group now."""
        for inst in self.instances() + list(self.replacements):
            if inst.pid is not None:
                spawn.kill_group(inst.pid, 9)

    def status(self, target: str | None = None) -> list[dict[str, Any]]:
        picked = self._select(target) if target else self.instances()
        return self._rows(picked)

    def formation_info(self) -> dict[str, Any]:
        formation = self._require_formation()
        return {
            "root": str(formation.root),
            "source": str(formation.source) if formation.source else None,
            "types": [
                {
                    "name": t.name,
                    "cmd": t.cmd,
                    "desired": self.desired.get(t.name, 0),
                    "port": t.port,
                    "socket": t.socket,
                    "ready": str(t.ready),
                    "restart": t.restart.value,
                }
                for t in formation.types
            ],
        }

    # -- instances ------------------------------------------------------------------------

    def instances(self) -> list[Instance]:
        order = (
            {name: pos for pos, name in enumerate(self.formation.names)} if self.formation else {}
        )
        out: list[Instance] = []
        for name in sorted(self.slots, key=lambda n: order.get(n, len(order))):
            out.extend(self.slots[name][i] for i in sorted(self.slots[name]))
        return out

    def _select(self, target: str | None) -> list[Instance]:
        """all / None, a type name, or an instance id like web.2."""
        self._require_formation()
        if target in (None, "", "all"):
            return self.instances()
        assert target is not None
        if target in self.slots or (self.formation and self.formation.get(target)):
            return [self.slots.get(target, {})[i] for i in sorted(self.slots.get(target, {}))]
        try:
            iid = InstanceId.parse(target)
        except ValueError:
            iid = None
        if iid is not None and iid.index in self.slots.get(iid.type, {}):
            return [self.slots[iid.type][iid.index]]
        known = ", ".join(self.formation.names) if self.formation else "none"
        raise NotFound(f"no process type or instance {target!r} (types: {known})")

    def _install(self, formation: Formation, source: Source) -> None:
        """Adopt a (re-read) formation: new spawns use the new definitions."""
        old = self.formation
        self.formation, self.source = formation, source
        self.logs.max_size, self.logs.keep = formation.log_max_size, formation.log_keep
        self.monitor.configure(formation)
        port = self.metrics_port or formation.metrics_port
        self.monitor.always = bool(port)
        self.monitor.wake()
        if port and self.exporter is None:
            self._spawn_task(self._serve_metrics(port))
        for ptype in formation.types:
            before = old.get(ptype.name) if old else None
            if before is not None and (before.port, before.socket) != (ptype.port, ptype.socket):
                self.held.close_type(ptype.name)
            for inst in self.slots.get(ptype.name, {}).values():
                inst.ptype = ptype

    def _converge(self, only: Iterable[str] | None = None) -> list[Instance]:
        """Create and start what is missing, retire the surplus (highest index first)."""
        assert self.formation is not None
        touched: list[Instance] = []
        names = list(only) if only is not None else list(self.desired)
        for name in names:
            want = self.desired.get(name, 0)
            slots = self.slots.setdefault(name, {})
            ptype = self.formation.get(name)
            for index in range(want if ptype else 0):
                inst = slots.get(index)
                if inst is None:
                    inst = slots[index] = self.new_instance(ptype, index)
                if inst.state not in (S.STARTING, S.RUNNING) or only is None:
                    self.ensure_listener(inst)
                    inst.start()
                touched.append(inst)
            for index in sorted((i for i in slots if i >= want), reverse=True):
                inst = slots[index]
                touched.append(inst)
                if inst.state == S.STOPPED:
                    self._remove(inst)
                else:
                    self._spawn_task(self._drain_then_stop(inst))
            if not slots and ptype is None:
                del self.slots[name]
        return touched

    def _remove(self, inst: Instance) -> None:
        """Forget a scaled-away instance and close its slot's listener."""
        slots = self.slots.get(inst.id.type, {})
        if slots.get(inst.index) is not inst:
            return  # a reload's old process: the slot lives on with its replacement
        del slots[inst.index]
        self.held.close(inst.id)
        self.notified.pop(inst, None)
        self._steer(inst.ptype)

    def new_instance(self, ptype: ProcessType, index: int) -> Instance:
        return Instance(
            ptype,
            index,
            spawner=self,
            timers=self.timers,
            clock=self.clock,
            on_change=self._changed,
        )

    def adopt(self, inst: Instance) -> None:
        """A reload's replacement takes over its slot."""
        self.slots.setdefault(inst.id.type, {})[inst.index] = inst

    def ensure_listener(self, inst: Instance) -> None:
        ptype = inst.ptype
        if ptype.socket and ptype.port and self.held.ensure(inst.id, ptype.port):
            self._steer(ptype)

    def _steer(self, ptype: ProcessType) -> None:
        self.held.steer(ptype.port, self.slots.get(ptype.name, {}).values())

    async def _drain_then_stop(self, inst: Instance) -> None:
        """Stop an instance without resetting connections queued on its listener: steer new
        connections to the other running slots and let it accept its queue first (its
        listener closes once it is down, if the slot is scaled away)."""
        await self.held.drain(inst, lambda: self._steer(inst.ptype))
        # stop first, then leave `draining`: in between, a steer would hand the slot
        # new connections again, to be reset when its listener closes
        inst.stop()
        self.held.draining.discard(inst)

    def _spawn_task(self, coro: Any) -> None:
        task = self.loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _check_ports(self, formation: Formation, counts: dict[str, int]) -> None:
        """Before anything changes: a port type that has nothing up yet must find its port
        free of other programs, or the kernel would let us share it with them silently."""
        for ptype in formation.types:
            if ptype.port is None or counts.get(ptype.name, 1) == 0:
                continue
            ours = [i for i in self.slots.get(ptype.name, {}).values() if i.live]
            held = self.held.holds(ptype.name)
            if ours or held:
                continue
            own = {i.pid for i in self.instances() if i.pid}
            if foreign_listeners(ptype.port, own):
                raise PortInUse(port_in_use_message(ptype.port, self.host))

    # -- Spawner (what Instance calls) ------------------------------------------------------

    def spawn(self, inst: Instance) -> int:
        assert self.formation is not None
        ptype = inst.ptype
        env = instance_env(self.base_env, self.formation, ptype, inst.index)
        if ptype.ready.kind == "notify" and self.notify_path:
            env["NOTIFY_SOCKET"] = self.notify_path
            self.notified[inst] = asyncio.Event()
        listener = self.held.get(inst.id)
        try:
            popen, fd = spawn.spawn_process(
                ptype.cmd,
                env,
                ptype.cwd or self.project,
                listener.fileno() if listener is not None else None,
                ptype.name,
            )
        except OSError as exc:  # out of fds or memory: a failed start, not a daemon crash
            raise SpawnError(f"cannot start {inst.id}: {exc}") from None
        pid = popen.pid
        # Registered before we return to the loop, so SIGCHLD cannot beat us to it.
        self._by_pid[pid] = inst

        def exited(pid: int, code: int) -> None:
            popen.returncode = code
            self._by_pid.pop(pid, None)
            inst.exited(pid, code)  # which SIGKILLs what is left of the group
            self.watchdog.forget(pid)

        self.reaper.watch(pid, exited)
        self.watchdog.watch(pid)
        self.logs.attach(fd, ptype.name, str(inst.id))
        return pid

    def kill_group(self, pid: int, sig: int) -> None:
        spawn.kill_group(pid, sig)

    def on_notify(self, pid: int, fields: dict[str, str]) -> None:
        """An sd_notify datagram from pid (or one of its descendants)."""
        inst = self._by_pid.get(pid) or self._owner_of(pid)
        if inst is None:
            return
        if "STATUS" in fields:
            inst.status_text = fields["STATUS"]
        if fields.get("STOPPING") == "1":
            inst.status_text = "stopping"
        if fields.get("READY") == "1" and inst in self.notified:
            self.notified[inst].set()

    def _owner_of(self, pid: int) -> Instance | None:
        import psutil

        try:
            for parent in psutil.Process(pid).parents():
                if parent.pid in self._by_pid:
                    return self._by_pid[parent.pid]
        except psutil.Error:
            pass
        return None

    # -- state changes --------------------------------------------------------------------

    def _changed(self, inst: Instance, old: InstanceState) -> None:
        new = inst.state
        if (old == S.RUNNING) != (new == S.RUNNING) and inst.ptype.socket:
            self._steer(inst.ptype)
        note = describe_change(inst, old)
        if note:
            self.logs.system(note)
        if new == S.STARTING and inst.pid is not None:
            self._begin_readiness(inst, inst.pid)
        elif new != S.STARTING:
            task = self._ready_tasks.pop(inst, None)
            if task is not None and new != S.RUNNING:
                task.cancel()
        if new == S.STOPPED and inst.index >= self.desired.get(inst.id.type, 0):
            self._remove(inst)
        if self.feeds:
            event = {"event": "state", "old": old.value, **self._row(inst, None).as_dict()}
            for feed in self.feeds:
                feed.offer(event)
        if self._waiters:
            self._check_waiters()

    def _begin_readiness(self, inst: Instance, pid: int) -> None:
        old = self._ready_tasks.pop(inst, None)
        if old is not None:
            old.cancel()
        ptype = inst.ptype
        kind = ptype.ready.kind
        if kind == "none" or (
            kind != "notify" and (ptype.port is None or (kind == "port" and ptype.socket))
        ):
            self.loop.call_soon(inst.mark_ready, pid)
            return
        self._ready_tasks[inst] = self.loop.create_task(self._await_ready(inst, pid))

    async def _await_ready(self, inst: Instance, pid: int) -> None:
        ptype = inst.ptype
        try:
            await wait_ready(ptype, pid, self.notified.get(inst))
        except asyncio.TimeoutError:
            inst.not_ready(pid, f"not ready within {ptype.ready_timeout:g}s (ready: {ptype.ready})")
            return
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a broken probe must not take the daemon with it
            log.exception("readiness check of %s failed", inst.id)
            inst.not_ready(pid, f"readiness check failed: {exc}")
            return
        finally:
            if self._ready_tasks.get(inst) is asyncio.current_task():
                del self._ready_tasks[inst]
        inst.mark_ready(pid)

    def _settled(self, inst: Instance) -> bool:
        """Done for start/scale: a wanted instance is up or gave up, a surplus one is down."""
        if inst.index >= self.desired.get(inst.id.type, 0):
            return inst.state in DOWN and inst not in self.held.draining
        return inst.state in UP_OR_GAVE_UP

    async def wait(self, insts: list[Instance], done: Callable[[Instance], bool]) -> None:
        """Until done(i) holds for every instance (checked on each state change)."""
        if all(done(i) for i in insts):
            return
        future = self.loop.create_future()
        entry = (insts, done, future)
        self._waiters.append(entry)
        try:
            await future
        finally:
            if entry in self._waiters:
                self._waiters.remove(entry)

    def _check_waiters(self) -> None:
        for insts, done, future in list(self._waiters):
            if not future.done() and all(done(i) for i in insts):
                future.set_result(None)

    # -- helpers --------------------------------------------------------------------------

    def _pick_source(self, source: dict | None) -> Source:
        if source is not None:
            return Source.from_dict(source)
        if self.source is not None:
            return self.source
        if self.restored and isinstance(self.restored.get("source"), dict):
            try:
                saved = Source.from_dict(self.restored["source"])
                if saved.procfile is None or Path(saved.procfile).exists():
                    return saved
                log.warning("the saved formation %s is gone; using the project's", saved.procfile)
            except ConfigError as exc:
                log.warning("ignoring the saved source: %s", exc)
        return Source()

    def _resolve_counts(
        self, counts: dict[str, Any], current: dict[str, int], formation: Formation
    ) -> dict[str, int]:
        out: dict[str, int] = {}
        for name, value in counts.items():
            if formation.get(name) is None:
                raise NotFound(f"no process type {name!r} (types: {', '.join(formation.names)})")
            if isinstance(value, bool) or not isinstance(value, (int, str)):
                raise UsageError(f"{name}: count must be a number, max, +N or -N")
            spec = CountSpec.parse(str(value))
            try:
                out[name] = spec.apply(current.get(name, 0), cpu_count())
            except UsageError as exc:
                raise UsageError(f"cannot scale {name}: {exc}") from None
        return out

    def _require_formation(self) -> Formation:
        if self.formation is None:
            raise ProcmanError('no formation is loaded; run "procman start"', ErrorCode.NOT_FOUND)
        return self.formation

    def _row(
        self, inst: Instance, metrics: tuple[float | None, int | None] | None
    ) -> InstanceStatus:
        cpu, mem = metrics if metrics else (None, None)
        uptime = inst.uptime()
        return InstanceStatus(
            id=str(inst.id),
            type=inst.id.type,
            index=inst.index,
            pid=inst.pid,
            state=inst.state.value,
            uptime_s=round(uptime, 3) if uptime is not None else None,
            restarts=inst.restarts,
            cpu_percent=cpu,
            memory_bytes=mem,
            port=inst.ptype.port,
            exit_code=inst.exit_code,
            reason=inst.reason,
            status_text=inst.status_text,
        )

    def _rows_plain(self, insts: list[Instance]) -> list[dict[str, Any]]:
        return [self._row(i, None).as_dict() for i in insts]

    def _rows(self, insts: list[Instance]) -> list[dict[str, Any]]:
        metrics = self.sampler.sample([i.pid for i in insts if i.pid is not None])
        return [self._row(i, metrics.get(i.pid) if i.pid else None).as_dict() for i in insts]

    def _outcome(self, insts: list[Instance]) -> dict[str, Any]:
        failed = [
            {"id": str(i.id), "state": i.state.value, "reason": i.reason, "exit_code": i.exit_code}
            for i in insts
            if i.state in (S.ERRORED, S.BACKOFF)
        ]
        # no metrics here: cpu and memory of processes that just started say nothing
        return {"ok": not failed, "failed": failed, "status": self._rows_plain(self.instances())}

    def _previous_state(self) -> dict[str, Any] | None:
        state = read_state(self.state_path)
        if state and state.get("running") and state.get("project") == str(self.project):
            log.info("restoring the formation of a daemon that did not shut down cleanly")
            return state
        return None

    def _save(self, running: bool) -> None:
        state = {
            "project": str(self.project),
            "source": self.source.to_dict() if self.source else None,
            "types": self.formation.names if self.formation else [],
            "counts": {
                n: c
                for n, c in self.desired.items()
                if c or (self.formation and self.formation.get(n))
            },
            "running": running,
            "daemon_pid": os.getpid(),
        }
        try:
            write_state(self.state_path, state)
        except OSError as exc:
            log.warning("cannot write %s: %s", self.state_path, exc)


def describe_change(inst: Instance, old: InstanceState) -> str | None:
    """The daemon's log line for a state change worth a line, or None."""
    new, ident = inst.state, inst.id
    if new == S.STARTING:
        if old in (S.RUNNING, S.STARTING) and inst.reason:
            return f"{ident} {inst.reason}; restarted at once (pid {inst.pid})"
        return f"{ident} started (pid {inst.pid})"
    if new == S.BACKOFF:
        delay = backoff_delay(inst.crashes_in_row)
        return f"{ident} {inst.reason}; restarting in {delay:g}s"
    if new in (S.ERRORED, S.EXITED):
        return f"{ident} {new.value}: {inst.reason}"
    if new == S.STOPPED and old == S.STOPPING and inst.exit_code is not None:
        return f"{ident} stopped ({describe_exit(inst.exit_code)})"
    return None
