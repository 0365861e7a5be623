# Row: pipelined STATUS requests per second on one control connection: a writer thread
# sends 100,000 STATUS frames while the reader decodes the replies. The method is in
# bench/src/ctl_bench.c (`pipe`). Floor: the same client against the minimal C frame
# server (epoll) of the round-trip rows. Target (DESIGN.md): tend >= 100,000 requests/s.

# The control table's columns and ctl_* helpers.
# shellcheck source=bench/rows/90-ctl-ping-rtt.sh
. "$BENCH/rows/90-ctl-ping-rtt.sh"

row() {
    table "$CTL_TABLE" "${CTL_COLS[@]}"
    local n=100000 rounds=3 dir
    [ "$QUICK" = 1 ] && n=20000 rounds=1
    ctl_mkdir dir || return 1
    ctl_prepare "$dir"
    ctl_start_tend "$dir" || return 1 # cleanup kills tend and removes $dir
    local -A med=() lo=() hi=()
    local name m a b k
    while read -r name m a b k; do
        med[$name]=$m lo[$name]=$a hi[$name]=$b
    done < <(timeout -k 5 120 "$OUT/ctl_bench" pipe "$dir/tend.sock" "$CTL_SVC" "$n" "$rounds" "$CTL_STOPPED")
    kill_tree "$CTL_TEND_PID"
    rm -rf "$dir"
    rate() { # rate NAME -> "35,050/s (32,362–35,640)"
        is_num "${med[$1]:-}" || { echo "$NA"; return; }
        local c
        c=$(python3 -c "print(f'{${med[$1]}:,.0f}/s')")
        [ "${lo[$1]}" != "${hi[$1]}" ] && c+=" ($(python3 -c "print(f'{${lo[$1]}:,.0f}–{${hi[$1]}:,.0f}')"))"
        echo "$c"
    }
    local t=${med[tend]:-}
    emit "pipelined STATUS requests/s, 1 connection" "$(rate tend)" "C frame server $(rate cframe)" \
        "$NA" "$NA" "$NA" "$(ratio "$t" "${med[cframe]:-}" 3)" "$NA" "≥ 100,000/s" "$(verdict "${t:-None} >= 100000")"
    emit "diagnosis: the same, about a service that is not running (no /proc/PID/stat read)" "$(rate stopped)" \
        "C frame server $(rate cframe)" "$NA" "$NA" "$NA" "$(ratio "${med[stopped]:-}" "${med[cframe]:-}" 3)" "$NA" \
        "(info)" "info"
    unset -f rate
    note "pipelined requests/s: bench/src/ctl_bench.c (\`pipe\`) connects and says hello, then a writer thread sends $n STATUS frames for $CTL_SVC (ids 1..$n, 512 frames per write(2)) while the main thread reads 256 KiB at a time and decodes the replies, each checked to be the STATUS_REPLY with the next id; rate = $n / (last reply read - first write). tend as in the round-trip rows (10 services); floor: the same client against the C frame server of the round-trip rows (which stops reading while 512 KiB of replies are queued, as tend does at half its 1 MiB client_queue). $rounds round(s) each, interleaved; median (min–max). Diagnosis row: the same pipeline asking about \`$CTL_STOPPED\`, a configured service with autostart off. When this row was written, tend's main thread spent ~11.6 µs of CPU per request for a running service against ~0.9 µs for the stopped one (/proc/TID/schedstat): tend decodes up to 512 frames a turn, so pipelining amortises the epoll and socket calls, but each STATUS of a running service still reads /proc/PID/stat (see the round-trip note), which caps the rate near 1 / that read."
}
