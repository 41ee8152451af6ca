"""An example background worker: does a unit of work every few seconds, stops on SIGTERM."""

import os
import signal
import threading

NAME = os.environ.get("PROCMAN_ID", "worker")
INTERVAL = float(os.environ.get("WORKER_INTERVAL", "5"))
stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: stop.set())

print(f"{NAME} pid {os.getpid()} started")
done = 0
while not stop.wait(INTERVAL):
    done += 1
    print(f"{NAME} finished job {done}")
print(f"{NAME} stopping after {done} jobs")
