"""`procman status` as a whole CLI process (output on a pipe) with 4 instances running,
against `python -c pass` on the same interpreter; plus the CLI's import-time offenders."""

from __future__ import annotations

import subprocess
import time
from typing import Any

from bench.core import Row, Stats, WorkloadResult
from bench.project import PYTHON, Pool, Project

YAML = """\
processes:
  sleeper:
    cmd: sleep 1000
    instances: 4
"""
MS = 1000.0
# How this sandbox runs Python (PYTHONDONTWRITEBYTECODE=1) with procman installed editable:
# no .pyc for procman's own modules, so every call compiles them again.
NO_PYC = {"PYTHONDONTWRITEBYTECODE": "1", "PYTHONPYCACHEPREFIX": ""}


def python_pass(pool: Pool) -> float:
    t0 = time.perf_counter()
    subprocess.run([PYTHON, "-c", "pass"], env=pool.env, check=True, stdout=subprocess.PIPE)
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


# ratio target: 60 ms over python -c pass's 36 ms, both measured earlier on this box


def run(pool: Pool, quick: bool) -> WorkloadResult:
    reps, warmup = (8, 2) if quick else (25, 3)
    result = WorkloadResult("status")
    project = pool.project("status", YAML)
    project.cli("start")
    assert len(project.instances()) == 4
    procman: list[float] = []
    base: list[float] = []
    no_pyc: list[float] = []
    for i in range(warmup + reps):
        a = project.cli("status")
        b = python_pass(pool)
        c = project.cli("status", env=NO_PYC)
        if i >= warmup:
            procman.append(a * MS)
            base.append(b * MS)
            no_pyc.append(c * MS)
    result.rows.append(
        Row("status", "`procman status`, 4 instances", "ms", Stats.of(procman), Stats.of(base),
            "python -c pass", 60, "≤ 60 ms", ratio_target=60 / 36)
    )  # fmt: skip
    result.rows.append(
        Row("status", "(diagnostic) same, no .pyc for procman (this sandbox as is)", "ms",
            Stats.of(no_pyc), Stats.of(base), "python -c pass")
    )  # fmt: skip
    result.extra["importtime"] = import_profile(project)
    return result
