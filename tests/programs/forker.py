"""Forks a grandchild that also idles; prints both pids."""

import os
import signal

child = os.fork()
if child == 0:
    print(f"grandchild {os.getpid()}")
    while True:
        signal.pause()
print(f"parent {os.getpid()} child {child}")
while True:
    signal.pause()
