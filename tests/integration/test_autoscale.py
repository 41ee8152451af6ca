"""Autoscaling on the accept queue and on memory, `procman autoscale [TYPE]`, and the share
every instance is told (PROCMAN_INSTANCES, PROCMAN_MAX_INSTANCES). The CPU rule is in
test_resources.py, unchanged."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field

import psutil

from tests.harness import PROGRAMS, PY, Harness, wait_until

APP = PROGRAMS / "one_at_a_time.py"


def running(pm: Harness, name: str) -> int:
    return len([r for r in pm.status(name) if r["state"] == "running"])


@dataclass
class Load:
    """A bounded, closed-loop load: `connections` clients, each sending one request per
    connection (the server closes), `total` requests in all, given up at `bound` seconds."""

    port: int
    connections: int
    total: int
    bound: float
    done: int = 0
    errors: list[str] = field(default_factory=list)
    started: float = 0.0
    ended: float = 0.0  # time.time() when the last client finished
    _claimed: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        self.started = time.time()
        self._threads = [
            threading.Thread(target=self._client, daemon=True) for _ in range(self.connections)
        ]
        for thread in self._threads:
            thread.start()

    def join(self) -> None:
        for thread in self._threads:
            thread.join(self.bound + 10)  # each client stops at the bound by itself
        self.ended = time.time()

    def _client(self) -> None:
        deadline = self.started + self.bound
        while time.time() < deadline:
            with self._lock:
                if self._claimed >= self.total:
                    return
                self._claimed += 1
            try:
                self._one(deadline)
            except OSError as exc:
                with self._lock:
                    self.errors.append(repr(exc))
                continue
            with self._lock:
                self.done += 1

    def _one(self, deadline: float) -> None:
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as sock:
            sock.settimeout(max(0.1, deadline - time.time()))
            sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            data = b""
            while chunk := sock.recv(4096):
                data += chunk
        if not data.startswith(b"HTTP/1.1 200"):
            raise OSError(f"bad reply {data[:40]!r}")


def decisions(pm: Harness, name: str, timed: bool = False) -> list:
    """(from, to, why) of every autoscale line in the daemon's log, in order; with timed,
    (unix time, from, to, why)."""
    lines = pm.client.call("logs", {"lines": 5000})["lines"]
    pattern = re.compile(rf"autoscale {name} (\d+) → (\d+): (.*)")
    found = [
        (t, int(m[1]), int(m[2]), m[3]) for t, _, text, *_ in lines if (m := pattern.search(text))
    ]
    return found if timed else [entry[1:] for entry in found]


def share(pm: Harness, ident: str) -> dict[str, str]:
    """PROCMAN_INSTANCES and PROCMAN_MAX_INSTANCES as the instance's process has them."""
    env = psutil.Process(pm.by_id()[ident]["pid"]).environ()
    return {k: env[k] for k in ("PROCMAN_INSTANCES", "PROCMAN_MAX_INSTANCES")}


def test_queue_scales_a_one_at_a_time_app_out_to_max_then_in_after_the_window(
    pm: Harness, port: int
) -> None:
    window, interval = 2.0, 0.2
    pm.yaml(f"""sample_interval: {interval}
processes:
  web:
    cmd: {PY} {APP} 0.05
    port: {port}
    autoscale: {{min: 1, max: 4, queue: 1, window: {window}}}
""")
    pm.run("start")
    assert running(pm, "web") == 1
    # 16 clients against one-request-at-a-time instances of 50 ms: 560 requests take 28 s on
    # one instance, 7 s on four; the client gives up at 20 s. With 4 instances busy, 12
    # connections wait: 3 a slot, well above the target, so the load holds the count at max
    load = Load(port, connections=16, total=560, bound=20.0)
    load.start()
    try:
        wait_until(lambda: running(pm, "web") == 4, 15, "web scaled out to max (4)")
        described = pm.run("autoscale", "web").stdout
        out = decisions(pm, "web")
        # every instance knows its share: the desired count when it was spawned, and the max
        spawned_at = {0: 1}
        for old, new, _ in out:
            for index in range(old, new):
                spawned_at.setdefault(index, new)
        shares = {index: share(pm, f"web.{index + 1}") for index in range(4)}
    finally:
        load.join()
    assert not load.errors, load.errors[:3]
    assert load.done == load.total, f"{load.done} of {load.total} within {load.bound}s"
    assert load.ended - load.started < load.bound
    assert out[0][:2] == (1, 2) and out[0][2].startswith("queue ") and "> 1" in out[0][2]
    assert max(to for _, to, _ in out) == 4
    assert "queue per slot" in described and "last decision:" in described
    for index, got in shares.items():
        wanted = {"PROCMAN_INSTANCES": str(spawned_at[index]), "PROCMAN_MAX_INSTANCES": "4"}
        assert got == wanted, (index, out)

    # after the load: back to min, but only once the window has passed (the highest
    # recommendation of the last `window` seconds holds; the load's tail may step it down)
    wait_until(lambda: len(pm.status("web")) == 1, 20, "web scaled back in to 1")
    timed = decisions(pm, "web", timed=True)
    during = [(old, new) for t, old, new, _ in timed if t <= load.ended]
    after = [(t - load.ended, old, new, why) for t, old, new, why in timed if t > load.ended]
    assert all(new > old for old, new in during), timed  # the load held it out
    assert after[0][0] >= window - 0.5 and after[0][1] == 4, (after, load.ended)
    assert after[-1][2:] == (1, "queue 0 < 1") and all(new < old for _, old, new, _ in after)
    (rule,) = json.loads(pm.run("autoscale", "web", "--json").stdout)
    assert rule["autoscale"]["decision"]["to"] == 1
    assert rule["autoscale"]["metrics"] == [
        {"metric": "queue", "current": 0, "target": 1.0, "proposal": 0}  # min 1 holds it
    ]


