"""`start --foreground` as Honcho users know it: --no-prefix, --no-color (and NO_COLOR),
-q/--quiet TYPE,... Each test runs a real foreground daemon and reads what it printed."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time

import pytest

from tests.harness import PROGRAMS, PY, Harness, wait_until

ESC = "\x1b["


def two_types(pm: Harness) -> None:
    pm.yaml(f"""processes:
  web:
    cmd: {PY} {PROGRAMS / "printenv.py"}
  worker:
    cmd: {PY} {PROGRAMS / "printenv.py"}
""")


def foreground(pm: Harness, *flags: str, tty: bool = False, **env: str) -> str:
    """Run `start --foreground FLAGS` until both instances printed their ENV line, stop it
    with SIGINT, return everything it wrote (through a pseudo-terminal when tty)."""
    shutil.rmtree(pm.root / ".procman" / "logs", ignore_errors=True)  # this run's lines only
    environ = {**pm.env, **env}
    for key in [k for k, v in env.items() if v == ""]:
        del environ[key]
    master = slave = None
    if tty:
        master, slave = os.openpty()
        out_to: int | None = slave
    else:
        out_to = subprocess.PIPE
    proc = subprocess.Popen(
        [PY, "-m", "procman", "start", "--foreground", *flags],
        cwd=pm.root, env=environ, stdin=subprocess.DEVNULL, stdout=out_to, stderr=subprocess.STDOUT,
    )  # fmt: skip
    pm.background.append(proc)
    if slave is not None:
        os.close(slave)
    try:
        wait_until(pm.daemon_pid, 15, "the foreground daemon")
        pm.wait_log("ENV ", target="web.1", timeout=15)
        pm.wait_log("ENV ", target="worker.1", timeout=15)
        proc.send_signal(signal.SIGINT)
        if master is None:
            out, _ = proc.communicate(timeout=15)
            text = out.decode()
        else:
            text = read_until_closed(master)
            proc.wait(15)
    finally:
        if master is not None:
            os.close(master)
    assert proc.returncode == 0, text
    return text.replace("\r\n", "\n")


def read_until_closed(master: int, timeout: float = 15) -> str:
    out = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the other side is closed
            break
        if not chunk:
            break
        out += chunk
    return out.decode(errors="replace")


def env_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if "ENV {" in line]


def test_colour_on_a_terminal_unless_no_color_or_NO_COLOR(pm: Harness) -> None:
    two_types(pm)
    lines = env_lines(foreground(pm, tty=True, NO_COLOR="", TERM="xterm"))
    assert len(lines) == 2 and all(ESC in line for line in lines), lines
    wait_until(lambda: pm.daemon_pid() is None, 15, "the first daemon gone")
    lines = env_lines(foreground(pm, "--no-color", tty=True, NO_COLOR="", TERM="xterm"))
    assert len(lines) == 2 and not any(ESC in line for line in lines), lines
    assert any(" web.1 | ENV {" in line for line in lines)
    wait_until(lambda: pm.daemon_pid() is None, 15, "the second daemon gone")
    lines = env_lines(foreground(pm, tty=True, NO_COLOR="1", TERM="xterm"))
    assert len(lines) == 2 and not any(ESC in line for line in lines), lines


def test_no_prefix_and_quiet(pm: Harness) -> None:
    two_types(pm)
    text = foreground(pm, "--no-prefix")
    lines = env_lines(text)
    assert len(lines) == 2 and all(line.startswith("ENV {") for line in lines), text
    wait_until(lambda: pm.daemon_pid() is None, 15, "the first daemon gone")
    text = foreground(pm, "-q", "worker")
    assert [line.split(" | ")[0].split()[-1] for line in env_lines(text)] == ["web.1"], text
    assert " procman | " in text  # the daemon's own lines stay
    wait_until(lambda: pm.daemon_pid() is None, 15, "the second daemon gone")
    text = foreground(pm, "--quiet", "worker,procman", "--no-prefix")
    assert env_lines(text) == [line for line in text.splitlines() if line.startswith("ENV {")]
    assert len(env_lines(text)) == 1 and "started (pid" not in text, text
    # what -q hides still reaches the log files
    assert "ENV {" in (pm.root / ".procman" / "logs" / "worker.log").read_text()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--foreground", "-q", "wrkr"], "-q wrkr: no process type 'wrkr' (types: web, worker)"),
        (["--no-prefix"], "--no-prefix, --no-color and -q/--quiet go with --foreground"),
        (["-q", "worker"], "go with --foreground"),
    ],
)
def test_bad_foreground_flags_exit_2(pm: Harness, args: list[str], message: str) -> None:
    two_types(pm)
    assert message in pm.run("start", *args, expect=2).stderr
    assert pm.daemon_pid() is None


def test_procman_daemon_takes_no_prefix_and_quiet_too(pm: Harness) -> None:
    two_types(pm)
    proc = pm.popen("daemon", "--no-prefix", "-q", "web", stdout=subprocess.PIPE)
    wait_until(pm.daemon_pid, 15, "the daemon")
    pm.wait_log("ENV ", target="web.1", timeout=15)
    pm.wait_log("ENV ", target="worker.1", timeout=15)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=15)
    lines = env_lines(out.decode())
    assert len(lines) == 1 and lines[0].startswith("ENV {") and '"PS": "worker.1"' in lines[0]
