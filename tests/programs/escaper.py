"""Starts two processes that leave its process group, then says who is who in one line:
`escaper PID setsid A daemon B`. A is a child that called setsid (still our child); B is a
double-forked daemon (fork, setsid, fork, the middle one exits), re-parented to whoever is
the subreaper: procman's daemon. Both ignore SIGTERM, so only a SIGKILL ends them. With
`clean-env`, B also drops its environment (exec with env -i), as some daemonizers do."""

import os
import signal
import sys

CLEAN = "clean-env" in sys.argv


def idle() -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    while True:
        signal.pause()


r, w = os.pipe()
a = os.fork()
if a == 0:
    os.setsid()
    idle()
middle = os.fork()
if middle == 0:
    os.setsid()
    b = os.fork()
    if b == 0:
        os.write(w, f"{os.getpid()}\n".encode())
        if CLEAN:
            os.execv(
                "/usr/bin/env", ["env", "-i", "/bin/sh", "-c", "trap '' TERM; exec sleep 1000"]
            )
        idle()
    os._exit(0)
os.waitpid(middle, 0)
b = int(os.read(r, 64).split()[0])
os.write(1, f"escaper {os.getpid()} setsid {a} daemon {b}\n".encode())
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
while True:
    signal.pause()
