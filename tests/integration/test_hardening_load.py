"""Hardening under load (issue 6): many instances, many scale cycles, a follower that stops
reading while a child floods, and random SIGKILLs under HTTP load.

Each test states its bound; together they take well under a minute on a 2-core box.
"""

from __future__ import annotations

import json
import random
import signal
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import psutil

from tests.harness import EXAMPLES, PROGRAMS, PY, Harness, alive, wait_until, zombies
from tests.load import Load

MiB = 1 << 20
SLEEPERS = 150
SCALE_CYCLES = 50
FD_SLACK = 2  # a lazily opened log file or two may appear between two counts
CHAOS_SECONDS = 10.0
CHAOS_PERIOD = 0.1
LOAD_THREADS = 4


def count_by_type(pm: Harness) -> dict[str, int]:
    counts: dict[str, int] = {}
    for row in pm.status():
        counts[row["type"]] = counts.get(row["type"], 0) + 1
    return counts


def all_running(pm: Harness, counts: dict[str, int]) -> bool:
    rows = pm.status()
    return count_by_type(pm) == counts and all(
        r["state"] == "running" and r["pid"] and alive(r["pid"]) for r in rows
    )


def fds_back_to(daemon: psutil.Process, baseline: int) -> bool:
    return daemon.num_fds() <= baseline + FD_SLACK


# -- many instances --------------------------------------------------------------------------


def test_150_sleepers_start_scale_and_shut_down_cleanly(pm: Harness) -> None:
    pm.yaml(f"processes:\n  sleeper:\n    cmd: sleep 1000\n    instances: {SLEEPERS}\n")
    started = time.monotonic()
    pm.run("start", timeout=60)
    took_start = time.monotonic() - started
    daemon = psutil.Process(pm.daemon_pid())
    rows = pm.status()
    assert len(rows) == SLEEPERS and {r["state"] for r in rows} == {"running"}
    pids = {r["pid"] for r in rows}
    assert len(pids) == SLEEPERS and all(alive(p) for p in pids)
    # the CLI's table has a header and a row per instance
    table = pm.run("status").stdout.splitlines()
    assert sum(" running " in f" {line} " for line in table) == SLEEPERS

    pm.run("scale", "sleeper=20")
    assert len(pm.status()) == 20
    gone = pids - {r["pid"] for r in pm.status()}
    assert len(gone) == SLEEPERS - 20
    wait_until(lambda: not any(alive(p) for p in gone), 10, "scaled-away pids gone")
    wait_until(lambda: not zombies(daemon.pid), 5, "no zombie children after scale down")

    pm.run("scale", f"sleeper={SLEEPERS}")
    assert all_running(pm, {"sleeper": SLEEPERS})
    pids = {r["pid"] for r in pm.status()}

    started = time.monotonic()
    res = pm.run("shutdown")
    took_shutdown = time.monotonic() - started
    assert f"stopped {SLEEPERS} instance(s)" in res.stdout + res.stderr
    wait_until(lambda: not any(alive(p) for p in pids), 10, "every sleeper gone")
    wait_until(lambda: not alive(daemon.pid), 10, "the daemon gone")
    # generous bounds for a noisy CI box; measured ~0.5 s and ~0.1 s on 2 idle cores
    assert took_start < 20, f"start of {SLEEPERS} took {took_start:.1f}s"
    assert took_shutdown < 15, f"shutdown of {SLEEPERS} took {took_shutdown:.1f}s"
    print(f"{SLEEPERS} sleepers: start {took_start:.2f}s, shutdown {took_shutdown:.2f}s")


def test_fd_count_returns_to_baseline_after_scale_cycles(pm: Harness) -> None:
    pm.yaml("processes:\n  cyc:\n    cmd: sleep 1000\n    instances: 2\n")
    pm.run("start")
    daemon = psutil.Process(pm.daemon_pid())
    # warm up: one full cycle opens everything that is opened lazily (log files, caches)
    pm.client.call("scale", {"counts": {"cyc": 8}})
    pm.client.call("scale", {"counts": {"cyc": 2}})
    wait_until(lambda: not zombies(daemon.pid), 5, "no zombies after the warm-up")
    baseline = daemon.num_fds()
    spawned: set[int] = set()
    for _ in range(SCALE_CYCLES):
        up = pm.client.call("scale", {"counts": {"cyc": 8}})
        assert up["ok"], up["failed"]
        spawned |= {r["pid"] for r in up["status"] if r["pid"]}
        down = pm.client.call("scale", {"counts": {"cyc": 2}})
        assert down["ok"], down["failed"]
    assert len(pm.status()) == 2
    assert len(spawned) >= 2 + 6 * SCALE_CYCLES
    wait_until(
        lambda: fds_back_to(daemon, baseline),
        5,
        f"daemon fds back to {baseline} (+{FD_SLACK}) after {SCALE_CYCLES} cycles",
    )
    wait_until(lambda: not zombies(daemon.pid), 5, "no zombie children after the cycles")
    survivors = {r["pid"] for r in pm.status()}
    assert not [p for p in spawned - survivors if alive(p)]
    print(
        f"scale cycles: {SCALE_CYCLES} x 2<->8, {len(spawned)} processes, "
        f"fds {baseline} -> {daemon.num_fds()}"
    )


