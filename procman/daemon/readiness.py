"""Readiness: the checks as coroutines (each returns when the instance is ready and raises
TimeoutError when ready_timeout passes first), and the tracker that runs one per starting
instance and routes sd_notify messages to their instance.

`port` with a held socket is ready at once: the daemon's listener already accepts, and
connections wait in its backlog until the instance takes them. `port` without one waits
until the instance's process tree holds a listening socket on the port (psutil sees it).
`http:/path` waits for a 2xx answer from a GET on the port.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from procman.daemon.instance import Instance
from procman.model import InstanceState, ProcessType

log = logging.getLogger("procman.readiness")

POLL_FIRST = 0.01
POLL_MAX = 0.25


def ready_at_spawn(ptype: ProcessType) -> bool:
    """True when there is nothing to wait for: `none`, a check that needs a port the type
    does not have, or `port` on a held socket (the daemon's listener accepts already)."""
    kind = ptype.ready.kind
    if kind == "notify":
        return False
    return kind == "none" or ptype.port is None or (kind == "port" and ptype.socket)


async def wait_ready(
    ptype: ProcessType, pid: int, notified: asyncio.Event | None = None, port: int | None = None
) -> None:
    """Raises asyncio.TimeoutError when ptype.ready_timeout passes first. `port` is the
    instance's own (Foreman's per-instance ports); default the type's."""
    kind = ptype.ready.kind
    if kind == "notify":
        if notified is not None:
            await asyncio.wait_for(notified.wait(), ptype.ready_timeout)
        return
    if ready_at_spawn(ptype):
        return
    check = _listening if kind == "port" else _http_ok
    port = port or ptype.port or 0  # ready_at_spawn is True for a type without a port
    await asyncio.wait_for(_poll(check, ptype, pid, port), ptype.ready_timeout)


async def _poll(check, ptype: ProcessType, pid: int, port: int) -> None:
    delay = POLL_FIRST
    while not await check(ptype, pid, port):
        await asyncio.sleep(delay)  # a probe is a poll by nature: back off to POLL_MAX
        delay = min(delay * 2, POLL_MAX)


async def _listening(ptype: ProcessType, pid: int, port: int) -> bool:
    import psutil

    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return False
    for proc in procs:
        try:
            for conn in proc.net_connections(kind="tcp"):
                if conn.status == psutil.CONN_LISTEN and conn.laddr.port == port:
                    return True
        except psutil.Error:
            continue
    return False


async def _http_ok(ptype: ProcessType, pid: int, port: int) -> bool:
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    try:
        request = (
            f"GET {ptype.ready.path} HTTP/1.0\r\nHost: localhost\r\nUser-Agent: procman\r\n\r\n"
        )
        writer.write(request.encode())
        await writer.drain()
        status = await reader.readline()
    except OSError:
        return False
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except OSError:
            pass
    parts = status.split()
    return len(parts) >= 2 and parts[1][:1] == b"2"


class ReadinessTracker:
    """One check per starting process; the instance holds its probe task and its notify
    event (Instance.probe, Instance.notified), this tracker starts and ends them."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        notify_path: str | None,
        owner: Callable[[int], Instance | None],
    ) -> None:
        self.loop, self.notify_path, self.owner = loop, notify_path, owner

    def prepare(self, inst: Instance, env: dict[str, str]) -> None:
        """Before a spawn: a notify type gets $NOTIFY_SOCKET and a fresh event."""
        if inst.ptype.ready.kind == "notify" and self.notify_path:
            env["NOTIFY_SOCKET"] = self.notify_path
            inst.notified = asyncio.Event()

    def changed(self, inst: Instance, new: InstanceState) -> None:
        """A state change: a new process starts its check; leaving `starting` other than
        for `running` cancels the check."""
        if new == InstanceState.STARTING and inst.pid is not None:
            self._begin(inst, inst.pid)
        elif new != InstanceState.STARTING:
            probe, inst.probe = inst.probe, None
            if probe is not None and new != InstanceState.RUNNING:
                probe.cancel()

    def on_notify(self, pid: int, fields: dict[str, str]) -> None:
        """An sd_notify datagram from pid (or one of its descendants)."""
        inst = self.owner(pid)
        if inst is None:
            return
        if "STATUS" in fields:
            inst.status_text = fields["STATUS"]
        if fields.get("STOPPING") == "1":
            inst.status_text = "stopping"
        if fields.get("READY") == "1" and inst.notified is not None:
            inst.notified.set()

    def _begin(self, inst: Instance, pid: int) -> None:
        if inst.probe is not None:
            inst.probe.cancel()
            inst.probe = None
        if ready_at_spawn(inst.ptype):
            self.loop.call_soon(inst.mark_ready, pid)
            return
        inst.probe = self.loop.create_task(self._check(inst, pid))

    async def _check(self, inst: Instance, pid: int) -> None:
        ptype = inst.ptype
        try:
            await wait_ready(ptype, pid, inst.notified, ptype.port_of(inst.index))
        except asyncio.TimeoutError:
            inst.not_ready(pid, f"not ready within {ptype.ready_timeout:g}s (ready: {ptype.ready})")
            return
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a broken probe must not take the daemon with it
            log.exception("readiness check of %s failed", inst.id)
            inst.not_ready(pid, f"readiness check failed: {exc}")
            return
        finally:
            if inst.probe is asyncio.current_task():
                inst.probe = None
        inst.mark_ready(pid)
