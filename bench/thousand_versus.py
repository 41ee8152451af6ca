"""`python -m bench.thousand_versus REF [--reps N] [--count N]`: procman at a git ref
against this working tree with 1,000 instances, interleaved in one run (bench.versus's
export and PYTHONPATH), for the before/after of docs/benchmarks.md.

Two formations of COUNT `sleep` instances: a plain one and a `socket: true` one (a held
listener a slot, steered). For each: start from no daemon, `status --json`, scale to 10,
scale back to COUNT, shutdown until the daemon and every instance are gone; and for the
plain one a rolling reload with `--parallel 50`. Prints each step's median per side and
the ratio tree / REF."""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from bench.core import Stats
from bench.project import Pool, Project, wait_gone
from bench.versus import export
from tests.harness import free_port

STEPS = ("start", "status --json", "scale to 10", "scale back", "reload --parallel 50",
         "shutdown")  # fmt: skip


def formation(count: int, socket: bool) -> str:
    extra = f"    socket: true\n    port: {free_port()}\n" if socket else ""
    return f"processes:\n  s:\n    cmd: sleep 1000\n    instances: {count}\n{extra}"


def one(pool: Pool, count: int, socket: bool, reload: bool) -> dict[str, float]:
    project: Project = pool.project("tv", formation(count, socket))
    out: dict[str, float] = {}
    try:
        out["start"] = project.cli("start", timeout=600)
        out["status --json"] = project.cli("status", "--json")
        out["scale to 10"] = project.cli("scale", "s=10", timeout=600)
        out["scale back"] = project.cli("scale", f"s={count}", timeout=600)
        if reload:
            out["reload --parallel 50"] = project.cli("reload", "--parallel", "50", timeout=900)
        pids = [r["pid"] for r in project.status() if r["pid"]]
        daemon = project.daemon_pid()
        t0 = time.perf_counter()
        project.shutdown(timeout=120)
        wait_gone([*pids, *([daemon] if daemon else [])], 120)
        out["shutdown"] = time.perf_counter() - t0
    finally:
        project.teardown()
        pool.projects.remove(project)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.thousand_versus", description=__doc__)
    parser.add_argument("ref")
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--count", type=int, default=1000)
    args = parser.parse_args()
    results: dict[tuple[str, bool], dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory(prefix="pmb-tv-", dir="/tmp") as scratch:
        export(args.ref, Path(scratch))
        sides = {args.ref: scratch, "tree": None}
        pool = Pool(f"tv.{os.getpid()}")
        saved = os.environ.get("PYTHONPATH")
        try:
            for rep in range(args.reps):
                order = list(sides) if rep % 2 == 0 else list(reversed(sides))
                for socket in (False, True):
                    for name in order:
                        path = sides[name]
                        os.environ.pop("PYTHONPATH", None)
                        if path is not None or saved is not None:
                            parts = [p for p in (path, saved) if p]
                            os.environ["PYTHONPATH"] = os.pathsep.join(parts)
                        got = one(pool, args.count, socket, reload=not socket)
                        table = results.setdefault((name, socket), {})
                        for step, seconds in got.items():
                            table.setdefault(step, []).append(seconds)
                        steps = ", ".join(f"{k} {v:.2f}s" for k, v in got.items())
                        print(f"round {rep + 1} {name} socket={socket}: {steps}", flush=True)
        finally:
            os.environ.pop("PYTHONPATH", None)
            if saved is not None:
                os.environ["PYTHONPATH"] = saved
            leftovers = pool.close()
    for socket in (False, True):
        print(f"-- {args.count} instances, socket={socket}")
        for step in STEPS:
            before = results[(args.ref, socket)].get(step)
            after = results[("tree", socket)].get(step)
            if not before or not after:
                continue
            b, a = Stats.of(before), Stats.of(after)
            print(f"{step:22s} {args.ref} {b.median:7.2f} s  tree {a.median:7.2f} s  "
                  f"tree/{args.ref} {a.median / b.median:.2f}x (n={a.n})")  # fmt: skip
    if leftovers:
        print("leftovers:", leftovers)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
