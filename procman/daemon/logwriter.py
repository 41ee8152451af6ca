"""The log files' writer: one thread that appends what the capture hands it, in order.

The loop's thread reads the pipes and puts the timestamps and prefixes in (bytes.replace,
which holds the GIL); writing the result to the files (writev, a rotation's renames and the
unlink of the oldest file) releases the GIL, so it runs here, beside the next read. With
four children writing at full speed the loop's thread was the bound: the writev alone was
40 % of it.

Every job runs here, in submission order, and only the loop's thread submits; so the files
(LogHub's fds and sizes) are touched by this thread while it has work, and by the loop's
thread only after drain(), which waits until nothing is queued or running. Whatever reads
the files or changes them outside a write (a flush, a reopen, `logs` reading the files, a
shutdown, an update's exec) drains first, so it sees every line handed over before it.

A small job (a few lines: the everyday case) runs at once on the loop's thread when the
writer has nothing in flight, as before this thread existed: a hand-off would cost more
than the write.

Bounded: past MAX_QUEUED bytes, submit() waits for the thread, as a blocking write would
have, so a slow disk slows the capture (and, through the full pipes, the children) instead
of filling memory. The thread blocks every signal: they keep going to the main thread,
where asyncio handles them and where `procman update` holds them across its exec.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

log = logging.getLogger("procman.logs")

MAX_QUEUED = 16 * 1024 * 1024  # bytes handed over and not yet written
INLINE_MAX = 64 * 1024  # a smaller job, with the thread idle, runs at once: no hand-off


class LogWriter:
    def __init__(self, name: str = "procman-logs") -> None:
        self.name = name
        self._jobs: deque[tuple[Callable[..., None], tuple[Any, ...], int]] = deque()
        self._cond = threading.Condition()
        self._queued = 0  # bytes in _jobs and in the job running
        self._running = False
        self._thread: threading.Thread | None = None  # started by the first job
        self._closed = False

    def submit(
        self, size: int, job: Callable[..., None], *args: Any, background: bool = False
    ) -> None:
        """Run job(*args) on the writer thread after every job before it; size: the bytes
        it writes (for the bound). Submitted by one thread at a time."""
        if self._closed:  # after close(): at once, here (the last lines of a shutdown)
            job(*args)
            return
        with self._cond:
            # nothing in flight: a small job runs here, in order, with no hand-off
            inline = not background and size <= INLINE_MAX and not (self._jobs or self._running)
            if not inline:
                while self._queued > MAX_QUEUED:
                    self._cond.wait()
                self._jobs.append((job, args, size))
                self._queued += size
                self._cond.notify_all()
        if inline:
            job(*args)
            return
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
            self._thread.start()

    def drain(self) -> None:
        """Until every job submitted has run."""
        if self._thread is None:
            return
        with self._cond:
            while self._jobs or self._running:
                self._cond.wait()

    def close(self) -> None:
        """Drain, end the thread; later jobs run at once on the caller's thread."""
        self.drain()
        self._closed = True
        thread, self._thread = self._thread, None
        if thread is not None:
            with self._cond:
                self._cond.notify_all()
            thread.join()

    def _run(self) -> None:
        signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())
        cond, jobs = self._cond, self._jobs
        while True:
            with cond:
                while not jobs and not self._closed:
                    cond.wait()
                if not jobs:
                    return
                job, args, size = jobs.popleft()
                self._running = True
            try:
                job(*args)
            except Exception:  # a job counts its own failed writes; this is a bug
                log.exception("log writer job failed")
            finally:
                with cond:
                    self._running = False
                    self._queued -= size
                    cond.notify_all()
