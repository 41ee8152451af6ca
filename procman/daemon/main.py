"""run(): detach or stay in front, take the project lock, build the loop, serve, shut down.

The detached start is a double fork; the process the CLI spawned has its stdout on a pipe,
and the daemon writes one line there once its socket listens: "ready", "running" (another
daemon already serves this project) or "error: ...". Then stdout goes to the daemon log.
"""

from __future__ import annotations

import asyncio
import ctypes
import fcntl
import logging
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from procman import paths
from procman.daemon import limits, signals
from procman.daemon.handlers import Handlers
from procman.daemon.handover import Resume
from procman.daemon.logs import LogHub, Sink
from procman.daemon.notify import NotifySocket, tell_manager
from procman.daemon.persist import StateFile
from procman.daemon.reaper import Reaper
from procman.daemon.server import ControlServer
from procman.daemon.supervisor import Supervisor
from procman.daemon.updater import Updater
from procman.daemon.watchdog import Watchdog
from procman.errors import ProcmanError

log = logging.getLogger("procman.daemon")

PR_SET_CHILD_SUBREAPER = 36
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3


def run(
    project: Path,
    *,
    detach: bool = False,
    autostart: dict[str, Any] | None = None,
    sink: Sink | None = None,
    on_error: Callable[[str], None] | None = None,
    log_level: int = logging.INFO,
    metrics_port: int | None = None,
    resume: Resume | None = None,
    sink_options: dict[str, Any] | None = None,
) -> int:
    """Run a daemon for project until it is shut down; the process exit code. With
    resume, this process is an updated daemon's new image (see handover.py); sink_options
    are what an update hands on to rebuild a foreground sink (plain_sink's arguments)."""
    project = project.resolve()
    signals.reset_ignored()
    for fd in (0, 1, 2):  # keep 0-2 taken so no socket or pipe of ours lands there (or on 3)
        try:
            os.fstat(fd)
        except OSError:
            os.open(os.devnull, os.O_RDWR)
    ready_fd: int | None = None
    if detach:
        ready_fd = _detach(project)
    logging.basicConfig(
        stream=sys.stderr,
        level=log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    sock_path = Path(paths.socket_path(project))
    try:
        sock_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not os.environ.get("PROCMAN_SOCKET"):
            _check_private(sock_path.parent)
        lock = resume.lock if resume is not None else _take_lock(sock_path)
    except OSError as exc:
        _tell(ready_fd, f"error: cannot use {sock_path.parent}: {exc}")
        return 1
    except ProcmanError as exc:
        _tell(ready_fd, f"error: {exc}")
        if on_error:
            on_error(str(exc))
        return 1
    if lock is None:
        _tell(ready_fd, "running")
        if on_error:
            on_error(f"a daemon for {project} is already running")
        return 0 if detach else 1
    try:
        return asyncio.run(
            _serve(
                project, sock_path, ready_fd, autostart, sink, on_error, metrics_port,
                lock=lock, log_level=log_level, resume=resume, sink_options=sink_options,
            )
        )  # fmt: skip
    except ProcmanError as exc:
        _tell(ready_fd, f"error: {exc}")
        if on_error:
            on_error(str(exc))
        return 1
    finally:
        _drop_lock(sock_path, lock)


async def _serve(
    project: Path,
    sock_path: Path,
    ready_fd: int | None,
    autostart: dict[str, Any] | None,
    sink: Sink | None,
    on_error: Callable[[str], None] | None,
    metrics_port: int | None = None,
    *,
    lock: int,
    log_level: int,
    resume: Resume | None = None,
    sink_options: dict[str, Any] | None = None,
) -> int:
    """The composition root: build the parts, serve until a shutdown, end them in order."""
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(_log_stray)
    _become_subreaper()
    _tune_malloc()
    old_soft, soft = limits.raise_soft()  # 1,000 instances need 1,000+ fds (limits.py)
    if soft != old_soft:
        log.info("open files limit raised from %d to %d (the hard limit)", old_soft, soft)
    reaper = Reaper()
    loop.add_signal_handler(signal.SIGCHLD, reaper.drain)
    logs = LogHub(loop, Path(paths.logs_dir(project)), sink)
    notify_path = str(sock_path.with_suffix(".notify"))
    watchdog = Watchdog(f"{sock_path.with_suffix('')}.{os.getpid()}.watchdog")  # see its doc

    def start_watchdog() -> bool:
        pid = watchdog.start()
        if pid is not None:
            reaper.watch(pid, watchdog_exited)
        return pid is not None

    def watchdog_exited(pid: int, code: int) -> None:
        if watchdog.closed:
            return  # our clean exit closed its pipe
        log.warning("watchdog exited (%s); starting another", code)
        watchdog.exited()
        if start_watchdog():
            supervisor.launcher.rewatch()

    if resume:  # an updated daemon's new image keeps the watchdog the old one had
        watchdog_pid = resume.take_watchdog(watchdog)
        if watchdog_pid is not None:
            reaper.watch(watchdog_pid, watchdog_exited)
    else:
        start_watchdog()
    # Started by systemd (Type=notify): the socket to say READY=1 on is ours, not the
    # instances' (a child that inherited it could tell systemd it is ready in our name).
    base_env = dict(os.environ)
    manager = base_env.pop("NOTIFY_SOCKET", None)
    base_env.pop(limits.ENV, None)  # the daemon's own, for an update's new image
    supervisor = Supervisor(
        project,
        loop=loop,
        logs=logs,
        state=StateFile(Path(paths.state_file(project)), project),
        base_env=base_env,
        reaper=reaper,
        watchdog=watchdog,
        notify_path=notify_path,
        metrics_port=metrics_port,
    )
    notify = NotifySocket(loop, notify_path, supervisor.readiness.on_notify)
    if resume is not None:
        resume.adopt(supervisor)  # an updated daemon's instances, listeners and log pipes
    stopped = asyncio.Event()
    stopping: list[asyncio.Task[None]] = []  # the one shutdown, however it was asked for

    async def stop_everything() -> None:
        if manager and not stopping:
            tell_manager(manager, "STOPPING=1")
        handlers.closing = True
        if not stopping:
            stopping.append(loop.create_task(_stop(supervisor, stopped)))
        await asyncio.shield(stopping[0])

    handlers = Handlers(supervisor, logs, on_shutdown=stop_everything)
    server = ControlServer(sock_path, handlers.dispatch)
    await server.start(resume.control_socket() if resume else None)
    if resume is None:
        notify.open()
    else:
        resume.take_notify(notify)
        handlers.started = resume.started  # the daemon's, not this image's
    handlers.updater = Updater(
        supervisor, server=server, notify=notify, watchdog=watchdog, lock=lock,
        foreground=None if sink is None else sink_options or {}, log_level=log_level,
        metrics_port=metrics_port,
    )  # fmt: skip

    def on_signal(signum: int) -> None:
        if stopping:  # second signal: no more patience
            log.warning("second %s: killing every instance", signal.Signals(signum).name)
            supervisor.launcher.kill_all()
            return
        log.info("%s: stopping everything", signal.Signals(signum).name)
        loop.create_task(stop_everything())

    wired = signals.wire(loop, on_signal, logs.reopen, reaper.drain)

    if resume is not None:
        resume.finish(supervisor)  # signals in, the exec window's exits reaped, `update` answered
    _tell(ready_fd, "ready")
    log.info("procman daemon %d serving %s on %s", os.getpid(), project, sock_path)
    failed: list[bool] = []
    starting = None

    def up(task: asyncio.Task[None] | None = None) -> None:
        if failed:
            loop.create_task(stop_everything())
        elif manager and not stopping:
            count = len(supervisor.instances())
            tell_manager(manager, f"READY=1\nSTATUS=serving {project} ({count} instances)")

    if autostart is not None:
        # beside the wait for a shutdown, not before it: a signal during a start that
        # waits for slow instances must still stop everything
        starting = loop.create_task(_autostart(supervisor, autostart, on_error, failed))
        starting.add_done_callback(up)
    else:
        up()
    await stopped.wait()
    if starting is not None and not starting.done():
        starting.cancel()
        await asyncio.gather(starting, return_exceptions=True)
    await server.close()
    notify.close()
    watchdog.close()
    reaper.drain()
    logs.close()
    signals.unwire(loop, [signal.SIGCHLD, *wired])
    log.info("procman daemon %d exits", os.getpid())
    return 1 if failed else 0


async def _autostart(
    supervisor: Supervisor,
    params: dict[str, Any],
    on_error: Callable[[str], None] | None,
    failed: list[bool],
) -> None:
    """`procman start --foreground` / `procman daemon`: the formation comes up with the
    daemon; a formation that cannot load ends it (exit 1)."""
    try:
        outcome = await supervisor.start(**params)
    except ProcmanError as exc:
        log.error("%s", exc)
        if on_error:
            on_error(str(exc))
        failed.append(True)
        return
    if supervisor.waiters.released:  # a signal or `shutdown` ended the start: no failure
        return
    for failure in outcome["failed"]:
        message = f"{failure['id']} {failure['state']}: {failure['reason']}"
        log.warning(message)
        if on_error:
            on_error(message)


async def _stop(supervisor: Supervisor, stopped: asyncio.Event) -> None:
    try:
        await supervisor.shutdown()
    finally:
        stopped.set()


def _detach(project: Path) -> int:
    """Double fork and setsid; returns the fd of the CLI's pipe for the ready line."""
    if os.fork() > 0:
        os._exit(0)
    os.setsid()
    if os.fork() > 0:
        os._exit(0)
    ready_fd = os.dup(1)
    os.set_inheritable(ready_fd, False)
    log_path = Path(paths.daemon_log(project))
    log_path.parent.mkdir(parents=True, exist_ok=True)
    devnull = os.open(os.devnull, os.O_RDONLY)
    out = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(devnull, 0)
    os.dup2(out, 1)
    os.dup2(out, 2)
    os.close(devnull)
    os.close(out)
    sys.stdout = os.fdopen(1, "w", buffering=1)
    sys.stderr = os.fdopen(2, "w", buffering=1)
    return ready_fd


def _check_private(folder: Path) -> None:
    """The default socket directory (/tmp/procman-<uid>) must be ours and closed to others:
    a directory another user made first could hand them our control socket."""
    info = folder.stat()
    if info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise ProcmanError(
            f"{folder} belongs to uid {info.st_uid} with mode {info.st_mode & 0o777:o}; procman "
            f"needs it owned by uid {os.getuid()} with mode 700 (remove it, or set PROCMAN_SOCKET)"
        )


def _take_lock(sock_path: Path) -> int | None:
    """flock on <socket>.lock; None if another daemon holds it. The daemon removes the file
    as it exits, so a lock taken on a file that was just removed is retried on a new one."""
    path = str(sock_path) + ".lock"
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        if _same_file(fd, path):
            return fd
        os.close(fd)  # removed by the daemon that held it, after we opened it


def _drop_lock(sock_path: Path, fd: int) -> None:
    """Remove the lock file (still holding the lock, so no one can take it in between)."""
    path = str(sock_path) + ".lock"
    if _same_file(fd, path):
        try:
            os.unlink(path)
        except OSError:
            pass
    os.close(fd)


def _same_file(fd: int, path: str) -> bool:
    try:
        mine, there = os.fstat(fd), os.stat(path)
    except OSError:
        return False
    return (mine.st_dev, mine.st_ino) == (there.st_dev, there.st_ino)


def _tell(ready_fd: int | None, line: str) -> None:
    if ready_fd is None:
        return
    try:
        os.write(ready_fd, line.encode() + b"\n")
    except OSError:
        pass
    finally:
        os.close(ready_fd)


def _become_subreaper() -> None:
    """Orphaned grandchildren are re-parented to us, so they are reaped, never zombies."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1)
    except (OSError, AttributeError):
        pass


def _tune_malloc() -> None:
    """Log capture reads 1 MiB chunks. glibc hands every freed block that large back to the
    kernel (mmap), so each read page-faults fresh memory: measured at half the throughput.
    Keep such blocks in the heap, and trim the heap only past a bound."""
    try:
        libc = ctypes.CDLL(None)
        libc.mallopt(M_MMAP_THRESHOLD, 8 << 20)
        libc.mallopt(M_TRIM_THRESHOLD, 16 << 20)
    except (OSError, AttributeError):  # not glibc
        pass


def _log_stray(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    log.error("unhandled: %s", context.get("message"), exc_info=context.get("exception"))


def plain_sink(
    stream_fd: int = 1, prefix: bool = True, quiet: frozenset[str] = frozenset()
) -> Sink:
    """`HH:MM:SS web.1 | line` (`!` for stderr) to a file descriptor: the foreground
    daemon's merged output. prefix=False writes the bare lines; quiet names types (or
    `procman`) left out."""

    def write(now: float, label: str, stream: str, block: bytes) -> None:
        if quiet and (label.rpartition(".")[0] or label) in quiet:
            return
        data = block
        if prefix:
            mark = "!" if stream == "err" else "|"
            start = f"{time.strftime('%H:%M:%S', time.localtime(now))} {label} {mark} ".encode()
            data = start + block[:-1].replace(b"\n", b"\n" + start) + b"\n"
        view = memoryview(data)
        while view:
            view = view[os.write(stream_fd, view) :]

    return write
