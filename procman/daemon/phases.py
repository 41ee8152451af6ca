"""The start-up order applied: what `start`, `reload all`, `stop` and `shutdown` do with the
waves of procman/order.py (procman.yaml's `after:` and Heroku's release phase).

Start goes wave by wave: a wave's types are started together, and the next wave waits
until each of them is ready or, for a one-shot type (`restart: never`), has exited, or the
wave's bound has passed (waiters.bound: ready_timeout, and kill_timeout where something
stops; a one-shot others wait for has its ready_timeout to run to its end). A type
whose dependency failed (errored, backing off, or a one-shot that exited non-zero) is not
started at all, and the outcome says why; types that do not depend on it go on. Stop goes
through the waves backwards, each wave down before the one it depended on is stopped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any

from procman import order
from procman.counts import CountSpec, cpu_count, resolve_counts
from procman.daemon.group import Group
from procman.daemon.instance import Instance
from procman.daemon.waiters import bound
from procman.errors import UsageError
from procman.model import DOWN, Formation, InstanceState

Wait = Callable[..., Awaitable[bool]]  # (instances, done, timeout) -> all done
Late = list[tuple[Instance, float]]  # not done when their bound (seconds) passed


def wanted_counts(
    formation: Formation,
    keep: Mapping[str, Any],
    instances: int | str | None,
    counts: Mapping[str, Any],
    only: Sequence[str] | None,
) -> dict[str, int]:
    """Counts for a start: the file's, then those kept (this daemon's, or the one before
    it), then `-i` (for the types being started), then TYPE=N. `-i` leaves the release
    phase at its count, and release runs once: 0 or 1 of it."""
    wanted = {t.name: t.instances for t in formation.types}
    wanted.update({n: c for n, c in keep.items() if n in wanted and isinstance(c, int)})
    if instances is not None:
        every = CountSpec.parse(str(instances)).apply(0, cpu_count())
        for name in only if only is not None else list(wanted):
            if name != order.RELEASE:
                wanted[name] = every
    wanted.update(resolve_counts(counts, wanted, formation.names))
    if wanted.get(order.RELEASE, 0) > 1:
        raise UsageError(f"release runs once: its count is 0 or 1, not {wanted[order.RELEASE]}")
    return wanted


def done_starting(group: Group, inst: Instance, awaited: bool = True) -> bool:
    """What a start waits for: a one-shot instance that others wait for (or the release
    phase) has run to its end; the rest, as the group says (up or gave up; a surplus one
    down). A `restart: never` server nobody waits for is done once it is up."""
    if awaited and group.ptype.one_shot and group.defined and inst.index < group.desired:
        return inst.state in DOWN
    return group.settled(inst)


def satisfied(group: Group) -> bool:
    """Ready for the types that wait for it: every wanted instance running, or, one-shot,
    exited cleanly. A type with no instances holds nobody up."""
    ok = {InstanceState.RUNNING, InstanceState.EXITED}
    return all(
        group.slots[i].state in ok if i in group.slots else False for i in range(group.desired)
    )


async def start_in_waves(
    groups: Mapping[str, Group],
    formation: Formation,
    only: Sequence[str] | None,
    wait: Wait,
) -> tuple[list[Instance], list[dict[str, Any]], Late]:
    """Converge the types (all of them, or `only`) wave by wave. Returns the instances
    touched, one failure entry per type left out because a dependency failed, and the
    instances not done when their wave's bound passed."""
    deps = order.dependencies(formation.types)
    waves = order.waves(deps, only)
    started = {n for wave in waves for n in wave}
    awaited = {d for n in started for d in deps[n]} | {order.RELEASE}
    touched: list[Instance] = []
    late: Late = []
    blocked: dict[str, str] = {}  # type -> the dependency that failed
    for wave in waves:
        batch: list[Instance] = []
        for name in wave:
            failed = [d for d in deps[name] if d in blocked]
            if failed:
                blocked[name] = failed[0]
                continue
            batch += groups[name].converge()
        touched += batch

        def done(i: Instance) -> bool:
            return done_starting(groups[i.id.type], i, i.id.type in awaited)

        seconds = bound(batch)
        await wait(batch, done, seconds)
        late += [(i, seconds) for i in batch if not done(i)]
        for name in wave:
            if name in awaited and name not in blocked and not satisfied(groups[name]):
                blocked[name] = name
    skipped = [
        {
            "id": name,
            "state": "not started",
            "reason": f"waits for {dep}, which did not come up"
            if dep in blocked and blocked[dep] == dep
            else f"waits for {dep}, which was not started",
            "exit_code": None,
        }
        for name, dep in blocked.items()
        if dep != name
    ]
    return touched, skipped, late


def start_order(formation: Formation, insts: Iterable[Instance]) -> list[Instance]:
    """Instances sorted by their type's start wave (for a rolling reload), stably."""
    rank = {n: i for i, wave in enumerate(order.start_waves(formation.types)) for n in wave}
    return sorted(insts, key=lambda inst: rank.get(inst.id.type, -1))


def restartable(insts: list[Instance], target: str | None) -> list[Instance]:
    """What `restart` (or a reload's rollout, target None) picks: the release phase only
    when it is named."""
    if target is not None and target.partition(".")[0] == order.RELEASE:  # release, release.1
        return insts
    return [i for i in insts if i.id.type != order.RELEASE]


async def release_first(
    groups: Mapping[str, Group], target: str | None, wait: Wait
) -> Instance | None:
    """`reload all` (or `reload release`) runs the release phase first, to its end; the
    instance that failed, or None."""
    group = groups.get(order.RELEASE)
    if target not in (None, "", "all", order.RELEASE) or group is None or not group.desired:
        return None
    batch = group.converge()
    await wait(batch, lambda i: done_starting(group, i), bound(batch))
    bad = [i for i in batch if i.index < group.desired and i.state != InstanceState.EXITED]
    return bad[0] if bad else None


async def stop_in_waves(
    groups: Mapping[str, Group],
    formation: Formation | None,
    insts: list[Instance],
    stop: Callable[[Group, list[Instance]], Awaitable[None]],
    wait: Wait,
    down: Callable[[Instance], bool] = lambda i: i.state in DOWN,
) -> Late:
    """Stop `insts` in the reverse start order: types gone from the formation first, then
    the last wave, and so on; each batch is down (or past its bound: kill_timeout and the
    drain) before the next one is stopped. Returns those not down in time."""
    late: Late = []
    waves = order.stop_waves(formation.types) if formation is not None else []
    placed = {n for wave in waves for n in wave}
    batches = [[n for n in groups if n not in placed], *waves]
    for names in batches:
        mine = [i for i in insts if i.id.type in names]
        if not mine:
            continue
        await asyncio.gather(
            *(stop(groups[n], [i for i in mine if i.id.type == n]) for n in names if n in groups)
        )
        seconds = bound(mine, start=False)
        await wait(mine, down, seconds)
        late += [(i, seconds) for i in mine if not down(i)]
    rest = [i for i in insts if i.id.type not in groups]  # a type retired meanwhile
    if rest:
        seconds = bound(rest, start=False)
        await wait(rest, down, seconds)
        late += [(i, seconds) for i in rest if not down(i)]
    return late


async def stop_now(group: Group, insts: list[Instance]) -> None:
    """Shutdown's stop: the stop signal at once, no draining."""
    for inst in insts:
        inst.stop()
