"""Bad input gets a clear message and the right exit code, and changes nothing."""

from __future__ import annotations

import json
import socket
import subprocess

from tests.harness import PROGRAMS, PY, Harness


def sleeper_yaml(port: int | None = None) -> str:
    text = f"processes:\n  web:\n    cmd: {PY} {PROGRAMS / 'printenv.py'}\n"
    if port:
        text += f"    port: {port}\n"
    return text


def test_bad_procfile_names_file_and_line(pm: Harness) -> None:
    pm.procfile("web: python app.py\n# fine\nworker python worker.py\n")
    res = pm.run("start", expect=1)
    assert "Procfile:3:" in res.stderr
    res = pm.run("check", expect=1)
    assert "Procfile:3:" in res.stderr
    pm.procfile("web: a\nweb: b\n")
    res = pm.run("check", expect=1)
    assert 'Procfile:2: duplicate process type "web" (first on line 1)' in res.stderr


def test_bad_yaml_names_file_line_and_key(pm: Harness) -> None:
    pm.yaml("processes:\n  web:\n    cmd: x\n    port: 70000\n")
    res = pm.run("check", expect=1)
    assert "procman.yaml:4: processes.web.port: 70000 is not a port" in res.stderr
    pm.yaml("processes:\n  web:\n    cmd: x\n    instancs: 2\n")
    res = pm.run("start", expect=1)
    assert "procman.yaml:4:" in res.stderr and "instancs" in res.stderr


def test_no_formation_in_the_directory(pm: Harness) -> None:
    res = pm.run("check", expect=1)
    assert "no Procfile or procman.yaml" in res.stderr
    res = pm.run("start", expect=1)
    assert "no Procfile or procman.yaml" in res.stderr


def test_no_daemon(pm: Harness) -> None:
    for args in (("status",), ("logs",), ("scale", "web=2"), ("stop",), ("shutdown",)):
        res = pm.run(*args, expect=1)
        assert "no daemon for" in res.stderr and 'run "procman start"' in res.stderr, args


def test_bad_scale_arguments_exit_2_and_change_nothing(pm: Harness) -> None:
    pm.yaml(sleeper_yaml())
    pm.run("start")
    pm.run("scale", "web=2")
    before = pm.status()
    for args, needle in (
        (("scale", "web=abc"), "not a count"),
        (("scale", "nosuch=2"), "no process type 'nosuch'"),
        (("scale", "web=-5"), "below 0"),
        (("scale", "web"), "TYPE=N"),
        (("scale",), "Missing argument"),
        (("start", "-i", "lots"), "not a count"),
        (("logs", "nosuch"), "no process type or instance 'nosuch'"),
        (("status", "web.9"), "no process type or instance 'web.9'"),
    ):
        res = pm.run(*args, expect=2)
        assert needle in res.stderr, (args, res.stderr)
    assert [r["pid"] for r in pm.status()] == [r["pid"] for r in before]


def test_start_when_the_port_is_taken_names_the_holder(pm: Harness, port: int) -> None:
    holder = subprocess.Popen(
        [
            PY,
            "-c",
            "import socket,sys\n"
            "s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)\n"
            f"s.bind(('0.0.0.0', {port})); s.listen(); print('ok', flush=True)\n"
            "sys.stdin.read()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ok"
        pm.yaml(sleeper_yaml(port))
        res = pm.run("start", expect=1)
        assert f"port {port} is in use by pid {holder.pid}" in res.stderr
        assert pm.daemon_pid() is None  # nothing was started, not even the daemon
    finally:
        holder.stdin.close()
        holder.wait(10)
        holder.stdout.close()
    pm.run("start")
    assert pm.status()[0]["state"] == "running"


def test_bad_requests_get_error_objects_and_the_daemon_serves_on(pm: Harness) -> None:
    pm.yaml(sleeper_yaml())
    pm.run("start")
    with socket.socket(socket.AF_UNIX) as sock:
        sock.connect(str(pm.sock))
        reader = sock.makefile("rb")
        # an error reply carries the request's id whenever the request had a readable one
        for line, code, req_id in (
            (b"not json\n", "bad_request", None),
            (b"[1,2]\n", "bad_request", None),
            (b'{"id": 5, "method": "nope"}\n', "unknown_method", 5),
            (b'{"id": 6, "method": "scale", "params": {"counts": 3}}\n', "bad_params", 6),
            (
                b'{"id": 7, "method": "scale", "params": {"counts": {"web": "x"}}}\n',
                "bad_params",
                7,
            ),
            (b'{"id": "s", "method": "scale", "params": {"nope": 1}}\n', "bad_params", "s"),
            (b'{"id": 9, "method": "stop", "params": {"target": "nope"}}\n', "not_found", 9),
            (b'{"id": {"a": 1}, "method": "ping"}\n', "bad_request", None),
            (b"[" * 200_000 + b"\n", "bad_request", None),
            (b"x" * (1024 * 1024 + 10) + b"\n", "bad_request", None),
        ):
            sock.sendall(line)
            reply = json.loads(reader.readline())
            assert reply["error"]["code"] == code, (line[:40], reply)
            assert reply["id"] == req_id, (line[:40], reply)
        sock.sendall(b'{"id": 8, "method": "ping"}\n')
        assert json.loads(reader.readline())["result"]["pid"] == pm.daemon_pid()
        reader.close()
    assert pm.status()[0]["state"] == "running"


def test_bad_cli_usage_exits_2(pm: Harness) -> None:
    res = pm.run("start", "sleep 1", "sleep 2", expect=2)
    assert "one TARGET at most" in res.stderr
    # bare words are process types; with no formation file, several of them are a mistake
    res = pm.run("start", "a", "b", expect=2)
    assert "no process types 'a b'" in res.stderr and '"a b"' in res.stderr
    res = pm.run("nosuchcommand", expect=2)
    assert "No such command" in res.stderr
    res = pm.run("logs", "-n", "-3", expect=2)
    assert "Invalid value" in res.stderr


def test_a_failed_first_start_leaves_no_daemon(pm: Harness) -> None:
    pm.procfile("web python app.py\n")
    pm.run("start", expect=1)
    assert pm.daemon_pid() is None
