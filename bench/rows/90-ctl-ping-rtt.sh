# Rows 90-92: the "Control plane" table: tend's control socket (`tend run --socket`)
# against the Unix-socket floor and, for the CLI, s6-svstat, sv and supervisorctl. This
# file also holds the helpers the other control rows (91-ctl-pipeline.sh, 92-ctl-cli.sh)
# source: the table's columns, and starting/stopping tend with 10 services on a socket.
#
# Rows: the round-trip floor (64-byte ping-pong over a Unix socketpair, and a minimal C
# epoll frame server answering the same STATUS frames), then tend's STATUS round trip with
# 1 connected client and with 1,000. The method is in bench/src/ctl_bench.c (`rtt`).
# Targets: p50 <= 2x the ping-pong floor's p50, p99 <= 200 µs.

# sup_prepare, sup_cmd
# shellcheck source=bench/rows/60-sup-rss.sh
. "$BENCH/rows/60-sup-rss.sh"

CTL_TABLE="Control plane"
CTL_COLS=(tend floor s6-svstat sv supervisorctl tend/floor tend/s6-svstat target ok)
CTL_SVC=s05      # the service every query asks about (of s01..s10)
CTL_STOPPED=idle # tend only: a service that is configured but not started (diagnosis)

# ctl_mkdir VAR: a fresh scratch directory for the control rows in VAR, removed by
# cleanup. Under /tmp rather than $OUT: a socket path must fit in 107 bytes, wherever the
# repository is checked out.
ctl_mkdir() {
    local d
    d=$(mktemp -d "${TMPDIR:-/tmp}/tend-bench-ctl.XXXXXX") || return 1
    track_dir "$d"
    printf -v "$1" '%s' "$d"
}

