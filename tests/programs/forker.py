"""Forks a grandchild that also idles; prints both pids. Each line goes out in one write:
print() under PYTHONUNBUFFERED writes the text and the newline separately, and the two
processes share the pipe."""

import os
import signal


def say(text: str) -> None:
    os.write(1, (text + "\n").encode())


child = os.fork()
if child == 0:
    say(f"grandchild {os.getpid()}")
    while True:
        signal.pause()
say(f"parent {os.getpid()} child {child}")
while True:
    signal.pause()
