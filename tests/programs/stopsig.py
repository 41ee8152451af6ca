"""Says which signal it got (`got SIGINT`) and exits 0; idles until then."""

import os
import signal
import sys


def got(signum: int, frame: object) -> None:
    print(f"got {signal.Signals(signum).name}", flush=True)
    sys.exit(0)


for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT, signal.SIGUSR1, signal.SIGHUP):
    signal.signal(sig, got)
print(f"stopsig {os.getpid()} ready", flush=True)
while True:
    signal.pause()
