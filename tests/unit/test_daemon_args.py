"""`python -m procman.daemon`'s own arguments: what `procman daemon`, `procman start` and
`procman update` pass it, parsed with getopt (the long-lived process keeps argparse out)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from procman.daemon.__main__ import BadArgument, Options, parse


def test_every_option_the_cli_passes_is_read() -> None:
    argv = ["-d", "/srv/app", "-f", "Procfile.dev", "-i", "max", "--metrics-port", "9100"]
    argv += ["--no-prefix", "-q", "web,worker", "--quiet", "clock", "--detach"]
    assert parse(argv) == Options(
        dir=Path("/srv/app"), procfile=Path("Procfile.dev"), instances="max", detach=True,
        metrics_port=9100, no_prefix=True, quiet=["web,worker", "clock"],
    )  # fmt: skip
    assert parse(["--dir=/srv/app", "--procfile=P", "--instances=2"]).instances == "2"
    assert parse(["--check-update"]).check_update
    assert parse(["--resume", "7"]).resume == 7
    assert parse([]).dir == Path.cwd()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--bogus"], "option --bogus not recognized"),
        (["-d"], "option -d requires argument"),
        (["--metrics-port", "x"], "--metrics-port: 'x' is not a number"),
        (["--resume", "fd"], "--resume: 'fd' is not a number"),
        (["stray"], "unexpected argument 'stray'"),
    ],
)
def test_a_bad_argument_is_named(argv: list[str], message: str) -> None:
    with pytest.raises(BadArgument, match=message):
        parse(argv)


def test_the_entry_exits_2_with_the_usage_on_a_bad_argument_and_0_on_help() -> None:
    entry = [sys.executable, "-m", "procman.daemon"]
    bad = subprocess.run([*entry, "--bogus"], capture_output=True, text=True, timeout=30)
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.startswith("usage: python -m procman.daemon [-d DIR]")
    assert bad.stderr.endswith("error: option --bogus not recognized (--help lists the options)\n")
    help = subprocess.run([*entry, "--help"], capture_output=True, text=True, timeout=30)
    assert help.returncode == 0 and "--metrics-port PORT" in help.stdout
