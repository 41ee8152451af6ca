"""NDJSON framing: encode/decode, reply shapes, and every way a request line can be wrong."""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any

import pytest

from procman import protocol
from procman.errors import ErrorCode, ProtocolError
from procman.protocol import MAX_LINE, METHODS, Request


def strip(data: bytes) -> bytes:
    assert data.endswith(b"\n") and data.count(b"\n") == 1, data
    return data[:-1]


def fields(req: Request) -> tuple[Any, str, dict[str, Any]]:
    return (req.id, req.method, req.params)


def bad_request(line: bytes | str) -> ProtocolError:
    if isinstance(line, str):
        line = line.encode()
    with pytest.raises(ProtocolError) as info:
        protocol.decode_request(line)
    return info.value


# -- encode / shapes -------------------------------------------------------------------


@pytest.mark.parametrize(
    "obj",
    [
        {"id": 1, "result": None},
        {"a": [1, 2.5, True, None, "x"], "b": {"c": {}}},
        {"text": "one\ntwo\r\n", "uni": "héllo✓", "nul": "\x00", "q": '"\\'},
        [],
        "plain",
    ],
)
def test_encode_is_one_compact_line_that_round_trips(obj: Any) -> None:
    data = protocol.encode(obj)
    line = strip(data)
    assert b" " not in line  # compact separators
    assert json.loads(line) == obj


def test_encode_falls_back_to_str() -> None:
    assert json.loads(protocol.encode({"path": Path("/srv/app")})) == {"path": "/srv/app"}


def test_request_shape_and_round_trip() -> None:
    data = protocol.request(7, "reload", {"target": "web", "parallel": 3})
    assert json.loads(strip(data)) == {
        "id": 7,
        "method": "reload",
        "params": {"target": "web", "parallel": 3},
    }
    assert fields(protocol.decode_request(strip(data))) == (
        7,
        "reload",
        {"target": "web", "parallel": 3},
    )


def test_request_without_params_sends_an_empty_object() -> None:
    data = protocol.request("a", "ping")
    assert json.loads(data) == {"id": "a", "method": "ping", "params": {}}
    assert fields(protocol.decode_request(strip(data))) == ("a", "ping", {})


def test_result_shape() -> None:
    data = protocol.result(3, {"instances": [{"id": "web.1"}]})
    assert json.loads(strip(data)) == {"id": 3, "result": {"instances": [{"id": "web.1"}]}}
    assert protocol.decode_reply(data) == {"id": 3, "result": {"instances": [{"id": "web.1"}]}}


def test_error_shape_with_enum_code() -> None:
    data = protocol.error(4, ErrorCode.NOT_FOUND, "no process type 'wbe'")
    assert json.loads(strip(data)) == {
        "id": 4,
        "error": {"code": "not_found", "message": "no process type 'wbe'"},
    }


def test_error_shape_with_str_code_and_data() -> None:
    data = protocol.error(None, "failed", "web.2 did not start", data={"failed": ["web.2"]})
    assert json.loads(strip(data)) == {
        "id": None,
        "error": {
            "code": "failed",
            "message": "web.2 did not start",
            "data": {"failed": ["web.2"]},
        },
    }


# -- decode_request: good lines --------------------------------------------------------


@pytest.mark.parametrize("method", sorted(METHODS))
def test_every_method_decodes_with_its_required_params(method: str) -> None:
    samples = {dict: {}, str: "web", bool: True, int: 1}
    params = {
        key: samples[types[0]] for key, (types, required) in METHODS[method].items() if required
    }
    req = protocol.decode_request(protocol.request(1, method, params))
    assert fields(req) == (1, method, params)


def test_every_method_has_a_handler_with_the_same_params() -> None:
    from procman.daemon.handlers import Handlers

    for method, shape in METHODS.items():
        params = list(inspect.signature(getattr(Handlers, method)).parameters)[1:]
        assert params == list(shape), method


