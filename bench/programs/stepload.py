"""An open-loop step of HTTP load, for the autoscale workload: from its start, RATE requests
a second at fixed intervals for SECONDS, each on a new connection (one request; the server
closes), however long the answers take. Prints one JSON object: `t0` (unix time of the
step) and `samples`, [offset of the send in s, latency in s or null for a failure] per
request.

    python stepload.py PORT RATE SECONDS [TIMEOUT]

Open loop, so a server that falls behind keeps seeing the same arrivals and its queue
grows, as it would with real users (a closed-loop client slows down with the server and
hides that). Against 127.0.0.1 only. Bounded: every request gives up after TIMEOUT
(default 5 s), so the run ends by SECONDS + TIMEOUT.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

HOST = "127.0.0.1"  # never anything else


async def one(port: int, timeout: float) -> float | None:
    t0 = time.perf_counter()
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(HOST, port), timeout)
    except (OSError, asyncio.TimeoutError):
        return None
    try:
        writer.write(f"GET / HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n".encode())
        left = timeout - (time.perf_counter() - t0)
        data = await asyncio.wait_for(reader.read(), max(0.001, left))
    except (OSError, asyncio.TimeoutError):
        return None
    finally:
        writer.close()
    return time.perf_counter() - t0 if data.startswith(b"HTTP/1.1 200") else None


async def main(port: int, rate: float, seconds: float, timeout: float) -> dict:
    wall, start = time.time(), time.perf_counter()
    sent: list[tuple[float, asyncio.Task[float | None]]] = []
    for i in range(int(rate * seconds)):
        at = i / rate
        delay = start + at - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        sent.append((at, asyncio.ensure_future(one(port, timeout))))
    samples = [[round(at, 4), await task] for at, task in sent]
    return {"t0": wall, "rate": rate, "seconds": seconds, "samples": samples}


if __name__ == "__main__":
    port, rate, seconds = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
    timeout = float(sys.argv[4]) if len(sys.argv) > 4 else 5.0
    print(json.dumps(asyncio.run(main(port, rate, seconds, timeout))))
