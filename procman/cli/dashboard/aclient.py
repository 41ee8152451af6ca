"""An asyncio client of the control socket: the blocking client's two calls, call() and
stream(), over asyncio.open_unix_connection, so one dashboard process follows many streams
on one loop without a thread per stream. Same framing (protocol.request, decode_reply), same
errors (DaemonUnavailable, RemoteError) and the same messages as procman.cli.client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import Any

from procman import protocol
from procman.cli.client import QUICK_METHODS
from procman.errors import DaemonUnavailable, ProtocolError

#: a reply line may be longer than a request line (status of a big formation)
READ_LIMIT = 64 * protocol.MAX_LINE


async def _connect(sock_path: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    try:
        return await asyncio.open_unix_connection(sock_path, limit=READ_LIMIT)
    except (FileNotFoundError, ConnectionRefusedError):
        raise DaemonUnavailable(
            f'no daemon answers on {sock_path}; run "procman start" in its project'
        ) from None
    except OSError as exc:
        raise DaemonUnavailable(f"cannot reach the daemon at {sock_path}: {exc}") from None


async def stream(
    sock_path: str, method: str, params: dict[str, Any] | None = None
) -> AsyncGenerator[Any, None]:
    """Each result of a streaming method until the daemon ends it. Use it with
    contextlib.aclosing, so the connection closes when the reader stops early."""
    reader, writer = await _connect(sock_path)
    try:
        writer.write(protocol.request(1, method, params))
        await writer.drain()
        while True:
            try:
                line = await reader.readline()
            except ValueError:  # asyncio's LimitOverrunError, re-raised by readline
                raise ProtocolError(f"the daemon sent a line over {READ_LIMIT} bytes") from None
            except ConnectionResetError:
                return
            if not line:
                return
            yield protocol.reply_result(line)
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except (ConnectionError, OSError):
            pass


async def call(sock_path: str, method: str, params: dict[str, Any] | None = None) -> Any:
    """One request, one reply. Quick methods get the blocking client's deadline; verbs
    that wait for instances (scale, restart, ...) take as long as the daemon does."""
    timeout = QUICK_METHODS.get(method)
    try:
        return await asyncio.wait_for(_first(sock_path, method, params), timeout)
    except asyncio.TimeoutError:
        raise DaemonUnavailable(
            f"the daemon at {sock_path} did not answer {method!r} within {timeout:g}s"
        ) from None


async def _first(sock_path: str, method: str, params: dict[str, Any] | None) -> Any:
    replies = stream(sock_path, method, params)
    try:
        async for result in replies:
            return result
    finally:
        await replies.aclose()
    raise DaemonUnavailable("the daemon closed the connection without answering")
