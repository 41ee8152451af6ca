"""The daemon's idle cost with and without a dashboard (issue 16):

    .venv/bin/python -m bench.dashboard [--rounds N] [--window S] [--instances N]

One project of N idle sleepers; the daemon is measured (CPU time, from schedstat, over a
window of idle wall time, then PSS and USS from /proc/<pid>/smaps_rollup) in four
conditions, rotated every round (A B C D, B C D A, ...) so that a slow minute of the shared
box falls on each alike:

- none: no dashboard at all (the baseline);
- server: `procman dashboard` running, no page open (it holds no connection to the daemon);
- page: the dashboard with its page open in headless Chromium (Debian's /usr/bin/chromium,
  driven by Playwright), so one `events` and one `logs --follow` stream are held;
- streams: no dashboard, but two bare clients holding the same two streams (what any
  subscriber, `procman monit` or `logs -f`, costs the daemon; the page's figure over this
  one is what the dashboard itself adds).

Results go to bench/results/dashboard-<UTC time>.json and are printed as a Markdown table
(medians, min-max, and the ratio to the same run's `none`); docs/benchmarks.md quotes them.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from bench.project import PYTHON, Pool, Project

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
CONDITIONS = ("none", "server", "page", "streams")
# a bare subscriber: says "held" once the stream's first object came, then reads on
STREAM = """
import json, sys
from procman.cli.client import Client
client = Client(sys.argv[1], sys.argv[2])
for n, _ in enumerate(client.stream(sys.argv[3], json.loads(sys.argv[4]))):
    if n == 0:
        print("held", flush=True)
