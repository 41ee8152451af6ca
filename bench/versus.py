"""`python -m bench.versus REF [--reps N] [--megabytes MB]`: procman's log throughput at a
git ref against this working tree, interleaved in one run (before/after for a change to the
capture path, on the same box, in the same minutes).

REF's `procman/` is exported with `git archive` into a temp dir and put first on PYTHONPATH
for the CLI and the daemon it starts (the editable install of this tree stays behind it),
so both sides run the same interpreter, the same writer and the same harness as the logs
workload (200 MB of 100-byte lines: the child's own rate, and first write -> last line in
the log file). Rounds alternate which side goes first. A third figure, the daemon's own CPU
time (user + system, its start included) over the run, moves much less than the rates when
other work shares the machine. Prints medians, ranges and the ratios working tree / REF."""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import psutil

from bench import side
from bench.adapters import Procman, Spec
from bench.core import Stats
from bench.project import Pool
from bench.workloads import logs

ROOT = Path(__file__).resolve().parents[1]


def export(ref: str, into: Path) -> None:
    tar = subprocess.run(
        ["git", "archive", ref, "procman"], cwd=ROOT, capture_output=True, check=True
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(tar)) as archive:
        archive.extractall(into, filter="data")
    # bytecode up front, as `make setup` gives this tree: neither side compiles in a run
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(into)], check=True)


def measure(pool: Pool, leftovers: list[str]) -> tuple[float, float, float]:
    """One run of the logs workload's writer under procman: (writer MB/s, end-to-end MB/s,
    daemon CPU seconds)."""
    m = side.manager(pool, "procman")
    try:
        report = m.root / "writer.report"
        spec = Spec(logs.writer_argv(report), count=1, restart=False, log=m.root / "w.log")
        m.start(spec)
        assert isinstance(m, Procman) and m.project is not None
        path = logs.log_file(m, spec)
        deadline = time.monotonic() + logs.LIMIT_S
        while not report.exists() or not logs.ends_with_marker(path):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the writer's output was not all logged in {logs.LIMIT_S}s")
            time.sleep(0.005)
        done = time.perf_counter()
        pid = m.project.daemon_pid()
        times = psutil.Process(pid).cpu_times() if pid else None
        t0, elapsed = logs.read_report(report)
        cpu = times.user + times.system if times else float("nan")
        return logs.MEGABYTES / elapsed, logs.MEGABYTES / (done - t0), cpu
    finally:
        side.release(pool, m, leftovers)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.versus", description=__doc__)
    parser.add_argument("ref", help="git ref to measure against (e.g. main)")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--megabytes", type=int, default=logs.MEGABYTES)
    args = parser.parse_args()
    logs.MEGABYTES = args.megabytes
    writer: dict[str, list[float]] = {args.ref: [], "tree": []}
    e2e: dict[str, list[float]] = {args.ref: [], "tree": []}
    cpus: dict[str, list[float]] = {args.ref: [], "tree": []}
    with tempfile.TemporaryDirectory(prefix="pmb-versus-", dir="/tmp") as scratch:
        export(args.ref, Path(scratch))
        sides = {args.ref: scratch, "tree": None}
        pool = Pool(f"versus.{os.getpid()}")
        leftovers: list[str] = []
        saved = os.environ.get("PYTHONPATH")
        try:
            for rep in range(args.reps):
                order = list(sides) if rep % 2 == 0 else list(reversed(sides))
                for side in order:
                    path = sides[side]
                    if path is None:
                        os.environ.pop("PYTHONPATH", None)
                        if saved is not None:
                            os.environ["PYTHONPATH"] = saved
                    else:
                        os.environ["PYTHONPATH"] = path + (os.pathsep + saved if saved else "")
                    rate, end_to_end, cpu = measure(pool, leftovers)
                    writer[side].append(rate)
                    e2e[side].append(end_to_end)
                    cpus[side].append(cpu)
                    print(f"round {rep + 1} {side}: {rate:.0f} MB/s, end to end "
                          f"{end_to_end:.0f} MB/s, daemon CPU {cpu:.3f} s", flush=True)  # fmt: skip
        finally:
            if saved is None:
                os.environ.pop("PYTHONPATH", None)
            else:
                os.environ["PYTHONPATH"] = saved
            leftovers.extend(pool.close())
    for title, table, unit in (
        ("child's own rate", writer, "MB/s"),
        ("first write -> last line", e2e, "MB/s"),
        ("daemon CPU for the run", cpus, "s"),
    ):
        base, tree = Stats.of(table[args.ref]), Stats.of(table["tree"])
        print(
            f"{title}: {args.ref} {base.median:.3g} [{base.min:.3g}-{base.max:.3g}] {unit}, "
            f"tree {tree.median:.3g} [{tree.min:.3g}-{tree.max:.3g}] {unit}, "
            f"tree/{args.ref} {tree.median / base.median:.2f}x (n={base.n})"
        )
    if leftovers:
        print("leftovers:", leftovers)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
