"""`python -m bench.versus REF [--reps N] [--megabytes MB]`: procman's log throughput at a
git ref against this working tree, interleaved in one run (before/after for a change to the
capture path, on the same loaded box, in the same minutes).

REF's `procman/` is exported with `git archive` into a temp dir and put first on PYTHONPATH
for the CLI and the daemon it starts (the editable install of this tree stays behind it),
so both sides run the same interpreter, the same writer and the same harness: the logs
workload's own `under()` (200 MB of 100-byte lines, the child's own rate and first write ->
last line in the log file). Rounds alternate which side goes first. Prints medians, ranges
and the ratio working tree / REF."""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import tarfile
import tempfile
from pathlib import Path

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


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.versus", description=__doc__)
    parser.add_argument("ref", help="git ref to measure against (e.g. main)")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--megabytes", type=int, default=logs.MEGABYTES)
    args = parser.parse_args()
    logs.MEGABYTES = args.megabytes
    writer: dict[str, list[float]] = {args.ref: [], "tree": []}
    e2e: dict[str, list[float]] = {args.ref: [], "tree": []}
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
                    facts: list[dict] = []
                    rate, end_to_end = logs.under(pool, "procman", leftovers, facts)
                    writer[side].append(rate)
                    if end_to_end is not None:
                        e2e[side].append(end_to_end)
                    print(f"round {rep + 1} {side}: {rate:.0f} MB/s, end to end {end_to_end}")
        finally:
            if saved is None:
                os.environ.pop("PYTHONPATH", None)
            else:
                os.environ["PYTHONPATH"] = saved
            leftovers.extend(pool.close())
    for title, table in (("child's own rate", writer), ("first write -> last line", e2e)):
        base, tree = Stats.of(table[args.ref]), Stats.of(table["tree"])
        print(
            f"{title}: {args.ref} {base.median:.0f} [{base.min:.0f}-{base.max:.0f}] MB/s, "
            f"tree {tree.median:.0f} [{tree.min:.0f}-{tree.max:.0f}] MB/s, "
            f"tree/{args.ref} {tree.median / base.median:.2f}x (n={base.n})"
        )
    if leftovers:
        print("leftovers:", leftovers)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
