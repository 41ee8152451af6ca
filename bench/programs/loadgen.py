"""The HTTP load generator used when `wrk` is not installed: C connections in a loop, one
request per connection (as wrk does against servers that close), for SECONDS, against
127.0.0.1 only. Prints one JSON object: requests, errors by kind, latency percentiles.

    python loadgen.py PORT SECONDS CONNECTIONS [TIMEOUT]

Bounded: it stops sending at SECONDS and gives up on any request after TIMEOUT (default
2 s, wrk's default). Far slower than wrk per request (it is Python): its figures are
comparable with each other, not with wrk's.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

HOST = "127.0.0.1"  # never anything else


async def one(port: int, request: bytes, timeout: float) -> str:
    """'ok' or the kind of failure, wrk's names: connect, read, write, timeout, status."""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(HOST, port), timeout)
    except asyncio.TimeoutError:
        return "timeout"
    except OSError:
        return "connect"
    try:
        try:
            writer.write(request)
            await writer.drain()
        except OSError:
            return "write"
        try:
            data = await asyncio.wait_for(reader.read(), timeout)
        except asyncio.TimeoutError:
            return "timeout"
        except OSError:
            return "read"
        if not data:
            return "read"
        status = data.split(b" ", 2)[1:2]
        return "ok" if status and status[0].startswith(b"2") else "status"
    finally:
        writer.close()


async def main(port: int, seconds: float, connections: int, timeout: float) -> dict:
    request = f"GET / HTTP/1.1\r\nHost: {HOST}:{port}\r\nConnection: close\r\n\r\n".encode()
    latencies: list[float] = []
    errors = {"connect": 0, "read": 0, "write": 0, "timeout": 0, "status": 0}
    end = time.monotonic() + seconds

    async def worker() -> None:
        while time.monotonic() < end:
            t0 = time.perf_counter()
            outcome = await one(port, request, timeout)
            if outcome == "ok":
                latencies.append(time.perf_counter() - t0)
            else:
                errors[outcome] += 1

    t0 = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(connections)))
    elapsed = time.monotonic() - t0
    latencies.sort()

    def pct(p: float) -> float | None:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] if latencies else None

    return {
        "requests": len(latencies),
        "seconds": elapsed,
        "rps": len(latencies) / elapsed,
        "errors": errors,
        "latency_s": {
            "p50": pct(0.5),
            "p99": pct(0.99),
            "max": latencies[-1] if latencies else None,
        },
    }


if __name__ == "__main__":
    port, seconds, conns = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
    timeout = float(sys.argv[4]) if len(sys.argv) > 4 else 2.0
    print(json.dumps(asyncio.run(main(port, seconds, conns, timeout))))
