"""shell_command(): `exec` for simple commands, LISTEN_PID=$$ for held sockets."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys

import pytest

from procman.daemon.spawn import shell_command

PREFIX = "LISTEN_PID=$$; export LISTEN_PID; "


@pytest.mark.parametrize(
    ("cmd", "script"),
    [
        ("server", "exec server"),
        ("gunicorn app:app -b 0.0.0.0:$PORT -w 4", "exec gunicorn app:app -b 0.0.0.0:$PORT -w 4"),
        ("  server --flag  \n", "exec server --flag"),
        ("python -m http.server $PORT > out.log", "exec python -m http.server $PORT > out.log"),
        ("./bin/run 'quoted arg' \"x y\"", "exec ./bin/run 'quoted arg' \"x y\""),
        ("FOO=1 server", "FOO=1 exec server"),
        ("FOO=1 BAR= _B9=x/y server -v", "FOO=1 BAR= _B9=x/y exec server -v"),
        ("PORT=$PORT server", "PORT=$PORT exec server"),
        ("iffy", "exec iffy"),  # a keyword only as a whole word
        ("format c", "exec format c"),
    ],
)
def test_simple_commands_get_exec(cmd: str, script: str) -> None:
    assert shell_command(cmd, listen_pid=False) == script


@pytest.mark.parametrize(
    "cmd",
    [
        "a; b",
        "a && b",
        "a || b",
        "a | b",
        "server &",
        "a\nb",
        "server --started `date`",
        "server --started $(date)",
        "cd app && exec server",
        "FOO=1 a; b",
        "python -c 'import os; print(1)'",  # quoted separators count too: conservative
    ],
)
def test_compound_commands_are_left_alone(cmd: str) -> None:
    assert shell_command(cmd, listen_pid=False) == cmd


@pytest.mark.parametrize(
    "cmd",
    [
        "exec server",
        "FOO=1 exec server",
        "if true",
        "for x in a b",
        "while true",
        "until false",
        "case x in",
        "{ server }",
        "( server )",
        "! server",
        "function f",
        "exit 3",  # builtins with no program: `exec exit 3` would not find one
        "cd app",
        "read line",
    ],
)
def test_shell_keywords_are_left_alone(cmd: str) -> None:
    assert shell_command(cmd, listen_pid=False) == cmd


def test_empty_command_stays_empty() -> None:
    assert shell_command("   ", listen_pid=False) == ""


@pytest.mark.parametrize(
    ("cmd", "script"),
    [
        ("server", PREFIX + "exec server"),
        ("FOO=1 server", PREFIX + "FOO=1 exec server"),
        ("a && b", PREFIX + "a && b"),
        ("exec server", PREFIX + "exec server"),
    ],
)
def test_listen_pid_prefix(cmd: str, script: str) -> None:
    assert shell_command(cmd, listen_pid=True) == script


@pytest.mark.parametrize(
    ("cmd", "script"),
    [
        ('FOO="a b" server', 'FOO="a b" exec server'),
        ("FOO='x y' server", "FOO='x y' exec server"),
    ],
)
def test_quoted_assignment_with_space(cmd: str, script: str) -> None:
    assert shell_command(cmd, listen_pid=False) == script


def test_subshell_without_space_is_left_alone() -> None:
    assert shell_command("(server)", listen_pid=False) == "(server)"


# -- for real: /bin/sh -c ----------------------------------------------------------------

# No ; & | ` $( or newline, so shell_command sees a simple command.
REPORT = (
    'print(__import__("os").getpid(), __import__("os").environ.get("LISTEN_PID", "-"), '
    '__import__("os").environ.get("FOO", "-"), sep="\\n")'
)
PROGRAM = f"{shlex.quote(sys.executable)} -I -S -c {shlex.quote(REPORT)}"


def run(script: str) -> tuple[int, list[str]]:
    """Run /bin/sh -c script; return the shell's pid and what the program printed."""
    env = {k: v for k, v in os.environ.items() if k not in ("LISTEN_PID", "FOO")}
    with subprocess.Popen(
        ["/bin/sh", "-c", script], stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env
    ) as proc:
        out, _ = proc.communicate(timeout=10)
    assert proc.returncode == 0, (script, out)
    return proc.pid, out.decode().split("\n")[:-1]


def test_real_simple_command_keeps_the_shell_pid_and_listen_pid() -> None:
    shell_pid, (pid, listen_pid, _) = run(shell_command(PROGRAM, listen_pid=True))
    assert int(pid) == shell_pid
    assert int(listen_pid) == shell_pid


def test_real_assignments_reach_the_execed_program() -> None:
    shell_pid, (pid, listen_pid, foo) = run(shell_command(f"FOO=bar {PROGRAM}", listen_pid=False))
    assert int(pid) == shell_pid
    assert listen_pid == "-"
    assert foo == "bar"


def test_real_compound_command_gets_the_shell_pid_as_listen_pid() -> None:
    shell_pid, (_, listen_pid, _) = run(shell_command(f"cd / && {PROGRAM}", listen_pid=True))
    assert int(listen_pid) == shell_pid  # the shell's $$, whoever ends up serving


def test_real_compound_command_ending_in_exec_matches_listen_pid() -> None:
    shell_pid, (pid, listen_pid, _) = run(shell_command(f"cd / && exec {PROGRAM}", listen_pid=True))
    assert int(pid) == shell_pid == int(listen_pid)


def test_real_quoted_assignment_keeps_value_and_pid() -> None:
    shell_pid, (pid, listen_pid, foo) = run(
        shell_command(f'FOO="a-b c" {PROGRAM}', listen_pid=True)
    )
    assert foo == "a-b c"
    assert (int(pid), int(listen_pid)) == (shell_pid, shell_pid)


@pytest.mark.parametrize(
    ("cmd", "script"),
    [
        ("server 2>&1", "exec server 2>&1"),
        ("server <&0", "exec server <&0"),
        ("server & other", "server & other"),
        ("a && b", "a && b"),
    ],
)
def test_redirection_ampersand_is_not_compound(cmd: str, script: str) -> None:
    assert shell_command(cmd, listen_pid=False) == script


@pytest.mark.parametrize(
    ("cmd", "argv"),
    [
        ("sleep 1000", ["sleep", "1000"]),
        ("python app.py --port 80 -i=3", ["python", "app.py", "--port", "80", "-i=3"]),
        ("FOO=1 app", None),
        ("echo $HOME", None),
        ("ls *.py", None),
        ("cd x", None),
        ("exit 3", None),
        ("a && b", None),
        ("echo 'hi there'", None),
        ("server > out.log", None),
    ],
)
def test_commands_that_need_no_shell_are_execd_directly(cmd: str, argv: list[str] | None) -> None:
    from procman.shell import plain_argv

    assert plain_argv(cmd) == argv
