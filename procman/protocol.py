"""Newline-delimited JSON framing and the method list. No sockets here.

One request per line: {"id": 1, "method": "scale", "params": {...}}
One reply per line: {"id": 1, "result": {...}} or {"id": 1, "error": {"code", "message"}}
Streaming methods (logs with follow, events) send one object per line until the client
closes.
"""

from __future__ import annotations

import json

from procman.errors import ErrorCode, ProtocolError, RemoteError

TYPE_CHECKING = False  # annotations only (mypy reads it): typing costs the CLI ~2 ms
if TYPE_CHECKING:
    from typing import Any

MAX_LINE = 1024 * 1024  # bytes, newline excluded

#: The one table of methods: method -> {param: (accepted types, required)}, params in the
#: order of the handler's arguments. The daemon checks each request against it before a
#: handler runs, daemon/handlers.py refuses to start if a handler differs from it, and
#: docs/protocol.md documents each one (a test compares them).
METHODS: dict[str, dict[str, tuple[tuple[type, ...], bool]]] = {
    "ping": {},
    "status": {"target": ((str, type(None)), False)},
    "start": {
        "source": ((dict, type(None)), False),
        "counts": ((dict,), False),
        "instances": ((str, int, type(None)), False),
        "types": ((list, type(None)), False),
        "app": ((dict, type(None)), False),
        "force": ((bool,), False),
        "replace": ((bool,), False),
    },
    "delete": {"type": ((str,), True)},
    "stop": {"target": ((str, type(None)), False)},
    "restart": {"target": ((str, type(None)), False), "update": ((bool,), False)},
    "reload": {"target": ((str, type(None)), False), "parallel": ((int,), False)},
    "scale": {"counts": ((dict,), True)},
    "logs": {
        "target": ((str, type(None)), False),
        "lines": ((int,), False),
        "follow": ((bool,), False),
        "stream": ((str, type(None)), False),
        "since": ((int, float, type(None)), False),
    },
    "flush": {"target": ((str, type(None)), False)},
    "reopen": {},
    "events": {},
    "formation": {},
    "describe": {"target": ((str,), True)},
    "env": {"target": ((str,), True), "reveal": ((bool,), False)},
    "metrics": {},
    "autoscale": {"type": ((str, type(None)), False), "on": ((bool, type(None)), False)},
    "signal": {
        "target": ((str, type(None)), False),
        "signal": ((str, int), True),
        "group": ((bool,), False),
    },
    "shutdown": {},
    "update": {},
}


class Request:
    """One decoded request (a plain class: dataclasses cost the CLI import time)."""

    __slots__ = ("id", "method", "params")

    def __init__(self, id: Any, method: str, params: dict[str, Any] | None = None) -> None:
        self.id, self.method, self.params = id, method, params or {}

    def __repr__(self) -> str:
        return f"Request({self.id!r}, {self.method!r}, {self.params!r})"


def encode(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), default=str).encode() + b"\n"


def request(req_id: Any, method: str, params: dict[str, Any] | None = None) -> bytes:
    return encode({"id": req_id, "method": method, "params": params or {}})


def result(req_id: Any, value: Any) -> bytes:
    return encode({"id": req_id, "result": value})


def error(req_id: Any, code: ErrorCode | str, message: str, data: Any = None) -> bytes:
    err: dict[str, Any] = {"code": str(getattr(code, "value", code)), "message": message}
    if data is not None:
        err["data"] = data
    return encode({"id": req_id, "error": err})


def decode_request(line: bytes) -> Request:
    """Parse and check one request line; ProtocolError carries the code to answer with."""
    if len(line) > MAX_LINE:
        raise ProtocolError(f"request line over {MAX_LINE} bytes", ErrorCode.BAD_REQUEST)
    try:
        obj = json.loads(line)
    except (ValueError, RecursionError) as exc:
        raise ProtocolError(f"invalid JSON: {exc}", ErrorCode.BAD_REQUEST) from None
    if not isinstance(obj, dict):
        raise ProtocolError("a request must be a JSON object", ErrorCode.BAD_REQUEST)
    req_id = obj.get("id")
    plain = isinstance(req_id, (str, int, float)) and not isinstance(req_id, bool)
    if req_id is not None and not plain:
        raise ProtocolError('"id" must be a string, a number or null', ErrorCode.BAD_REQUEST)
    try:
        return _check(req_id, obj)
    except ProtocolError as exc:
        exc.req_id = req_id  # the error reply carries the id it could read
        raise


def _check(req_id: Any, obj: dict[str, Any]) -> Request:
    method = obj.get("method")
    if not isinstance(method, str):
        raise ProtocolError('a request needs a "method" string', ErrorCode.BAD_REQUEST)
    if method not in METHODS:
        known = ", ".join(sorted(METHODS))
        raise ProtocolError(f"unknown method {method!r} (known: {known})", ErrorCode.UNKNOWN_METHOD)
    params = obj.get("params", {})
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise ProtocolError('"params" must be an object', ErrorCode.BAD_PARAMS)
    shape = METHODS[method]
    for key, value in params.items():
        if key not in shape:
            raise ProtocolError(
                f"{method}: unknown param {key!r} (known: {', '.join(shape) or 'none'})",
                ErrorCode.BAD_PARAMS,
            )
        types, _ = shape[key]
        # bool is an int in Python; a param that wants an int must not take true/false
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            names = "/".join("null" if t is type(None) else t.__name__ for t in types)
            raise ProtocolError(f"{method}: param {key!r} must be {names}", ErrorCode.BAD_PARAMS)
    for key, (_, required) in shape.items():
        if required and key not in params:
            raise ProtocolError(f"{method}: param {key!r} is required", ErrorCode.BAD_PARAMS)
    return Request(req_id, method, params)


def decode_reply(line: bytes) -> dict[str, Any]:
    try:
        obj = json.loads(line)
    except (ValueError, RecursionError) as exc:
        raise ProtocolError(f"daemon sent invalid JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise ProtocolError("daemon sent a non-object reply")
    return obj


def reply_result(line: bytes) -> Any:
    """A reply line's result; an error reply raises RemoteError with its code and message."""
    reply = decode_reply(line)
    if "error" in reply:
        err = reply["error"] or {}
        raise RemoteError(
            str(err.get("code", "internal")),
            str(err.get("message", "unknown error")),
            err.get("data"),
        )
    return reply.get("result")
