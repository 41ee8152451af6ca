"""Log throughput, every tool in turn: a child writes 200 MB of 100-byte lines (1 MB
blocks) and times itself; under each manager its output goes through the manager's log
capture to the manager's log file, each tool as it comes (procman prefixes every line with
a timestamp and `w.1 |` and rotates at its default size; PM2 writes plain lines; supervisord
and circus plain lines, supervisord rotating at its default 50 MB; honcho prints
`HH:MM:SS w.1 | ` lines on its stdout, which goes to a file).

Two figures per tool: the child's own wall time (what the issue asks: how long the manager
holds the writer back), and end to end, from the child's first write until the manager's
log file holds its last line (a manager that buffers in memory is only done then).
Baselines in the same rotation: the same child writing to /dev/null and to a regular file.
Diagnostics for procman: the child through a pipe to a bare Python reader that appends to a
file (raw, and prefixing every line as procman does).

Four at once: the same writer, WRITERS instances under each tool (procman and PM2 one type
or app of 4, supervisord numprocs=4 with its default per-process log files), each writing
200 MB; the figure is their aggregate rate, WRITERS × 200 MB over first start to last
finish (by the writers' own clocks), beside the same four writing to a regular file each."""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench import side
from bench.adapters import Manager, Procman, Spec
from bench.core import Compare, Row, Stats, WorkloadResult
from bench.project import PROGRAMS, PYTHON, Pool

MEGABYTES = 200
END = b"end-of-output\n"
SLOW = {"honcho": 1}  # tools that take a minute per run: this many runs only
LIMIT_S = 150  # a writer that has not finished by then is reported as failed
# After the writer is done, how long its last line may take to reach the log file: honcho
# needs ~40 s to print what its helpers queued; the others need well under a second.
TAIL_WAIT_S = {"honcho": 120}
TAIL_WAIT_DEFAULT_S = 30


def writer_argv(report: Path) -> list[str]:
    return [PYTHON, str(PROGRAMS / "writer.py"), str(MEGABYTES), str(report)]


def read_report(path: Path) -> tuple[float, float]:
    """(t0 on the shared monotonic clock, elapsed seconds) the writer wrote."""
    fields = dict(item.split("=", 1) for item in path.read_text().split())
    return float(fields["t0"]), float(fields["elapsed"])


def log_file(m: Manager, spec: Spec) -> Path:
    if isinstance(m, Procman):
        assert m.project is not None
        return m.project.home / "logs" / f"{spec.name}.log"
    assert spec.log is not None
    return spec.log


def ends_with_marker(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 4096))
            return END in fh.read()
    except OSError:
        return False


def under(
    pool: Pool, name: str, leftovers: list[str], facts: list[dict]
) -> tuple[float, float | None]:
    """(writer MB/s, end-to-end MB/s) under one tool, fresh each time. End to end is None
    when the log file never got the writer's last line (the run's facts say how much is
    missing): the writer's own figure still stands."""
    m = side.manager(pool, name)
    try:
        report = m.root / "writer.report"
        spec = Spec(writer_argv(report), count=1, restart=False, log=m.root / "w.log")
        m.start(spec)
        path = log_file(m, spec)
        deadline = time.monotonic() + LIMIT_S
        while not report.exists():
            if time.monotonic() > deadline:
                raise RuntimeError(f"the writer did not finish within {LIMIT_S}s")
            time.sleep(0.01)
        tail_wait = TAIL_WAIT_S.get(name, TAIL_WAIT_DEFAULT_S)
        deadline = time.monotonic() + tail_wait
        complete = True
        while not ends_with_marker(path):
            if time.monotonic() > deadline:
                complete = False
                break
            time.sleep(0.005)
        done = time.perf_counter()
        t0, elapsed = read_report(report)
        sizes = {p.name: p.stat().st_size for p in path.parent.glob(path.name + "*")}
        fact = {"tool": name, "writer_s": elapsed, "log_files": sizes}
        if complete:
            fact["end_to_end_s"] = done - t0
        else:
            fact["incomplete"] = f"no last line in {path.name} {tail_wait}s after the writer"
        facts.append(fact)
        return MEGABYTES / elapsed, (MEGABYTES / (done - t0) if complete else None)
    finally:
        side.release(pool, m, leftovers)


