"""Says a line when asked: SIGUSR1 prints `<id> says <n>` on stdout, SIGUSR2 prints
`<id> warns <n>` on stderr (both flushed at once); SIGTERM exits 0."""

import os
import signal
import sys

ident = os.environ.get("PROCMAN_ID", "?")
said = 0


def say(signum: int, _frame: object) -> None:
    global said
    said += 1
    if signum == signal.SIGUSR1:
        print(f"{ident} says {said}", flush=True)
    else:
        print(f"{ident} warns {said}", file=sys.stderr, flush=True)


signal.signal(signal.SIGUSR1, say)
signal.signal(signal.SIGUSR2, say)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
print(f"{ident} ready", flush=True)
while True:
    signal.pause()
