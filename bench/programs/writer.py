"""Log throughput child: writes MB megabytes (10**6 bytes) of 100-byte lines to stdout in
1 MB blocks, then `elapsed=<seconds>` as a line on stdout and on stderr, and `end-of-output`
as the last line on stdout (a manager's log file holds everything once that line is in it).

With a second argument FILE it also writes `t0=<clock> elapsed=<seconds>` into FILE, t0
on time.perf_counter()'s clock (CLOCK_MONOTONIC, the same in every process): that is how
the bench reads the figures back from under a manager whose logs it does not parse. When
FILE is a directory, the report goes to FILE/report.<pid> (several writers at once).
"""

from __future__ import annotations

import os
import sys
import time

LINE = b"x" * 99 + b"\n"
BLOCK = LINE * 10_000  # 1 MB
END = b"end-of-output\n"


def main() -> None:
    megabytes = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    out = sys.stdout.buffer
    t0 = time.perf_counter()
    for _ in range(megabytes):
        out.write(BLOCK)
    out.flush()
    elapsed = time.perf_counter() - t0
    line = f"elapsed={elapsed:.6f}\n"
    out.write(line.encode() + END)
    out.flush()
    sys.stderr.write(line)
    sys.stderr.flush()
    if len(sys.argv) > 2:
        path = sys.argv[2]
        if os.path.isdir(path):
            path = os.path.join(path, f"report.{os.getpid()}")
        with open(path + ".tmp", "w") as report:
            report.write(f"t0={t0:.9f} elapsed={elapsed:.9f}\n")
        os.replace(path + ".tmp", path)


if __name__ == "__main__":
    main()
