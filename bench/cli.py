"""`python -m bench [WORKLOAD ...] [--quick]`: run, print the table, write the results.

`python -m bench report [FILE]` prints the Markdown table of a results file instead.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bench import machine, report
from bench.core import WorkloadResult, deadline
from bench.project import Pool, describe, tagged
from bench.workloads import WORKLOADS

RESULTS = Path(__file__).resolve().parent / "results"


def run_one(name: str, run_id: str, quick: bool) -> WorkloadResult:
    workload = WORKLOADS[name]
    pool = Pool(f"{run_id}.{name}")
    t0 = time.monotonic()
    result = WorkloadResult(name)
    try:
        with deadline(workload.limit, f"workload {name}"):
            result = workload.run(pool, quick)
    except Exception as exc:  # BenchTimeout included: report it, tear down, go on
        result.error = f"{type(exc).__name__}: {exc}"
        traceback.print_exc()
    finally:
        result.leftovers.extend(pool.close())
    result.seconds = time.monotonic() - t0
    return result


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "workloads",
        nargs="*",
        metavar="WORKLOAD",
        help=f"any of: {', '.join(WORKLOADS)} (default: all); or `report [FILE]`",
    )
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--no-save", action="store_true", help="do not write bench/results/")
    parser.add_argument(
        "--no-pyc-cache",
        action="store_true",
        help="keep this environment's bytecode settings (default: give every process a "
        "bytecode cache, as a pip-installed procman has)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    if args.workloads[:1] == ["report"]:
        path = Path(args.workloads[1]) if len(args.workloads) > 1 else RESULTS / "latest.json"
        print(report.markdown(report.load(path)))
        return 0
    unknown = [w for w in args.workloads if w not in WORKLOADS]
    if unknown:
        print(f"unknown workload(s): {', '.join(unknown)}; known: {', '.join(WORKLOADS)}")
        return 2
    names = args.workloads or list(WORKLOADS)
    with bytecode_cache(enabled=not args.no_pyc_cache):
        return run_all(names, args)


@contextmanager
def bytecode_cache(enabled: bool) -> Iterator[None]:
    """A pip install compiles procman's modules to .pyc; an editable install under
    PYTHONDONTWRITEBYTECODE=1 (this sandbox) never has them, and every CLI call compiles
    them again. Unless disabled, every process of the run reads and writes .pyc files in a
    temp dir of ours (PYTHONPYCACHEPREFIX), warmed by each workload's first calls."""
    saved = {k: os.environ.get(k) for k in ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")}
    cache = tempfile.mkdtemp(prefix="pmb-pyc-", dir="/tmp") if enabled else None
    if cache:
        os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
        os.environ["PYTHONPYCACHEPREFIX"] = cache
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        if cache:
            shutil.rmtree(cache, ignore_errors=True)


def run_all(names: list[str], args: argparse.Namespace) -> int:
    started = datetime.now(timezone.utc)
    run_id = f"pmb{os.getpid()}x{int(time.time())}"
    results: dict[str, Any] = {
        "started_utc": started.isoformat(timespec="seconds"),
        "quick": args.quick,
        "pyc_cache": not args.no_pyc_cache,
        "command": " ".join([".venv/bin/python -m bench", *sys.argv[1:]]),
        "machine": machine.facts(),
        "load_before": machine.load(),
        "workloads": {},
    }
    t0 = time.monotonic()
    for name in names:
        print(f"== {name}: {WORKLOADS[name].summary}", flush=True)
        result = run_one(name, run_id, args.quick)
        results["workloads"][name] = result.to_dict()
        status = f"error: {result.error}" if result.error else "done"
        print(f"   {status} in {result.seconds:.1f}s", flush=True)
        for leftover in result.leftovers:
            print(f"   leftover killed: {leftover}", flush=True)
    survivors = [describe(p) for p in tagged(run_id)]
    results["survivors"] = survivors
    results["load_after"] = machine.load()
    results["seconds"] = round(time.monotonic() - t0, 1)
    print()
    print(report.text(results))
    print(f"\nload average before {results['load_before']}, after {results['load_after']}")
    print(f"survivors: {survivors or 'none'}")
    if not args.no_save:
        RESULTS.mkdir(exist_ok=True)
        stamp = started.strftime("%Y%m%dT%H%M%SZ")
        data = json.dumps(results, indent=2, ensure_ascii=False) + "\n"
        (RESULTS / f"{stamp}.json").write_text(data)
        (RESULTS / "latest.json").write_text(data)
        print(f"results: {RESULTS / (stamp + '.json')}")
    failed = [w["name"] for w in results["workloads"].values() if w["error"]]
    return 1 if failed or survivors else 0
