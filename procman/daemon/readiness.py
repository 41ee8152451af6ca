"""Readiness checks as coroutines. Each returns when the instance is ready and raises
TimeoutError when ready_timeout passes first.

`port` with a held socket is ready at once: the daemon's listener already accepts, and
connections wait in its backlog until the instance takes them. `port` without one waits
until the instance's process tree holds a listening socket on the port (psutil sees it).
`http:/path` waits for a 2xx answer from a GET on the port.
"""

from __future__ import annotations

import asyncio

from procman.model import ProcessType

POLL_FIRST = 0.01
POLL_MAX = 0.25


async def wait_ready(ptype: ProcessType, pid: int, notified: asyncio.Event | None = None) -> None:
    """Raises asyncio.TimeoutError when ptype.ready_timeout passes first."""
    kind = ptype.ready.kind
    if kind == "notify":
        if notified is not None:
            await asyncio.wait_for(notified.wait(), ptype.ready_timeout)
        return
    if kind == "none" or ptype.port is None or (kind == "port" and ptype.socket):
        return
    check = _listening if kind == "port" else _http_ok
    await asyncio.wait_for(_poll(check, ptype, pid), ptype.ready_timeout)


async def _poll(check, ptype: ProcessType, pid: int) -> None:
    delay = POLL_FIRST
    while not await check(ptype, pid):
        await asyncio.sleep(delay)  # a probe is a poll by nature: back off to POLL_MAX
        delay = min(delay * 2, POLL_MAX)


async def _listening(ptype: ProcessType, pid: int) -> bool:
    import psutil

    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return False
    for proc in procs:
        try:
            for conn in proc.net_connections(kind="tcp"):
                if conn.status == psutil.CONN_LISTEN and conn.laddr.port == ptype.port:
                    return True
        except psutil.Error:
            continue
    return False


async def _http_ok(ptype: ProcessType, pid: int) -> bool:
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", ptype.port)
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