def test_memory_rule_scales_memory_hogs_out(pm: Harness) -> None:
    pm.yaml(f"""sample_interval: 0.2
processes:
  hog:
    cmd: {PY} {PROGRAMS / "hog.py"} 40
    autoscale: {{min: 1, max: 3, memory: 20M, window: 60}}
""")
    pm.run("start")
    wait_until(lambda: running(pm, "hog") == 3, 30, "hog scaled out to 3")
    out = decisions(pm, "hog")
    assert out[0][:2] == (1, 2)
    assert re.fullmatch(r"memory \d+ MB > 20 MB", out[0][2]), out
    (rule,) = pm.client.call("autoscale", {"type": "hog"})["types"]
    assert rule["autoscale"]["condition"] == "limited by max 3"
    assert share(pm, "hog.3") == {"PROCMAN_INSTANCES": "3", "PROCMAN_MAX_INSTANCES": "3"}


def test_share_of_a_type_without_autoscale_follows_its_count(pm: Harness) -> None:
    pm.yaml(f"""processes:
  worker:
    cmd: {PY} {PROGRAMS / "printenv.py"}
    instances: 2
""")
    pm.run("start")
    for ident in ("worker.1", "worker.2"):
        assert share(pm, ident) == {"PROCMAN_INSTANCES": "2", "PROCMAN_MAX_INSTANCES": "2"}
    pm.run("scale", "worker=3")
    assert share(pm, "worker.3") == {"PROCMAN_INSTANCES": "3", "PROCMAN_MAX_INSTANCES": "3"}
    pm.run("restart", "worker.1")  # a new process of the slot learns the new count
    assert share(pm, "worker.1") == {"PROCMAN_INSTANCES": "3", "PROCMAN_MAX_INSTANCES": "3"}


def test_autoscale_without_on_off_describes_every_rule(pm: Harness, port: int) -> None:
    pm.yaml(f"""sample_interval: 0.2
processes:
  web:
    cmd: {PY} {APP}
    port: {port}
    autoscale: {{min: 1, max: 2, cpu: 80, queue: 4}}
  worker:
    cmd: {PY} {PROGRAMS / "printenv.py"}
""")
    pm.run("start")

    def sampled() -> dict | None:
        (web,) = pm.client.call("autoscale")["types"]  # worker has no rule: not listed
        return web if web["autoscale"]["metrics"] else None

    web = wait_until(sampled, 10, "a sample of web's rule")
    assert [m["metric"] for m in web["autoscale"]["metrics"]] == ["cpu", "queue"]
    out = pm.run("autoscale").stdout
    assert out.startswith("web: autoscale on; 1-2 instances, scale-down window 60s\n")
    assert re.search(r"cpu per instance +\d+% +80% +[01]\n", out), out
    assert re.search(r"queue per slot +0 +4 +0\n", out), out
    assert "condition: " in out and "last decision: none yet" in out
    pm.run("scale", "web=2")
    assert "autoscale off: a manual count holds" in pm.run("autoscale", "web").stdout
    assert "autoscale on" in pm.run("autoscale", "web", "on").stdout
    assert "has no autoscale rule" in pm.run("autoscale", "worker", expect=2).stderr
    assert "which type?" in pm.run("autoscale", "on", expect=2).stderr


def test_monit_lists_decisions_as_they_happen(pm: Harness) -> None:
    from tests.integration.test_monit import Reader

    # memory, not cpu: a hog's RSS does not depend on how much CPU a busy box lends it
    pm.yaml(f"""sample_interval: 0.2
processes:
  hog:
    cmd: {PY} {PROGRAMS / "hog.py"} 40
    autoscale: {{min: 1, max: 2, memory: 20M, window: 60}}
""")
    pm.run("start")
    wait_until(lambda: running(pm, "hog") == 2, 30, "the rule's first decision")
    pm.run("scale", "hog=1")  # a manual count holds the rule off
    proc = pm.popen("monit", stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
    assert proc.stdout is not None
    try:
        out = Reader(proc.stdout.fileno())
        out.until(lambda: b"hog.1" in out.data and b"hog.2" not in out.data, what="one hog")
        assert b"autoscale decisions" not in out.data
        pm.run("autoscale", "hog", "on")  # the rule again: 40 MiB a hog, over 20M
        out.until(lambda: b"autoscale hog 1 \xe2\x86\x92 2: memory" in out.data, 30, "the decision")
        text = out.text()
        listed = text[text.rindex("autoscale decisions") :].splitlines()[1]
        assert re.fullmatch(r"  \d\d:\d\d:\d\d autoscale hog 1 → 2: memory \d+ MB > 20 MB", listed)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(10)
        proc.stdout.close()
