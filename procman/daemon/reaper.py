"""SIGCHLD -> drain waitpid(-1, WNOHANG) -> hand each status to whoever owns the pid.

Unknown pids are orphans that were re-parented to us (when we are PID 1 or a subreaper):
they are reaped so no zombie stays, and logged.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

log = logging.getLogger("procman.reaper")

ExitCallback = Callable[[int, int], None]  # (pid, returncode: negative = killed by signal)


class Reaper:
    def __init__(self) -> None:
        self._owners: dict[int, ExitCallback] = {}

    def watch(self, pid: int, callback: ExitCallback) -> None:
        self._owners[pid] = callback

    def __len__(self) -> int:
        return len(self._owners)

    def drain(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            except InterruptedError:
                continue
            if pid == 0:
                return
            code = os.waitstatus_to_exitcode(status)
            callback = self._owners.pop(pid, None)
            if callback is None:
                log.debug("reaped orphan pid %d (%s)", pid, code)
                continue
            try:
                callback(pid, code)
            except Exception:  # one instance's bookkeeping must not stop the reaping
                log.exception("exit handler for pid %d failed", pid)
