"""Ignores SIGTERM: only SIGKILL ends it."""

import os
import signal

signal.signal(signal.SIGTERM, signal.SIG_IGN)
print(f"stubborn {os.getpid()} ready")
while True:
    signal.pause()
