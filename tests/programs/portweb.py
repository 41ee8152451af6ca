"""A Heroku-style web process: `portweb.py $PORT` serves HTTP on that port, or on fd 3 when
the daemon passes a listener (LISTEN_FDS=1 and LISTEN_PID is our pid, as gunicorn checks).
Each reply is one JSON line: the instance, its pid, its PORT, how it listens, and how many
lines the file $MARKER had when it started (the release phase writes one per run)."""

import json
import os
import signal
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def marker_lines() -> int | None:
    path = os.environ.get("MARKER")
    if not path:
        return None
    try:
        with open(path) as f:
            return len(f.read().splitlines())
    except FileNotFoundError:
        return 0


INFO = {
    "id": os.environ.get("PROCMAN_ID"),
    "ps": os.environ.get("PS"),
    "pid": os.getpid(),
    "port": os.environ.get("PORT"),
    "marker_lines": marker_lines(),
}


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps(INFO).encode() + b"\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def main() -> None:
    held = os.environ.get("LISTEN_FDS") == "1" and os.environ.get("LISTEN_PID") == str(os.getpid())
    if held:
        sock = socket.socket(fileno=3)
        INFO["listen"] = "fd3"
    else:
        sock = socket.socket()
        sock.bind(("127.0.0.1", int(sys.argv[1])))
        sock.listen(128)
        INFO["listen"] = "bound"
    server = ThreadingHTTPServer(sock.getsockname()[:2], Handler, bind_and_activate=False)
    server.socket.close()
    server.socket = sock
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    print(f"serving {INFO['id']} on {sock.getsockname()[1]} ({INFO['listen']})", flush=True)
    server.serve_forever(poll_interval=0.2)
    server.server_close()


if __name__ == "__main__":
    main()
