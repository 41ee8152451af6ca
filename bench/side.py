"""Running one workload for every tool in turn: which tools can take part, and the
interleaved loop (A B C A B C ..., the order rotated each round so no tool always goes
first) that every side-by-side workload uses."""

from __future__ import annotations

import time
from collections.abc import Callable

from bench.adapters import CLASSES, Manager, NotSupported, make
from bench.core import TOOLS
from bench.project import Pool, wait_gone
from tests.harness import alive

# What a tool cannot do at all, known before starting it: the workload says n/a and why.
CANNOT = {
    "honcho": {
        "status": "honcho has no daemon, so no status command",
        "scale": "honcho has no daemon: the concurrency is fixed when it starts",
        "restart": "honcho restarts nothing: when one process exits it stops them all",
        "daemon": "honcho has no daemon (it runs in the foreground)",
    },
}


def available(pool: Pool, what: str, tools: tuple[str, ...] = TOOLS) -> tuple[list[str], dict]:
    """(tools that can do `what` and are installed, {tool: why not} for the others)."""
    ok: list[str] = []
    na: dict[str, str] = {}
    for name in tools:
        if name == "procman":
            ok.append(name)
            continue
        peer = pool.peers.get(name)
        if peer is None:
            na[name] = "not selected (--peers)" if pool.peers_selected else "peers not installed"
        elif not peer.ok:
            na[name] = f"skipped: {peer.skipped}"
        elif what in CANNOT.get(name, {}):
            na[name] = CANNOT[name][what]
        else:
            ok.append(name)
    return ok, na


def manager(pool: Pool, name: str) -> Manager:
    assert name in CLASSES
    return make(name, pool, pool.peers)


def release(pool: Pool, m: Manager, leftovers: list[str]) -> None:
    """Tear a manager down now (not at the end of the workload), and wait (untimed) until
    init has reaped its children and itself: a stop is timed to their exit, and a thousand
    zombies reaped by init during the next tool's round would be timed in that round."""
    try:
        managers = [] if m.closed else m.memory_pids()
    except Exception:  # never started
        managers = []
    leftovers.extend(m.teardown())
    if m in pool.adopted:
        pool.adopted.remove(m)
    wait_gone([*m.announcer.pids, *managers], 60, reaped=True)


def interleave(
    reps: int,
    warmup: int,
    runners: dict[str, Callable[[], float]],
    na: dict[str, str],
    settle: float = 0.0,
    critical: tuple[str, ...] = ("procman",),
) -> dict[str, list[float]]:
    """Run every runner once per round, rounds rotated; the first `warmup` rounds are not
    kept. A peer that raises is dropped with the reason in `na`; procman's (critical)
    failures propagate, they are bugs to report."""
    samples: dict[str, list[float]] = {name: [] for name in runners}
    names = list(runners)
    for i in range(warmup + reps):
        shift = i % len(names)
        for name in names[shift:] + names[:shift]:
            if name in na:
                continue
            if settle:
                time.sleep(settle)
            try:
                value = runners[name]()
            except NotSupported as exc:
                na[name] = str(exc)
                continue
            except Exception as exc:
                if name in critical:
                    raise
                na[name] = f"failed: {type(exc).__name__}: {exc}"[:400]
                continue
            if i >= warmup:
                samples[name].append(value)
    return {name: values for name, values in samples.items() if values and name not in na}


def setup(name: str, start: Callable[[], None], na: dict[str, str]) -> bool:
    """Bring a tool up for a workload; a peer that fails is n/a, procman's failure raises."""
    try:
        start()
    except NotSupported as exc:
        na[name] = str(exc)
        return False
    except Exception as exc:
        if name == "procman":
            raise
        na[name] = f"failed to start: {type(exc).__name__}: {exc}"[:400]
        return False
    return True


def live(pids: list[int]) -> int:
    """How many of these pids are alive (zombies are not)."""
    return sum(alive(pid) for pid in set(pids))


def wait_live(m: Manager, count: int, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while live(m.announcer.pids) != count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{m.name}: {live(m.announcer.pids)} children alive, not {count}")
        m.announcer.drain()
        time.sleep(0.02)
