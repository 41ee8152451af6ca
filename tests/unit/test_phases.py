"""daemon/phases.py: the counts a start sets (pure part)."""

from __future__ import annotations

from pathlib import Path

import pytest

from procman.daemon.phases import wanted_counts
from procman.errors import UsageError
from procman.model import Formation, ProcessType


def formation() -> Formation:
    return Formation(
        root=Path("/srv"),
        types=(ProcessType("release", "m"), ProcessType("web", "w", instances=2),
               ProcessType("worker", "k")),
    )  # fmt: skip


def test_file_then_kept_then_minus_i_then_type_counts() -> None:
    f = formation()
    assert wanted_counts(f, {}, None, {}, None) == {"release": 1, "web": 2, "worker": 1}
    assert wanted_counts(f, {"web": 5}, None, {}, None)["web"] == 5
    # -i sets every type but the release phase, which runs once
    assert wanted_counts(f, {"web": 5}, 3, {}, None) == {"release": 1, "web": 3, "worker": 3}
    assert wanted_counts(f, {}, 3, {"worker": "+1"}, None)["worker"] == 4


def test_minus_i_with_named_types_sets_only_those() -> None:
    assert wanted_counts(formation(), {}, 4, {}, ["worker"]) == {
        "release": 1,
        "web": 2,
        "worker": 4,
    }


def test_release_runs_once() -> None:
    assert wanted_counts(formation(), {}, None, {"release": 0}, None)["release"] == 0
    with pytest.raises(UsageError, match="release runs once"):
        wanted_counts(formation(), {}, None, {"release": 2}, None)