# ctl_prepare DIR: 10 services `sleep infinity` for every supervisor (as in the idle RSS
# row), and supervisord with a control socket (unix_http_server) for supervisorctl. tend
# also gets $CTL_STOPPED, with autostart off: asked about, it has no process whose
# /proc/PID/stat tend reads for rss and cpu_ms.
ctl_prepare() {
    local dir=$1
    sup_prepare "$dir" 10 "" sleep infinity
    cat >>"$dir/tend.toml" <<EOF
[service.$CTL_STOPPED]
command = ["sleep", "infinity"]
autostart = false
stdout = "null"
stderr = "null"
EOF
    cat >>"$dir/supervisord.conf" <<EOF
[unix_http_server]
file=$dir/supervisor.sock
chmod=0700
[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface
[supervisorctl]
serverurl=unix://$dir/supervisor.sock
EOF
}

# ctl_wait SECONDS CMD...: run CMD every 20 ms until it succeeds; false on timeout.
ctl_wait() {
    local t=$1 i
    shift
    for ((i = 0; i < t * 50; i++)); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.02
    done
    return 1
}

# ctl_start_tend DIR [CPU]: `tend run` on DIR/tend.toml with its socket at DIR/tend.sock,
# in the background (tracked; in a session of its own, as the peers in 92-ctl-cli.sh),
# with room for 1,000+ connections (soft fd limit raised), pinned to CPU if given; waits
# until the socket answers that s10 and then s01 (the last and the first service) run.
# Sets CTL_TEND_PID.
ctl_start_tend() {
    local dir=$1 cpu=${2:-}
    local -a pin=()
    [ -n "$cpu" ] && pin=(taskset -c "$cpu")
    (
        [ "$(ulimit -Sn)" != unlimited ] && [ "$(ulimit -Sn)" -lt 8192 ] &&
            { ulimit -Sn 8192 2>/dev/null || ulimit -Sn "$(ulimit -Hn)"; }
        exec setsid "${pin[@]}" "$TEND" run -c "$dir/tend.toml" --socket "$dir/tend.sock"
    ) </dev/null >/dev/null 2>&1 &
    CTL_TEND_PID=$!
    track "$CTL_TEND_PID"
    if ! ctl_wait 10 "$OUT/ctl_once" -r "$dir/tend.sock" s10 || ! "$OUT/ctl_once" -r "$dir/tend.sock" s01 >/dev/null; then
        log "tend did not come up with its control socket at $dir/tend.sock"
        return 1
    fi
    sleep 0.2
}

# ctl_us NUMBER -> "9.17", "24.4", "183" (µs)
ctl_us() { if is_num "${1:-}"; then python3 -c "v=$1; print(f'{v:.2f}' if v < 10 else f'{v:.1f}' if v < 100 else f'{v:.0f}')"; else echo "$NA"; fi; }

row() {
    table "$CTL_TABLE" "${CTL_COLS[@]}"
    local iters=20000 warm=2000 rounds=3 idle=999 dir
    [ "$QUICK" = 1 ] && iters=3000 warm=300 rounds=1
    # Everything on one CPU (tend with its threads, the client, the echo and frame-server
    # processes): see the note. Unpinned if taskset is missing.
    local cpu="" where="all pinned to CPU"
    command -v taskset >/dev/null && cpu=$(python3 -c 'import os; print(min(os.sched_getaffinity(0)))')
    local -a pin=()
    if [ -n "$cpu" ]; then pin=(taskset -c "$cpu"); where+=" $cpu"; else where="unpinned (no taskset)"; fi
    ctl_mkdir dir || return 1
    ctl_prepare "$dir"
    ctl_start_tend "$dir" "$cpu" || return 1 # cleanup kills tend and removes $dir
    local -A p50=() p90=() p99=() mx=() n=()
    local name a b c d e
    while read -r name a b c d e; do
        p50[$name]=$a p90[$name]=$b p99[$name]=$c mx[$name]=$d n[$name]=$e
    done < <(timeout -k 5 120 "${pin[@]}" "$OUT/ctl_bench" rtt "$dir/tend.sock" "$CTL_SVC" "$iters" "$warm" "$rounds" "$idle" "$CTL_STOPPED")
    kill_tree "$CTL_TEND_PID"
    rm -rf "$dir"
    local tn="tend$((idle + 1))"
    cell() { # cell NAME -> "p50 X µs (p99 Y)"
        is_num "${p50[$1]:-}" || { echo "$NA"; return; }
        echo "p50 $(ctl_us "${p50[$1]}") µs (p99 $(ctl_us "${p99[$1]}"))"
    }
    local fl=${p50[floor]:-}
    emit "round-trip floor: 64 B ping-pong over a Unix socketpair; a C epoll frame server answering STATUS" \
        "$NA" "ping-pong $(cell floor); C frame server $(cell cframe)" "$NA" "$NA" "$NA" "$NA" "$NA" \
        "(the floor of the rows below)" "info"
    local t ok r fig
    for t in tend1 "$tn"; do
        if [ "$t" = tend1 ]; then fig="STATUS round trip (in-protocol), 1 client connected"
        else fig="STATUS round trip (in-protocol), 1 of $((idle + 1)) clients connected"; fi
        r=$(ratio "${p50[$t]:-}" "$fl")
        [ "$r" != "$NA" ] && r+=" (p99 $(ratio "${p99[$t]}" "${p99[floor]}"))"
        ok=$NA
        if is_num "${p50[$t]:-}" && is_num "$fl"; then
            local m50 m99
            m50=$(verdict "${p50[$t]} <= 2 * $fl")
            m99=$(verdict "${p99[$t]} <= 200")
            if [ "$m50" = PASS ] && [ "$m99" = PASS ]; then ok=PASS
            elif [ "$m50" = MISS ] && [ "$m99" = MISS ]; then ok="MISS (p50, p99)"
            elif [ "$m50" = MISS ]; then ok="MISS (p50)"
            else ok="MISS (p99)"; fi
        fi
        emit "$fig" "$(cell "$t")" "$(cell floor)" "$NA" "$NA" "$NA" "$r" "$NA" "p50 ≤ 2x floor, p99 ≤ 200 µs" "$ok"
    done
    r=$(ratio "${p50[stopped]:-}" "$fl")
    [ "$r" != "$NA" ] && r+=" (p99 $(ratio "${p99[stopped]}" "${p99[floor]}"))"
    emit "diagnosis: the same, 1 client, about a service that is not running (no /proc/PID/stat read)" \
        "$(cell stopped)" "$(cell floor)" "$NA" "$NA" "$NA" "$r" "$NA" "(info)" "info"
    unset -f cell
    note "round trips: bench/src/ctl_bench.c (\`rtt\`, static) times each round trip with clock_gettime(CLOCK_MONOTONIC) around the write of the request and the read of the whole answer. Floor: 64 bytes written to a socketpair(AF_UNIX, SOCK_STREAM) and read back from a forked echo process (blocking read/write). C frame server: the same exchange as tend's, against a forked minimal server on a socketpair (epoll_wait, non-blocking reads to EAGAIN, frames decoded, a canned STATUS_REPLY of tend's size and fields with the id patched in, one write): what an event loop and the framing add to the ping-pong. tend: \`tend run\` with 10 services \`sleep infinity\` and \`--socket\`; one connection, a pre-encoded HELLO, the WELCOME read, then per round trip one STATUS frame for $CTL_SVC (\`{id, service}\`), the 4-byte length read, then the rest of the frame, checked to be the STATUS_REPLY with that id. \"1 of $((idle + 1))\": $idle more connections are opened first, each of which sent its HELLO and read its WELCOME, and stay open and idle while the last one is measured. Each group: $rounds round(s) of $iters timed round trips after $warm untimed ones, the groups (floor, C frame server, tend with 1 and with $((idle + 1)) clients, the diagnosis) interleaved with the order rotated every round, samples pooled; p50 (p99), nearest rank. The ratio is tend / ping-pong floor. Placement: $where (\`taskset\`; tend's threads and the forked peers inherit it), so every group pays the same two context switches per round trip and no cross-CPU wake-up: unpinned, the scheduler puts the two ends on one CPU or on two from run to run, and a wake-up of an idle vCPU costs ~30-40 µs on this VM (the hypervisor has to run it), so the same code measured ~9 µs in one run and ~40 µs in the next. Diagnosis row: the same round trip asking about \`$CTL_STOPPED\`, a configured service with autostart off, measured in the same rounds."
    note "where tend's round trip goes (a diagnosis when these rows were written, tend e4325ee, strace -c and /proc/TID/schedstat of tend's main thread over 20,000-40,000 requests): per STATUS of a running service tend makes 1 epoll_pwait, 2 recvfrom (the second one EAGAIN), 1 sendto, 1 getpid (\`std::process::id()\` on every read of a connection, for a welcome) and, for the rss and cpu_ms fields (requests.rs \`usage()\`), \`std::fs::read_to_string(\"/proc/PID/stat\")\`: open, fstat, fcntl(F_SETFD) (musl's O_CLOEXEC fallback), 6 reads (a 32-byte probe, then a growing buffer) and close, and the kernel formats the whole stat line (do_task_stat) again. That read is most of tend's ~12-19 µs of CPU per request (about 1 µs for a service that is not running); in C on this VM open+read+close of /proc/PID/stat takes ~6 µs (statm ~4, schedstat ~3.7; a pread on a kept-open fd: stat 2.7, statm 0.8, schedstat 0.55 µs). The diagnosis row shows the rest of the path within ~1.5x of the floor."
}
