"""procman/order.py: after: and the release phase -> start waves, stop order, cycles."""

from __future__ import annotations

from procman import order
from procman.model import ProcessType, RestartPolicy


def types(*specs: tuple[str, tuple[str, ...]]) -> list[ProcessType]:
    return [ProcessType(name, "x", after=after) for name, after in specs]


def test_no_after_is_one_wave_in_file_order() -> None:
    assert order.start_waves(types(("web", ()), ("worker", ()))) == [["web", "worker"]]


def test_after_makes_waves_and_stop_reverses_them() -> None:
    formation = types(("web", ("db", "cache")), ("db", ()), ("cache", ("db",)), ("mail", ()))
    assert order.start_waves(formation) == [["db", "mail"], ["cache"], ["web"]]
    assert order.stop_waves(formation) == [["web"], ["cache"], ["db", "mail"]]


def test_release_comes_before_every_other_type() -> None:
    formation = types(("web", ()), ("release", ()), ("worker", ()))
    assert order.start_waves(formation) == [["release"], ["web", "worker"]]
    assert order.dependencies(formation)["web"] == ("release",)


def test_release_after_db_runs_once_db_is_up_and_before_the_rest() -> None:
    formation = types(("db", ()), ("release", ("db",)), ("web", ()), ("queue", ()))
    # db comes before release (release waits for it), everything else after release
    assert order.start_waves(formation) == [["db"], ["release"], ["web", "queue"]]
    assert order.find_cycle(order.dependencies(formation)) is None


def test_cycles_are_found_with_their_path() -> None:
    assert order.find_cycle({"a": ("b",), "b": ("c",), "c": ("a",)}) == ["a", "b", "c", "a"]
    assert order.find_cycle({"a": ("a",)}) == ["a", "a"]
    assert order.find_cycle({"a": ("b",), "b": ()}) is None
    # an explicit edge back to release closes one; release's implicit edges never do
    formation = types(("release", ("worker",)), ("worker", ("web",)), ("web", ("release",)))
    assert order.find_cycle(order.dependencies(formation)) == [
        "release",
        "worker",
        "web",
        "release",
    ]
    formation = types(("release", ("web",)), ("web", ()))
    assert order.find_cycle(order.dependencies(formation)) is None
    assert order.start_waves(formation) == [["web"], ["release"]]


def test_only_cuts_the_graph_down() -> None:
    formation = types(("release", ()), ("web", ()), ("worker", ("web",)))
    assert order.start_waves(formation, only=["worker"]) == [["worker"]]
    assert order.start_waves(formation, only=["worker", "web"]) == [["web"], ["worker"]]


def test_unknown_names_in_after_are_ignored_here() -> None:
    # the loader refuses them with file:line; order only sees types of the formation
    assert order.dependencies(types(("web", ("gone",)))) == {"web": ()}


def test_one_shot() -> None:
    assert ProcessType("seed", "x", restart=RestartPolicy.NEVER).one_shot
    assert not ProcessType("web", "x").one_shot
