"""A click on the page -> the requests the CLI would send, and the outcome in its words.

Each action is one CLI command: `scale TYPE=N|+1|-1`, `restart [T]`, `reload [T]`,
`stop [T]`, `start [TYPE]` (the protocol's `start` with `types`, or everything that is not
running). The protocol has no start for one instance, so `start web.2` restarts web.2 if
it is down (a restart of an instance that is not running only starts it) and leaves it
alone if it runs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from procman.cli import statustext
from procman.cli.dashboard import aclient
from procman.counts import CountSpec
from procman.errors import ProcmanError, UsageError
from procman.names import NAME_RE

VERBS = ("scale", "restart", "reload", "stop", "start")
TARGET_RE = re.compile(r"[A-Za-z0-9_-]+(\.[0-9]+)?\Z")
#: states with a process, or one coming: `start` leaves these alone
UP = frozenset({"starting", "running", "stopping"})


@dataclass(frozen=True)
class Action:
    verb: str
    target: str | None = None  # a type, an id (web.2), or None for all
    count: str | None = None  # scale only: N, max, +N, -N

    def command(self) -> str:
        """The CLI command this action is."""
        if self.verb == "scale":
            return f"procman scale {self.target}={self.count}"
        if self.verb == "start" and self.target and "." in self.target:
            return f"procman restart {self.target}"  # what starts one instance that is down
        return " ".join(["procman", self.verb] + ([self.target] if self.target else []))


def parse(body: Any) -> Action:
    """The page's JSON -> an Action; UsageError says what is wrong."""
    if not isinstance(body, dict):
        raise UsageError("an action is a JSON object: {verb, target, count}")
    verb, target, count = body.get("verb"), body.get("target"), body.get("count")
    if verb not in VERBS:
        raise UsageError(f"unknown action {verb!r} (known: {', '.join(VERBS)})")
    if target in ("", "all"):
        target = None
    if target is not None and not (isinstance(target, str) and TARGET_RE.match(target)):
        raise UsageError(f"{target!r} is not a type or an instance id")
    if verb == "scale":
        if target is None or not NAME_RE.match(target):
            raise UsageError("scale needs a type name")
        if not isinstance(count, (str, int)) or isinstance(count, bool):
            raise UsageError("scale needs a count: N, max, +N or -N")
        return Action(verb, target, str(CountSpec.parse(str(count))))
    if verb == "reload" and target is not None and "." in target:
        raise UsageError("reload takes a type or all, not an instance")
    return Action(verb, target)


def request(action: Action) -> tuple[str, dict[str, Any]]:
    """The protocol request of every action but the start of one instance."""
    if action.verb == "scale":
        return "scale", {"counts": {action.target: action.count}}
    if action.verb == "start":
        return "start", {"types": [action.target]} if action.target else {}
    return action.verb, {"target": action.target}


async def perform(sock: str, action: Action) -> dict[str, Any]:
    """Run the action; {"ok", "command", "lines"} with the CLI's wording."""
    command = action.command()
    try:
        if action.verb == "start" and action.target and "." in action.target:
            result = await _start_instance(sock, action.target)
        else:
            method, params = request(action)
            result = await aclient.call(sock, method, params)
    except ProcmanError as exc:  # RemoteError too: the daemon's message, as the CLI prints it
        code = getattr(exc.code, "value", exc.code)
        return {"ok": False, "command": command, "code": code, "lines": [f"error: {exc.message}"]}
    if isinstance(result, str):
        return {"ok": True, "command": command, "lines": [result]}
    ok = bool(result.get("ok", True))
    return {"ok": ok, "command": command, "lines": statustext.outcome_lines(result)}


async def _start_instance(sock: str, ident: str) -> dict[str, Any] | str:
    rows = (await aclient.call(sock, "status", {"target": ident}))["instances"]
    if all(r["state"] in UP for r in rows):
        return f"nothing to start: {ident} is {rows[0]['state'] if rows else 'gone'}"
    return await aclient.call(sock, "restart", {"target": ident})
