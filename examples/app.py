"""An example web process: a stdlib HTTP server that replies with its pid and PROCMAN_ID.

Under procman with a held socket (LISTEN_FDS=1 and LISTEN_PID = our pid) it serves from
fd 3, the systemd socket-activation protocol; otherwise it binds $PORT itself with
SO_REUSEPORT so that several copies can share the port.
"""

import json
import os
import signal
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

NAME = os.environ.get("PROCMAN_ID", "app")


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"pid": os.getpid(), "id": NAME, "path": self.path}).encode() + b"\n"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):  # one line per request on stdout, captured by procman
        if os.environ.get("APP_ACCESS_LOG", "1") == "1":
            print(f"{self.command} {self.path} {args[1] if len(args) > 1 else ''}")


class Server(ThreadingHTTPServer):
    # a graceful stop answers every request it has accepted before the process exits
    daemon_threads = False
    block_on_close = True
    request_queue_size = 1024


def listener():
    if os.environ.get("LISTEN_FDS") == "1" and os.environ.get("LISTEN_PID") == str(os.getpid()):
        sock = socket.socket(fileno=3)
        how = "socket passed on fd 3"
    else:
        port = int(os.environ.get("PORT", "8000"))
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(("0.0.0.0", port))
        sock.listen(1024)
        how = f"bound port {port} with SO_REUSEPORT"
    return sock, how


def notify(message):
    path = os.environ.get("NOTIFY_SOCKET")
    if not path:
        return
    if path.startswith("@"):
        path = "\0" + path[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.connect(path)
        sock.sendall(message.encode())


def main():
    sock, how = listener()
    server = Server(sock.getsockname()[:2], Handler, bind_and_activate=False)
    server.socket.close()
    server.socket = sock
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    print(f"{NAME} pid {os.getpid()} serving on port {sock.getsockname()[1]} ({how})")
    notify("READY=1\nSTATUS=serving")
    server.serve_forever(poll_interval=0.5)
    server.server_close()
    print(f"{NAME} stopped")
    sys.exit(0)


if __name__ == "__main__":
    main()
