"""`make stress-test`: the whole suite N times while two busy loops load the CPUs.

A test that passes only on a quiet machine is a bug in procman until proven otherwise: the
box the suite runs on is shared, and a user's box is busy too. This runs pytest N times
(default 10) with two `while 1: pass` processes competing for the cores, stops them at the
end whatever happened (Ctrl-C included), and prints one line per run and a tally:

    .venv/bin/python -m tests.stress [--runs N] [--busy K] [pytest args ...]

Extra arguments go to pytest (`-k scale_down`, a test path, `-x`); the exit code is 0 only
when every run passed.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.harness import interrupt

ROOT = Path(__file__).resolve().parents[1]
SUMMARY = re.compile(r"^(?:=+ )?(\d+ (?:passed|failed|errors?|skipped)\b.*?) in [0-9.]+s", re.M)
FAILED = re.compile(r"^(?:FAILED|ERROR) (\S+)", re.M)
TEARDOWN_WAIT = 90.0  # seconds an interrupted pytest gets to tear its daemons down


def busy_loops(count: int) -> list[subprocess.Popen]:
    loops = []
    for _ in range(count):
        loops.append(
            subprocess.Popen(
                [sys.executable, "-c", "while 1: pass"],
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # a Ctrl-C to the suite does not reach them
            )
        )
    return loops


def stop(loops: list[subprocess.Popen]) -> None:
    for proc in loops:
        if proc.poll() is None:
            proc.kill()
    for proc in loops:
        proc.wait()


def run_suite(pytest_args: list[str], out: object) -> int:
    """One run of pytest. Interrupted (Ctrl-C, SIGTERM), pytest gets SIGINT and the time to
    run its teardowns, which stop every daemon the tests started; subprocess.call would
    SIGKILL it and leave them running."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *pytest_args],
        cwd=ROOT,
        stdout=out,  # type: ignore[arg-type]
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    try:
        return proc.wait()
    except BaseException:
        interrupt(proc, TEARDOWN_WAIT)
        raise


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.stress", description=__doc__)
    parser.add_argument("--runs", type=int, default=10, help="times to run the suite (10)")
    parser.add_argument("--busy", type=int, default=2, help="busy loops beside it (2)")
    parser.add_argument("--log-dir", type=Path, default=Path("/tmp/procman-stress"))
    args, pytest_args = parser.parse_known_args(argv)
    args.log_dir.mkdir(parents=True, exist_ok=True)
    loops = busy_loops(args.busy)
    pids = " ".join(str(p.pid) for p in loops)
    print(f"stress: {args.runs} runs of the suite beside {args.busy} busy loops "
          f"(pids {pids}); logs in {args.log_dir}", flush=True)  # fmt: skip
    passed = done = 0
    failures: dict[str, int] = {}
    try:
        for run in range(1, args.runs + 1):
            log = args.log_dir / f"run-{run}.log"
            started = time.monotonic()
            with log.open("w") as out:
                code = run_suite(pytest_args, out)
            text = log.read_text(errors="replace")
            found = SUMMARY.findall(text)
            summary = found[-1] if found else f"pytest exited {code}"
            failed = FAILED.findall(text)
            for name in failed:
                failures[name] = failures.get(name, 0) + 1
            passed += code == 0
            done += 1
            mark = "pass" if code == 0 else "FAIL"
            took = time.monotonic() - started
            print(f"run {run}/{args.runs}: {mark} ({summary}, {took:.0f}s)"
                  + "".join(f"\n    {name}" for name in failed), flush=True)  # fmt: skip
    except (KeyboardInterrupt, SystemExit):
        print("stress: interrupted", flush=True)
    finally:
        stop(loops)
    total = done
    print(f"stress: {passed}/{total} runs passed, {total - passed} failed"
          + ("" if done == args.runs else f" (interrupted; {args.runs} asked for)"))  # fmt: skip
    for name, count in sorted(failures.items(), key=lambda item: -item[1]):
        print(f"  {count}× {name}")
    return 0 if passed == total == args.runs else 1


if __name__ == "__main__":
    # Ctrl-C and SIGTERM stop the runs, and the finally stops the loops, even when a shell
    # started us as a background job (which ignores SIGINT, and pytest would inherit that)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sys.exit(main())