@pytest.mark.parametrize(
    ("method", "param"),
    [("start", "wait"), ("start", "target"), ("stop", "wait"), ("scale", "wait")],
)
def test_params_nothing_reads_are_refused(method: str, param: str) -> None:
    err = bad_request(protocol.request(1, method, {param: True}))
    assert err.code == ErrorCode.BAD_PARAMS


def test_an_error_reply_carries_the_id_it_could_read() -> None:
    with pytest.raises(ProtocolError) as info:
        protocol.decode_request(b'{"id": 7, "method": "no_such_method"}')
    assert info.value.req_id == 7


@pytest.mark.parametrize(
    "line",
    [
        b'{"method": "ping"}',
        b'{"method": "ping", "params": null}',
        b'{"method":"ping","params":{}}',
    ],
)
def test_missing_id_and_params_default(line: bytes) -> None:
    assert fields(protocol.decode_request(line)) == (None, "ping", {})


def test_trailing_newline_and_whitespace_are_fine() -> None:
    assert protocol.decode_request(b'  {"id": 2, "method": "ping"}\r\n').id == 2


@pytest.mark.parametrize(
    ("method", "params"),
    [
        ("logs", {"target": "web.1", "lines": 50, "follow": False}),
        ("logs", {"target": None, "lines": 0}),
        ("logs", {"stream": "err", "since": 1796000000.5}),
        ("logs", {"stream": None, "since": 1796000000}),
        ("flush", {"target": "web"}),
        ("flush", {}),
        ("reopen", {}),
        ("start", {"instances": "max", "counts": {"web": 2}, "source": None}),
        ("start", {"instances": 4}),
        ("start", {"instances": None}),
        ("status", {"target": None}),
        ("stop", {"target": "all"}),
    ],
)
def test_params_of_the_right_type_pass(method: str, params: dict[str, Any]) -> None:
    assert protocol.decode_request(protocol.request(9, method, params)).params == params


# -- decode_request: bad lines ---------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [b"", b"{", b"not json", b'{"method": "ping",}', b"\xff\xfe\xfa", b"{'method': 'ping'}"],
)
def test_invalid_json_is_bad_request(line: bytes) -> None:
    err = bad_request(line)
    assert err.code == ErrorCode.BAD_REQUEST
    assert err.message.startswith("invalid JSON")


@pytest.mark.parametrize("line", ["[]", "[1]", '"ping"', "1", "null", "true"])
def test_non_object_is_bad_request(line: str) -> None:
    err = bad_request(line)
    assert err.code == ErrorCode.BAD_REQUEST
    assert "JSON object" in err.message


@pytest.mark.parametrize("line", ['{"id": 1}', '{"method": 5}', '{"method": null}', "{}"])
def test_missing_method_is_bad_request(line: str) -> None:
    err = bad_request(line)
    assert err.code == ErrorCode.BAD_REQUEST
    assert '"method"' in err.message


def test_unknown_method_lists_the_known_ones() -> None:
    err = bad_request('{"id": 1, "method": "scael"}')
    assert err.code == ErrorCode.UNKNOWN_METHOD
    assert "'scael'" in err.message
    for name in METHODS:
        assert name in err.message


@pytest.mark.parametrize("params", ["[]", '"x"', "1", "true", '["counts"]'])
def test_params_not_an_object(params: str) -> None:
    err = bad_request(f'{{"method": "status", "params": {params}}}')
    assert err.code == ErrorCode.BAD_PARAMS
    assert '"params" must be an object' in err.message


def test_unknown_param_names_it_and_the_known_ones() -> None:
    err = bad_request('{"method": "logs", "params": {"line": 5}}')
    assert err.code == ErrorCode.BAD_PARAMS
    assert "'line'" in err.message
    for name in ("target", "lines", "follow"):
        assert name in err.message


def test_unknown_param_of_a_method_without_params() -> None:
    err = bad_request('{"method": "ping", "params": {"x": 1}}')
    assert err.code == ErrorCode.BAD_PARAMS
    assert "known: none" in err.message


