#!/bin/sh
# The ceiling for procman's HTTP workload: N copies of a command started by a plain shell
# script, no manager (each copy binds $PORT itself with SO_REUSEPORT). Run as
# `/bin/sh copies.sh N CMD [ARG...]`; it waits for them, and the bench ends them (the script
# and its children) with SIGTERM. With COPIES_SETSID=1 each copy runs in a session of its
# own (`setsid`), as procman's instances do: with the kernel's autogroup scheduling on, a
# session is a scheduling group, and that changes how the CPU is shared.
n=$1
shift
i=0
while [ "$i" -lt "$n" ]; do
    if [ "${COPIES_SETSID:-0}" = 1 ]; then
        setsid "$@" &
    else
        "$@" &
    fi
    i=$((i + 1))
done
wait
