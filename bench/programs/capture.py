"""Baseline for log throughput: the least a Python supervisor can do with a child's output.
Reads stdin (a pipe) in 1 MiB chunks and appends to FILE; with "prefix" it also puts a
timestamp and label in front of every line the way procman's log files have them, with one
bytes.replace per chunk and one writev (no other copy of the data)."""

from __future__ import annotations

import fcntl
import os
import sys
import time

F_SETPIPE_SZ = 1031
READ_SIZE = 1 << 20


def main() -> None:
    path, mode = sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "raw"
    try:
        fcntl.fcntl(0, F_SETPIPE_SZ, READ_SIZE)
    except OSError:
        pass
    out = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    partial = b""
    while True:
        data = os.read(0, READ_SIZE)
        if not data:
            break
        if mode == "raw":
            os.write(out, data)
            continue
        prefix = time.strftime("%Y-%m-%dT%H:%M:%S.000+00:00").encode() + b" writer.1 | "
        end = data.rfind(b"\n")
        if end < 0:
            partial += data
            continue
        body = data[:end].replace(b"\n", b"\n" + prefix)
        os.writev(out, [prefix, partial, body, b"\n"])
        partial = data[end + 1 :]
    os.close(out)


if __name__ == "__main__":
    main()