# -- a follower that stops reading -------------------------------------------------------------


@contextmanager
def stalled_follower(pm: Harness, target: str) -> Iterator[socket.socket]:
    """A raw `logs -f` connection that never reads (a tiny receive buffer fills at once)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(str(pm.sock))
        request = {"id": 1, "method": "logs", "params": {"target": target, "follow": True}}
        sock.sendall(json.dumps(request).encode() + b"\n")
        yield sock
    finally:
        sock.close()


def flood_until_done(pm: Harness, daemon: psutil.Process, limit: float) -> dict[str, float]:
    """Poll status and the flood's log until it says it is done; the worst status latency,
    the elapsed time and the daemon's peak RSS growth."""
    rss0 = daemon.memory_info().rss
    started = time.monotonic()
    worst = peak = 0.0
    while True:
        t0 = time.monotonic()
        pm.status()
        worst = max(worst, time.monotonic() - t0)
        peak = max(peak, daemon.memory_info().rss - rss0)
        tail = pm.client.call("logs", {"lines": 3, "target": "flood"})["lines"]
        if any("flood done" in text for _, _, text, *_ in tail):
            break
        assert time.monotonic() - started < limit, f"the flood did not finish in {limit}s"
    return {"worst_status": worst, "elapsed": time.monotonic() - started, "peak_rss": peak}


@contextmanager
def flood_project(pm: Harness, total: int) -> Iterator[psutil.Process]:
    """A formation with one flood type at 0 instances and a running daemon; the (large)
    log file is removed at the end so that pytest's kept tmp dirs stay small."""
    pm.yaml(
        f"processes:\n  flood:\n    cmd: {PY} {PROGRAMS / 'flood.py'} {total}\n    instances: 0\n"
    )
    pm.run("start")
    try:
        yield psutil.Process(pm.daemon_pid())
    finally:
        (pm.root / ".procman" / "logs" / "flood.log").unlink(missing_ok=True)


def test_stalled_follower_slows_neither_the_daemon_nor_the_child(pm: Harness) -> None:
    total = 100_000_000
    with flood_project(pm, total) as daemon, stalled_follower(pm, "flood"):
        pm.run("scale", "flood=1")
        facts = flood_until_done(pm, daemon, limit=60)
        # the daemon answered every status at once while the follower sat on its stream
        assert facts["worst_status"] < 1.0, facts
        # and the child's output was never held up by it: 100 MB in well under the limit
        assert total / facts["elapsed"] > 5e6, facts
        assert pm.status()[0]["state"] == "running"
        with_follower = daemon.num_fds()
    # hanging up releases the connection and its subscription
    wait_until(lambda: daemon.num_fds() < with_follower, 5, "the follower's fd released")
    print(
        f"stalled follower: {total / facts['elapsed'] / 1e6:.0f} MB/s, worst status "
        f"{facts['worst_status'] * 1000:.0f} ms, daemon RSS +{facts['peak_rss'] / MiB:.0f} MiB"
    )


def read_to_end(sock: socket.socket, into: bytearray, limit: int) -> None:
    """Read until EOF, an error or limit bytes (a reader thread's body)."""
    sock.settimeout(30)
    try:
        while len(into) < limit:
            chunk = sock.recv(1 << 20)
            if not chunk:
                return
            into += chunk
    except OSError:
        return


