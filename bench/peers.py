"""The peers procman is measured against, installed on demand into a throwaway directory
(never into the project's venv) and cached there between runs:

- PM2 from npm (`npm install pm2@VERSION` under DIR/node; every run gives it its own PM2_HOME),
- supervisor, circus and honcho from PyPI, each with pip into one venv of their own, DIR/venv.

DIR is $PROCMAN_BENCH_PEERS, default /tmp/procman-bench-peers. A peer that cannot be
installed (no npm, no registry, a build failure) is skipped with the reason, and every
workload says "n/a" for it. Versions are pinned so that two runs measure the same code;
`installed()` records what is actually there.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

DIR = Path(os.environ.get("PROCMAN_BENCH_PEERS", "/tmp/procman-bench-peers"))
VENV = DIR / "venv"
NODE_DIR = DIR / "node"
PYPI = {"supervisord": ("supervisor", "4.3.0"), "circus": ("circus", "0.19.0"),
        "honcho": ("honcho", "2.0.0")}  # fmt: skip
NPM = {"pm2": ("pm2", "7.0.4")}
PEERS = ("pm2", "supervisord", "circus", "honcho")
PLOT = ("matplotlib", "3.11.2")  # for `python -m bench plot`, in the same throwaway venv


@dataclass
class Peer:
    name: str
    version: str = ""
    bin: dict[str, str] = field(default_factory=dict)  # program name -> absolute path
    skipped: str = ""  # why it is not available

    @property
    def ok(self) -> bool:
        return not self.skipped


def _run(args: list[str], timeout: float = 300, **kwargs: object) -> tuple[bool, str]:
    try:
        proc = subprocess.run(
            args, capture_output=True, text=True, timeout=timeout, check=False, **kwargs
        )  # type: ignore[call-overload]
    except (OSError, subprocess.SubprocessError) as exc:
        return False, f"{args[0]}: {exc}"
    out = (proc.stdout + proc.stderr).strip()
    return proc.returncode == 0, out[-600:]


def _why(out: str) -> str:
    """The one line of an installer's output that says why it failed."""
    lines = [line.strip() for line in out.splitlines() if line.strip()]
    for pattern in ("ERROR: No matching", "ERROR:"):
        found = [line for line in lines if line.startswith(pattern)]
        if found:
            return found[-1][:200]
    codes = re.findall(r"\bcode:?\s+'?(E[A-Z0-9_]+)", out)  # npm: code ECONNREFUSED
    if codes:
        return f"npm error code {codes[0]}"
    lines = [line for line in lines if "complete log" not in line]
    return lines[-1][:200] if lines else "no output"


def _lock() -> int:
    DIR.mkdir(parents=True, exist_ok=True)
    fd = os.open(DIR / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX)  # two bench runs never install at once
    return fd


def _venv() -> str:
    """The peers' venv (made from this interpreter's base Python); '' or the reason."""
    if (VENV / "bin" / "python").exists():
        return ""
    base = getattr(sys, "_base_executable", sys.executable)
    ok, out = _run([base, "-m", "venv", str(VENV)], timeout=120)
    return "" if ok else f"could not make a venv: {out}"


def _pypi(name: str) -> Peer:
    package, version = PYPI[name]
    peer = Peer(name)
    problem = _venv()
    if problem:
        peer.skipped = problem
        return peer
    python = str(VENV / "bin" / "python")
    ok, _ = _run([python, "-c", f"import importlib.metadata as m; "
                  f"assert m.version({package!r}) == {version!r}"])  # fmt: skip
    if not ok:
        print(f"   installing {package}=={version} into {VENV} ...", flush=True)
        ok, out = _run([python, "-m", "pip", "install", "--quiet", f"{package}=={version}"])
        if not ok:
            peer.skipped = f"pip install {package}=={version} failed: {_why(out)}"
            return peer
    peer.version = version
    programs = {
        "supervisord": ("supervisord", "supervisorctl"),
        "circus": ("circusd", "circusctl"),
        "honcho": ("honcho",),
    }[name]
    peer.bin = {p: str(VENV / "bin" / p) for p in programs}
    peer.bin["python"] = python
    missing = [p for p, path in peer.bin.items() if not Path(path).exists()]
    if missing:
        peer.skipped = f"installed {package} has no {', '.join(missing)}"
    return peer


def _npm(name: str) -> Peer:
    package, version = NPM[name]
    peer = Peer(name)
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        peer.skipped = "node and npm are needed for PM2 (not on PATH)"
        return peer
    manifest = NODE_DIR / "node_modules" / package / "package.json"
    installed = json.loads(manifest.read_text()).get("version") if manifest.exists() else None
    if installed != version:
        print(f"   installing {package}@{version} into {NODE_DIR} ...", flush=True)
        NODE_DIR.mkdir(parents=True, exist_ok=True)
        ok, out = _run(
            [npm, "install", "--no-audit", "--no-fund", "--loglevel=error",
             "--prefix", str(NODE_DIR), f"{package}@{version}"],
            timeout=300,
        )  # fmt: skip
        if not ok or not manifest.exists():
            peer.skipped = f"npm install {package}@{version} failed: {_why(out)}"
            return peer
    # Never `pm2 --version`: any pm2 command spawns a daemon.
    peer.version = json.loads(manifest.read_text())["version"]
    peer.bin = {"pm2": str(NODE_DIR / "node_modules" / ".bin" / "pm2"), "node": node}
    ok, out = _run([node, "--version"], timeout=30)
    peer.bin["node_version"] = out if ok else "?"
    return peer


def ensure(names: list[str]) -> dict[str, Peer]:
    """Install (or find cached) each named peer; every one comes back, skipped or not."""
    fd = _lock()
    try:
        peers = {}
        for name in names:
            try:
                peers[name] = _npm(name) if name in NPM else _pypi(name)
            except Exception as exc:  # an installer bug must not stop procman's own figures
                peers[name] = Peer(name, skipped=f"{type(exc).__name__}: {exc}")
        return peers
    finally:
        os.close(fd)


def plot_python() -> tuple[str, str]:
    """An interpreter with matplotlib: this one if it has it, else the peers' venv, where it
    is installed on demand. (path, '') or ('', why not)."""
    try:
        import matplotlib  # noqa: F401

        return sys.executable, ""
    except ImportError:
        pass
    fd = _lock()
    try:
        problem = _venv()
        if problem:
            return "", problem
        python = str(VENV / "bin" / "python")
        ok, _ = _run([python, "-c", "import matplotlib"])
        if not ok:
            package, version = PLOT
            print(f"   installing {package}=={version} into {VENV} ...", flush=True)
            ok, out = _run([python, "-m", "pip", "install", "--quiet", f"{package}=={version}"])
            if not ok:
                return "", f"pip install {package} failed: {_why(out)}"
        return python, ""
    finally:
        os.close(fd)
