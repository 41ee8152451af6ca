"""Writes argv[1] bytes of 100-byte lines to stdout as fast as it can, then idles."""

import os
import signal
import sys

total = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000_000
line = b"x" * 99 + b"\n"
block = line * 10_000
written = 0
out = sys.stdout.buffer
while written < total:
    out.write(block)
    written += len(block)
out.flush()
print(f"flood done {written}", flush=True)
if "--exit" not in sys.argv:
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    while True:
        signal.pause()
