"""The daemon's signals: what it inherits, what it handles, and letting go before exit."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from typing import Any


def reset_ignored() -> None:
    """A signal ignored by whoever started us (a shell's background job ignores SIGINT and
    SIGQUIT) would stay ignored in every instance across exec: `stop_signal: SIGQUIT` or a
    Ctrl-C to `procman run` would do nothing. Start from the defaults, as systemd does."""
    for sig in signal.valid_signals():
        if sig in (signal.SIGPIPE, signal.SIGKILL, signal.SIGSTOP):
            continue  # Python's own SIGPIPE (Popen restores it for children)
        try:
            if signal.getsignal(sig) == signal.SIG_IGN:
                signal.signal(sig, signal.SIG_DFL)
        except (OSError, ValueError):
            pass


def wire(
    loop: asyncio.AbstractEventLoop,
    on_signal: Callable[[int], None],
    reopen: Callable[[], Any],
    reap: Callable[[], None],
) -> list[int]:
    """SIGTERM/SIGINT stop everything (the second kills), SIGHUP is ignored, SIGUSR1 reopens
    the log files; `reap` is the SIGCHLD handler, already in place. SIGPIPE is left as
    Python has it (ignored; Popen restores it in children): a handled SIGPIPE once turned a
    write to a closing loop's wakeup socket into a signal that raised itself forever (see
    unwire)."""
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal, signum)
    loop.add_signal_handler(signal.SIGHUP, lambda: None)
    loop.add_signal_handler(signal.SIGUSR1, reopen)  # after an external logrotate
    _quiet_wakeup()
    reap()  # an exit whose SIGCHLD came in _quiet_wakeup's window
    return [signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1]


def _quiet_wakeup() -> None:
    """asyncio's wakeup socket takes a byte per signal; a thousand instances exiting at once
    fill it, and CPython then printed "Exception ignored ... BlockingIOError" with a
    traceback into the daemon log for every SIGCHLD past the full buffer. A full buffer
    loses nothing here: the loop is awake already and one drain reaps every exit. Every
    add_signal_handler sets the fd again with the warning on, so this comes after the last;
    a signal in the two calls' window has no byte."""
    fd = signal.set_wakeup_fd(-1)
    signal.set_wakeup_fd(fd, warn_on_full_buffer=False)


def unwire(loop: asyncio.AbstractEventLoop, signals: list[int]) -> None:
    """Before asyncio.run closes the loop: loop.close() closes the wakeup socket's reading
    end first and removes the handlers after, so a signal in between (the watchdog's
    SIGCHLD, say) has its byte written to a socket with no reader: EPIPE, and a SIGPIPE that
    a handled SIGPIPE would write again, for ever (the daemon that logged "exits" and spun
    at 100 % CPU). With no handler left there is no wakeup write; INT/TERM/HUP are ignored
    for the last moments of the exit."""
    for signum in signals:
        loop.remove_signal_handler(signum)
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, signal.SIG_IGN)
