"""Says one numbered line with its pid each time it gets SIGUSR1; exits on SIGTERM."""

import os
import signal
import sys

said = 0


def say(*_: object) -> None:
    global said
    said += 1
    os.write(1, f"said {said} by {os.getpid()}\n".encode())


signal.signal(signal.SIGUSR1, say)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
os.write(1, f"speaker {os.getpid()} ready\n".encode())
while True:
    signal.pause()
