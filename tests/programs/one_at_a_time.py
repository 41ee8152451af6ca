"""A one-request-at-a-time HTTP server on fd 3 (the listener procman holds), like one sync
worker of a pre-fork server: accept one connection, read its request, spend argv[1] seconds
on it (default 0.05) without using the CPU, as a worker waiting on its database does,
answer and close; only then accept the next. Connections that arrive meanwhile wait in the
listener's accept queue. SIGTERM lets the request in hand finish. Prints its environment
share as an ENV line first.

    python one_at_a_time.py [SECONDS] [burn]

With `burn`, the request's time is spent on the CPU instead (a CPU-bound handler).
"""

import json
import os
import signal
import socket
import sys
import time

delay = float(sys.argv[1]) if len(sys.argv) > 1 else 0.05
burn = len(sys.argv) > 2 and sys.argv[2] == "burn"
keys = ("PROCMAN_ID", "PROCMAN_INSTANCE", "PROCMAN_INSTANCES", "PROCMAN_MAX_INSTANCES")
info = {key: os.environ.get(key) for key in keys}
info["pid"] = os.getpid()
print("ENV " + json.dumps(info, sort_keys=True), flush=True)
busy = stopping = False


def stop(*_: object) -> None:
    """SIGTERM as a sync worker takes it: finish the request in hand, then exit."""
    global stopping
    stopping = True
    if not busy:
        sys.exit(0)


signal.signal(signal.SIGTERM, stop)

listener = socket.socket(fileno=3)
listener.setblocking(True)
body = f"{os.environ.get('PROCMAN_ID')}\n".encode()
reply = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body)
while not stopping:
    conn, _ = listener.accept()
    busy = True
    with conn:
        conn.settimeout(5)
        data = b""
        try:
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                data += chunk
            if burn:
                end = time.monotonic() + delay
                while time.monotonic() < end:
                    pass
            else:
                time.sleep(delay)  # the request's work (waiting on I/O), not a synchronisation
            conn.sendall(reply)
        except OSError:
            pass
    busy = False