@pytest.mark.parametrize(
    ("method", "key", "value", "wanted"),
    [
        ("logs", "lines", True, "int"),  # bool is an int in Python, not on the wire
        ("logs", "lines", False, "int"),
        ("logs", "lines", 1.5, "int"),
        ("logs", "lines", "50", "int"),
        ("logs", "lines", None, "int"),
        ("start", "instances", True, "str/int/null"),
        ("start", "instances", 2.0, "str/int/null"),
        ("logs", "follow", 1, "bool"),
        ("logs", "follow", "true", "bool"),
        ("logs", "since", True, "int/float/null"),
        ("logs", "since", "10m", "int/float/null"),  # the CLI turns 10m into a time
        ("logs", "stream", 2, "str/null"),
        ("flush", "target", ["web"], "str/null"),
        ("scale", "counts", [["web", 2]], "dict"),
        ("status", "target", 3, "str/null"),
    ],
)
def test_wrong_param_type(method: str, key: str, value: Any, wanted: str) -> None:
    params: dict[str, Any] = {"counts": {}} if method == "scale" else {}
    params[key] = value
    err = bad_request(protocol.request(1, method, params))
    assert err.code == ErrorCode.BAD_PARAMS
    assert f"param {key!r} must be {wanted}" in err.message
    assert err.message.startswith(f"{method}: ")


@pytest.mark.parametrize("params", [{}])
def test_scale_without_counts(params: dict[str, Any]) -> None:
    err = bad_request(protocol.request(1, "scale", params))
    assert err.code == ErrorCode.BAD_PARAMS
    assert err.message == "scale: param 'counts' is required"


def padded(size: int) -> bytes:
    """A valid ping request of exactly `size` bytes."""
    head, tail = b'{"method":"ping","id":"', b'"}'
    line = head + b"x" * (size - len(head) - len(tail)) + tail
    assert len(line) == size
    return line


def test_line_of_max_line_bytes_is_accepted() -> None:
    assert protocol.decode_request(padded(MAX_LINE)).method == "ping"


def test_line_over_max_line_bytes_is_refused() -> None:
    assert MAX_LINE == 1024 * 1024
    err = bad_request(padded(MAX_LINE + 1))
    assert err.code == ErrorCode.BAD_REQUEST
    assert str(MAX_LINE) in err.message


@pytest.mark.parametrize("line", ["[" * 100_000, '{"a":' * 100_000, '{"method":' + "[" * 100_000])
def test_deep_nesting_is_a_protocol_error_not_a_crash(line: str) -> None:
    err = bad_request(line)
    assert err.code == ErrorCode.BAD_REQUEST


def test_protocol_error_is_what_the_server_answers_with() -> None:
    err = bad_request("nope")
    reply = json.loads(protocol.error(None, err.code, err.message))
    assert reply["error"]["code"] == "bad_request"


# -- decode_reply ----------------------------------------------------------------------


def test_decode_reply_accepts_any_object() -> None:
    assert protocol.decode_reply(b'{"id": 1, "error": {"code": "x", "message": "y"}}\n') == {
        "id": 1,
        "error": {"code": "x", "message": "y"},
    }


@pytest.mark.parametrize("line", [b"", b"{", b"garbage", b"\xff"])
def test_decode_reply_invalid_json(line: bytes) -> None:
    with pytest.raises(ProtocolError, match="daemon sent invalid JSON") as info:
        protocol.decode_reply(line)
    assert info.value.code == ErrorCode.BAD_REQUEST


@pytest.mark.parametrize("line", [b"[]", b"1", b'"ok"', b"null"])
def test_decode_reply_non_object(line: bytes) -> None:
    with pytest.raises(ProtocolError, match="non-object"):
        protocol.decode_reply(line)


def test_decode_reply_deep_nesting_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError):
        protocol.decode_reply(b"[" * 100_000)
