"""Numbered lines on both streams: `out 0` on stdout, `err 0` on stderr, `out 1`, ...
`streams.py N` writes N pairs, then idles until SIGTERM; `streams.py forever [SECONDS]`
writes a pair every SECONDS (default 0.002) until it is stopped. Each line is flushed as
it is written, so the daemon reads them in the order they were written, per stream."""

import signal
import sys
import time


def pair(n: int) -> None:
    sys.stdout.write(f"out {n}\n")
    sys.stdout.flush()
    sys.stderr.write(f"err {n}\n")
    sys.stderr.flush()


signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
if sys.argv[1:2] == ["forever"]:
    interval = float(sys.argv[2]) if len(sys.argv) > 2 else 0.002
    n = 0
    while True:
        pair(n)
        n += 1
        time.sleep(interval)  # the child's pace, not a test's wait
for n in range(int(sys.argv[1]) if len(sys.argv) > 1 else 5):
    pair(n)
while True:
    signal.pause()
