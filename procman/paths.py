"""Where the control socket, state and logs live. Pure functions of env and project dir.

Plain strings, not pathlib: the CLI imports this on every call, and pathlib (with the
urllib.parse it pulls in) is a measurable part of `procman status`.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Mapping

Env = Mapping[str, str] | None


def project_key(project: str | os.PathLike) -> str:
    """16 hex digits naming the project's socket. zlib, not hashlib: hashlib's import costs
    every CLI call ~5 ms, and this needs no cryptographic strength."""
    raw = os.fspath(project).encode()
    return f"{zlib.crc32(raw):08x}{zlib.adler32(raw):08x}"


def socket_dir(env: Env = None) -> str:
    """Where daemons put their sockets unless PROCMAN_SOCKET says otherwise; `procman ls`
    looks here."""
    env = os.environ if env is None else env
    runtime = env.get("XDG_RUNTIME_DIR")
    return os.path.join(runtime, "procman") if runtime else f"/tmp/procman-{os.getuid()}"


def socket_path(project: str | os.PathLike, env: Env = None) -> str:
    env = os.environ if env is None else env
    if env.get("PROCMAN_SOCKET"):
        return env["PROCMAN_SOCKET"]
    return os.path.join(socket_dir(env), f"{project_key(project)}.sock")


def home(project: str | os.PathLike, env: Env = None) -> str:
    """The state directory: .procman/ under the project, or $PROCMAN_HOME."""
    env = os.environ if env is None else env
    if env.get("PROCMAN_HOME"):
        return env["PROCMAN_HOME"]
    return os.path.join(os.fspath(project), ".procman")


def state_file(project: str | os.PathLike, env: Env = None) -> str:
    return os.path.join(home(project, env), "state.json")


def logs_dir(project: str | os.PathLike, env: Env = None) -> str:
    return os.path.join(home(project, env), "logs")


def daemon_log(project: str | os.PathLike, env: Env = None) -> str:
    return os.path.join(home(project, env), "daemon.log")
