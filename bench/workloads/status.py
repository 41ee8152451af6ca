"""The CLI status round trip with 4 instances, every daemon-backed tool in turn, each as a
whole process with its output on a pipe: `procman status`, `pm2 status`, `supervisorctl
status`, `circusctl status`. Baseline in the same rotation: `python -c pass` on procman's
interpreter. Plus, for procman alone: `procman ps` and `procman scale w=4` (a scale to the
count it has: the CLI's fixed cost and one round trip), `procman status` through click (the
path every other argv takes; see procman/cli/fast.py), the same call without a bytecode
cache (this sandbox as it is), and the CLI's import-time offenders."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from typing import Any

from bench import side
from bench.adapters import Manager, Procman, Spec, announce_argv
from bench.core import Compare, Row, Stats, WorkloadResult
from bench.project import PYTHON, Pool, Project

MS = 1000.0
PASS = "python -c pass"
# How this sandbox runs Python (PYTHONDONTWRITEBYTECODE=1) with procman installed editable:
# no .pyc for procman's own modules, so every call compiles them again.
NO_PYC = {"PYTHONDONTWRITEBYTECODE": "1", "PYTHONPYCACHEPREFIX": ""}


def python_pass(pool: Pool) -> float:
    t0 = time.perf_counter()
    subprocess.run([PYTHON, "-c", "pass"], env=pool.env, check=True, stdout=subprocess.PIPE)
    return time.perf_counter() - t0


def click_status(project: Project) -> float:
    """`procman status` as the click command runs it (what any other argv costs)."""
    t0 = time.perf_counter()
    code = "import sys; from procman.cli.app import main; sys.argv[1:] = ['status']; main()"
    subprocess.run(
        [PYTHON, "-c", code],
        cwd=project.dir, env=project.env, check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    return time.perf_counter() - t0


def import_profile(project: Project, top: int = 15) -> dict[str, Any]:
    """`python -X importtime -m procman status`: the biggest imports, cumulative and self."""
    proc = subprocess.run(
        [PYTHON, "-X", "importtime", "-m", "procman", "status"],
        cwd=project.dir,
        env=project.env,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    rows = []
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "imported package" in line:
            continue
        self_us, cumulative_us, name = line[len("import time:") :].split("|", 2)
        depth = (len(name) - len(name.lstrip(" "))) // 2
        rows.append((int(self_us), int(cumulative_us), depth, name.strip()))
    top_level = sorted((r for r in rows if r[2] <= 1), key=lambda r: -r[1])[:top]
    by_self = sorted(rows, key=lambda r: -r[0])[:top]
    names = {r[3] for r in rows}
    return {
        "modules": len(rows),
        "total_self_ms": round(sum(r[0] for r in rows) / 1000, 2),
        "top_cumulative_ms": {r[3]: round(r[1] / 1000, 2) for r in top_level},
        "top_self_ms": {r[3]: round(r[0] / 1000, 2) for r in by_self},
        "heavy_imported": {
            m: m in names for m in ("click", "rich", "yaml", "psutil", "asyncio", "dotenv")
        },
    }


def run(pool: Pool, quick: bool) -> WorkloadResult:
    reps, warmup = (6, 2) if quick else (15, 3)
    result = WorkloadResult("status")
    tools, na = side.available(pool, "status")
    runners: dict[str, Callable[[], float]] = {}
    procman: Procman | None = None
    for name in tools:
        m = side.manager(pool, name)

        def start(m: Manager = m) -> None:
            m.start(Spec(announce_argv(m.fifo()), count=4))
            m.wait_announced(4)

        if side.setup(name, start, na):
            runners[name] = lambda m=m: m.status() * MS
            if isinstance(m, Procman):
                procman = m
    assert procman is not None and procman.project is not None
    project = procman.project
    runners[PASS] = lambda: python_pass(pool) * MS
    runners["no-pyc"] = lambda: project.cli("status", env=NO_PYC) * MS
    runners["ps"] = lambda: project.cli("ps") * MS
    runners["scale"] = lambda: project.cli("scale", "w=4") * MS
    runners["click"] = lambda: click_status(project) * MS
    samples = side.interleave(reps, warmup, runners, na)
    peers = tuple(t for t in tools if t != "procman")
    result.compare.append(
        Compare(
            "status", "`status` round trip, 4 instances", "ms",
            tools={t: Stats.of(samples[t]) for t in tools if t in samples},
            na={t: r for t, r in na.items() if t in side.TOOLS},
            baselines={PASS: Stats.of(samples[PASS])},
            versus=peers, versus_text="best daemon-backed peer", target=0.4,
        )
    )  # fmt: skip
    result.rows.append(
        Row("status", "(diagnostic) `procman status`, no .pyc for procman (this sandbox as is)",
            "ms", Stats.of(samples["no-pyc"]), Stats.of(samples[PASS]), PASS)
    )  # fmt: skip
    for name, label in (("procman", "status"), ("ps", "ps"), ("scale", "scale w=4 (as it is)")):
        result.rows.append(
            Row("status", f"`procman {label}` vs bare interpreter start", "ms",
                Stats.of(samples[name]), Stats.of(samples[PASS]), PASS, ratio_target=3.0)
        )  # fmt: skip
    result.rows.append(
        Row("status", "(diagnostic) `procman status` through click (not the fast path)", "ms",
            Stats.of(samples["click"]), Stats.of(samples[PASS]), PASS)
    )  # fmt: skip
    result.extra["importtime"] = import_profile(project)
    return result