"""


def pss_uss(pid: int) -> tuple[int, int]:
    info = psutil.Process(pid).memory_full_info()
    return info.pss, info.uss


def cpu_seconds(proc: psutil.Process) -> float:
    """Time on a CPU of the process's main thread, from /proc/<pid>/schedstat in nanoseconds
    (the daemon has no other thread; the dashboard's only other threads are the short
    to_thread calls of the project list); utime+stime count in 10 ms ticks, too coarse for
    an idle daemon."""
    try:
        with open(f"/proc/{proc.pid}/schedstat") as f:
            return int(f.read().split()[0]) / 1e9
    except (OSError, ValueError, IndexError):
        t = proc.cpu_times()
        return t.user + t.system


class Dashboard:
    """`procman dashboard --port 0` for the project; its URL read from its first line."""

    def __init__(self, project: Project) -> None:
        self.proc = subprocess.Popen(
            [PYTHON, "-m", "procman", "dashboard", "--port", "0"],
            cwd=project.dir,
            env=project.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        assert self.proc.stdout is not None
        out, deadline = b"", time.monotonic() + 20
        while b"http://" not in out or not out.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.proc.stdout], [], [], left)[0]:
                raise RuntimeError(f"the dashboard printed no URL: {out!r}")
            chunk = os.read(self.proc.stdout.fileno(), 4096)
            if not chunk:
                raise RuntimeError(f"the dashboard exited: {out!r}")
            out += chunk
        self.url = next(w for w in out.decode().split() if w.startswith("http://"))

    def teardown(self) -> list[str]:
        if self.proc.poll() is None:
            self.proc.send_signal(2)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        assert self.proc.stdout is not None
        self.proc.stdout.close()
        return []


def measure(project: Project, condition: str, window: float, browser: Any) -> dict[str, Any]:
    daemon = psutil.Process(project.daemon_pid() or 0)
    helpers: list[Any] = []
    page = None
    try:
        if condition in ("server", "page"):
            helpers.append(Dashboard(project))
        if condition == "page":
            page = browser.new_page()
            page.goto(helpers[0].url)
            page.wait_for_selector("#connection.live", timeout=15_000)
            page.wait_for_selector("#instances tbody tr", timeout=15_000)
        if condition == "streams":
            for method, params in (("events", {}), ("logs", {"follow": True, "lines": 200})):
                argv = [str(project.dir), str(project.sock), method, json.dumps(params)]
                sub = subprocess.Popen(
                    [PYTHON, "-c", STREAM, *argv], env=project.env, stdout=subprocess.PIPE
                )
                helpers.append(sub)
                assert sub.stdout is not None
                if not select.select([sub.stdout], [], [], 10)[0]:
                    raise RuntimeError(f"no {method} stream within 10 s")
                sub.stdout.readline()
        time.sleep(3.0)  # let the connection settle (a first sample, the page's first render)
        before, t0 = cpu_seconds(daemon), time.monotonic()
        side = helpers[0].proc if condition in ("server", "page") else None
        side_before = cpu_seconds(psutil.Process(side.pid)) if side else None
        time.sleep(window)  # the measurement window itself: idle wall time
        wall = time.monotonic() - t0
        used = cpu_seconds(daemon) - before
        pss, uss = pss_uss(daemon.pid)
        out: dict[str, Any] = {
            "cpu_ms": round(used * 1000, 2),
            "cpu_percent": round(100 * used / wall, 3),
            "pss_mib": round(pss / 2**20, 2),
            "uss_mib": round(uss / 2**20, 2),
        }
        if side is not None and side_before is not None:
            dash = psutil.Process(side.pid)
            out["dashboard_cpu_ms"] = round((cpu_seconds(dash) - side_before) * 1000, 2)
            out["dashboard_pss_mib"] = round(pss_uss(side.pid)[0] / 2**20, 2)
        return out
    finally:
        if page is not None:
            page.close()
        for helper in helpers:
            if isinstance(helper, Dashboard):
                helper.teardown()
            else:
                helper.kill()
                helper.wait()
                helper.stdout.close()


def summarise(samples: dict[str, list[dict[str, Any]]]) -> list[str]:
    keys = ("cpu_ms", "cpu_percent", "pss_mib", "uss_mib")
    base = {k: statistics.median(s[k] for s in samples["none"]) for k in keys}
    lines = [
        "| condition | daemon CPU, ms per window | % of a core | PSS MiB | USS MiB |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name in CONDITIONS:
        cells = []
        for key in keys:
            values = [s[key] for s in samples[name]]
            med = statistics.median(values)
            ratio = f", {med / base[key]:.2f}×" if base[key] and key != "cpu_percent" else ""
            cells.append(f"{med:g} ({min(values):g}–{max(values):g}{ratio})")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.dashboard")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--window", type=float, default=20.0, help="idle seconds measured")
    parser.add_argument("--instances", type=int, default=20)
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    pool = Pool(f"dash{os.getpid()}")
    yaml = f"processes:\n  s:\n    cmd: sleep 1000\n    instances: {args.instances}\n"
    samples: dict[str, list[dict[str, Any]]] = {c: [] for c in CONDITIONS}
    try:
        project = pool.project("dash", yaml)
        project.cli("start", timeout=120)
        with tempfile.TemporaryDirectory() as profile, sync_playwright() as pw:
            browser = pw.chromium.launch_persistent_context(
                profile, executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
            try:
                for rnd in range(args.rounds):
                    order = CONDITIONS[rnd % 4 :] + CONDITIONS[: rnd % 4]
                    for condition in order:
                        result = measure(project, condition, args.window, browser)
                        samples[condition].append(result)
                        print(f"round {rnd + 1} {condition}: {result}", flush=True)
            finally:
                browser.close()
    finally:
        leftovers = pool.close()
    if leftovers:
        print(f"left behind and killed: {leftovers}", file=sys.stderr)
    table = summarise(samples)
    print("\n".join(table))
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    RESULTS.mkdir(parents=True, exist_ok=True)
    record = {
        "args": vars(args),
        "load_average": os.getloadavg(),
        "samples": samples,
        "table": table,
    }
    (RESULTS / f"dashboard-{stamp}.json").write_text(json.dumps(record, indent=2) + "\n")
    return 1 if leftovers else 0


if __name__ == "__main__":
    raise SystemExit(main())
