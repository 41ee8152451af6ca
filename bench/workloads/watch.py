"""Watch mode: what watching costs while nothing changes, and how soon a change acts.

- Idle CPU: two daemons side by side, each with the same formation (web x2 on a held
  socket, examples/app.py) in a project holding the same 20,000-file tree (400 directories
  of 50 files, plus a node_modules of 2,000 files that watch mode skips); one watches the
  project (`watch: true`), the other does not. Both idle at once over WINDOW seconds; CPU
  from schedstat of every thread of each daemon (the watch daemon's watchfiles thread and
  worker thread included). n = 3 windows.
- Write -> reload start: a file of the tree is rewritten; the time from just before the
  write to the daemon's "watch: ...; reloading web" line (its own timestamp), with the
  default debounce; the reload is let finish (the old processes gone) before the next
  write. n = 15.
- Diagnostics: in the same windows, watchfiles' own awatch() (default step, 50 ms) over the
  same tree in a bare asyncio process, against an idle bare asyncio process: why the daemon
  does not run awatch all the time. How long the watch daemon took to set its watches up
  (daemon start to its "directories watched" line), the daemon's USS with and without watch.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import psutil

from bench.core import Row, Stats, WorkloadResult
from bench.project import PROGRAMS, PYTHON, Pool, Project
from bench.workloads.http import APP, free_port
from bench.workloads.idle import cpu_seconds
from tests.harness import alive, wait_until

DIRS, FILES = 400, 50  # 20,000 watched files
IGNORED = 2000  # files in node_modules: never watched
WINDOW = 20.0
SETTLE = 2.0  # after the start, before the first window
MIB = 1024 * 1024
AWATCH = "awatch (step 50 ms)"
BARE = "idle bare asyncio process"


def formation(port: int, watch: bool) -> str:
    text = f"""processes:
  web:
    cmd: {PYTHON} {APP}
    instances: 2
    port: {port}
    min_uptime: 0.3
    env: {{APP_ACCESS_LOG: "0"}}
"""
    return text + "    watch: true\n" if watch else text


def make_tree(root: Path) -> None:
    for d in range(DIRS):
        folder = root / "src" / f"pkg{d // 20}" / f"mod{d}"
        folder.mkdir(parents=True)
        for f in range(FILES):
            (folder / f"f{f}.py").write_text("X = 1\n")
    modules = root / "node_modules" / "dep"
    modules.mkdir(parents=True)
    for f in range(IGNORED):
        (modules / f"i{f}.js").write_text("0\n")


def system_lines(project: Project, needle: str, tail: int = 2000) -> list[tuple[float, str]]:
    """The daemon's own log lines holding needle, with its timestamps. Polled with a short
    tail (50 lines come from memory; a longer one reads the log files each time, and the
    polling would slow down the daemon it measures)."""
    rows = project.client.call("logs", {"lines": tail, "target": None})["lines"]
    # a row is [when, label, text, stream] (the stream came with `logs --err`)
    return [(r[0], r[2]) for r in rows if r[1] == "procman" and needle in r[2]]


def all_replaced(project: Project, before: set[int]) -> bool:
    rows = project.status()
    return len(rows) == 2 and all(r["state"] == "running" and r["pid"] not in before for r in rows)


def run(pool: Pool, quick: bool) -> WorkloadResult:
    reps, writes = (1, 5) if quick else (3, 15)
    window = WINDOW / 2 if quick else WINDOW
    result = WorkloadResult("watch")
    watched = pool.project("watch", formation(free_port(), watch=True))
    plain = pool.project("nowatch", formation(free_port(), watch=False))
    for project in (watched, plain):
        make_tree(project.dir)
    t0 = time.time()
    watched.cli("start")
    plain.cli("start")
    (when, line), *_ = wait_until(
        lambda: system_lines(watched, "directories watched"), 30, "the watch line"
    )
    result.extra["watch_line"] = line
    result.extra["watch_setup_s_after_start_call"] = round(when - t0, 3)
    pids = {"watch": watched.daemon_pid(), "no watch": plain.daemon_pid()}
    assert all(pids.values())
    daemons = {name: psutil.Process(pid) for name, pid in pids.items() if pid}
    result.extra["daemon_threads"] = {n: p.num_threads() for n, p in daemons.items()}
    result.extra["daemon_uss_mib"] = {
        n: round(p.memory_full_info().uss / MIB, 2) for n, p in daemons.items()
    }
    for name, args in (
        (AWATCH, [str(PROGRAMS / "awatch_idle.py"), str(watched.dir)]),
        (BARE, ["-c", "import asyncio, sys; print('ready', flush=True); sys.stdin.read()"]),
    ):
        helper = pool.helper([PYTHON, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert helper.stdout is not None
        if helper.stdout.readline().strip() != b"ready":
            raise RuntimeError(f"{name} did not start")
        pids[name] = helper.pid
    time.sleep(SETTLE)

    cpu: dict[str, list[float]] = {name: [] for name in pids}
    for _ in range(reps):
        start = {name: cpu_seconds(pid) for name, pid in pids.items() if pid}
        t_start = time.monotonic()
        time.sleep(window)
        elapsed = time.monotonic() - t_start
        for name, pid in pids.items():
            if pid:
                used = cpu_seconds(pid) - start[name]
                cpu[name].append(round(used * 1000 * WINDOW / elapsed, 3))
    result.extra["cpu_ms_per_20s"] = cpu

    latencies = []
    target = watched.dir / "src" / "pkg3" / "mod70" / "f7.py"
    for i in range(writes):
        before = {r["pid"] for r in watched.status()}
        t_write = time.time()
        target.write_text(f"X = {i + 2}\n")
        found = wait_until(
            lambda t=t_write: [
                when for when, _ in system_lines(watched, "reloading web", 50) if when >= t
            ],
            10,
            "the reload line",
        )
        latencies.append(round((found[0] - t_write) * 1000, 2))
        # the reload is over once the old processes are gone too (a write while it runs
        # would be folded into one more reload after it, and measure the wait for that)
        wait_until(lambda b=before: all_replaced(watched, b), 30, "the replacements")
        wait_until(lambda b=before: not any(alive(p) for p in b), 30, "the old processes gone")
    result.extra["write_to_reload_ms"] = latencies

    for helper in pool.helpers:
        if helper.stdin is not None:
            helper.stdin.close()  # they exit; the pool reaps them
    base = Stats.of(cpu["no watch"])
    result.rows += [
        Row(
            "watch",
            f"daemon CPU per 20 idle s, watching a {DIRS * FILES:,}-file tree",
            "ms",
            Stats.of(cpu["watch"]),
            base,
            "the same daemon, same tree, no watch",
            # an absolute bound from the same run's baseline: the ratio of two zeros is none
            target=round(base.median * 1.10, 3),
            target_text="≤ 1.1 × the daemon without watch (same run)",
        ),
        Row(
            "watch",
            "(diagnostic) watchfiles awatch() over the same tree, CPU per 20 idle s",
            "ms",
            Stats.of(cpu[AWATCH]),
            Stats.of(cpu[BARE]),
            BARE,
        ),
        Row(
            "watch",
            "file write -> reload starts (default debounce)",
            "ms",
            Stats.of(latencies),
            target=300.0,
            target_text="< 300 ms",
        ),
    ]
    if quick:
        result.notes.append(f"quick run: CPU measured over {window:g} s, scaled to 20 s")
    return result
