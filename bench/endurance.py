"""Endurance benchmarks for issues 4 and 6: sampling cost with 200 instances, 500 instances,
fd count after 200 scale cycles, a soak of scale churn and crash loops, and 60 s of chaos.

    .venv/bin/python -m bench.endurance [sampling|many|cycles|soak|chaos ...] [--quick]

Results go to bench/results/endurance-<UTC time>.json and are printed; docs/reliability.md
and docs/benchmarks.md quote them. Every project is torn down and checked for survivors.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sys
import time
from pathlib import Path
from typing import Any

import psutil

from bench.project import PYTHON, Pool, Project
from tests.harness import alive, free_port, wait_until, zombies
from tests.load import Load  # the bounded load client the zero-downtime tests use

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
SLEEPER = "sleep 1000"


def daemon(project: Project) -> psutil.Process:
    pid = project.daemon_pid()
    if pid is None:
        raise RuntimeError("no daemon")
    return psutil.Process(pid)


def cpu_over(proc: psutil.Process, seconds: float) -> float:
    """CPU seconds (user + system) proc used over `seconds` of wall time."""
    before = proc.cpu_times()
    time.sleep(seconds)  # the measurement window itself
    after = proc.cpu_times()
    return (after.user + after.system) - (before.user + before.system)


def sampling(pool: Pool, quick: bool) -> dict[str, Any]:
    """Daemon CPU with N idle instances, sampled every 2 s (max_memory makes it sample)
    beside the same formation with nothing that needs samples."""
    count, window = (100, 10.0) if quick else (200, 20.0)
    out: dict[str, Any] = {"instances": count, "window_s": window}
    for label, extra in (("sampling_on", "    max_memory: 1G\n"), ("sampling_off", "")):
        yaml = (
            f"sample_interval: 2\nprocesses:\n  s:\n    cmd: {SLEEPER}\n"
            f"    instances: {count}\n{extra}"
        )
        project = pool.project(f"sample-{label}", yaml)
        project.cli("start", timeout=120)
        proc = daemon(project)
        cpu_over(proc, 3.0)  # let the start settle
        used = cpu_over(proc, window)
        out[label] = {"cpu_s": round(used, 4), "percent_of_core": round(100 * used / window, 3)}
        project.teardown()
    return out


def many(pool: Pool, quick: bool) -> dict[str, Any]:
    """500 sleepers: start, status, scale to 50 and back, shutdown; zombies after each."""
    count = 200 if quick else 500
    yaml = f"processes:\n  s:\n    cmd: {SLEEPER}\n    instances: {count}\n"
    project = pool.project("many", yaml)
    times = {"start": project.cli("start", timeout=300)}
    times["status"] = project.cli("status")
    times["scale_to_50"] = project.cli("scale", "s=50", timeout=300)
    proc = daemon(project)
    after_down = len(zombies(proc.pid))
    times["scale_back"] = project.cli("scale", f"s={count}", timeout=300)
    running = sum(1 for r in project.status() if r["state"] == "running")
    pid = proc.pid
    times["shutdown"] = project.cli("shutdown", timeout=300)
    wait_until(lambda: not alive(pid), 30, "the daemon to exit")
    left = project.ours()
    return {
        "instances": count,
        "seconds": {k: round(v, 3) for k, v in times.items()},
        "zombies_after_scale_down": after_down,
        "running_after_scale_back": running,
        "left_after_shutdown": len(left),
    }


def cycles(pool: Pool, quick: bool) -> dict[str, Any]:
    """fd count and RSS of the daemon before and after N scale cycles 2 <-> 8."""
    n = 50 if quick else 200
    project = pool.project("cycles", f"processes:\n  c:\n    cmd: {SLEEPER}\n    instances: 2\n")
    project.cli("start")
    proc = daemon(project)
    fds0, rss0 = proc.num_fds(), proc.memory_info().rss
    started = time.perf_counter()
    for _ in range(n):
        project.client.call("scale", {"counts": {"c": 8}})
        project.client.call("scale", {"counts": {"c": 2}})
    elapsed = time.perf_counter() - started
    return {
        "cycles": n,
        "seconds": round(elapsed, 2),
        "fds_before": fds0,
        "fds_after": proc.num_fds(),
        "rss_mib_before": round(rss0 / 2**20, 1),
        "rss_mib_after": round(proc.memory_info().rss / 2**20, 1),
        "zombies": len(zombies(proc.pid)),
    }


def soak(pool: Pool, quick: bool) -> dict[str, Any]:
    """Scale churn plus a crash-looping type for 10 minutes: the daemon's RSS and fds."""
    seconds = 60.0 if quick else 600.0
    yaml = f"""processes:
  churn:
    cmd: {SLEEPER}
    instances: 2
  crash:
    cmd: sh -c 'echo crash; exit 1'
    min_uptime: 0.2
    max_restarts: 1000000
"""
    project = pool.project("soak", yaml)
    project.cli("start")
    proc = daemon(project)
    time.sleep(2)  # let the first back-off settle before the baseline
    rss0, fds0 = proc.memory_info().rss, proc.num_fds()
    samples = []
    rng = random.Random(7)
    end = time.monotonic() + seconds
    scales = 0
    next_sample = time.monotonic() + 10
    while time.monotonic() < end:
        project.client.call("scale", {"counts": {"churn": rng.randint(1, 12)}})
        scales += 1
        if time.monotonic() >= next_sample:
            samples.append(round(proc.memory_info().rss / 2**20, 2))
            next_sample += 10
    restarts = {r["id"]: r["restarts"] for r in project.status() if r["type"] == "crash"}
    return {
        "seconds": seconds,
        "scales": scales,
        "crash_restarts": sum(restarts.values()),
        "rss_mib_start": round(rss0 / 2**20, 2),
        "rss_mib_end": round(proc.memory_info().rss / 2**20, 2),
        "rss_mib_samples": samples,
        "fds_start": fds0,
        "fds_end": proc.num_fds(),
        "zombies": len(zombies(proc.pid)),
    }