def test_stalled_follower_is_dropped_after_a_bounded_buffer(pm: Harness) -> None:
    # the daemon does more per byte than the child (prefix, write), so its reads of the
    # 1 MiB pipe come back full: ~160 chunks, far below SUBSCRIBER_QUEUE
    with flood_project(pm, 160_000_000) as daemon, stalled_follower(pm, "flood") as sock:
        pm.run("scale", "flood=1")
        facts = flood_until_done(pm, daemon, limit=60)
        assert facts["worst_status"] < 1.0, facts
        # a follower may cost a bounded buffer, not a copy of everything it did not read
        assert facts["peak_rss"] < 64 * MiB, f"daemon RSS grew {facts['peak_rss'] / MiB:.0f} MiB"
        # once the client reads again, it finds at most that buffer, then the `failed` error
        # and EOF; meanwhile the daemon goes on answering everyone else at once
        received = bytearray()
        reader = threading.Thread(target=read_to_end, args=(sock, received, 128 * MiB))
        reader.start()
        worst = 0.0
        deadline = time.monotonic() + 30
        while reader.is_alive() and time.monotonic() < deadline:
            t0 = time.monotonic()
            pm.status()
            worst = max(worst, time.monotonic() - t0)
        reader.join(30)
        assert worst < 1.0, f"status took {worst:.2f}s while the follower caught up"
        assert len(received) < 128 * MiB, "the stream never ended"
        last = json.loads(bytes(received).rstrip(b"\n").rsplit(b"\n", 1)[-1])
        assert last["error"]["code"] == "failed", last


# -- chaos -------------------------------------------------------------------------------------


def kill_one(rng: random.Random, pm: Harness, daemon_pid: int) -> bool:
    """SIGKILL a random instance of ours; False if none had a process just now."""
    rows = [r for r in pm.status() if r["pid"]]
    if not rows:
        return False
    victim = rng.choice(rows)
    try:
        proc = psutil.Process(victim["pid"])
        if proc.ppid() != daemon_pid:  # already gone and the pid reused: not ours
            return False
        proc.send_signal(signal.SIGKILL)  # psutil checks the create time first
    except psutil.NoSuchProcess:
        return False
    return True


def test_chaos_random_sigkill_every_100ms_under_http_load(pm: Harness, port: int) -> None:
    pm.yaml(f"""processes:
  web:
    cmd: {PY} {EXAMPLES / "app.py"}
    instances: 4
    port: {port}
    min_uptime: 0
    kill_timeout: 2
    env: {{APP_ACCESS_LOG: "0"}}
""")
    pm.run("start")
    daemon_pid = pm.daemon_pid()
    assert daemon_pid
    rng = random.Random(6)
    kills: list[tuple[float, float]] = []
    with Load(port, threads=LOAD_THREADS, max_seconds=CHAOS_SECONDS + 30) as load:
        wait_until(lambda: load.count() > 50, 20, "load flowing")
        end = time.monotonic() + CHAOS_SECONDS
        tick = time.monotonic()
        while time.monotonic() < end:
            before = time.monotonic()
            if kill_one(rng, pm, daemon_pid):
                kills.append((before, time.monotonic()))
            tick += CHAOS_PERIOD
            # pacing of the chaos schedule (one kill per period), not a wait for a fact
            time.sleep(max(0.0, tick - time.monotonic()))
        wait_until(lambda: all_running(pm, {"web": 4}), 20, "the formation back at 4 running")
        served = load.count()
        wait_until(lambda: load.count() > served + 50, 20, "load served after the chaos")
    rows = pm.status()
    assert sum(r["restarts"] for r in rows) >= len(kills) // 2  # a kill may hit a zombie
    assert len(kills) >= CHAOS_SECONDS / CHAOS_PERIOD * 0.5, f"only {len(kills)} kills"
    # A request the killed process had already accepted dies with it (inherent to SIGKILL);
    # one that arrived while a slot was down waited in the slot's backlog for the next process.
    failures = load.failures()
    in_flight = [r for r in failures if any(r.started <= k1 and r.ended >= k0 for k0, k1 in kills)]
    assert [r for r in failures if r not in in_flight] == []
    assert len(in_flight) <= LOAD_THREADS * len(kills)
    # served all along: at least one request a second answered while the kills went on (an
    # absolute count, 500 in all, failed on a loaded box: 357 beside two busy loops)
    first, last = kills[0][0], kills[-1][1]
    during = [r for r in load.results if r.ok and first <= r.ended <= last]
    assert len(during) >= CHAOS_SECONDS, f"only {len(during)} requests served during the chaos"
    wait_until(lambda: not zombies(daemon_pid), 5, "no zombie children")
    print(
        f"chaos: {len(kills)} kills, {load.count()} requests, {len(failures)} failed "
        f"(all in flight at a kill), restarts {sum(r['restarts'] for r in rows)}"
    )
