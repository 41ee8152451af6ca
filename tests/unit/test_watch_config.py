"""watch, ignore and cron_restart in procman.yaml, and `start --watch` (Source.watch)."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

import pytest

from procman.config.load import Source, load_formation
from procman.config.yamlfile import parse_yaml
from procman.errors import ConfigError
from procman.model import ProcessType


def parse(text: str, project: Path) -> list[ProcessType]:
    return parse_yaml(dedent(text), "procman.yaml", project)[0]


def error(text: str, project: Path) -> str:
    with pytest.raises(ConfigError) as info:
        parse(text, project)
    return str(info.value)


def test_watch_paths_ignore_and_cron(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "app.py").touch()
    (tmp_path / "jobs").mkdir()
    web, worker, clock, plain = parse(
        """\
        processes:
          web:
            cmd: x
            watch: [src, app.py]
            ignore: ["*.tmp", build/*]
            cron_restart: "0  3 * * *"
          worker:
            cmd: y
            cwd: jobs
            watch: true
          clock:
            cmd: z
            watch: false
            cron_restart: "@hourly"
          plain:
            cmd: w
        """,
        tmp_path,
    )
    assert web.watch == (str(tmp_path / "src"), str(tmp_path / "app.py"))
    assert web.ignore == ("*.tmp", "build/*")
    assert web.cron_restart == "0 3 * * *"
    assert worker.watch == (str(tmp_path / "jobs"),)  # true: the type's own directory
    assert (clock.watch, clock.cron_restart) == ((), "@hourly")
    assert (plain.watch, plain.ignore, plain.cron_restart) == ((), (), None)


def test_watch_true_without_cwd_is_the_project(tmp_path: Path) -> None:
    (web,) = parse("processes:\n  web:\n    cmd: x\n    watch: true\n", tmp_path)
    assert web.watch == (str(tmp_path),)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("watch: [src, nope]", "procman.yaml:4: processes.web.watch[1]: nope ("),
        ("watch: nope", "procman.yaml:4: processes.web.watch: nope ("),
        ("watch: 3", "processes.web.watch: 3 is not a path or a list of them"),
        ("watch: {a: 1}", "processes.web.watch: expected a path or a list of them, got a mapping"),
        ("ignore: ['*.tmp']", "procman.yaml:4: processes.web.ignore: needs `watch:`"),
        ("cron_restart: '61 * * * *'", "procman.yaml:4: processes.web.cron_restart: '61 * * * *'"),
        ("cron_restart: '* * *'", "processes.web.cron_restart: '* * *' is not a cron expression"),
        ("cron_restart: 5", "processes.web.cron_restart: 5 is not a cron expression"),
    ],
)
def test_bad_watch_and_cron(tmp_path: Path, line: str, expected: str) -> None:
    (tmp_path / "src").mkdir()
    message = error(f"processes:\n  web:\n    cmd: x\n    {line}\n", tmp_path)
    assert expected in message
    if "nope" in line:
        assert "does not exist" in message


def test_start_watch_watches_every_type_without_a_rule(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "procman.yaml").write_text(
        "processes:\n  web:\n    cmd: x\n    watch: [src]\n  worker:\n    cmd: y\n"
    )
    plain = load_formation(tmp_path, Source())
    assert [t.watch for t in plain.types] == [(str(tmp_path / "src"),), ()]
    watched = load_formation(tmp_path, Source(watch=True))
    assert [t.watch for t in watched.types] == [(str(tmp_path / "src"),), (str(tmp_path),)]
    assert Source.from_dict(Source(watch=True).to_dict()).watch is True
    with pytest.raises(ConfigError, match="source.watch"):
        Source.from_dict({"watch": "yes"})
