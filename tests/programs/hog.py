"""Takes argv[1] MiB of memory (touched, so it is resident), says so, then idles."""

import signal
import sys

size = int(sys.argv[1]) * 1024 * 1024
hoard = bytearray(size)
for i in range(0, size, 4096):
    hoard[i] = 1
print(f"holding {size // (1024 * 1024)} MiB", flush=True)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
signal.pause()
