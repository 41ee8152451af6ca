"""Subscribes to the daemon's `events` stream and exits (code 7) the moment that connection
closes: for `procman update`, the moment of the exec, when the old image's connections go."""

import os
import socket

sock = socket.socket(socket.AF_UNIX)
sock.connect(os.environ["PROCMAN_SOCKET"])
sock.sendall(b'{"id": 1, "method": "events"}\n')
first = sock.recv(65536)  # the `subscribed` event: the daemon serves this connection
os.write(1, f"bound {os.getpid()} subscribed\n".encode())
while sock.recv(65536):
    pass
os._exit(7)
