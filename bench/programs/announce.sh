#!/bin/sh
# The child every manager runs in the cross-tool workloads: say "we run" (our pid, one line,
# atomic, on the FIFO named by $1: the bench reads it, so no manager's own status is trusted
# for timing), then become `sleep` (same pid). Run as `/bin/sh announce.sh FIFO [SECONDS]`.
echo $$ > "$1"
exec sleep "${2:-1000}"