def chaos(pool: Pool, quick: bool) -> dict[str, Any]:
    """A random instance SIGKILLed every 100 ms for 60 s while HTTP load runs."""
    seconds = 15.0 if quick else 60.0
    port = free_port()
    yaml = f"""processes:
  web:
    cmd: {PYTHON} {ROOT / "examples" / "app.py"}
    instances: 4
    port: {port}
    min_uptime: 0
    env: {{APP_ACCESS_LOG: "0"}}
"""
    project = pool.project("chaos", yaml)
    project.cli("start")
    rng = random.Random(11)
    kills: list[float] = []
    with Load(port, max_seconds=seconds + 30) as load:
        wait_until(lambda: load.count() > 50, 30, "load flowing")
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            rows = [r for r in project.status() if r["pid"]]
            if rows:
                victim = rng.choice(rows)
                kills.append(time.monotonic())
                try:
                    os.kill(victim["pid"], signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.1)  # the chaos rate itself
        wait_until(
            lambda: [r["state"] for r in project.status()] == ["running"] * 4,
            30,
            "all four back",
        )
        served = load.count()
        wait_until(lambda: load.count() > served + 50, 30, "load after the chaos")
    failures = load.failures()
    outside = [r for r in failures if not any(r.started <= k <= r.ended for k in kills)]
    return {
        "seconds": seconds,
        "kills": len(kills),
        "requests": load.count(),
        "failed": len(failures),
        "failed_outside_a_kill": len(outside),
        "back_to_counts": True,
    }


WORKLOADS = {"sampling": sampling, "many": many, "cycles": cycles, "soak": soak, "chaos": chaos}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.endurance")
    parser.add_argument("names", nargs="*", metavar="WORKLOAD", help=", ".join(WORKLOADS))
    parser.add_argument("--quick", action="store_true", help="smaller and shorter")
    args = parser.parse_args(argv)
    names = args.names or list(WORKLOADS)
    results: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "quick": args.quick,
        "nproc": os.cpu_count(),
    }
    for name in names:
        pool = Pool(f"endurance-{name}-{os.getpid()}")
        print(f"== {name}", flush=True)
        try:
            results[name] = WORKLOADS[name](pool, args.quick)
        except Exception as exc:
            results[name] = {"error": repr(exc)}
        finally:
            leftovers = pool.close()
        results[name]["survivors"] = leftovers
        print(json.dumps(results[name], indent=2), flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    (RESULTS / f"endurance-{stamp}.json").write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
