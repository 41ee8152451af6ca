"""Baseline for start 100: Popen N `sleep 1000` (each Popen returns after exec), print
"ready", then kill them all when stdin closes."""

from __future__ import annotations

import subprocess
import sys


def main() -> None:
    count = int(sys.argv[1])
    children = [subprocess.Popen(["sleep", "1000"]) for _ in range(count)]
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    sys.stdin.read()
    for child in children:
        child.kill()
    for child in children:
        child.wait()


if __name__ == "__main__":
    main()
