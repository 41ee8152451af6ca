"""What a verb's TARGET names: all, a process type, or one instance (`web.2`). One rule for
every verb and for `logs` (which may name an instance that is gone: its lines remain)."""

from __future__ import annotations

from collections.abc import Mapping

from procman.daemon.group import Group
from procman.daemon.instance import Instance
from procman.errors import NotFound, UsageError
from procman.model import Formation, InstanceId


def parse(groups: Mapping[str, Group], formation: Formation, target: str) -> tuple[str, str]:
    """("type", name) or ("instance", "web.2") of a type the formation has."""
    if formation.get(target) or target in groups:
        return "type", target
    try:
        iid = InstanceId.parse(target)
    except ValueError:
        raise not_found(formation, target) from None
    if iid.type not in groups:
        raise not_found(formation, target)
    return "instance", str(iid)


def select(groups: Mapping[str, Group], formation: Formation, target: str | None) -> list[Instance]:
    """The instances a target names; all of them for None, "" or "all"."""
    if target is None or target in ("", "all"):
        return [i for g in groups.values() for i in g.instances()]
    kind, name = parse(groups, formation, target)
    if kind == "type":
        return groups[name].instances() if name in groups else []
    iid = InstanceId.parse(name)
    inst = groups[iid.type].slots.get(iid.index)
    if inst is None:
        raise not_found(formation, target)
    return [inst]


def one(groups: Mapping[str, Group], formation: Formation, target: str) -> Instance:
    """The one instance a target names: an id, or a type that has exactly one instance."""
    picked = select(groups, formation, target)
    if len(picked) != 1:
        ids = ", ".join(str(i.id) for i in picked) or "none"
        raise UsageError(f"{target!r} names {len(picked)} instances ({ids}); name one, like web.1")
    return picked[0]


def not_found(formation: Formation, target: str) -> NotFound:
    known = ", ".join(formation.names) or "none"
    return NotFound(f"no process type or instance {target!r} (types: {known})")
