"""Signal names as users write them."""

from __future__ import annotations

import signal

import pytest

from procman.signames import parse_signal, signal_name, valid_names


@pytest.mark.parametrize(
    ("text", "number"),
    [("TTIN", signal.SIGTTIN), ("SIGUSR2", signal.SIGUSR2), ("hup", signal.SIGHUP),
     (" sigterm ", signal.SIGTERM), ("9", signal.SIGKILL), (15, signal.SIGTERM)],
)  # fmt: skip
def test_names_and_numbers(text: str | int, number: int) -> None:
    assert parse_signal(text) == number


def test_a_real_time_signal_without_a_name_is_its_number() -> None:
    number = int(signal.SIGRTMIN) + 1
    assert parse_signal(str(number)) == number and signal_name(number) == str(number)


@pytest.mark.parametrize("text", ["WOOF", "SIGWOOF", "0", "999", "", "-1", True])
def test_bad_ones_list_what_is_valid(text: str | bool) -> None:
    with pytest.raises(ValueError, match="is not a signal; valid: HUP INT QUIT .* TTIN TTOU"):
        parse_signal(text)  # type: ignore[arg-type]


def test_valid_names_are_in_number_order_without_sig() -> None:
    names = valid_names()
    assert names[:3] == ["HUP", "INT", "QUIT"] and "SIGTERM" not in names and "TERM" in names
