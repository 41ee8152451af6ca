"""The control socket: transport only. One task per connection; a bad line gets an error
object on that connection and nothing else happens; nothing raises out of a client task."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from procman import protocol
from procman.errors import ErrorCode, ProcmanError, ProtocolError

log = logging.getLogger("procman.server")

READ_SIZE = 64 * 1024
REPLY_GRACE = 1.0  # seconds a reply in progress may take to go out at shutdown
STALL_TIMEOUT = 10.0  # seconds a stream client may leave its socket unread before it is dropped

Dispatch = Callable[[protocol.Request], Awaitable[Any]]


class Stream:
    """What a handler returns to send many objects: an async iterator of JSON-able objects."""

    def __init__(self, items: AsyncIterator[Any]) -> None:
        self.items = items


class Handoff:
    """What a handler returns to take its connection over instead of answering on it:
    take(fd, request id) runs at once (`update` execs the new image there, which answers
    on that fd); a ProcmanError out of it is the answer instead."""

    def __init__(self, take: Callable[[int, Any], None]) -> None:
        self.take = take


def peer_uid(sock: socket.socket) -> int | None:
    try:
        creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    except (OSError, AttributeError):
        return None
    _pid, uid, _gid = struct.unpack("3i", creds)
    return uid


class ControlServer:
    def __init__(self, path: Path, dispatch: Dispatch) -> None:
        self.path, self.dispatch = path, dispatch
        self.server: asyncio.Server | None = None
        self.tasks: set[asyncio.Task[None]] = set()
        self.writers: set[asyncio.StreamWriter] = set()
        self.answering: set[asyncio.StreamWriter] = set()  # a reply is on its way
        self._answered = asyncio.Event()

    async def start(self, sock: socket.socket | None = None) -> None:
        """Bind the socket, or serve sock: the listening socket an older image of this
        daemon kept open across `procman update` (clients queued in it meanwhile)."""
        if sock is not None:
            self.server = await asyncio.start_unix_server(self._serve, sock=sock)
            return
        # Only a directory we create is ours to lock down; PROCMAN_SOCKET=/tmp/x.sock must
        # not turn /tmp into 0700.
        if not self.path.parent.exists():
            self.path.parent.mkdir(parents=True, mode=0o700)
            os.chmod(self.path.parent, 0o700)
        try:
            self.path.unlink()  # stale: we hold the project lock, so no live daemon owns it
        except FileNotFoundError:
            pass
        old_umask = os.umask(0o177)
        try:
            self.server = await asyncio.start_unix_server(self._serve, path=str(self.path))
        finally:
            os.umask(old_umask)
        os.chmod(self.path, 0o600)

    def listening_fd(self) -> int:
        assert self.server is not None and self.server.sockets
        return self.server.sockets[0].fileno()

    async def close(self) -> None:
        """Stop listening and drop every connection (streams included): aborting the
        transports, not waiting for clients to hang up, so shutdown never hangs. A reply
        being written (the `shutdown` request's own) gets a moment to go out first."""
        if self.server is not None:
            self.server.close()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + REPLY_GRACE
        while self.answering and loop.time() < deadline:
            self._answered.clear()
            try:
                await asyncio.wait_for(self._answered.wait(), deadline - loop.time())
            except asyncio.TimeoutError:
                break
        for writer in list(self.writers):
            writer.transport.abort()
        for task in list(self.tasks):
            task.cancel()
        if self.tasks:
            await asyncio.wait(list(self.tasks), timeout=2)
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.tasks.add(task)
        self.writers.add(writer)
        try:
            uid = peer_uid(writer.get_extra_info("socket"))
            if uid is not None and uid not in (os.getuid(), 0):
                writer.write(protocol.error(None, ErrorCode.BAD_REQUEST, "permission denied"))
                await writer.drain()
                return
            await self._session(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            pass
        except Exception:
            log.exception("control connection failed")
        finally:
            self.tasks.discard(task)
            self.writers.discard(writer)
            writer.close()
            try:
                await writer.wait_closed()
            except (ConnectionError, OSError, asyncio.CancelledError):
                pass

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        buffer = b""
        discarding = False  # inside a line that passed the size cap
        while True:
            chunk = await reader.read(READ_SIZE)
            if not chunk:
                return
            buffer += chunk
            while True:
                end = buffer.find(b"\n")
                if end < 0:
                    if len(buffer) > protocol.MAX_LINE and not discarding:
                        discarding = True
                        writer.write(
                            protocol.error(
                                None,
                                ErrorCode.BAD_REQUEST,
                                f"request line over {protocol.MAX_LINE} bytes",
                            )
                        )
                        await writer.drain()
                    if discarding:
                        buffer = b""
                    break
                line, buffer = buffer[:end], buffer[end + 1 :]
                if discarding:
                    discarding = False
                    continue
                if not line.strip():
                    continue
                if not await self._handle(line, reader, writer):
                    return

    async def _handle(
        self, line: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        """Answer one request; False when the connection is done (after a stream)."""
        self.answering.add(writer)
        try:
            reply, stream, req_id = await self._answer(line)
            if isinstance(stream, Handoff):
                reply = self._hand_off(stream, writer, req_id)  # returns only if it failed
                stream = None
            if stream is not None:
                self._done_answering(writer)
                await self._stream(req_id, stream, reader, writer)
                return False
            writer.write(reply)
            await writer.drain()
            return True
        finally:
            self._done_answering(writer)

    def _done_answering(self, writer: asyncio.StreamWriter) -> None:
        if writer in self.answering:
            self.answering.discard(writer)
            self._answered.set()

    @staticmethod
    def _hand_off(handoff: Handoff, writer: asyncio.StreamWriter, req_id: Any) -> bytes:
        try:
            handoff.take(writer.get_extra_info("socket").fileno(), req_id)
        except ProcmanError as exc:
            return protocol.error(req_id, exc.code, exc.message)
        except Exception as exc:
            log.exception("hand-over failed")
            return protocol.error(req_id, ErrorCode.INTERNAL, f"internal error: {exc}")
        return protocol.error(req_id, ErrorCode.INTERNAL, "the hand-over returned")

    async def _answer(self, line: bytes) -> tuple[bytes, Stream | Handoff | None, Any]:
        """(reply line, or the stream to send or hand-over to run, and the request's id)."""
        req_id = None
        try:
            request = protocol.decode_request(line)
            req_id = request.id
            result = await self.dispatch(request)
        except ProtocolError as exc:
            return protocol.error(exc.req_id, exc.code, exc.message), None, exc.req_id
        except ProcmanError as exc:
            return protocol.error(req_id, exc.code, exc.message), None, req_id
        except Exception as exc:
            log.exception("request failed: %r", line[:200])
            return (
                protocol.error(req_id, ErrorCode.INTERNAL, f"internal error: {exc}"),
                None,
                req_id,
            )
        if isinstance(result, (Stream, Handoff)):
            return b"", result, req_id
        try:
            return protocol.result(req_id, result), None, req_id
        except (ValueError, TypeError, RecursionError) as exc:
            reply = protocol.error(req_id, ErrorCode.INTERNAL, f"cannot encode the reply: {exc}")
            return reply, None, req_id

    async def _stream(
        self,
        req_id: Any,
        stream: Stream,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        """Send items until the stream ends or the client hangs up."""
        hangup = asyncio.ensure_future(reader.read(1))
        items = stream.items.__aiter__()
        try:
            while True:
                nxt = asyncio.ensure_future(items.__anext__())
                await asyncio.wait({nxt, hangup}, return_when=asyncio.FIRST_COMPLETED)
                if not nxt.done():
                    nxt.cancel()
                    await asyncio.gather(nxt, return_exceptions=True)
                    return
                try:
                    item = nxt.result()
                except StopAsyncIteration:
                    return
                except ProcmanError as exc:
                    writer.write(protocol.error(req_id, exc.code, exc.message))
                    await writer.drain()
                    return
                writer.write(protocol.result(req_id, item))
                try:
                    await asyncio.wait_for(writer.drain(), STALL_TIMEOUT)
                except asyncio.TimeoutError:
                    log.warning("dropping a stream client that stopped reading")
                    writer.transport.abort()
                    return
        finally:
            hangup.cancel()
            await asyncio.gather(hangup, return_exceptions=True)
            aclose = getattr(items, "aclose", None)
            if aclose is not None:
                await aclose()
