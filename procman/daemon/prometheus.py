"""The opt-in Prometheus endpoint: GET /metrics in the text format, rendered by
prometheus_client from a fresh sample at each scrape. Served on the daemon's own loop (no
thread: prometheus_client's own server would start one)."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable, Iterator
from typing import Any

log = logging.getLogger("procman.prometheus")

MAX_REQUEST = 16 * 1024


def _collector(metrics: Callable[[], dict[str, Any]]) -> Any:
    _allow_ssl()
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

    class Collector:
        def collect(self) -> Iterator[Any]:
            payload = metrics()
            labels = ["type", "instance"]
            cpu = GaugeMetricFamily(
                "procman_instance_cpu_percent", "CPU % of one core, process tree", labels=labels
            )
            mem = GaugeMetricFamily(
                "procman_instance_memory_bytes", "RSS of the process tree", labels=labels
            )
            up = GaugeMetricFamily(
                "procman_instance_uptime_seconds",
                "seconds since the process started",
                labels=labels,
            )
            restarts = CounterMetricFamily(
                "procman_instance_restarts", "automatic restarts of the slot", labels=labels
            )
            state = GaugeMetricFamily(
                "procman_instance_state",
                "1 for the instance's current state",
                labels=[*labels, "state"],
            )
            for row in payload["instances"]:
                key = [row["type"], row["id"]]
                if row["cpu_percent"] is not None:
                    cpu.add_metric(key, row["cpu_percent"])
                if row["memory_bytes"] is not None:
                    mem.add_metric(key, row["memory_bytes"])
                if row["uptime_s"] is not None:
                    up.add_metric(key, row["uptime_s"])
                restarts.add_metric(key, row["restarts"])
                state.add_metric([*key, row["state"]], 1)
            desired = GaugeMetricFamily(
                "procman_type_desired_instances", "instances the formation wants", labels=["type"]
            )
            running = GaugeMetricFamily(
                "procman_type_running_instances", "instances running", labels=["type"]
            )
            for summary in payload["types"]:
                desired.add_metric([summary["name"]], summary["desired"])
                running.add_metric([summary["name"]], summary["running"])
            yield from (cpu, mem, up, restarts, state, desired, running)

    return Collector()


def _allow_ssl() -> None:
    """The daemon marks ssl absent to stay small (daemon/__main__.py); prometheus_client
    imports it, so an enabled endpoint pays for it."""
    if "ssl" in sys.modules and sys.modules["ssl"] is None:
        del sys.modules["ssl"]


async def serve(metrics: Callable[[], dict[str, Any]], host: str, port: int) -> asyncio.Server:
    _allow_ssl()
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_collector(metrics))

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            parts = head.split(b"\r\n", 1)[0].split()
            path = parts[1].split(b"?")[0] if len(parts) >= 2 else b""
            if len(parts) >= 2 and parts[0] == b"GET" and path == b"/metrics":
                status, body, kind = b"200 OK", generate_latest(registry), CONTENT_TYPE_LATEST
            else:
                status, body, kind = b"404 Not Found", b"try /metrics\n", "text/plain"
            writer.write(
                b"HTTP/1.1 "
                + status
                + b"\r\nContent-Type: "
                + kind.encode()
                + b"\r\nContent-Length: "
                + str(len(body)).encode()
                + b"\r\nConnection: close\r\n\r\n"
                + body
            )
            await writer.drain()
        except (
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
            asyncio.TimeoutError,
            ConnectionError,
        ):
            pass
        except Exception:
            log.exception("metrics request failed")
        finally:
            writer.close()

    server = await asyncio.start_server(handle, host, port, limit=MAX_REQUEST)
    log.info("Prometheus metrics on http://%s:%d/metrics", host, port)
    return server


class MetricsEndpoint:
    """The endpoint's lifetime: started once a port is known (the daemon's --metrics-port
    or the formation's metrics_port), closed at shutdown."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        payload: Callable[[], dict[str, Any]],
        host: str = "127.0.0.1",
        port: int | None = None,
        on_error: Callable[[str], None] = lambda line: None,
    ) -> None:
        self.loop, self.payload, self.host, self.port = loop, payload, host, port
        self.on_error = on_error
        self.server: asyncio.Server | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def wanted(self) -> bool:
        """An endpoint is served (or being started): samples must stay fresh."""
        return self._task is not None

    def ensure(self, port: int | None) -> None:
        """Serve on self.port, else on port, unless an endpoint runs already."""
        port = self.port or port
        if port and self._task is None:
            self._task = self.loop.create_task(self._serve(port))

    async def _serve(self, port: int) -> None:
        try:
            self.server = await serve(self.payload, self.host, port)
        except OSError as exc:
            log.error("no metrics endpoint on %s:%d: %s", self.host, port, exc)
            self.on_error(f"metrics endpoint {self.host}:{port} unavailable: {exc.strerror}")

    def close(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None
