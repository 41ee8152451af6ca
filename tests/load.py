"""A bounded HTTP load client for the zero-downtime tests: a few threads, each sending one
request at a time on a fresh connection, recording when each started and how it ended."""

from __future__ import annotations

import http.client
import json
import threading
import time
from dataclasses import dataclass, field


@dataclass(slots=True)
class Result:
    started: float
    ended: float
    ok: bool
    detail: str = ""
    pid: int | None = None  # who answered, when the reply is JSON with a "pid" (examples/app.py)


@dataclass
class Load:
    port: int
    threads: int = 4
    max_seconds: float = 60.0  # a hard bound: the load stops by itself
    results: list[Result] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _workers: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __enter__(self) -> Load:
        deadline = time.monotonic() + self.max_seconds
        for _ in range(self.threads):
            worker = threading.Thread(target=self._run, args=(deadline,), daemon=True)
            worker.start()
            self._workers.append(worker)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for worker in self._workers:
            worker.join(10)

    def _run(self, deadline: float) -> None:
        while not self._stop.is_set() and time.monotonic() < deadline:
            started = time.monotonic()
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
            try:
                conn.request("GET", "/", headers={"Connection": "close"})
                reply = conn.getresponse()
                body = reply.read()
                ok, detail = reply.status == 200, str(reply.status)
                pid = _pid(body)
            except (OSError, http.client.HTTPException) as exc:
                ok, detail, pid = False, repr(exc), None
            finally:
                conn.close()
            with self._lock:
                self.results.append(Result(started, time.monotonic(), ok, detail, pid))

    def count(self) -> int:
        with self._lock:
            return len(self.results)

    def failures(self) -> list[Result]:
        with self._lock:
            return [r for r in self.results if not r.ok]

    def answered_by(self) -> dict[int | None, int]:
        """pid -> requests it answered."""
        with self._lock:
            counts: dict[int | None, int] = {}
            for r in self.results:
                if r.ok:
                    counts[r.pid] = counts.get(r.pid, 0) + 1
            return counts


def _pid(body: bytes) -> int | None:
    try:
        value = json.loads(body).get("pid")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, int) else None
