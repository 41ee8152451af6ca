"""procman.yaml parsing: every option, and file + line + key path in every error."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

import pytest

from procman.config.yamlfile import parse_yaml
from procman.counts import cpu_count
from procman.errors import ConfigError
from procman.model import Autoscale, ProcessType, ReadyCheck, RestartPolicy


def parse(text: str, project: Path) -> tuple[list[ProcessType], list[str] | None]:
    types, env_file, _settings = parse_yaml(dedent(text), "procman.yaml", project)
    return types, env_file


def error(text: str, project: Path) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse(text, project)
    return info.value


def test_full_example(tmp_path: Path) -> None:
    (tmp_path / "srv").mkdir()
    types, env_file = parse(
        """\
        env_file: .env
        processes:
          web:
            cmd: python examples/app.py
            instances: max
            port: 8000
            socket: true
            env: {LOG_LEVEL: info, RATIO: 1.10, DEBUG: yes, EMPTY: , N: 007}
            cwd: srv
            restart: on-failure
            kill_timeout: 2.5
            max_memory: 512M
            ready: http:/healthz
            ready_timeout: 10
            min_uptime: 0
            max_restarts: 3
            autoscale: {min: 2, max: 16, cpu: 70}
          worker:
            cmd: python examples/worker.py
        """,
        tmp_path,
    )
    assert env_file == [".env"]
    web, worker = types
    assert web == ProcessType(
        name="web",
        cmd="python examples/app.py",
        instances=cpu_count(),
        port=8000,
        socket=True,
        env={"LOG_LEVEL": "info", "RATIO": "1.10", "DEBUG": "yes", "EMPTY": "", "N": "007"},
        cwd=tmp_path / "srv",
        restart=RestartPolicy.ON_FAILURE,
        kill_timeout=2.5,
        max_memory=512 * 1024**2,
        ready=ReadyCheck("http", "/healthz"),
        ready_timeout=10.0,
        min_uptime=0.0,
        max_restarts=3,
        autoscale=Autoscale(min=2, max=16, cpu=70.0),
        line=3,
    )
    assert worker == ProcessType(name="worker", cmd="python examples/worker.py", line=18)


def test_defaults_follow_the_port(tmp_path: Path) -> None:
    types, env_file = parse(
        """\
        processes:
          web: {cmd: serve, port: 8000}
          bound: {cmd: serve, port: 8001, socket: false}
          notify: {cmd: serve, ready: notify}
        """,
        tmp_path,
    )
    assert env_file is None
    web, bound, notify = types
    assert (web.socket, web.ready) == (True, ReadyCheck("port"))
    assert (bound.socket, bound.ready) == (False, ReadyCheck("port"))
    assert (notify.port, notify.socket, notify.ready) == (None, False, ReadyCheck("notify"))


def test_env_file_list_and_cwd_dot(tmp_path: Path) -> None:
    types, env_file = parse(
        """\
        env_file: [.env, .env.local]
        processes:
          web: {cmd: x, cwd: ., instances: 0}
        """,
        tmp_path,
    )
    assert env_file == [".env", ".env.local"]
    assert types[0].cwd == tmp_path
    assert types[0].instances == 0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1024", 1024),
        ("100K", 100 * 1024),
        ("'512M'", 512 * 1024**2),
        ("512MB", 512 * 1024**2),
        ("512mb", 512 * 1024**2),
        ("1.5G", 3 * 1024**3 // 2),
        ("2GiB", 2 * 1024**3),
        ("1T", 1024**4),
        ("'4096'", 4096),
        ("64 B", 64),
    ],
)
def test_max_memory_sizes(tmp_path: Path, text: str, expected: int) -> None:
    types, _ = parse(f"processes:\n  web: {{cmd: x, max_memory: {text}}}\n", tmp_path)
    assert types[0].max_memory == expected


def test_merge_keys(tmp_path: Path) -> None:
    types, _ = parse(
        """\
        processes:
          web: &base
            cmd: serve
            restart: never
            env: {A: "1"}
          worker:
            <<: *base
            cmd: work
        """,
        tmp_path,
    )
    assert types[1].cmd == "work"
    assert types[1].restart is RestartPolicy.NEVER
    assert types[1].env == {"A": "1"}


def test_error_shape_port(tmp_path: Path) -> None:
    err = error(
        """\
        processes:
          web:
            cmd: x
            port: 70000
        """,
        tmp_path,
    )
    assert str(err) == "procman.yaml:4: processes.web.port: 70000 is not a port (1-65535)"
    assert (err.file, err.line, err.key_path) == ("procman.yaml", 4, "processes.web.port")


# (line of the bad key within the process, value) -> expected message fragment
BAD_VALUES = [
    ("instances: -1", "instances", 'is not an integer >= 0 or "max"'),
    ("instances: true", "instances", 'is not an integer >= 0 or "max"'),
    ("instances: '3'", "instances", "'3' is not an integer >= 0"),
    ("instances: 1.5", "instances", 'is not an integer >= 0 or "max"'),
    ("port: true", "port", "true is not a port (1-65535)"),
    ("port: 0", "port", "0 is not a port"),
    ("port: [1]", "port", "expected a port (1-65535), got a list"),
    ("socket: 1", "socket", "1 is not true or false"),
    ("env: [A]", "env", "expected a mapping, got a list"),
    ("env: {A: [1]}", "env.A", "expected a value, got a list"),
    ("cwd: nowhere", "cwd", "does not exist"),
    ("cwd: 3", "cwd", "3 is not a directory"),
    ("restart: sometimes", "restart", "sometimes is not always, on-failure or never"),
    ("kill_timeout: -1", "kill_timeout", "is not a number of seconds >= 0"),
    ("kill_timeout: yes", "kill_timeout", "is not a number of seconds >= 0"),
    ("kill_timeout: .inf", "kill_timeout", "is not a number of seconds >= 0"),
    ("max_memory: lots", "max_memory", "lots is not a size in bytes, or like 100K, 512M"),
    ("max_memory: 0", "max_memory", "at least 1 byte"),
    ("max_memory: 12iB", "max_memory", "is not a size"),
    ("max_memory: true", "max_memory", "is not a size"),
    ("ready: soon", "ready", "is not a ready check (none, port, notify, http:/path)"),
    ("ready: http:healthz", "ready", "the http check needs a path"),
    ("ready: port", "ready", "port needs a `port:` on this process type"),
    ("ready: http:/x", "ready", "http:/x needs a `port:`"),
    ("ready_timeout: 0", "ready_timeout", "is not a number of seconds > 0"),
    ("min_uptime: -0.5", "min_uptime", "is not a number of seconds >= 0"),
    ("max_restarts: 0", "max_restarts", "0 is not an integer >= 1"),
    ("max_restarts: 2.0", "max_restarts", "is not an integer >= 1"),
    ("socket: true", "socket", "true needs a `port:` to bind"),
    ("cmd: ''", "cmd", "is not a command (a non-empty string)"),
    ("cmd: 12", "cmd", "12 is not a command"),
    ("cmd:", "cmd", "expected a command (a non-empty string), got an empty value"),
    ("autoscale: 3", "autoscale", "expected a mapping, got 3"),
    ("autoscale: {min: 1, max: 4}", "autoscale", "needs a target: cpu (%), memory (like 300M)"),
    ("autoscale: {max: 4, cpu: 50}", "autoscale", "needs min and max (missing: min)"),
    ("autoscale: {min: 1, max: 4, memory: lots}", "autoscale.memory", "lots is not a size"),
    ("autoscale: {min: 1, max: 4, queue: 4}", "autoscale.queue", "needs a listener procman holds"),
    ("autoscale: {min: 1, max: 4, window: -1, cpu: 5}", "autoscale.window", "-1 is not a number"),
    ("autoscale: {min: -1, max: 4, cpu: 50}", "autoscale.min", "-1 is not an integer >= 0"),
    ("autoscale: {min: 1, max: 0, cpu: 50}", "autoscale.max", "0 is not an integer >= 1"),
    ("autoscale: {min: 1, max: 4, cpu: 0}", "autoscale.cpu", "0 is not a CPU % in (0, 100]"),
    ("autoscale: {min: 1, max: 4, cpu: 101}", "autoscale.cpu", "101 is not a CPU %"),
    ("autoscale: {min: 5, max: 4, cpu: 50}", "autoscale.min", "5 is above max (4)"),
    (
        "autoscale: {min: 1, max: 4, cpu: 5, step: 1}",
        "autoscale.step",
        "valid keys: min, max, cpu, memory, queue",
    ),
]


@pytest.mark.parametrize(("line", "key", "fragment"), BAD_VALUES)
def test_bad_values(tmp_path: Path, line: str, key: str, fragment: str) -> None:
    text = f"processes:\n  ok:\n    cmd: x\n  web:\n    cmd: run\n    {line}\n"
    if line.startswith("cmd"):
        text = f"processes:\n  ok:\n    cmd: x\n  web:\n    {line}\n"
    err = error(text, tmp_path)
    expected_line = 5 if line.startswith("cmd") else 6
    assert str(err).startswith(f"procman.yaml:{expected_line}: processes.web.{key}: "), str(err)
    assert fragment in str(err)


def test_autoscale_metrics(tmp_path: Path) -> None:
    (web, worker), _ = parse(
        """\
        processes:
          web:
            cmd: serve
            port: 8000
            autoscale: {min: 1, max: 8, cpu: 60, memory: 300M, queue: 4, window: 5}
          worker:
            cmd: work
            autoscale: {min: 0, max: 3, memory: 1.5G}
        """,
        tmp_path,
    )
    assert web.autoscale == Autoscale(
        min=1, max=8, cpu=60.0, memory=300 * 1024**2, queue=4.0, window=5.0
    )
    assert web.autoscale.targets() == {"cpu": 60.0, "memory": 300.0 * 1024**2, "queue": 4.0}
    assert worker.autoscale == Autoscale(min=0, max=3, memory=int(1.5 * 1024**3))


def test_queue_needs_a_held_socket(tmp_path: Path) -> None:
    err = error(
        "processes:\n  web:\n    cmd: x\n    port: 80\n    socket: false\n"
        "    autoscale: {min: 1, max: 4,\n                queue: 4}\n",
        tmp_path,
    )
    assert str(err).startswith("procman.yaml:7: processes.web.autoscale.queue: needs a listener")
    assert "connections waiting in each instance's held socket" in str(err)
    assert "`socket: true`" in str(err)


def test_unknown_key_lists_valid_keys_and_suggests(tmp_path: Path) -> None:
    err = error("processes:\n  web:\n    cmd: x\n    instance: 2\n", tmp_path)
    message = str(err)
    assert message.startswith('procman.yaml:4: processes.web.instance: unknown key; did you mean "')
    assert "valid keys: cmd, instances, port, socket, env, cwd, restart" in message


def test_unknown_top_level_key(tmp_path: Path) -> None:
    err = error("processes: {web: {cmd: x}}\nversion: 2\n", tmp_path)
    assert str(err) == (
        "procman.yaml:2: version: unknown key; "
        "valid keys: env_file, processes, log_max_size, log_keep, sample_interval, metrics_port"
    )


def test_missing_cmd_points_at_the_type(tmp_path: Path) -> None:
    err = error("processes:\n  web:\n    port: 80\n", tmp_path)
    assert str(err) == "procman.yaml:2: processes.web: missing `cmd:`, the command to run"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "procman.yaml: is empty"),
        ("# only a comment\n", "procman.yaml: is empty"),
        ("- a\n- b\n", "procman.yaml:1: expected a mapping, got a list"),
        ("env_file: .env\n", "procman.yaml:1: missing `processes:`"),
        ("processes: {}\n", "procman.yaml:1: processes: declares no process types"),
        ("processes:\n", "procman.yaml:1: processes: expected a mapping, got an empty value"),
        ("processes: [web]\n", "procman.yaml:1: processes: expected a mapping, got a list"),
        ("processes:\n  web: python app.py\n", "procman.yaml:2: processes.web: expected a mapping"),
        ("processes:\n  web.1: {cmd: x}\n", "procman.yaml:2: processes.web.1: not a process type"),
        ("processes:\n  [a]: {cmd: x}\n", "procman.yaml:2: processes: keys must be strings"),
        ("env_file: 3\nprocesses: {w: {cmd: x}}\n", "procman.yaml:1: env_file: 3 is not a file"),
        (
            "env_file: [.env, {a: 1}]\nprocesses: {w: {cmd: x}}\n",
            "procman.yaml:1: env_file[1]: expected a file name, got a mapping",
        ),
    ],
)
def test_document_errors(tmp_path: Path, text: str, expected: str) -> None:
    assert str(error(text, tmp_path)).startswith(expected)


def test_duplicate_keys(tmp_path: Path) -> None:
    err = error("processes:\n  web:\n    cmd: a\n    port: 80\n    cmd: b\n", tmp_path)
    assert str(err) == "procman.yaml:5: processes.web.cmd: duplicate key (first on line 3)"
    err = error("processes:\n  web: {cmd: a}\n  web: {cmd: b}\n", tmp_path)
    assert str(err) == "procman.yaml:3: processes.web: duplicate key (first on line 2)"


def test_duplicate_ports(tmp_path: Path) -> None:
    err = error(
        "processes:\n  web: {cmd: a, port: 8000}\n  api:\n    cmd: b\n    port: 8000\n", tmp_path
    )
    assert str(err) == (
        "procman.yaml:5: processes.api.port: 8000 is already the port of web (line 2)"
    )


def test_cwd_must_be_a_directory(tmp_path: Path) -> None:
    (tmp_path / "file.txt").write_text("x")
    err = error("processes:\n  web: {cmd: x, cwd: file.txt}\n", tmp_path)
    assert "processes.web.cwd: file.txt" in str(err)
    assert "is not a directory" in str(err)


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("processes:\n  web:\n    cmd: x\n   port: 1\n", 4, "invalid YAML: "),
        ("processes:\n\tweb: {cmd: x}\n", 2, "invalid YAML: "),
        ('processes:\n  web: {cmd: "x}\n', 3, "while scanning a quoted scalar (line 2)"),
        ("processes: {web: {cmd: x}}\n---\nother: 1\n", 2, "expected a single document"),
        ("processes: {web: *nothing}\n", 1, "invalid YAML: "),
    ],
)
def test_yaml_syntax_errors(tmp_path: Path, text: str, line: int, fragment: str) -> None:
    err = error(text, tmp_path)
    assert str(err).startswith(f"procman.yaml:{line}: "), str(err)
    assert fragment in str(err)
    assert err.line == line


def test_self_referencing_merge(tmp_path: Path) -> None:
    err = error("processes:\n  web: &a {cmd: x, <<: *a}\n", tmp_path)
    assert "procman.yaml" in str(err)


def test_syntax_errors_name_what_the_pure_python_composer_found(tmp_path: Path) -> None:
    """One composer in the CLI and the daemon (which leaves libyaml out): `procman check`
    words an error as the daemon will, and names the alias or escape it stopped at."""
    err = error("processes:\n  web: *nope\n", tmp_path)
    assert str(err) == "procman.yaml:2: invalid YAML: found undefined alias 'nope'"
    err = error('processes:\n  web:\n    cmd: "a\\qb"\n', tmp_path)
    assert "unknown escape character 'q'" in str(err) and err.line == 3


def test_log_rotation_settings(tmp_path: Path) -> None:
    text = "log_max_size: 1M\nlog_keep: 2\nprocesses:\n  web:\n    cmd: x\n"
    _, _, settings = parse_yaml(text, "procman.yaml", tmp_path)
    assert settings == {"log_max_size": 1024 * 1024, "log_keep": 2}
    err = error("log_keep: -1\nprocesses:\n  web:\n    cmd: x\n", tmp_path)
    assert "procman.yaml:1: log_keep:" in str(err)


def test_after_stop_signal_and_release(tmp_path: Path) -> None:
    types, _ = parse(
        """\
        processes:
          web:
            cmd: serve
            after: [seed]
            stop_signal: QUIT
          seed:
            cmd: seed
            restart: never
            stop_signal: 2
          release:
            cmd: migrate
          worker:
            cmd: work
            after: web
        """,
        tmp_path,
    )
    web, seed, release, worker = types
    assert (web.after, worker.after, seed.after) == (("seed",), ("web",), ())
    assert (web.stop_signal, seed.stop_signal, worker.stop_signal) == (3, 2, 15)
    assert release.restart == RestartPolicy.NEVER  # the release phase runs once


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "  a:\n    cmd: x\n    after: [b]\n  b:\n    cmd: y\n    after: [a]\n",
            "procman.yaml:4: processes.a.after: start order has a cycle: a -> b -> a;",
        ),
        (
            "  a:\n    cmd: x\n    after: [nosuch]\n",
            "procman.yaml:4: processes.a.after: no process type 'nosuch' (types: a)",
        ),
        (
            "  a:\n    cmd: x\n    after: ['web.1']\n",
            "procman.yaml:4: processes.a.after: 'web.1' is not a process type name",
        ),
        (
            "  a:\n    cmd: x\n    stop_signal: NOPE\n",
            "procman.yaml:4: processes.a.stop_signal: 'NOPE' is not a signal; valid: HUP INT",
        ),
        (
            "  a:\n    cmd: x\n    stop_signal: 999\n",
            "procman.yaml:4: processes.a.stop_signal: '999' is not a signal; valid:",
        ),
        (
            "  a:\n    cmd: x\n    stop_signal: true\n",
            "processes.a.stop_signal: true is not a signal name",
        ),
        (
            "  release:\n    cmd: x\n    restart: always\n",
            "procman.yaml:4: processes.release.restart: the release phase runs once",
        ),
    ],
)
def test_order_and_signal_errors(tmp_path: Path, body: str, message: str) -> None:
    assert message in str(error("processes:\n" + body, tmp_path))