WRITERS = 4
FOUR_PEERS = ("supervisord", "pm2")  # honcho and circus: one writer only


def aggregate(reports: Path) -> float:
    """WRITERS × MEGABYTES over the first start to the last finish, in MB/s."""
    spans = [read_report(p) for p in reports.glob("report.*") if not p.name.endswith(".tmp")]
    begin = min(t0 for t0, _ in spans)
    end = max(t0 + elapsed for t0, elapsed in spans)
    return len(spans) * MEGABYTES / (end - begin)


def four_under(pool: Pool, name: str, leftovers: list[str]) -> float:
    """Aggregate MB/s of WRITERS writers at once under one tool, fresh each time."""
    m = side.manager(pool, name)
    try:
        reports = m.root / "reports"
        reports.mkdir()
        log = m.root / "w.log" if name != "supervisord" else None  # supervisord: AUTO files
        m.start(Spec(writer_argv(reports), count=WRITERS, restart=False, log=log))
        deadline = time.monotonic() + LIMIT_S * 2
        while len([p for p in reports.glob("report.*") if not p.name.endswith(".tmp")]) < WRITERS:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{WRITERS} writers did not finish within {LIMIT_S * 2}s")
            time.sleep(0.01)
        return aggregate(reports)
    finally:
        side.release(pool, m, leftovers)


def four_to_files(pool: Pool) -> float:
    with tempfile.TemporaryDirectory(prefix="pmb-w4-", dir="/tmp") as scratch:
        reports = Path(scratch) / "reports"
        reports.mkdir()
        outs = [open(Path(scratch) / f"out{i}.log", "wb") for i in range(WRITERS)]  # noqa: SIM115
        try:
            procs = [
                pool.helper(writer_argv(reports), stdout=out, stderr=subprocess.DEVNULL)
                for out in outs
            ]
            for proc in procs:
                proc.wait(LIMIT_S)
                pool.helpers.remove(proc)
        finally:
            for out in outs:
                out.close()
        return aggregate(reports)


def direct(pool: Pool, path: str) -> float:
    with tempfile.TemporaryDirectory(prefix="pmb-w-", dir="/tmp") as scratch:
        report = Path(scratch) / "report"
        with open(path, "wb") as out:
            subprocess.run(writer_argv(report), env=pool.env, stdout=out, stderr=subprocess.DEVNULL,
                           timeout=120, check=True)  # fmt: skip
        return MEGABYTES / read_report(report)[1]


def captured(pool: Pool, path: str, mode: str) -> float:
    """writer | capture.py: the child's output through a pipe to a minimal Python reader."""
    read_fd, write_fd = os.pipe()
    reader = pool.helper(
        [PYTHON, str(PROGRAMS / "capture.py"), path, mode], stdin=read_fd, stdout=subprocess.DEVNULL
    )
    os.close(read_fd)
    with tempfile.TemporaryDirectory(prefix="pmb-w-", dir="/tmp") as scratch:
        report = Path(scratch) / "report"
        try:
            subprocess.run(writer_argv(report), env=pool.env, stdout=write_fd,
                           stderr=subprocess.DEVNULL, timeout=120, check=True)  # fmt: skip
        finally:
            os.close(write_fd)
        reader.wait(60)
        pool.helpers.remove(reader)
        return MEGABYTES / read_report(report)[1]


