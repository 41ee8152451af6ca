"""Procfile parsing: Foreman's format, line numbers in every error, the $PORT rule."""

from __future__ import annotations

import pytest

from procman.config.procfile import mentions_port, parse_procfile
from procman.errors import ConfigError
from procman.model import ProcessType, ReadyCheck


def test_basic_types_in_file_order() -> None:
    text = "# a comment\n\nweb: python app.py\n  worker :  python worker.py --queue=a:b  \n"
    types = parse_procfile(text, "Procfile")
    assert [t.name for t in types] == ["web", "worker"]
    assert types[0] == ProcessType(
        name="web", cmd="python app.py", line=3, port=5000, instance_ports=True
    )
    # only the first ':' splits; whitespace around name and command is stripped
    assert types[1].cmd == "python worker.py --queue=a:b"
    assert types[1].line == 4
    # every type has a port (Foreman's rule); none mentions $PORT, so none waits for it
    assert [t.port for t in types] == [5000, 5100]
    assert all(not t.socket and t.ready == ReadyCheck("none") for t in types)


def test_crlf_bom_and_indented_comment() -> None:
    text = "\ufeffweb: run\r\n   # not a type\r\nclock: tick\r\n"
    types = parse_procfile(text, "Procfile")
    assert [(t.name, t.cmd, t.line) for t in types] == [("web", "run", 1), ("clock", "tick", 3)]


def test_empty_file_gives_no_types() -> None:
    assert parse_procfile("# nothing\n\n", "Procfile") == []


def test_port_rule_uses_position_among_all_types() -> None:
    text = (
        "web: gunicorn -b 0.0.0.0:$PORT app\n"
        "worker: python worker.py\n"
        "api: uvicorn api:app --port ${PORT}\n"
        "admin: serve --port=${PORT:-9000}\n"
    )
    types = parse_procfile(text, "Procfile", port_base=6000)
    assert [t.port for t in types] == [6000, 6100, 6200, 6300]
    # Foreman: instance i of the type at position p gets base + 100 p + i
    assert [types[0].port_of(i) for i in range(3)] == [6000, 6001, 6002]
    assert types[1].port_of(1) == 6101
    assert [t.ready for t in types] == [
        ReadyCheck("port"),
        ReadyCheck("none"),
        ReadyCheck("port"),
        ReadyCheck("port"),
    ]
    # Foreman semantics: the command binds $PORT itself, the daemon passes no socket
    assert not any(t.socket for t in types)


def test_default_port_base() -> None:
    types = parse_procfile("a: x\nb: serve $PORT\n", "Procfile")
    assert types[1].port == 5100


@pytest.mark.parametrize(
    ("cmd", "expected"),
    [
        ("serve $PORT", True),
        ("serve ${PORT}", True),
        ("serve --port=$PORT", True),
        ("serve ${PORT:-80}", True),
        ("echo $PORTAL", False),
        ("echo PORT", False),
        ("echo $PORT_NUMBER", False),
    ],
)
def test_mentions_port(cmd: str, expected: bool) -> None:
    assert mentions_port(cmd) is expected


def test_port_beyond_65535_is_an_error() -> None:
    with pytest.raises(ConfigError, match=r"^Procfile:2: .*port 65600 .*not a port \(1-65535\)"):
        parse_procfile("a: x\nb: serve $PORT\n", "Procfile", port_base=65500)


def test_duplicate_names_first_line() -> None:
    text = "# header\nweb: a\nworker: b\nweb: c\n"
    with pytest.raises(ConfigError) as info:
        parse_procfile(text, "Procfile")
    assert str(info.value) == 'Procfile:4: duplicate process type "web" (first on line 2)'
    assert (info.value.file, info.value.line) == ("Procfile", 4)


def test_line_without_colon() -> None:
    with pytest.raises(ConfigError) as info:
        parse_procfile("web: a\njust a command\n", "conf/Procfile.dev")
    message = str(info.value)
    assert message.startswith("conf/Procfile.dev:2: no ':' in 'just a command'")
    assert "expected `name: command`" in message


@pytest.mark.parametrize("line", ["my web: a", "web.1: a", ": a", "wéb: a", "web/x: a"])
def test_bad_name(line: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_procfile(f"ok: x\n{line}\n", "Procfile")
    message = str(info.value)
    assert message.startswith("Procfile:2: ")
    assert "is not a process type name (letters, digits, '_' and '-')" in message


@pytest.mark.parametrize("line", ["web:", "web:   ", "web:\t"])
def test_empty_command(line: str) -> None:
    with pytest.raises(ConfigError, match=r'^Procfile:1: process type "web" has an empty command'):
        parse_procfile(line + "\n", "Procfile")


def test_foreman_counts(tmp_path) -> None:
    from procman.config.procfile import foreman_counts

    path = tmp_path / ".foreman"
    assert foreman_counts(path, ["web"]) == {}
    path.write_text("port: 5000\nformation: web=3, worker=2\n")
    assert foreman_counts(path, ["web", "worker"]) == {"web": 3, "worker": 2}
    path.write_text("formation: all=2\n")
    assert foreman_counts(path, ["web", "worker"]) == {"web": 2, "worker": 2}
    path.write_text("\nformation: web=x\n")
    with pytest.raises(ConfigError, match=r"\.foreman:2: 'web=x' is not TYPE=N"):
        foreman_counts(path, ["web"])
    path.write_text("formation: nope=1\n")
    with pytest.raises(ConfigError, match="no process type 'nope'"):
        foreman_counts(path, ["web"])


def test_share_gives_one_held_port_for_every_instance() -> None:
    types = parse_procfile("web: serve $PORT\nworker: w\n", "Procfile", share=["web"])
    web, worker = types
    assert (web.port, web.socket, web.instance_ports) == (5000, True, False)
    assert [web.port_of(i) for i in range(3)] == [5000, 5000, 5000]
    assert (worker.port_of(1), worker.socket) == (5101, False)


def test_share_of_an_unknown_type_is_an_error() -> None:
    with pytest.raises(ConfigError, match=r"--share: no process type 'api' .*types: web"):
        parse_procfile("web: serve\n", "Procfile", share=["api"])


def test_release_runs_once() -> None:
    from procman.model import RestartPolicy

    release, web = parse_procfile("release: migrate\nweb: serve\n", "Procfile")
    assert release.restart == RestartPolicy.NEVER and release.one_shot
    assert web.restart == RestartPolicy.ALWAYS


@pytest.mark.parametrize(
    ("explicit", "files", "environ", "base"),
    [
        (7000, {"PORT": "9000"}, {"PORT": "6000"}, 7000),  # -p wins
        (None, {"PORT": "9000"}, {"PORT": "6000"}, 9000),  # then the env files (Foreman)
        (None, {}, {"PORT": "6000"}, 6000),  # then procman's environment
        (None, {}, {}, 5000),
        (None, {"PORT": ""}, {}, 5000),
    ],
)
def test_port_base_follows_foreman(explicit, files, environ, base) -> None:
    from procman.config.procfile import port_base

    assert port_base(explicit, files, environ) == base


def test_port_base_that_is_not_a_port() -> None:
    from procman.config.procfile import port_base

    with pytest.raises(ConfigError, match=r"PORT='abc' in the env files is not a port"):
        port_base(None, {"PORT": "abc"}, {})
