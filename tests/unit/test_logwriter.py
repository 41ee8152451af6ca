"""logwriter: the log files' writer thread (order, drain, the bound, small jobs inline, no
signal ever delivered to it) and rotation handing the oldest file to the unlink thread."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import pytest

from procman.daemon import logwriter
from procman.daemon.logfiles import remove_gone, rotate
from procman.daemon.logwriter import LogWriter


def test_jobs_run_in_order_on_the_thread_and_drain_waits_for_them() -> None:
    writer = LogWriter()
    done: list[tuple[int, str]] = []
    gate = threading.Event()
    writer.submit(1 << 20, gate.wait)  # big: to the thread, which waits here
    for n in range(100):
        writer.submit(10, lambda n=n: done.append((n, threading.current_thread().name)))
    assert done == []  # queued behind the big job: small ones do not jump it
    gate.set()
    writer.drain()
    assert [n for n, _ in done] == list(range(100))
    assert {name for _, name in done} == {"procman-logs"}
    writer.close()


def test_a_small_job_with_nothing_in_flight_runs_at_once_here() -> None:
    writer = LogWriter()
    ran: list[str] = []
    writer.submit(100, lambda: ran.append(threading.current_thread().name))
    assert ran == [threading.current_thread().name]
    writer.submit(100, lambda: ran.append("bg"), background=True)
    writer.drain()
    assert ran[-1] == "bg"
    writer.close()


def test_past_the_bound_submit_waits_for_the_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(logwriter, "MAX_QUEUED", 1000)
    writer = LogWriter()
    gate = threading.Event()
    writer.submit(2000, gate.wait, background=True)  # past the bound while it runs
    submitted = threading.Event()

    def producer() -> None:
        writer.submit(10, lambda: None)
        submitted.set()

    thread = threading.Thread(target=producer)
    thread.start()
    assert not submitted.wait(0.2)  # held back: 2000 bytes are in flight
    gate.set()
    assert submitted.wait(10)
    thread.join(10)
    writer.close()


def test_the_thread_blocks_every_signal() -> None:
    writer = LogWriter()
    masks: list[set[signal.Signals]] = []
    writer.submit(
        1, lambda: masks.append(signal.pthread_sigmask(signal.SIG_BLOCK, [])), background=True
    )
    writer.drain()
    assert {signal.SIGTERM, signal.SIGCHLD, signal.SIGUSR1} <= masks[0]
    writer.close()


def test_after_close_jobs_run_at_once() -> None:
    writer = LogWriter()
    writer.submit(1, lambda: None, background=True)
    writer.close()
    ran: list[int] = []
    writer.submit(1 << 20, lambda: ran.append(1))
    assert ran == [1]


def test_rotation_hands_the_oldest_file_over_out_of_sight(tmp_path: Path) -> None:
    log = tmp_path / "web.log"
    for n in (3, 2, 1):
        (tmp_path / f"web.log.{n}").write_text(f"{n}\n")
    log.write_text("now\n")
    handed: list[Path] = []
    rotate(log, 3, handed.append)
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == [
        "web.log.1",
        "web.log.2",
        "web.log.3",
    ]
    assert (tmp_path / "web.log.1").read_text() == "now\n"
    assert len(handed) == 1 and handed[0].name.startswith(".web.log.3.gone-")
    assert handed[0].read_text() == "3\n"  # not yet unlinked: that is the janitor's
    remove_gone(tmp_path)  # what a daemon that died before the unlink left
    assert not handed[0].exists()
    assert sorted(os.listdir(tmp_path)) == ["web.log.1", "web.log.2", "web.log.3"]
