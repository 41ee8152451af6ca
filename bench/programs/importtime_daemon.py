"""Start a project's daemon exactly as `procman start` does (procman.cli.client.ensure_daemon),
but with `-X importtime` on its interpreter and its stderr to FILE, so the modules it
imports before it detaches are listed there (after, its stderr is PROCMAN_HOME/daemon.log).

    python importtime_daemon.py PROJECT_DIR FILE
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from procman.cli import client

_Popen = subprocess.Popen


def _profiled(args: list[str], **kwargs: Any) -> subprocess.Popen:
    kwargs["stderr"] = open(sys.argv[2], "w")  # noqa: SIM115 - the child keeps it
    return _Popen([args[0], "-X", "importtime", *args[1:]], **kwargs)


def main() -> None:
    subprocess.Popen = _profiled  # type: ignore[assignment, misc]
    if not client.ensure_daemon(Path(sys.argv[1])):
        raise SystemExit("a daemon was already running")


if __name__ == "__main__":
    main()
