"""`procman run`: a one-off command in front, with the formation's environment, the terminal
and the exit code its own; no daemon."""

from __future__ import annotations

import json
import os
import subprocess
import time

from tests.harness import PROGRAMS, PY, Harness


def run_in_a_pty(
    pm: Harness, *args: str, typed: bytes = b"", timeout: float = 20
) -> tuple[int, str]:
    """`procman run ...` with a pseudo-terminal on stdin, stdout and stderr, as in a console."""
    master, slave = os.openpty()
    proc = subprocess.Popen(
        [PY, "-m", "procman", "run", *args],
        cwd=pm.root, env=pm.env, stdin=slave, stdout=slave, stderr=slave, start_new_session=True,
    )  # fmt: skip
    os.close(slave)
    if typed:
        os.write(master, typed)
    out = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: every slave end closed, the command is done
                break
            if not chunk:
                break
            out += chunk
        return proc.wait(timeout=max(1.0, deadline - time.monotonic())), out.decode()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)


def test_exit_codes_pass_through(pm: Harness) -> None:
    pm.procfile("web: sleep 1000\n")
    assert pm.run("run", "sh", "-c", "exit 3", expect=3).returncode == 3
    assert pm.run("run", "exit 7", expect=7).returncode == 7  # one word: through /bin/sh -c
    assert pm.run("run", "true").returncode == 0
    res = pm.run("run", "sh", "-c", "kill -TERM $$", expect=None)
    assert res.returncode == -15  # exec'd in place: the caller sees the signal itself
    res = pm.run("run", "no-such-command-here", expect=127)
    assert "command not found: no-such-command-here" in res.stderr
    assert pm.daemon_pid() is None


def test_a_terminal_passes_through(pm: Harness) -> None:
    pm.procfile("web: sleep 1000\n")
    code, out = run_in_a_pty(pm, "test -t 0 && test -t 1 && test -t 2 && tty && exit 5")
    assert code == 5, out
    assert "/dev/pts/" in out
    code, out = run_in_a_pty(pm, "read line; echo got:$line", typed=b"hello\n")
    assert code == 0 and "got:hello" in out, out


def test_the_formation_env_and_with_t_the_type_env_and_port(pm: Harness) -> None:
    pm.write(".env", "FROM_ENV_FILE=dotenv\n")
    pm.write("other.env", "FROM_ENV_FILE=other\n")
    pm.procfile(f"web: {PY} -m http.server $PORT\nworker: {PY} {PROGRAMS / 'printenv.py'}\n")
    printenv = f"{PY} -c 'import json,os; print(json.dumps(dict(os.environ)))'"
    env = json.loads(pm.run("run", printenv).stdout)
    assert env["FROM_ENV_FILE"] == "dotenv" and "PORT" not in env and "PS" not in env
    env = json.loads(pm.run("run", "-t", "web", printenv).stdout)
    assert env["FROM_ENV_FILE"] == "dotenv" and env["PORT"] == "5000" and env["PS"] == "web.1"
    env = json.loads(pm.run("run", "-t", "web", "-p", "6000", printenv).stdout)
    assert env["PORT"] == "6000"
    env = json.loads(pm.run("run", "-t", "worker", printenv).stdout)  # Foreman's rule, index 0
    assert (env["PORT"], env["PS"]) == ("5100", "worker.1")
    env = json.loads(pm.run("run", "-e", "other.env", printenv).stdout)
    assert env["FROM_ENV_FILE"] == "other"
    env = json.loads(pm.run("run", "--no-env-file", printenv).stdout)
    assert "FROM_ENV_FILE" not in env
    # several words are an argv, run as given; options after COMMAND are its own
    assert pm.run("run", "echo", "-n", "$PORT").stdout == "$PORT"
    # Python ignores SIGPIPE; the command must not inherit that
    ignored = pm.run("run", "grep SigIgn /proc/self/status").stdout.split()[1]
    assert not int(ignored, 16) & (1 << (13 - 1))


def test_a_word_naming_a_type_runs_that_type(pm: Harness) -> None:
    pm.procfile(f'worker: {PY} -c \'import os; print("I am", os.environ["PS"])\'\n')
    assert pm.run("run", "worker").stdout == "I am worker.1\n"


def test_without_a_procfile_the_env_file_alone_and_bad_type(pm: Harness) -> None:
    pm.write(".env", "ONLY=here\n")
    assert pm.run("run", "echo $ONLY").stdout == "here\n"
    res = pm.run("run", "-t", "web", "true", expect=1)
    assert "no Procfile or procman.yaml" in res.stderr
    pm.procfile("web: sleep 1000\n")
    res = pm.run("run", "-t", "wbe", "true", expect=2)
    assert "no process type 'wbe' (types: web)" in res.stderr
    assert "run needs a command" in pm.run("run", expect=2).stderr
