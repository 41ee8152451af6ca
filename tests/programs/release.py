"""A release phase: `release.py MARKER` appends one line (its pid) to MARKER and exits with
the code in the file MARKER.exit (0 when there is none), saying why on stderr."""

import os
import sys

marker = sys.argv[1]
with open(marker, "a") as f:
    f.write(f"{os.getpid()}\n")
try:
    with open(marker + ".exit") as f:
        code = int(f.read().strip() or 0)
except FileNotFoundError:
    code = 0
print(f"release {os.getpid()} migrating", flush=True)
if code:
    print(f"migration failed: boom {code}", file=sys.stderr, flush=True)
sys.exit(code)
