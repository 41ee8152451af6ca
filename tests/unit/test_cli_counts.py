"""`check` parses Foreman's -m, Honcho's -c, TYPE=N, all=N and --share as `start` does
(in-process, no daemon)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from procman.cli.app import cli
from procman.cli.options import parse_counts


def check(tmp_path: Path, *args: str) -> dict:
    (tmp_path / "Procfile").write_text("web: serve $PORT\nworker: work\nclock: tick\n")
    result = CliRunner().invoke(cli, ["check", "--json", "-d", str(tmp_path), *args])
    assert result.exit_code == 0, result.output
    return {t["name"]: t for t in json.loads(result.output)["types"]}


def test_minus_m_minus_c_and_type_counts(tmp_path: Path) -> None:
    types = check(tmp_path, "-m", "web=2,worker=3", "-c", "clock=0", "-p", "7000")
    assert [types[n]["instances"] for n in ("web", "worker", "clock")] == [2, 3, 0]
    assert types["web"]["ports"] == [7000, 7001]
    assert types["worker"]["ports"] == [7100, 7101, 7102]
    types = check(tmp_path, "--formation", "all=2", "web=4")
    assert [types[n]["instances"] for n in ("web", "worker", "clock")] == [4, 2, 2]


def test_share_as_a_list_or_repeated(tmp_path: Path) -> None:
    types = check(tmp_path, "--share", "web,clock", "-i", "2")
    assert types["web"]["socket"] and types["clock"]["socket"] and not types["worker"]["socket"]
    assert types["clock"]["ports"] == [5200, 5200]
    assert check(tmp_path, "--share", "web", "--share", "worker")["worker"]["socket"]


def test_parse_counts() -> None:
    assert parse_counts(("web=2", "all=max", "worker=+1")) == (
        {"web": "2", "worker": "+1"},
        "max",
    )
