"""Finding and loading the formation, env file choice, Source, count overrides."""

from __future__ import annotations

import ast
import json
import os
from pathlib import Path

import pytest

from procman.config.load import (
    AdHoc,
    Source,
    apply_counts,
    cpu_count,
    find_file,
    load_formation,
)
from procman.errors import ConfigError, ErrorCode
from procman.model import Formation, ProcessType, ReadyCheck

ROOT = Path(__file__).resolve().parents[2]


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_procfile_in_project(tmp_path: Path) -> None:
    procfile = write(tmp_path / "Procfile", "web: serve $PORT\nworker: work\n")
    form = load_formation(tmp_path, Source())
    assert form.root == tmp_path
    assert form.source == procfile
    assert form.names == ["web", "worker"]
    assert form.get("web").port == 5000  # type: ignore[union-attr]
    assert form.env == {} and form.env_files == ()


def test_yaml_is_preferred_then_yml_then_procfile(tmp_path: Path) -> None:
    write(tmp_path / "Procfile", "p: x\n")
    assert load_formation(tmp_path, Source()).names == ["p"]
    write(tmp_path / "procman.yml", "processes: {yml: {cmd: x}}\n")
    assert load_formation(tmp_path, Source()).names == ["yml"]
    write(tmp_path / "procman.yaml", "processes: {yaml: {cmd: x}}\n")
    assert load_formation(tmp_path, Source()).names == ["yaml"]


