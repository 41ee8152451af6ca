"""Log throughput child: writes MB megabytes (10**6 bytes) of 100-byte lines to stdout in
1 MB blocks, then `elapsed=<seconds>` as its last line, on stdout and on stderr."""

from __future__ import annotations

import sys
import time

LINE = b"x" * 99 + b"\n"
BLOCK = LINE * 10_000  # 1 MB


def main() -> None:
    megabytes = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    out = sys.stdout.buffer
    t0 = time.perf_counter()
    for _ in range(megabytes):
        out.write(BLOCK)
    out.flush()
    elapsed = time.perf_counter() - t0
    line = f"elapsed={elapsed:.6f}\n"
    out.write(line.encode())
    out.flush()
    sys.stderr.write(line)
    sys.stderr.flush()


if __name__ == "__main__":
    main()
