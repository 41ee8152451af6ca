"""An asyncio HTTP server on fd 3 (the listener procman holds), the shape of an async
stack (uvicorn, Node): it accepts every connection at once and serves them concurrently,
spending argv[1] seconds on each request (default 0.05), awaiting (I/O) or, with `burn`,
on the CPU, which blocks the event loop as CPU-bound work in an async server does. SIGTERM
stops accepting and lets the requests in hand finish.

    python async_app.py [SECONDS] [burn]

Connections wait inside the process, not in the kernel's accept queue: the autoscale
workload shows what that does to the `queue` metric.
"""

import asyncio
import signal
import socket
import sys
import time

delay = float(sys.argv[1]) if len(sys.argv) > 1 else 0.05
burn = len(sys.argv) > 2 and sys.argv[2] == "burn"
BODY = b"ok\n"
REPLY = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\n" + BODY


active: set[asyncio.Task] = set()


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    task = asyncio.current_task()
    assert task is not None
    active.add(task)
    try:
        await reader.readuntil(b"\r\n\r\n")
        if burn:
            end = time.monotonic() + delay
            while time.monotonic() < end:
                pass
        else:
            await asyncio.sleep(delay)
        writer.write(REPLY)
        await writer.drain()
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        pass
    finally:
        writer.close()
        active.discard(task)


async def main() -> None:
    listener = socket.socket(fileno=3)
    listener.setblocking(False)
    server = await asyncio.start_server(handle, sock=listener)
    stop = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set_result, None)
    await stop
    server.close()  # no new connections; the requests in hand finish (a graceful stop)
    await asyncio.gather(*active)


asyncio.run(main())
