"""`procman monit` against a real daemon: in a pseudo-terminal (keys, live screen) and piped."""

from __future__ import annotations

import fcntl
import os
import re
import select
import signal
import struct
import subprocess
import termios
import time

import pytest

from tests.harness import PY, Harness

ANSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]")
HOME = b"\x1b[H"  # rich's live screen starts each frame at the top left


def sleepers(pm: Harness) -> None:
    pm.procfile("web: sleep 600\nworker: sleep 600\n")
    pm.run("start", "web=2", "worker=1")


class Reader:
    """Everything a child wrote to fd, read with deadlines (never sleeps)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.data = b""

    def pump(self, timeout: float) -> bool:
        """Read what arrives within timeout; False once the writer is gone."""
        if not select.select([self.fd], [], [], timeout)[0]:
            return True
        try:
            chunk = os.read(self.fd, 65536)
        except OSError:  # EIO: the pty's other side is closed
            return False
        self.data += chunk
        return bool(chunk)

    def until(self, cond, timeout: float = 10.0, what: str = "") -> None:
        deadline = time.monotonic() + timeout
        while not cond():
            left = deadline - time.monotonic()
            if left <= 0 or not self.pump(min(left, 0.5)) and not cond():
                text = ANSI.sub(b"", self.data[-3000:]).decode(errors="replace")
                raise AssertionError(f"no {what} within {timeout}s; output ends:\n{text}")

    def frames(self) -> list[str]:
        """The complete live frames so far, without escape codes."""
        parts = self.data.split(HOME)[1:-1]
        return [ANSI.sub(b"", part).decode(errors="replace") for part in parts]

    def text(self) -> str:
        return ANSI.sub(b"", self.data).decode(errors="replace")


def ignore_sigint() -> None:
    """What a shell does to a background job: SIGINT ignored, inherited across exec."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


# "sigint-ignored": the suite run from a background job (as `make test &` or a CI agent
# does) handed monit an ignored SIGINT, and Ctrl-C did nothing: the flake "monit still
# running 5 s after SIGINT", 5 runs in 8. monit now sets its own SIGINT handler.
@pytest.mark.parametrize("quit_by", ["q", "sigint", "sigint-ignored"])
def test_monit_in_a_terminal_shows_instances_cycles_types_and_quits(
    pm: Harness, quit_by: str
) -> None:
    sleepers(pm)
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 120, 0, 0))
    cooked = termios.tcgetattr(slave)[3]
    assert cooked & termios.ICANON and cooked & termios.ECHO
    try:
        proc = subprocess.Popen(
            [PY, "-m", "procman", "monit"],
            cwd=pm.root,
            env={**pm.env, "TERM": "xterm-256color"},
            stdin=slave,
            stdout=slave,
            stderr=slave,
            start_new_session=True,
            preexec_fn=ignore_sigint if quit_by == "sigint-ignored" else None,
        )
        pm.background.append(proc)
        screen = Reader(master)
        ids = ("web.1", "web.2", "worker.1")
        screen.until(
            lambda: any(all(i in f for i in ids) for f in screen.frames()), what="instance rows"
        )
        assert any("q quit" in f and "running" in f for f in screen.frames())
        assert not termios.tcgetattr(slave)[3] & termios.ICANON  # cbreak while it runs

        seen = len(screen.frames())
        os.write(master, b"n")  # the first type only
        screen.until(
            lambda: any("web.1" in f and "worker.1" not in f for f in screen.frames()[seen:]),
            what="a frame with web only",
        )

        if quit_by == "q":
            os.write(master, b"q")
        else:
            proc.send_signal(signal.SIGINT)  # what Ctrl-C on a controlling terminal sends
        deadline = time.monotonic() + 5
        while proc.poll() is None and time.monotonic() < deadline:
            screen.pump(0.2)  # keep draining, so the child never blocks on a full pty
        assert proc.poll() == 0, screen.text()[-2000:]
        assert b"\x1b[?1049l" in screen.data  # left the alternate screen
        restored = termios.tcgetattr(slave)[3]
        assert restored & termios.ICANON and restored & termios.ECHO
    finally:
        os.close(slave)
        os.close(master)
    assert pm.daemon_pid() is not None  # monit only watched


def test_monit_piped_prints_plain_frames_and_ends_with_the_daemon(pm: Harness) -> None:
    sleepers(pm)
    proc = pm.popen("monit", stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
    assert proc.stdout is not None
    try:
        out = Reader(proc.stdout.fileno())
        out.until(lambda: b"worker.1" in out.data and b"web.2" in out.data, what="instance rows")
        assert b"\x1b[" not in out.data  # plain when piped
        pm.run("shutdown")
        out.until(lambda: b"procman monit: " in out.data, what="the goodbye line")
        assert proc.wait(5) == 0
        assert "the daemon closed the event stream" in out.text()
    finally:
        proc.stdout.close()


def test_monit_without_a_daemon_fails_with_a_hint(pm: Harness) -> None:
    res = pm.run("monit", expect=1, timeout=15)
    assert 'run "procman start"' in res.stderr
