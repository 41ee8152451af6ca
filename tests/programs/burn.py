"""Burns a CPU while the file named by argv[1] exists; idles (checking twice a second)
otherwise."""

import os
import signal
import sys
import time

flag = sys.argv[1]
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
print(f"burner {os.getpid()} up", flush=True)
while True:
    if os.path.exists(flag):
        end = time.monotonic() + 0.05
        while time.monotonic() < end:
            pass
    else:
        time.sleep(0.5)  # an idle program's own pace, not a test synchronisation
