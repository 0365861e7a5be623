#!/bin/sh
# A tiny workload for `tend init`: it leaves an orphan behind for tend to reap,
# reacts to SIGTERM, and exits with a status tend passes on.
trap 'echo "hello: got SIGTERM, exiting 143"; exit 143' TERM
echo "hello: running as pid $$ under tend (parent $PPID)"
( sleep 0.2 & ) # an orphan: re-parented to tend, which reaps it
for i in 1 2 3; do
    echo "hello: tick $i"
    sleep 0.3
done
echo "hello: done, exiting 3"
exit 3
