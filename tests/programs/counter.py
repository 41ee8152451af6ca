"""Prints five numbered lines (without flush: only PYTHONUNBUFFERED gets them out at once),
then idles."""

import os
import signal
import sys

for i in range(int(sys.argv[1]) if len(sys.argv) > 1 else 5):
    print(os.environ["PROCMAN_ID"], "line", i)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
signal.pause()
