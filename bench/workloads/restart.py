"""Restart latency, every tool in turn: one child (programs/announce.sh, which says "I run"
on a FIFO and then becomes `sleep`) under each manager, configured for its fastest restart;
SIGKILL it and time until its replacement announces itself. The same clock for every tool:
the bench's read of the replacement's line.

Fastest restart per tool: procman `min_uptime: 0`; PM2 `restart_delay: 0, min_uptime: 0`;
supervisord `startsecs=0` (nothing makes its 1 s main-loop poll shorter); circus
`check_delay = 0.01` (it reaps and respawns on that timer, default 1 s). Honcho restarts
nothing.

Baselines in the same rotation: the bare supervisor loop in the bench process (kill,
waitpid, Popen the same announce.sh, wait for its line); the same loop starting the child
through `/bin/sh -c 'exec …'` (one more exec of sh, as procman runs commands); and the same
loop calling procman's own spawn_process() (setpriv for the death signal, the shell, the
output pipe): what is left between that and procman is the daemon's own path.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench import side
from bench.adapters import Announcer, Manager, Spec, announce_argv
from bench.core import Compare, Row, Stats, WorkloadResult
from bench.project import Pool

MS = 1000.0
SETTLE = 0.05  # seconds of quiet before each measurement
BARE = "bare kill/waitpid/Popen loop"
BARE_SH = "the same loop, child through /bin/sh -c 'exec …'"
BARE_PM = "the same loop calling procman's own spawn_process()"


class BareLoop:
    """The least a supervisor can do, in this process: kill, reap, Popen, wait for the line."""

    def __init__(self, pool: Pool, how: str = "plain") -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="pmb-bare-", dir="/tmp"))
        self.announcer = Announcer(self.dir)
        self.env = pool.env
        self.how = how
        self.argv = announce_argv(self.announcer.path)
        if how == "sh":  # the shell procman runs a simple command through
            self.argv = ["/bin/sh", "-c", "exec " + shlex.join(self.argv)]
        self.child = self.spawn()
        self.announcer.wait(1)
        pool.adopt(self)

    def spawn(self) -> subprocess.Popen:
        if self.how == "procman":  # whatever procman's spawn does today (setpriv, sh, pipe)
            from procman.daemon.spawn import spawn_process

            popen, out_fd, err_fd = spawn_process(shlex.join(self.argv), dict(self.env), self.dir)
            os.close(out_fd)
            os.close(err_fd)
            return popen
        return subprocess.Popen(self.argv, env=self.env)

    def once(self) -> float:
        self.announcer.drain()
        seen = len(self.announcer.pids)
        t0 = time.perf_counter()
        os.kill(self.child.pid, signal.SIGKILL)
        self.child.wait()
        self.child = self.spawn()
        return (self.announcer.wait(seen + 1, 10) - t0) * MS

    def teardown(self) -> list[str]:
        if self.child.poll() is None:
            self.child.kill()
            self.child.wait()
        self.announcer.close()
        shutil.rmtree(self.dir, ignore_errors=True)
        return []


def runner(m: Manager) -> Callable[[], float]:
    current = {"pid": m.announcer.pids[-1]}

    def once() -> float:
        elapsed, current["pid"] = m.kill_and_replace(current["pid"], timeout=10)
        return elapsed * MS

    return once


def run(pool: Pool, quick: bool) -> WorkloadResult:
    reps, warmup = (6, 1) if quick else (15, 2)
    result = WorkloadResult("restart")
    tools, na = side.available(pool, "restart")
    runners: dict[str, Callable[[], float]] = {}
    for name in tools:
        m = side.manager(pool, name)

        def start(m: Manager = m) -> None:
            m.start(Spec(announce_argv(m.fifo()), count=1, fast=True))
            m.wait_announced(1)

        if side.setup(name, start, na):
            runners[name] = runner(m)
    runners[BARE] = BareLoop(pool).once
    runners[BARE_SH] = BareLoop(pool, "sh").once
    runners[BARE_PM] = BareLoop(pool, "procman").once
    samples = side.interleave(reps, warmup, runners, na, settle=SETTLE)
    peers = tuple(t for t in tools if t != "procman")
    result.compare.append(
        Compare(
            "restart", "SIGKILL a child → its replacement runs", "ms",
            tools={t: Stats.of(samples[t]) for t in tools if t in samples},
            na={t: r for t, r in na.items() if t != BARE},
            baselines={BARE: Stats.of(samples[BARE])} if BARE in samples else {},
            versus=peers, versus_text="best peer", target=0.5,
        )
    )  # fmt: skip
    for label in (BARE_SH, BARE_PM):
        if "procman" in samples and label in samples:
            result.rows.append(
                Row("restart", "(diagnostic) procman's restart vs a bare loop", "ms",
                    Stats.of(samples["procman"]), Stats.of(samples[label]), label)
            )  # fmt: skip
    result.notes.append(
        "Every tool runs `/bin/sh announce.sh`; procman runs commands through `/bin/sh -c` "
        "(it execs the simple command), so its figure includes one more exec of sh."
    )
    return result


# -- the same, with each tool's default settings -------------------------------------------

CHILDREN = 4
SHORT, LONG = 1.5, 6.0  # seconds a child runs before its kill: within / past procman's min_uptime


class Rotation:
    """Four children per tool, killed one at a time; each child's lives alternate SHORT
    (past PM2's 1 s min_uptime, within procman's 5 s: for procman a first early exit) and
    LONG (past both). Samples are kept by kind; the first `warmup` kills are not."""

    def __init__(self, m: Manager, warmup: int) -> None:
        self.m, self.warmup = m, warmup
        now = time.monotonic()
        # pid -> (birth, the life it is given)
        self.slots = {pid: (now, SHORT) for pid in m.announcer.pids[-CHILDREN:]}
        self.samples: dict[float, list[float]] = {SHORT: [], LONG: []}
        self.kills = 0

    def once(self) -> float:
        pid = min(self.slots, key=lambda p: self.slots[p][0] + self.slots[p][1])
        born, life = self.slots.pop(pid)
        wait = born + life - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        elapsed, new = self.m.kill_and_replace(pid, timeout=10)
        self.slots[new] = (time.monotonic(), LONG if life == SHORT else SHORT)
        self.kills += 1
        if self.kills > self.warmup:
            self.samples[life].append(elapsed * MS)
        return elapsed * MS


def run_defaults(pool: Pool, quick: bool) -> WorkloadResult:
    """Restart after SIGKILL with every tool's default settings (procman: min_uptime 5 s,
    max_restarts 10, a first early exit restarted at once, back-off from the second in a
    row; PM2: min_uptime 1 s, no restart_delay), four children each, one killed at a time,
    each after ~1.5 s or ~6 s of life in turn."""
    reps, warmup = (12, 4) if quick else (40, 4)
    result = WorkloadResult("restart-defaults")
    tools, na = side.available(pool, "restart", ("procman", "pm2"))
    rotations: dict[str, Rotation] = {}
    for name in tools:
        m = side.manager(pool, name)

        def start(m: Manager = m) -> None:
            m.start(Spec(announce_argv(m.fifo()), count=CHILDREN))  # fast=False: defaults
            m.wait_announced(CHILDREN)

        if side.setup(name, start, na):
            rotations[name] = Rotation(m, warmup)
    runners: dict[str, Callable[[], float]] = {n: r.once for n, r in rotations.items()}
    runners[BARE] = BareLoop(pool).once
    samples = side.interleave(reps, warmup, runners, na, settle=SETTLE)
    for life, text in ((SHORT, "a first early exit for procman"), (LONG, "past min_uptime")):
        result.compare.append(
            Compare(
                "restart-defaults",
                f"SIGKILL one of {CHILDREN} children after ~{life:g} s up ({text}) → its "
                "replacement runs, default settings", "ms",
                tools={t: Stats.of(r.samples[life]) for t, r in rotations.items()
                       if t not in na and r.samples[life]},
                na={t: r for t, r in na.items() if t != BARE},
                baselines={BARE: Stats.of(samples[BARE])} if BARE in samples else {},
                versus=("pm2",), versus_text="PM2 with its defaults", target=0.5,
            )
        )  # fmt: skip
    result.notes.append(
        "Defaults: procman restarts a first early exit (within min_uptime, 5 s) at once and "
        "backs off from the second in a row; each child here alternates a ~1.5 s and a ~6 s "
        "life, so every short-lived kill is a first early exit."
    )
    return result
