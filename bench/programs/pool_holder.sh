#!/bin/sh
# A stand-in for an app instance's database pool: opens N PostgreSQL connections (one psql
# each, idle: it waits for input that never comes) and holds them until stopped. N is $POOL when set (a fixed
# pool), else $DB_BUDGET / $PROCMAN_MAX_INSTANCES (the instance's share). PostgreSQL's
# refusals (FATAL: ... connection slots ...) go to stderr, i.e. to the instance's log.
n=${POOL:-$((DB_BUDGET / PROCMAN_MAX_INSTANCES))}
echo "pool of $n (PROCMAN_INSTANCES=$PROCMAN_INSTANCES PROCMAN_MAX_INSTANCES=$PROCMAN_MAX_INSTANCES)"
i=0
while [ "$i" -lt "$n" ]; do
    sleep 3600 | psql -X -q -w -d postgres >/dev/null &
    i=$((i + 1))
done
wait
