"""Scale arithmetic: CountSpec and TYPE=COUNT assignments."""

from __future__ import annotations

import pytest

from procman.counts import CountSpec, cpu_count, parse_assignment
from procman.errors import UsageError


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        ("4", "abs", 4),
        ("0", "abs", 0),
        ("max", "max", 0),
        ("MAX", "max", 0),
        ("+2", "rel", 2),
        ("-1", "rel", -1),
        (" 3 ", "abs", 3),
    ],
)
def test_parse(text: str, kind: str, value: int) -> None:
    assert CountSpec.parse(text) == CountSpec(kind, value)


@pytest.mark.parametrize("text", ["", "lots", "1.5", "++1", "4x", "-", "+", "²", "max1", "1 2"])
def test_parse_rejects_with_what_is_valid(text: str) -> None:
    with pytest.raises(UsageError) as info:
        CountSpec.parse(text)
    assert repr(text) in str(info.value)
    assert "N, max, +N or -N" in str(info.value)


@pytest.mark.parametrize("text", ["4", "0", "max", "+2", "-1", "+0"])
def test_str_round_trips(text: str) -> None:
    assert str(CountSpec.parse(text)) == text
    assert CountSpec.parse(str(CountSpec.parse(text))) == CountSpec.parse(text)


@pytest.mark.parametrize(
    ("text", "current", "expected"),
    [("4", 2, 4), ("0", 5, 0), ("max", 1, 8), ("+2", 2, 4), ("-1", 2, 1), ("-2", 2, 0)],
)
def test_apply(text: str, current: int, expected: int) -> None:
    assert CountSpec.parse(text).apply(current, cpus=8) == expected


def test_apply_max_never_zero() -> None:
    assert CountSpec.parse("max").apply(3, cpus=0) == 1


def test_apply_below_zero_says_the_sum() -> None:
    with pytest.raises(UsageError, match=r"would go below 0: 2 - 3"):
        CountSpec.parse("-3").apply(2, cpus=4)


def test_cpu_count_is_positive() -> None:
    assert cpu_count() >= 1


@pytest.mark.parametrize(
    ("text", "name", "spec"),
    [
        ("web=+2", "web", CountSpec("rel", 2)),
        ("worker=0", "worker", CountSpec("abs", 0)),
        ("my_type-2=max", "my_type-2", CountSpec("max", 0)),
        ("web=-1", "web", CountSpec("rel", -1)),
    ],
)
def test_parse_assignment(text: str, name: str, spec: CountSpec) -> None:
    assert parse_assignment(text) == (name, spec)


def test_parse_assignment_needs_equals() -> None:
    with pytest.raises(UsageError, match=r"expected TYPE=COUNT, like web=4"):
        parse_assignment("web")


@pytest.mark.parametrize("text", ["=3", "we b=3", "web.1=3", "wéb=2"])
def test_parse_assignment_bad_name(text: str) -> None:
    with pytest.raises(UsageError, match=r"is not a process type name"):
        parse_assignment(text)


def test_parse_assignment_bad_count_names_the_type() -> None:
    with pytest.raises(UsageError, match=r"^web: 'lots' is not a count"):
        parse_assignment("web=lots")
