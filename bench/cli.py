"""`python -m bench [WORKLOAD ...] [--quick] [--peers pm2,supervisord,...|--no-peers]`:
install the peers if needed, run, print the tables, write the results.

`python -m bench report [FILE]` prints the Markdown tables of a results file instead;
`python -m bench compare OLD [NEW]` puts two runs side by side (procman's medians and its
ratio to the reference); `python -m bench plot [FILE]` draws the HTTP scaling and log
throughput figures (matplotlib, installed into the peers' throwaway venv if missing).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bench import load, machine, peers, report
from bench.core import WorkloadResult, deadline
from bench.project import Pool, describe, tagged
from bench.workloads import WORKLOADS

RESULTS = Path(__file__).resolve().parent / "results"


def run_one(
    name: str, run_id: str, quick: bool, installed: dict[str, peers.Peer], selected: bool
) -> WorkloadResult:
    workload = WORKLOADS[name]
    pool = Pool(f"{run_id}.{name}")
    pool.peers = {k: v for k, v in installed.items() if k in workload.peers}
    pool.peers_selected = selected
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
        help=f"any of: {', '.join(WORKLOADS)} (default: all but thousand); or `report [FILE]`, "
        "`compare OLD [NEW]`, `plot [FILE]`",
    )
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument(
        "--peers",
        default=",".join(peers.PEERS),
        help=f"comma-separated peers to install and run (default: {','.join(peers.PEERS)})",
    )
    parser.add_argument("--no-peers", action="store_true", help="procman and baselines only")
    parser.add_argument("--no-save", action="store_true", help="do not write bench/results/")
    parser.add_argument("--no-plot", action="store_true", help="do not draw the plot")
    parser.add_argument(
        "--no-pyc-cache",
        action="store_true",
        help="keep this environment's bytecode settings (default: give every process a "
        "bytecode cache, as a pip-installed procman has)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    verb = args.workloads[:1]
    if verb in (["report"], ["plot"]):
        path = Path(args.workloads[1]) if len(args.workloads) > 1 else RESULTS / "latest.json"
        if verb == ["plot"]:
            return plot(report.resolve(path))  # the PNG goes beside the run, not the pointer
        print(report.markdown(report.load(path)))
        return 0
    if verb == ["compare"]:
        if len(args.workloads) < 2:
            print("usage: python -m bench compare OLD.json [NEW.json]")
            return 2
        new = Path(args.workloads[2]) if len(args.workloads) > 2 else RESULTS / "latest.json"
        print(report.compare(report.load(Path(args.workloads[1])), report.load(new)))
        return 0
    unknown = [w for w in args.workloads if w not in WORKLOADS]
    if unknown:
        print(f"unknown workload(s): {', '.join(unknown)}; known: {', '.join(WORKLOADS)}")
        return 2
    names = args.workloads or [n for n, w in WORKLOADS.items() if not w.on_demand]
    with bytecode_cache(enabled=not args.no_pyc_cache):
        return run_all(names, args)


@contextmanager
def bytecode_cache(enabled: bool) -> Iterator[None]:
    """A pip install compiles procman's modules to .pyc; an editable install under
    PYTHONDONTWRITEBYTECODE=1 (this sandbox) never has them, and every CLI call compiles
    them again. Unless disabled, every process of the run reads and writes .pyc files in a
    temp dir of ours (PYTHONPYCACHEPREFIX). With a prefix Python looks for no .pyc
    anywhere else, so the standard library's and every package's are compiled into it
    first (~15 s), as an install has them: otherwise the first round of a workload without
    a warm-up (thousand) compiled asyncio and the rest, and measured 1.57 s against 1.28."""
    saved = {k: os.environ.get(k) for k in ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")}
    cache = tempfile.mkdtemp(prefix="pmb-pyc-", dir="/tmp") if enabled else None
    if cache:
        os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
        os.environ["PYTHONPYCACHEPREFIX"] = cache
        compile_all()
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


def compile_all() -> None:
    """Into the prefix: the standard library (its tests and GUI left out), this venv's
    packages, the peers' venv's, and procman."""
    import sysconfig

    folders = [sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["purelib"]]
    folders += [str(p) for p in (peers.VENV / "lib").glob("python3*/site-packages")]
    folders.append(str(Path(__file__).resolve().parent.parent / "procman"))
    skip = r"/(test|tests|idlelib|tkinter|turtledemo|lib2to3|ensurepip)/"
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", "-j", "0", "-x", skip, *folders],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False, timeout=600,
    )  # fmt: skip


def install_peers(names: list[str], args: argparse.Namespace) -> dict[str, peers.Peer]:
    if args.no_peers:
        return {}
    wanted = [p.strip() for p in args.peers.split(",") if p.strip()]
    unknown = [p for p in wanted if p not in peers.PEERS]
    if unknown:
        raise SystemExit(f"unknown peer(s): {', '.join(unknown)}; known: {', '.join(peers.PEERS)}")
    needed = {p for n in names for p in WORKLOADS[n].peers}
    wanted = [p for p in wanted if p in needed]
    if not wanted:
        return {}
    print(f"== peers: {', '.join(wanted)} (cached in {peers.DIR})", flush=True)
    installed = peers.ensure(wanted)
    for peer in installed.values():
        if peer.ok:
            print(f"   {peer.name} {peer.version}", flush=True)
        else:
            print(f"   {peer.name} SKIPPED: {peer.skipped}", flush=True)
    return installed


def tool_versions(installed: dict[str, peers.Peer], commit: str) -> dict[str, str]:
    from procman import __version__

    versions = {"procman": f"{__version__} ({commit})"}
    for name, peer in installed.items():
        versions[name] = peer.version if peer.ok else f"skipped: {peer.skipped}"
    node = next((p.bin.get("node_version") for p in installed.values() if p.ok), None)
    if node:
        versions["node"] = node
    versions["load generator"] = load.generator_version()
    return versions


def plot(path: Path) -> int:
    python, problem = peers.plot_python()
    if not python:
        print(f"no plot: {problem}")
        return 1
    out = path.with_suffix(".png")
    proc = subprocess.run(
        [python, str(Path(__file__).resolve().parent / "plot.py"), str(path), str(out)],
        check=False,
    )
    if proc.returncode == 0:
        print(f"plot: {out}")
    return proc.returncode


def run_all(names: list[str], args: argparse.Namespace) -> int:
    started = datetime.now(timezone.utc)
    run_id = f"pmb{os.getpid()}x{int(time.time())}"
    installed = install_peers(names, args)
    facts = machine.facts()
    results: dict[str, Any] = {
        "started_utc": started.isoformat(timespec="seconds"),
        "quick": args.quick,
        "pyc_cache": not args.no_pyc_cache,
        "command": " ".join([".venv/bin/python -m bench", *sys.argv[1:]]),
        "machine": facts,
        "versions": tool_versions(installed, facts["procman_commit"]),
        "load_before": machine.load(),
        "workloads": {},
    }
    selected = args.no_peers or args.peers != ",".join(peers.PEERS)
    t0 = time.monotonic()
    for name in names:
        print(f"== {name}: {WORKLOADS[name].summary}", flush=True)
        result = run_one(name, run_id, args.quick, installed, selected)
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
        report.write_pointer(RESULTS / "latest.json", RESULTS / f"{stamp}.json")
        print(f"results: {RESULTS / (stamp + '.json')}")
        if any(w in results["workloads"] for w in ("http", "logs")) and not args.no_plot:
            plot(RESULTS / f"{stamp}.json")
    failed = [w["name"] for w in results["workloads"].values() if w["error"]]
    return 1 if failed or survivors else 0
