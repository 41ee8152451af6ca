"""Prints the procman environment as one JSON line, then idles until SIGTERM."""

import json
import os
import signal
import sys

KEYS = (
    "PORT",
    "PROCMAN_NAME",
    "PROCMAN_INSTANCE",
    "PROCMAN_ID",
    "PS",
    "PROCMAN_INSTANCES",
    "PROCMAN_MAX_INSTANCES",
    "PYTHONUNBUFFERED",
    "LISTEN_FDS",
    "LISTEN_PID",
    "LISTEN_FDNAMES",
    "FROM_ENV_FILE",
    "FROM_TYPE",
    "LAYERED",
    "NOTIFY_SOCKET",
)
info = {key: os.environ.get(key) for key in KEYS}
info["pid"] = os.getpid()
if os.environ.get("MARKER"):  # lines of the release phase's marker file when we started
    try:
        with open(os.environ["MARKER"]) as marker:
            info["marker_lines"] = len(marker.read().splitlines())
    except FileNotFoundError:
        info["marker_lines"] = 0
try:
    os.fstat(3)
    info["fd3"] = True
except OSError:
    info["fd3"] = False
print("ENV " + json.dumps(info, sort_keys=True))
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
signal.pause()
