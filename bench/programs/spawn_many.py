"""Baseline for start 100: Popen N copies of ARGV (default `sleep 1000`; each Popen returns
after exec), print "ready", then kill them all when stdin closes.

    python spawn_many.py N [ARGV ...]
"""

from __future__ import annotations

import subprocess
import sys


def main() -> None:
    count = int(sys.argv[1])
    argv = sys.argv[2:] or ["sleep", "1000"]
    children = [subprocess.Popen(argv) for _ in range(count)]
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    sys.stdin.read()
    for child in children:
        child.kill()
    for child in children:
        child.wait()


if __name__ == "__main__":
    main()
