"""Property-based checks of the request framing (procman.protocol), no sockets: whatever a
client sends, decode_request answers with a Request or a ProtocolError, and what it accepts
is exactly what METHODS allows. The daemon-level attack is in
tests/integration/test_hardening_security.py."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from procman import protocol
from procman.errors import ErrorCode, ProtocolError
from procman.protocol import METHODS, Request

FAST = settings(max_examples=50, deadline=None, derandomize=True, database=None)

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=16),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=10,
)
# one strategy per JSON kind: a param's values come from the kinds it lists, its wrong values
# from the others (bool is its own kind: a param that takes an int must not take true)
OF_KIND: dict[type, st.SearchStrategy[Any]] = {
    type(None): st.none(),
    bool: st.booleans(),
    int: st.integers(),
    float: st.floats(),
    str: st.text(max_size=8),
    list: st.lists(st.integers(), max_size=3),
    dict: st.dictionaries(st.text(max_size=4), st.integers(), max_size=3),
}


def accepts(types: tuple[type, ...], value: Any) -> bool:
    if isinstance(value, bool):
        return bool in types
    return isinstance(value, types)


def decode(line: bytes) -> Request | ProtocolError:
    try:
        return protocol.decode_request(line)
    except ProtocolError as exc:
        return exc


@st.composite
def well_formed(draw: st.DrawFn) -> tuple[Any, str, dict[str, Any]]:
    method = draw(st.sampled_from(sorted(METHODS)))
    params = {}
    for name, (types, required) in METHODS[method].items():
        if required or draw(st.booleans()):
            params[name] = draw(st.one_of(*(OF_KIND[t] for t in types)))
    return draw(st.none() | st.integers() | st.text(max_size=8)), method, params


@FAST
@given(st.binary(max_size=2048))
def test_any_bytes_give_a_request_or_a_protocol_error(data: bytes) -> None:
    outcome = decode(data)
    if isinstance(outcome, ProtocolError):
        assert outcome.code in (
            ErrorCode.BAD_REQUEST,
            ErrorCode.UNKNOWN_METHOD,
            ErrorCode.BAD_PARAMS,
        )
        assert outcome.message
    else:
        assert outcome.method in METHODS


@FAST
@given(JSON_VALUES)
def test_any_json_value_gives_a_request_or_a_protocol_error(value: Any) -> None:
    outcome = decode(json.dumps(value).encode())
    assert isinstance(outcome, (Request, ProtocolError))
    if isinstance(outcome, Request):
        assert isinstance(value, dict) and value["method"] in METHODS


@FAST
@given(well_formed())
def test_every_well_formed_request_round_trips(request: tuple[Any, str, dict[str, Any]]) -> None:
    req_id, method, params = request
    decoded = protocol.decode_request(protocol.request(req_id, method, params)[:-1])
    assert (decoded.id, decoded.method, decoded.params) == (req_id, method, params)


@FAST
@given(st.data())
def test_a_param_of_a_wrong_type_is_bad_params(data: st.DataObject) -> None:
    method = data.draw(st.sampled_from(sorted(m for m, shape in METHODS.items() if shape)))
    name = data.draw(st.sampled_from(sorted(METHODS[method])))
    types, _ = METHODS[method][name]
    kind = data.draw(st.sampled_from([k for k in OF_KIND if k not in types]))
    value = data.draw(OF_KIND[kind])
    assert not accepts(types, value)
    line = json.dumps({"id": 1, "method": method, "params": {name: value}}).encode()
    outcome = decode(line)
    assert isinstance(outcome, ProtocolError) and outcome.code == ErrorCode.BAD_PARAMS


PLAIN_IDS = st.none() | st.integers() | st.text(max_size=8) | st.floats(allow_nan=False)


@FAST
@given(st.text(max_size=24).filter(lambda m: m not in METHODS), PLAIN_IDS)
def test_an_unknown_method_is_unknown_method(method: str, req_id: Any) -> None:
    outcome = decode(json.dumps({"id": req_id, "method": method}).encode())
    assert isinstance(outcome, ProtocolError) and outcome.code == ErrorCode.UNKNOWN_METHOD


@FAST
@given(st.lists(st.integers(), max_size=3) | st.dictionaries(st.text(max_size=3), st.integers()))
def test_a_structured_id_is_a_bad_request(req_id: Any) -> None:
    outcome = decode(json.dumps({"id": req_id, "method": "ping"}).encode())
    assert isinstance(outcome, ProtocolError) and outcome.code == ErrorCode.BAD_REQUEST