def run(pool: Pool, quick: bool) -> WorkloadResult:
    reps = 2 if quick else 3
    result = WorkloadResult("logs")
    tools, na = side.available(pool, "logs")
    if quick and "honcho" in tools:
        tools.remove("honcho")
        na["honcho"] = "not in a quick run: honcho takes about a minute per 200 MB"
    facts: list[dict] = []
    end_to_end: dict[str, list[float]] = {}
    scratch = tempfile.mkdtemp(prefix="pmb-logs-", dir="/tmp")
    target = os.path.join(scratch, "out.log")

    done: dict[str, int] = {}

    def tool_runner(name: str) -> Callable[[], float]:
        def once() -> float:
            if done.get(name, 0) >= SLOW.get(name, reps):
                return float("nan")  # enough runs of a slow tool
            done[name] = done.get(name, 0) + 1
            writer, e2e = under(pool, name, result.leftovers, facts)
            if e2e is not None:
                end_to_end.setdefault(name, []).append(e2e)
            return writer

        return once

    def file_once() -> float:
        try:
            return direct(pool, target)
        finally:
            os.unlink(target)

    def capture_once(mode: str) -> float:
        try:
            return captured(pool, target, mode)
        finally:
            os.unlink(target)

    runners: dict[str, Callable[[], float]] = {name: tool_runner(name) for name in tools}
    runners["/dev/null"] = lambda: direct(pool, os.devnull)
    runners["file"] = file_once
    runners["raw"] = lambda: capture_once("raw")
    runners["prefix"] = lambda: capture_once("prefix")
    four_tools = [t for t in tools if t == "procman" or t in FOUR_PEERS]
    for name in four_tools:
        runners[f"4:{name}"] = lambda name=name: four_under(pool, name, result.leftovers)
    runners["4:file"] = lambda: four_to_files(pool)
    try:
        samples = side.interleave(reps, 0, runners, na)
    finally:
        if os.path.exists(target):
            os.unlink(target)
        os.rmdir(scratch)
    samples = {k: [v for v in vs if v == v] for k, vs in samples.items()}  # drop the NaNs
    result.extra["runs"] = facts
    for fact in facts:
        if "incomplete" in fact:
            size = sum(fact["log_files"].values())
            result.notes.append(f"{fact['tool']}: {fact['incomplete']} ({size} bytes in it)")
    peers = tuple(t for t in tools if t != "procman")
    na_tools = {t: r for t, r in na.items() if t in side.TOOLS}
    baselines = {
        "child > /dev/null": Stats.of(samples["/dev/null"]),
        "child > regular file": Stats.of(samples["file"]),
    }
    result.compare.append(
        Compare(
            "logs", f"{MEGABYTES} MB of 100-byte lines: the child's own rate", "MB/s",
            tools={t: Stats.of(samples[t]) for t in tools if samples.get(t)},
            na=na_tools, baselines=baselines, versus=peers, target=1.0,
            higher_is_better=True,
            note="procman with its timestamps and prefixes on; honcho: one run",
        )
    )  # fmt: skip
    result.compare.append(
        Compare(
            "logs", f"{MEGABYTES} MB: first write → last line in the log file", "MB/s",
            tools={t: Stats.of(end_to_end[t]) for t in tools if end_to_end.get(t)},
            na=na_tools, versus=peers, higher_is_better=True,
        )
    )  # fmt: skip
    four_peers = tuple(t for t in four_tools if t != "procman")
    result.compare.append(
        Compare(
            "logs", f"{WRITERS} children at once, {MEGABYTES} MB each: their aggregate rate",
            "MB/s",
            tools={t: Stats.of(samples[f"4:{t}"]) for t in four_tools if samples.get(f"4:{t}")},
            na={**{t: r for t, r in na_tools.items() if t in FOUR_PEERS},
                **{f"{t}": "one writer only in this workload" for t in ("circus", "honcho")}},
            baselines={f"{WRITERS} children > a regular file each": Stats.of(samples["4:file"])},
            versus=four_peers, target=1.0, higher_is_better=True,
            note="procman with its timestamps and prefixes on; supervisord numprocs=4",
        )
    )  # fmt: skip
    procman = Stats.of(samples["procman"])
    result.rows.append(
        Row("logs", "(diagnostic) procman vs a bare Python pipe reader", "MB/s", procman,
            Stats.of(samples["raw"]), "child | py reader > file", higher_is_better=True)
    )  # fmt: skip
    result.rows.append(
        Row("logs", "(diagnostic) procman vs that reader prefixing lines", "MB/s", procman,
            Stats.of(samples["prefix"]), "child | py reader + prefix > file",
            higher_is_better=True)
    )  # fmt: skip
    return result
