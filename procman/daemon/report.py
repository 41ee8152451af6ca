"""What the daemon says about instances: status rows, the outcome of a verb, the log line
for a state change. One place, so `status`, `start`, `reload` and the events stream agree."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from procman.daemon.instance import Instance, backoff_delay, describe_exit
from procman.daemon.sampler import Sampler
from procman.model import InstanceState, InstanceStatus
from procman.signames import signal_name

Metrics = tuple[float | None, int | None]
FAILED = frozenset({InstanceState.ERRORED, InstanceState.BACKOFF})


def row(inst: Instance, metrics: Metrics | None = None) -> InstanceStatus:
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
        port=inst.ptype.port_of(inst.index),
        exit_code=inst.exit_code,
        reason=inst.reason,
        status_text=inst.status_text,
        stale=inst.live and inst.launched is not None and inst.launched.stale,
        port_conflict=port_conflict(inst),
    )


def port_conflict(inst: Instance) -> dict[str, Any] | None:
    """The instance's port conflict, unless its current process has since been up past
    min_uptime (then it was bound after all)."""
    if inst.port_conflict is None or (inst.uptime() or 0.0) >= inst.ptype.min_uptime:
        return None
    return inst.port_conflict


def plain_rows(insts: Iterable[Instance]) -> list[dict[str, Any]]:
    """Rows without cpu and memory: for outcomes, where figures of processes that just
    started say nothing."""
    return [row(i).as_dict() for i in insts]


def sampled_rows(insts: Iterable[Instance], sampler: Sampler) -> list[dict[str, Any]]:
    insts = list(insts)
    metrics = sampler.sample([i.pid for i in insts if i.pid is not None])
    return [row(i, metrics.get(i.pid) if i.pid else None).as_dict() for i in insts]


def failure(inst: Instance, reason: str | None = None, state: str | None = None) -> dict[str, Any]:
    """One entry of an outcome's `failed` list."""
    return {
        "id": str(inst.id),
        "state": state or inst.state.value,
        "reason": reason or inst.reason,
        "exit_code": inst.exit_code,
        "port_conflict": port_conflict(inst),
    }


#: Lines of a failed one-shot's output (the release phase's) shown with its failure.
OUTPUT_LINES = 20


def outcome(
    touched: Iterable[Instance],
    everyone: Iterable[Instance],
    extra: Iterable[dict[str, Any]] = (),
    output: Callable[[Instance], list[str]] | None = None,
    late: Iterable[tuple[Instance, float]] = (),
    closing: bool = False,
) -> dict[str, Any]:
    """A verb's answer: which of the instances it touched failed (gave up, backing off, or
    could not bind its port; a one-shot's with its last `output` lines), those `late` (not
    done when the verb's bound of so many seconds passed, or when a shutdown ended the
    wait), `extra` failures (types not started), and every row."""
    why = "stopped: the daemon is shutting down" if closing else None
    failed = [failure(i, why or late_reason(i, seconds)) for i, seconds in late]
    tardy = {id(i) for i, _ in late}
    for inst in touched:
        if (inst.state in FAILED or port_conflict(inst)) and id(inst) not in tardy:
            entry = failure(inst)
            if output is not None and inst.ptype.one_shot:
                entry["output"] = output(inst)[-OUTPUT_LINES:]
            failed.append(entry)
    failed += extra
    return {"ok": not failed, "failed": failed, "status": plain_rows(everyone)}


def late_reason(inst: Instance, waited: float) -> str:
    """Why an instance a verb waited for is not done when its bound passed."""
    if inst.state == InstanceState.STOPPING:
        return f"still stopping after {waited:g}s"
    if inst.state == InstanceState.STARTING:
        text = f"not ready after {waited:g}s"
        return f"{text} (last exit: {inst.reason})" if inst.reason else text
    return inst.reason or f"{inst.state.value} after {waited:g}s"


def signalled(picked: Iterable[Instance], signum: int, group: bool) -> dict[str, Any]:
    """The answer to `signal`: who got it (pid), who had no process to get it."""
    picked = list(picked)
    return {
        "signal": signal_name(signum),
        "number": signum,
        "group": group,
        "sent": [{"id": str(i.id), "pid": i.pid} for i in picked if i.pid is not None],
        "skipped": [{"id": str(i.id), "state": i.state.value} for i in picked if i.pid is None],
    }


def describe_change(inst: Instance, old: InstanceState) -> str | None:
    """The daemon's log line for a state change worth a line, or None."""
    new, ident = inst.state, inst.id
    if new == InstanceState.STARTING:
        if old in (InstanceState.RUNNING, InstanceState.STARTING) and inst.reason:
            return f"{ident} {inst.reason}; restarted at once (pid {inst.pid})"
        return f"{ident} started (pid {inst.pid})"
    if new == InstanceState.BACKOFF:
        delay = backoff_delay(inst.crashes_in_row)
        return f"{ident} {inst.reason}; restarting in {delay:g}s"
    if new == InstanceState.ERRORED and inst.replacement:
        return f"{ident} replacement failed: {inst.reason}; not restarted"
    if new in (InstanceState.ERRORED, InstanceState.EXITED):
        return f"{ident} {new.value}: {inst.reason}"
    if (
        new == InstanceState.STOPPED
        and old == InstanceState.STOPPING
        and inst.exit_code is not None
    ):
        return f"{ident} stopped ({describe_exit(inst.exit_code)})"
    return None
