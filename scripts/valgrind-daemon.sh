#!/bin/sh
# The daemon under valgrind (memcheck) for SECONDS (default 60) under load: 10
# crash-looping services that log, a service that logs steadily, and clients asking
# ls/status/logs/events in a loop. Heap in use is read three times through vgdb
# (`leak_check summary`): after a quarter of the run, at the end, and at exit. It
# fails if anything is definitely or indirectly lost at exit, or if the bytes in use
# grew by more than GROWTH_KIB (default 256) between the quarter and the end: growth
# under a steady load would be a leak that is still referenced (an unbounded queue).
#
# usage: scripts/valgrind-daemon.sh [SECONDS] [TEND]   (part of `make stress`)
set -eu
secs=${1:-60}
tend=${2:-target/debug/tend}
growth_kib=${GROWTH_KIB:-256}
command -v valgrind >/dev/null || { echo "valgrind-daemon: valgrind is not installed (scripts/deps.sh layout)" >&2; exit 1; }
[ -x "$tend" ] || { echo "valgrind-daemon: no $tend (cargo build)" >&2; exit 1; }
tend=$(realpath "$tend")
dir=$(mktemp -d /tmp/tend-valgrind.XXXXXX)
trap 'kill $vpid 2>/dev/null || true; rm -rf "$dir"' EXIT INT TERM

# Small bounded structures (event history, ring buffers) so that they are full by the
# first reading: what grows after that is not bounded.
{
    printf '[control]\nevents_history = 64\n'
    i=0
    while [ $i -lt 10 ]; do
        printf '[service.crash%d]\ncommand = "echo start $$; echo oops >&2; sleep 0.2; exit 1"\n' $i
        printf 'restart = "always"\nbackoff = { initial = "100ms", max = "400ms" }\nstart_limit = { burst = 0 }\n'
        printf 'log = { buffer = "4KiB" }\n'
        i=$((i + 1))
    done
    printf '[service.talker]\ncommand = "while :; do echo tick $(date +%%s%%N); sleep 0.01; done"\n'
    printf 'log = { buffer = "4KiB" }\n'
} > "$dir/tend.toml"

valgrind --tool=memcheck --leak-check=full --errors-for-leak-kinds=definite,indirect \
    --vgdb=yes --vgdb-error=999999 --log-file="$dir/vg.log" \
    "$tend" run -c "$dir/tend.toml" --socket "$dir/tend.sock" > "$dir/out.log" 2>&1 &
vpid=$!
n=0
until [ -S "$dir/tend.sock" ] && "$tend" ls --socket "$dir/tend.sock" >/dev/null 2>&1; do
    n=$((n + 1)); [ $n -lt 600 ] || { echo "valgrind-daemon: tend did not start" >&2; cat "$dir/vg.log" >&2; exit 1; }
    sleep 0.1
done

# The sum of the byte counts on the LEAK SUMMARY lines named by the regex $1.
sum_bytes() {
    sed -En "s/.*($1): ([0-9,]+).*/\\2/p" | tr -d , | awk '{ s += $1 } END { print s + 0 }'
}

# Heap in use (everything a live leak check finds), saved as $dir/leak.NAME.
in_use() {
    vgdb --pid=$vpid leak_check summary > "$dir/leak.$1" 2>&1 || true
    # "definitely lost: A (+d) bytes", "indirectly ...", "possibly ...", "still reachable: B (+d) bytes"
    sum_bytes "definitely lost|indirectly lost|possibly lost|still reachable" < "$dir/leak.$1"
}

clients() {
    end=$(( $(date +%s) + $1 ))
    while [ "$(date +%s)" -lt "$end" ]; do
        for c in "ls" "status crash3" "logs talker -n 20" "events" "status talker"; do
            # shellcheck disable=SC2086
            "$tend" $c --socket "$dir/tend.sock" >/dev/null 2>&1 || true
        done
    done
}
quarter=$((secs / 4))
clients $quarter & c1=$!
clients $quarter & c2=$!
wait $c1 $c2
first=$(in_use first)
clients $((secs - quarter)) & c1=$!
clients $((secs - quarter)) & c2=$!
wait $c1 $c2
last=$(in_use last)
restarts=$("$tend" ls --json --socket "$dir/tend.sock" | grep -o '"restarts":[0-9]*' | awk -F: '{s += $2} END {print s + 0}')
kill -TERM $vpid
wait $vpid || true
trap 'rm -rf "$dir"' EXIT INT TERM

grep -A6 "LEAK SUMMARY" "$dir/vg.log" || true
grep "ERROR SUMMARY" "$dir/vg.log" || true
lost=$(sum_bytes "definitely lost|indirectly lost" < "$dir/vg.log")
errors=$(awk '/ERROR SUMMARY:/ { print $4; exit }' "$dir/vg.log")
grow=$(( (last - first) / 1024 ))
echo "valgrind-daemon: ${secs}s under load, $restarts restarts; heap in use ${first} B after ${quarter}s, ${last} B at the end (${grow} KiB growth); lost at exit: ${lost} B; memcheck errors: ${errors}"
fail=0
[ "$lost" -eq 0 ] || { echo "valgrind-daemon: memory lost at exit" >&2; fail=1; }
[ "${errors:-1}" -eq 0 ] || { echo "valgrind-daemon: memcheck errors:" >&2; grep -B2 -A20 "^==[0-9]*== [A-Z]" "$dir/vg.log" | head -80 >&2; fail=1; }
[ "$grow" -le "$growth_kib" ] || { echo "valgrind-daemon: the heap grew by ${grow} KiB under a steady load" >&2; fail=1; }
exit $fail
