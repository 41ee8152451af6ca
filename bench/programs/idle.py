"""Baseline for the idle footprint: an interpreter that imports MODULES (comma-separated,
may be empty; `!name` marks a module absent first, as procman's daemon does with ssl),
says "ready", then sleeps until stdin closes."""

from __future__ import annotations

import importlib
import sys


def main() -> None:
    for name in filter(None, (sys.argv[1] if len(sys.argv) > 1 else "").split(",")):
        if name.startswith("!"):
            sys.modules[name[1:]] = None  # type: ignore[assignment]
        else:
            importlib.import_module(name)
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    sys.stdin.read()


if __name__ == "__main__":
    main()
