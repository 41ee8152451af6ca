"""HTTP load against 127.0.0.1 only: `wrk` when it is installed (`apt-get install wrk`),
else programs/loadgen.py (bounded, slower; its figures compare with each other only).

Both give the same dict: requests (completed 2xx), rps, errors by kind (connect, read,
write, timeout, status = non-2xx), failed (their sum), latency percentiles in ms.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
from typing import Any

from bench.project import PROGRAMS, PYTHON, Pool

CONNECTIONS = 32
TIMEOUT_S = 2  # a request slower than this counts as failed (wrk's default)


def generator() -> str:
    """'wrk' or 'loadgen.py' (what run() will use)."""
    return "wrk" if shutil.which("wrk") else "loadgen.py"


def generator_version() -> str:
    if generator() == "wrk":
        proc = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)
        first = (proc.stdout + proc.stderr).strip().splitlines()
        return first[0] if first else "wrk"
    return "bench/programs/loadgen.py (Python asyncio)"


def start(pool: Pool, port: int, seconds: float, connections: int = CONNECTIONS) -> Any:
    """Start the load in the background; finish() reads its figures."""
    url = f"http://127.0.0.1:{port}/"
    seconds = float(math.ceil(seconds))  # wrk takes whole seconds
    if generator() == "wrk":
        args = ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", f"--timeout={TIMEOUT_S}s",
                "--latency", url]  # fmt: skip
    else:
        args = [PYTHON, str(PROGRAMS / "loadgen.py"), str(port), f"{seconds:g}",
                str(connections), str(TIMEOUT_S)]  # fmt: skip
    return pool.helper(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish(pool: Pool, proc: subprocess.Popen, timeout: float = 60) -> dict[str, Any]:
    out, _ = proc.communicate(timeout=timeout)
    pool.helpers.remove(proc)
    if proc.returncode != 0:
        raise RuntimeError(f"load generator exited {proc.returncode}: {out[-500:]}")
    result = parse_wrk(out) if generator() == "wrk" else parse_loadgen(out)
    result["failed"] = sum(result["errors"].values())
    return result


def run(pool: Pool, port: int, seconds: float, connections: int = CONNECTIONS) -> dict[str, Any]:
    return finish(pool, start(pool, port, seconds, connections), timeout=seconds + 30)


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if not match:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse_wrk(out: str) -> dict[str, Any]:
    errors = {"connect": 0, "read": 0, "write": 0, "timeout": 0, "status": 0}
    match = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if match:
        for key, value in zip(("connect", "read", "write", "timeout"), match.groups(), strict=True):
            errors[key] = int(value)
    match = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if match:
        errors["status"] = int(match.group(1))
    total = re.search(r"(\d+) requests in ([\d.]+)(\w+),", out)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not total or not rps:
        raise RuntimeError(f"cannot read wrk's output: {out[-500:]}")
    latency: dict[str, float | None] = {"p50": None, "p99": None, "max": None}
    for pct, key in (("50", "p50"), ("99", "p99")):
        found = re.search(rf"^\s+{pct}%\s+(\S+)", out, re.M)
        if found:
            latency[key] = _ms(found.group(1))
    found = re.search(r"Latency\s+\S+\s+\S+\s+(\S+)", out)
    if found:
        latency["max"] = _ms(found.group(1))
    requests = int(total.group(1)) - errors["status"]
    return {"requests": requests, "rps": float(rps.group(1)), "errors": errors,
            "latency_ms": latency, "raw": out[-1200:]}  # fmt: skip


def parse_loadgen(out: str) -> dict[str, Any]:
    data = json.loads(out.strip().splitlines()[-1])
    lat = data["latency_s"]
    return {
        "requests": data["requests"],
        "rps": data["rps"],
        "errors": data["errors"],
        "latency_ms": {k: (v * 1e3 if v is not None else None) for k, v in lat.items()},
        "raw": out[-1200:],
    }
