"""The rules of a formation's parts (daemon/apps.py): its file and its ad-hoc apps."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from procman.config.load import AdHoc, Source
from procman.daemon.apps import plan_start, without_app
from procman.errors import Conflict, ErrorCode, NotFound, UsageError
from procman.model import Formation, ProcessType


def formation(root: Path, source: Path | None, *types: tuple[str, int | None]) -> Formation:
    made = tuple(ProcessType(name=n, cmd="x", port=p) for n, p in types)
    return Formation(root=root, types=made, source=source)


def app(name: str, cmd: str = "serve", port: int | None = None) -> dict[str, object]:
    return {"name": name, "cmd": cmd, "port": port}


def test_an_app_in_a_fresh_daemon_is_the_whole_formation(tmp_path: Path) -> None:
    plan = plan_start(tmp_path, None, None, None, app("api"), None)
    assert plan.source == Source(no_file=True, apps=(AdHoc("api", "serve"),))
    assert plan.counts == {"api": 1} and plan.notes == [] and plan.replaced == []
    plan = plan_start(tmp_path, None, None, None, app("api", port=8000), 4)
    assert plan.source.apps == (AdHoc("api", "serve", 8000, True, 4),)
    assert plan.counts == {"api": 4}


def test_an_app_joins_what_runs(tmp_path: Path) -> None:
    procfile = tmp_path / "Procfile"
    current = Source(procfile=str(procfile))
    loaded = formation(tmp_path, procfile, ("web", 5000), ("worker", None))
    plan = plan_start(tmp_path, current, loaded, None, app("bg", "work --port $PORT"), None)
    assert plan.source.procfile == str(procfile)
    (bg,) = plan.source.apps
    assert (bg.name, bg.port, bg.socket) == ("bg", 5100, False)  # 5000 is web's


def test_an_app_restored_from_state_keeps_the_others(tmp_path: Path) -> None:
    restored = Source(apps=(AdHoc("old", "x"),))
    plan = plan_start(tmp_path, restored, None, None, app("new"), None)
    assert [a.name for a in plan.source.apps] == ["old", "new"]
    assert plan.source.procfile is None and not plan.source.no_file


def test_a_taken_app_name_needs_force(tmp_path: Path) -> None:
    current = Source(no_file=True, apps=(AdHoc("api", "old", instances=3), AdHoc("bg", "b")))
    loaded = formation(tmp_path, None, ("api", None), ("bg", None))
    with pytest.raises(Conflict) as info:
        plan_start(tmp_path, current, loaded, None, app("api", "new"), None)
    assert '"api" is already in the formation (old); --force replaces it' in str(info.value)
    assert info.value.code is ErrorCode.CONFLICT
    plan = plan_start(tmp_path, current, loaded, None, app("api", "new"), None, force=True)
    assert plan.source.apps == (AdHoc("api", "new", instances=3), AdHoc("bg", "b"))
    assert plan.notes == ["replaced api (was: old)"] and plan.replaced == ["api"]
    assert plan.counts == {}  # no -i: the count that runs stays


def test_an_app_never_takes_a_file_type_name(tmp_path: Path) -> None:
    yaml = tmp_path / "procman.yaml"
    loaded = formation(tmp_path, yaml, ("web", None))
    with pytest.raises(Conflict, match=r'"web" is a process type of procman.yaml'):
        plan_start(tmp_path, Source(), loaded, None, app("web"), None, force=True)


def test_env_files_given_with_an_app_set_the_formation_env(tmp_path: Path) -> None:
    requested = Source(env_files=("a.env",)).to_dict()
    plan = plan_start(tmp_path, Source(), None, requested, app("api"), None)
    assert plan.source.env_files == ("a.env",) and plan.source.apps[0].name == "api"


@pytest.mark.parametrize(
    "bad", [{"name": "a"}, {"name": 1, "cmd": "x"}, {"name": "a", "cmd": "x", "port": 0}]
)
def test_bad_app_params(tmp_path: Path, bad: dict[str, object]) -> None:
    with pytest.raises(UsageError):
        plan_start(tmp_path, None, None, None, bad, None)


def test_no_request_keeps_what_runs_or_the_project_file(tmp_path: Path) -> None:
    current = Source(procfile="/x/other.yaml", apps=(AdHoc("a", "x"),))
    assert plan_start(tmp_path, current, None, None, None, None).source == current
    assert plan_start(tmp_path, None, None, None, None, None).source == Source()
    # the last app deleted: the project's own file again
    empty = Source(no_file=True)
    assert plan_start(tmp_path, empty, None, None, None, None).source == Source()


def test_another_file_is_refused_unless_replace(tmp_path: Path) -> None:
    (tmp_path / "procman.yaml").write_text("")
    other = tmp_path / "other.yaml"
    other.write_text("")
    current = Source(apps=(AdHoc("bg", "x"),))
    loaded = formation(tmp_path, tmp_path / "procman.yaml", ("web", None), ("bg", None))
    named = Source(procfile=str(tmp_path / "procman.yaml")).to_dict()
    same = plan_start(tmp_path, current, loaded, named, None, None)
    assert same.source == replace(current, procfile=named["procfile"]) and same.notes == []
    wanted = Source(procfile=str(other)).to_dict()
    with pytest.raises(Conflict) as info:
        plan_start(tmp_path, current, loaded, wanted, None, None)
    assert str(info.value).startswith("this project's daemon runs procman.yaml (web, bg);")
    assert "--replace" in str(info.value)
    plan = plan_start(tmp_path, current, loaded, wanted, None, None, replace_file=True)
    assert plan.source == Source(procfile=str(other), apps=current.apps)
    assert plan.notes == ["other.yaml replaces procman.yaml", "ad-hoc apps kept: bg"]


def test_env_files_alone_change_what_runs(tmp_path: Path) -> None:
    current = Source(procfile="/p/other.yaml", apps=(AdHoc("bg", "x"),))
    loaded = formation(tmp_path, Path("/p/other.yaml"), ("web", None))
    plan = plan_start(tmp_path, current, loaded, Source(env_files=("b.env",)).to_dict(), None)
    assert plan.source == replace(current, env_files=("b.env",))
    apps_only = Source(no_file=True, apps=(AdHoc("bg", "x"),))
    plan = plan_start(tmp_path, apps_only, loaded, Source(no_env_file=True).to_dict(), None)
    assert plan.source == replace(apps_only, no_env_file=True)


def test_a_file_joins_a_formation_of_apps(tmp_path: Path) -> None:
    procfile = tmp_path / "Procfile"
    procfile.write_text("")
    current = Source(no_file=True, apps=(AdHoc("api", "x"),))
    loaded = formation(tmp_path, None, ("api", None))
    plan = plan_start(tmp_path, current, loaded, Source(procfile=str(procfile)).to_dict(), None)
    assert plan.source == Source(procfile=str(procfile), apps=current.apps)
    assert plan.notes == ["Procfile joins the apps (api)"]


def test_a_request_in_a_fresh_daemon_wins_and_keeps_restored_apps(tmp_path: Path) -> None:
    restored = Source(procfile="/gone/Procfile", apps=(AdHoc("bg", "x"),))
    wanted = Source(procfile="/p/other.yaml").to_dict()
    plan = plan_start(tmp_path, restored, None, wanted, None, None)
    assert plan.source == Source(procfile="/p/other.yaml", apps=restored.apps)


def test_without_app(tmp_path: Path) -> None:
    current = Source(apps=(AdHoc("a", "x"), AdHoc("b", "y")))
    loaded = formation(tmp_path, tmp_path / "Procfile", ("web", None), ("a", None), ("b", None))
    source, rest = without_app(current, loaded, "a")
    assert source.apps == (AdHoc("b", "y"),) and rest.names == ["web", "b"]
    with pytest.raises(NotFound, match=r'no ad-hoc app "zz" \(ad-hoc apps: a, b\)'):
        without_app(current, loaded, "zz")
    with pytest.raises(Conflict, match=r'"web" is a process type of Procfile, not an ad-hoc'):
        without_app(current, loaded, "web")


def test_a_restored_source_whose_file_is_gone_keeps_its_apps(tmp_path: Path) -> None:
    from procman.daemon.persist import saved_source

    source = Source(procfile=str(tmp_path / "gone.yaml"), apps=(AdHoc("bg", "x"),))
    assert saved_source({"source": source.to_dict()}) == Source(apps=source.apps)
    assert saved_source({"source": {"apps": [{"name": "a b", "cmd": "x"}]}}) is None
