"""Where the control socket, state and logs live. Pure functions of env and project dir."""

from __future__ import annotations

import os
import zlib
from pathlib import Path


def project_key(project: Path) -> str:
    """16 hex digits naming the project's socket. zlib, not hashlib: hashlib's import costs
    every CLI call ~5 ms, and this needs no cryptographic strength."""
    raw = str(project).encode()
    return f"{zlib.crc32(raw):08x}{zlib.adler32(raw):08x}"


def socket_path(project: Path, env: dict[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    if env.get("PROCMAN_SOCKET"):
        return Path(env["PROCMAN_SOCKET"])
    runtime = env.get("XDG_RUNTIME_DIR")
    base = Path(runtime) / "procman" if runtime else Path(f"/tmp/procman-{os.getuid()}")
    return base / f"{project_key(project)}.sock"


def home(project: Path, env: dict[str, str] | None = None) -> Path:
    """The state directory: .procman/ under the project, or $PROCMAN_HOME."""
    env = os.environ if env is None else env
    if env.get("PROCMAN_HOME"):
        return Path(env["PROCMAN_HOME"])
    return project / ".procman"


def state_file(project: Path, env: dict[str, str] | None = None) -> Path:
    return home(project, env) / "state.json"


def logs_dir(project: Path, env: dict[str, str] | None = None) -> Path:
    return home(project, env) / "logs"


def daemon_log(project: Path, env: dict[str, str] | None = None) -> Path:
    return home(project, env) / "daemon.log"