def test_nothing_to_load(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_formation(tmp_path, Source())
    assert str(info.value) == (
        f"no Procfile or procman.yaml in {tmp_path} (create one, or pass -f FILE)"
    )


def test_procfile_option_relative_and_absolute(tmp_path: Path) -> None:
    write(tmp_path / "Procfile", "default: x\n")
    dev = write(tmp_path / "conf" / "Procfile.dev", "dev: x\n")
    assert load_formation(tmp_path, Source(procfile="conf/Procfile.dev")).names == ["dev"]
    form = load_formation(tmp_path, Source(procfile=str(dev)))
    assert (form.names, form.source) == (["dev"], dev)


def test_suffix_picks_the_parser(tmp_path: Path) -> None:
    write(tmp_path / "other.yml", "processes: {a: {cmd: x, port: 9000}}\n")
    write(tmp_path / "other.txt", "b: serve $PORT\n")
    a = load_formation(tmp_path, Source(procfile="other.yml")).types[0]
    b = load_formation(tmp_path, Source(procfile="other.txt", port_base=7000)).types[0]
    assert (a.port, a.socket) == (9000, True)
    assert (b.port, b.socket) == (7000, False)


def test_missing_f_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^Procfile\.dev does not exist$"):
        load_formation(tmp_path, Source(procfile="Procfile.dev"))
    outside = tmp_path.parent / "elsewhere" / "Procfile"
    with pytest.raises(ConfigError, match=rf"^{outside} does not exist$"):
        load_formation(tmp_path, Source(procfile=str(outside)))


def test_f_directory(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    with pytest.raises(ConfigError, match=r"^conf: is a directory"):
        load_formation(tmp_path, Source(procfile="conf"))


def test_messages_use_path_relative_to_project(tmp_path: Path) -> None:
    write(tmp_path / "conf" / "Procfile", "web: a\n\nweb: b\n")
    with pytest.raises(ConfigError, match=r'^conf/Procfile:3: duplicate process type "web"'):
        load_formation(tmp_path, Source(procfile="conf/Procfile"))
    project = tmp_path / "project"
    project.mkdir()
    with pytest.raises(ConfigError, match=rf"^{tmp_path}/conf/Procfile:3: "):
        load_formation(project, Source(procfile=str(tmp_path / "conf" / "Procfile")))


def test_yaml_messages_use_relative_path(tmp_path: Path) -> None:
    write(tmp_path / "procman.yaml", "processes:\n  web: {cmd: x, port: 70000}\n")
    with pytest.raises(ConfigError, match=r"^procman\.yaml:2: processes\.web\.port: 70000"):
        load_formation(tmp_path, Source())


@pytest.mark.parametrize("text", ["", "# just comments\n\n"])
def test_no_types(tmp_path: Path, text: str) -> None:
    write(tmp_path / "Procfile", text)
    with pytest.raises(ConfigError, match=r"^Procfile: declares no process types$"):
        load_formation(tmp_path, Source())


def test_default_env_file(tmp_path: Path) -> None:
    write(tmp_path / "Procfile", "web: x\n")
    write(tmp_path / ".env", "A=1\n")
    form = load_formation(tmp_path, Source())
    assert form.env == {"A": "1"}
    assert form.env_files == (tmp_path / ".env",)


def test_dot_env_directory_is_not_an_env_file(tmp_path: Path) -> None:
    write(tmp_path / "Procfile", "web: x\n")
    (tmp_path / ".env").mkdir()  # `python -m venv .env`
    assert load_formation(tmp_path, Source()).env_files == ()


def test_env_files_option_wins_and_layers(tmp_path: Path) -> None:
    write(tmp_path / "Procfile", "web: x\n")
    write(tmp_path / ".env", "A=default\n")
    write(tmp_path / "a.env", "A=a\nB=a\n")
    write(tmp_path / "b.env", "B=b\n")
    form = load_formation(tmp_path, Source(env_files=("a.env", "b.env")))
    assert form.env == {"A": "a", "B": "b"}
    assert form.env_files == (tmp_path / "a.env", tmp_path / "b.env")
    assert load_formation(tmp_path, Source(env_files=())).env == {}


def test_no_env_file_beats_everything(tmp_path: Path) -> None:
    write(tmp_path / "procman.yaml", "env_file: a.env\nprocesses: {web: {cmd: x}}\n")
    write(tmp_path / ".env", "A=1\n")
    form = load_formation(tmp_path, Source(no_env_file=True, env_files=("a.env",)))
    assert (form.env, form.env_files) == ({}, ())


def test_yaml_env_file_replaces_dot_env(tmp_path: Path) -> None:
    write(tmp_path / "procman.yaml", "env_file: [a.env, b.env]\nprocesses: {web: {cmd: x}}\n")
    write(tmp_path / ".env", "DOT=1\n")
    write(tmp_path / "a.env", "A=1\n")
    write(tmp_path / "b.env", "A=2\n")
    form = load_formation(tmp_path, Source())
    assert form.env == {"A": "2"}
    # the CLI's -e still wins over the yaml's env_file
    assert load_formation(tmp_path, Source(env_files=(".env",))).env == {"DOT": "1"}


def test_missing_env_file_is_named(tmp_path: Path) -> None:
    write(tmp_path / "procman.yaml", "env_file: .env.prod\nprocesses: {web: {cmd: x}}\n")
    with pytest.raises(ConfigError, match=r"^env file \.env\.prod does not exist$"):
        load_formation(tmp_path, Source())


def test_adhoc_command(tmp_path: Path) -> None:
    write(tmp_path / "Procfile", "ignored: x\n")
    form = load_formation(tmp_path, Source(no_file=True, apps=(AdHoc("api", "python app.py"),)))
    assert form.source is None
    assert form.types == (ProcessType(name="api", cmd="python app.py"),)


def test_adhoc_apps_beside_the_file(tmp_path: Path) -> None:
    write(tmp_path / "Procfile", "web: serve $PORT\n")
    bg = AdHoc.create("bg", "sleep 100", instances=2)
    form = load_formation(tmp_path, Source(apps=(bg,)))
    assert form.names == ["web", "bg"]
    assert form.types[1] == ProcessType(name="bg", cmd="sleep 100", instances=2)


def test_adhoc_app_named_like_a_file_type(tmp_path: Path) -> None:
    write(tmp_path / "Procfile", "# c\nweb: serve\n")
    with pytest.raises(ConfigError) as info:
        load_formation(tmp_path, Source(apps=(AdHoc("web", "other"),)))
    assert str(info.value).startswith('Procfile:2: process type "web" is also an ad-hoc app')
    assert "procman delete web" in str(info.value)


def test_adhoc_command_mentioning_port() -> None:
    web = AdHoc.create("web", "serve --port $PORT", port_base=6000).ptype()
    assert (web.name, web.port, web.socket, web.ready) == ("web", 6000, False, ReadyCheck("port"))
    # the first port of base, base+100, ... that no other type uses, fixed once chosen
    assert AdHoc.create("b", "serve $PORT", taken={5000, 5100}).port == 5200


def test_adhoc_command_explicit_port(tmp_path: Path) -> None:
    write(tmp_path / ".env", "A=1\n")
    app = AdHoc.create("web", "serve --fd 3", port=8080)
    form = load_formation(tmp_path, Source(no_file=True, apps=(app,)))
    (web,) = form.types
    assert (web.port, web.socket, web.ready) == (8080, True, ReadyCheck("port"))
    assert form.env == {"A": "1"}


def test_adhoc_empty_command() -> None:
    with pytest.raises(ConfigError, match=r"command to run is empty"):
        AdHoc.create("web", "  ")


def test_source_round_trip() -> None:
    source = Source(env_files=("a.env", "b.env"), no_env_file=False, port_base=6000)
    data = source.to_dict()
    assert data["env_files"] == ["a.env", "b.env"]
    assert Source.from_dict(json.loads(json.dumps(data))) == source
    apps = (AdHoc.create("api", "serve", port=8000), AdHoc.create("bg", "work", instances=3))
    adhoc = Source(no_file=True, apps=apps)
    assert Source.from_dict(json.loads(json.dumps(adhoc.to_dict()))) == adhoc
    assert Source.from_dict({}) == Source()
    assert Source(env_files=["x"]).env_files == ("x",)  # type: ignore[arg-type]


def test_source_from_an_older_daemon() -> None:
    """state.json of a daemon from before ad-hoc apps: one command, no file."""
    old = {"procfile": None, "command": "serve", "name": "api", "port": 8000, "port_base": 5000}
    assert Source.from_dict(old) == Source(no_file=True, apps=(AdHoc("api", "serve", 8000, True),))
    old_file = {"procfile": "/p/Procfile", "command": None, "name": "web", "port": None}
    assert Source.from_dict(old_file) == Source(procfile="/p/Procfile")


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ([], "expected an object"),
        ({"procfile": 3}, "source.procfile: 3 has the wrong type"),
        ({"port_base": True}, "source.port_base: True has the wrong type"),
        ({"port_base": "5000"}, "source.port_base"),
        ({"env_files": "a.env"}, "source.env_files"),
        ({"env_files": ["a", 1]}, "is not a list of strings"),
        ({"no_env_file": 1}, "source.no_env_file"),
        ({"colour": "red"}, "unknown key 'colour'"),
        ({"procfile": "P", "command": "x"}, "not both"),
        ({"procfile": "P", "no_file": True}, "not both"),
        ({"apps": [{"name": "a b", "cmd": "x"}]}, "is not a process type name"),
        ({"apps": [{"name": "a", "cmd": "x", "port": 70000}]}, "is not a port (1-65535)"),
        ({"apps": [{"name": "a", "cmd": "x", "port": True}]}, "source.apps.port"),
        ({"apps": [{"name": "a", "cmd": "x", "instances": -1}]}, "is not a count"),
        ({"apps": [{"name": "a"}]}, "'cmd' is required"),
        ({"apps": [{"name": "a", "cmd": "x", "color": 1}]}, "unknown key 'color'"),
        ({"apps": ["a"]}, "source.apps: expected an object"),
        ({"apps": [{"name": "a", "cmd": "x"}, {"name": "a", "cmd": "y"}]}, "given twice"),
        ({"command": "x", "port": 70000}, "is not a port (1-65535)"),
        ({"port_base": 0}, "port base 0 is not a port"),
    ],
)
def test_source_from_dict_rejects(data: object, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        Source.from_dict(data)  # type: ignore[arg-type]
    assert fragment in str(info.value)


def formation(*names: str) -> Formation:
    return Formation(root=Path("/p"), types=tuple(ProcessType(name=n, cmd="x") for n in names))


def test_apply_counts() -> None:
    form = formation("web", "worker", "clock")
    assert apply_counts(form) == form
    counted = apply_counts(form, default_instances=4, counts={"clock": 1})
    assert [t.instances for t in counted.types] == [4, 4, 1]
    assert [t.instances for t in apply_counts(form, counts={"worker": 0}).types] == [1, 0, 1]
    assert form.types[0].instances == 1  # the input is untouched


def test_apply_counts_unknown_type_lists_known() -> None:
    with pytest.raises(ConfigError) as info:
        apply_counts(formation("web", "worker"), counts={"wrker": 2})
    assert str(info.value) == 'no process type "wrker" (known: web, worker)'
    assert info.value.code is ErrorCode.NOT_FOUND


@pytest.mark.parametrize(("default", "counts"), [(-1, None), (None, {"web": -2}), (True, None)])
def test_apply_counts_rejects_negative(default: object, counts: dict[str, int] | None) -> None:
    with pytest.raises(ConfigError, match=r"is not a count"):
        apply_counts(formation("web"), default, counts)  # type: ignore[arg-type]


def test_cpu_count() -> None:
    assert cpu_count() == (os.cpu_count() or 1)


def test_find_file(tmp_path: Path) -> None:
    procfile = write(tmp_path / "Procfile", "web: x\n")
    assert find_file(tmp_path, Source()) == procfile


def _top_level_imports(module: str) -> set[str]:
    """Modules `module` imports when it is imported (function bodies are not followed)."""
    path = ROOT.joinpath(*module.split(".")).with_suffix(".py")
    if not path.exists():
        path = path.with_suffix("") / "__init__.py"
    found: set[str] = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_import_is_cheap() -> None:
    # procman.config.load is imported by every CLI command: yaml, dotenv, psutil and asyncio
    # must wait until a function needs them. Followed through procman's own modules.
    seen, todo = set(), ["procman.config.load"]
    while todo:
        module = todo.pop()
        seen.add(module)
        for name in _top_level_imports(module):
            assert name.split(".")[0] not in {"yaml", "dotenv", "psutil", "asyncio"}, (module, name)
            parents = [".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 2)]
            todo += [p for p in parents if p.startswith("procman") and p not in seen]
    assert "procman.config.envfiles" in seen


def test_procfile_base_port_from_env_file_then_environ(tmp_path: Path) -> None:
    write(tmp_path / "Procfile", "web: serve $PORT\nworker: work\n")
    write(tmp_path / ".env", "PORT=9000\n")
    formation = load_formation(tmp_path, Source(), environ={"PORT": "6000"})
    assert [t.port for t in formation.types] == [9000, 9100]
    assert load_formation(tmp_path, Source(port_base=7000), environ={}).types[0].port == 7000
    (tmp_path / ".env").unlink()
    assert load_formation(tmp_path, Source(), environ={"PORT": "6000"}).types[1].port == 6100
    assert load_formation(tmp_path, Source(), environ={}).types[1].port == 5100


def test_share_travels_in_the_source(tmp_path: Path) -> None:
    write(tmp_path / "Procfile", "web: serve $PORT\nworker: work\n")
    source = Source.from_dict(json.loads(json.dumps(Source(share=("web",)).to_dict())))
    assert source.share == ("web",)
    web, worker = load_formation(tmp_path, source, environ={}).types
    assert (web.socket, web.instance_ports, worker.instance_ports) == (True, False, True)
    with pytest.raises(ConfigError, match="--share: no process type 'api'"):
        load_formation(tmp_path, Source(share=("api",)), environ={})
    write(tmp_path / "procman.yaml", "processes:\n  web:\n    cmd: x\n")
    with pytest.raises(ConfigError, match="--share is for Procfile types"):
        load_formation(tmp_path, Source(share=("web",)), environ={})


def test_start_words_are_types_or_one_adhoc_command(tmp_path: Path) -> None:
    from procman.config.load import resolve_start
    from procman.daemon.apps import read_words

    write(tmp_path / "Procfile", "web: serve\nworker: work\n")
    _, only = resolve_start(tmp_path, Source(), ["worker"], {})
    assert only == ["worker"]
    _, only = resolve_start(tmp_path, Source(), ["worker", "web", "worker"], {})
    assert only == ["worker", "web"]
    app = {"name": "web", "cmd": "htop", "port": None}
    assert read_words(tmp_path, None, None, ["htop"], app, {}) == ([], app)
    worker = {"name": "web", "cmd": "worker", "port": None}
    assert read_words(tmp_path, None, None, ["worker"], worker, {}) == (["worker"], None)
    with pytest.raises(ConfigError, match='no process type "nosuch"') as info:
        resolve_start(tmp_path, Source(), ["web", "nosuch"], {})
    assert info.value.code == ErrorCode.NOT_FOUND
    empty = tmp_path / "empty"
    empty.mkdir()
    # no formation file: a single word is a command
    assert read_words(empty, None, None, ["worker"], worker, {}) == ([], worker)


def test_minus_i_leaves_release_at_one(tmp_path: Path) -> None:
    write(tmp_path / "Procfile", "release: migrate\nweb: serve\n")
    formation = apply_counts(load_formation(tmp_path, Source(), environ={}), 3)
    assert [t.instances for t in formation.types] == [1, 3]
