# Row: wall time of one status query as a whole CLI process (hyperfine), each supervisor
# running 10 services `sleep infinity`: `tend status s05` against a static C client doing
# one connect + hello + status round trip (bench/src/ctl_once.c, the floor), `s6-svstat`
# on an s6-svscan service directory, `sv status` on a runsvdir one, and `supervisorctl
# status s05` against supervisord (through its unix_http_server socket).
# Targets (DESIGN.md): tend <= 1.2x the floor, and below s6-svstat.

# The control table's columns and ctl_* helpers.
# shellcheck source=bench/rows/90-ctl-ping-rtt.sh
. "$BENCH/rows/90-ctl-ping-rtt.sh"

ctl_up_s6() { [[ $("$1" "$2/s6/$CTL_SVC" 2>/dev/null) == up* ]]; }
ctl_up_runit() { [[ $("$1" status "$2/runit/$CTL_SVC" 2>/dev/null) == run:* ]]; }
ctl_up_supervisord() { [[ $("$1" -c "$2/supervisord.conf" status "$CTL_SVC" 2>/dev/null) == *RUNNING* ]]; }

# ctl_start_peer NAME DIR: start supervisor NAME (sup_cmd) on DIR in the background, in a
# session of its own (a Ctrl-C to the bench must not reach runsv or s6-supervise, which
# would die and leave their services behind; cleanup kills the whole tree), and track
# it; its pid in CTL_PEER_PID. False if NAME is not installed.
ctl_start_peer() {
    local -a cmd
    mapfile -t cmd < <(sup_cmd "$1" "$2")
    [ ${#cmd[@]} -gt 0 ] || return 1
    # Not a process-group leader (no job control here), so setsid execs without forking.
    setsid "${cmd[@]}" </dev/null >/dev/null 2>&1 &
    CTL_PEER_PID=$!
    track "$CTL_PEER_PID"
}

row() {
    table "$CTL_TABLE" "${CTL_COLS[@]}"
    local rounds=3 runs=300 warmup=30 sruns=15 dir fig='wall time of one status query, whole CLI process'
    [ "$QUICK" = 1 ] && rounds=1 runs=100 sruns=5
    if ! command -v hyperfine >/dev/null; then
        emit "$fig" "$NA" "$NA" "$NA" "$NA" "$NA" "$NA" "$NA" "≤ 1.2x floor, < s6-svstat" "n/a (no hyperfine)"
        return
    fi
    ctl_mkdir dir || return 1
    ctl_prepare "$dir"
    ctl_start_tend "$dir" || return 1 # cleanup kills tend and removes $dir
    local svstat sv sctl pid
    local -a pids=()
    svstat=$(peer_bin s6-svstat)
    sv=$(peer_bin sv)
    sctl=$(peer_bin supervisorctl)
    # Each peer only if both its supervisor and its client are there.
    if [ -n "$svstat" ] && ctl_start_peer s6-svscan "$dir"; then
        pids+=("$CTL_PEER_PID")
        ctl_wait 10 ctl_up_s6 "$svstat" "$dir" || { log "s6-svscan: $CTL_SVC not up"; svstat=""; }
    else svstat=""; fi
    if [ -n "$sv" ] && ctl_start_peer runsvdir "$dir"; then
        pids+=("$CTL_PEER_PID")
        ctl_wait 10 ctl_up_runit "$sv" "$dir" || { log "runsvdir: $CTL_SVC not up"; sv=""; }
    else sv=""; fi
    if [ -n "$sctl" ] && ctl_start_peer supervisord "$dir"; then
        pids+=("$CTL_PEER_PID")
        ctl_wait 20 ctl_up_supervisord "$sctl" "$dir" || { log "supervisord: $CTL_SVC not running"; sctl=""; }
    else sctl=""; fi
    sleep 0.3

    local cmds=(tend "$TEND status $CTL_SVC --socket $dir/tend.sock" floor "$OUT/ctl_once $dir/tend.sock $CTL_SVC")
    [ -n "$svstat" ] && cmds+=(s6-svstat "$svstat $dir/s6/$CTL_SVC")
    [ -n "$sv" ] && cmds+=(sv "$sv status $dir/runit/$CTL_SVC")
    # Several rounds, each in a rotated order, all samples pooled (as in the /bin/true row).
    hyperfine_rounds ctl-cli "$rounds" "$runs" "$warmup" "${cmds[@]}"
    # supervisorctl takes ~0.2 s a run: fewer runs, once (pooled from ctl-cli-s-0.json).
    [ -n "$sctl" ] && hyperfine_rounds ctl-cli-s 1 "$sruns" 2 supervisorctl "$sctl -c $dir/supervisord.conf status $CTL_SVC"
    kill_tree "$CTL_TEND_PID"
    for pid in "${pids[@]}"; do kill_tree "$pid"; done
    rm -rf "$dir"

    local -A med=()
    local name m
    while read -r name m; do med[$name]=$m; done < <(hyperfine_medians "$OUT"/ctl-cli-*.json)
    ms() { if is_num "${med[$1]:-}"; then echo "$(fmt "${med[$1]}" 3) ms"; else echo "$NA"; fi; }
    local t=${med[tend]:-} fl=${med[floor]:-} s6=${med[s6-svstat]:-} ok
    ok=$(verdict "${t:-None} <= 1.2 * ${fl:-None} and ${t:-None} < ${s6:-None}")
    if [ "$ok" = MISS ]; then
        local why=()
        [ "$(verdict "$t <= 1.2 * $fl")" = MISS ] && why+=("floor")
        [ "$(verdict "$t < $s6")" = MISS ] && why+=("s6-svstat")
        ok="MISS (${why[*]})"
    fi
    local sc
    sc=$(ms supervisorctl)
    [ "$sc" != "$NA" ] && sc+=" (tend $(ratio "$t" "${med[supervisorctl]}" 4))"
    emit "$fig" "$(ms tend)" "$(ms floor)" "$(ms s6-svstat)" "$(ms sv)" "$sc" "$(ratio "$t" "$fl")" \
        "$(ratio "$t" "$s6")" "≤ 1.2x floor, < s6-svstat" "$ok"
    unset -f ms
    local vers="" p v
    for p in s6 runit supervisor; do
        v=$(dpkg-query -W -f='${Version}' "$p" 2>/dev/null) && vers+="${vers:+, }$p $v"
    done
    note "status query as a whole process: hyperfine -N (no shell), $rounds round(s) × $runs runs (+$warmup warm-up) per command, command order rotated each round, median of the pooled samples; supervisorctl (python, ~0.2 s a run) $sruns runs (+2 warm-up) afterwards. Each supervisor runs the same 10 services \`sleep infinity\` (as in the idle RSS row); the query is about $CTL_SVC. tend: \`tend status $CTL_SVC --socket SOCK\` (the binary given to run.sh; connect, hello, status, formatted output). Floor: bench/src/ctl_once.c (static, musl when musl-gcc is installed, as tend is; no stdio): connect, a pre-encoded HELLO, the WELCOME read, one STATUS frame, the reply read and its body written to stdout. s6-svstat DIR/s05 (reads supervise/status) under s6-svscan; \`sv status DIR/s05\` under runsvdir; \`supervisorctl -c CONF status $CTL_SVC\` against \`supervisord -n\` with a unix_http_server socket. Debian packages: ${vers:-?}. Where tend's time goes (a diagnosis when this row was written, tend e4325ee): perf stat over 100 runs: \`tend status\` 53 page faults and 0.22 ms task-clock, \`tend --help\` 33 and 0.16 ms, the floor 7 and 0.08 ms; with tend and hyperfine pinned to one CPU, medians: \`tend status\` 0.42 ms, \`tend --help\` 0.27, \`tend version --socket /nonexistent\` 0.24, the floor 0.22. So starting the ~1.5 MB static-pie binary (self-relocation, page faults of its text and data, the Rust runtime) is already ~1.2x the whole floor, and the connected path adds ~0.15 ms more: ~20 more page faults (Client::recv zeroes a 64 KiB stack buffer per call; musl's allocator maps 4 KiB pages: 4 mmap, 2 munmap) and the decoding and formatting; the exchange itself is the floor's 6 syscalls. The same source built non-PIE (RUSTFLAGS=\"-C relocation-model=static\") measured 0.433 against 0.479 ms. Since then: the static build is non-PIE (.cargo/config.toml) and the client reads into one 8 KiB buffer (cd8eb02); the build is laid out by scripts/layout.ld, so that the code and constants of \`tend status\` sit together at the front of .text and .rodata, and tend allocates from a 32 KiB arena in .bss before musl's malloc (src/arena.rs): \`tend status\` takes ~15 page faults (3-4 in code, 1 in constants; the rest stack, .data, .bss, the arena, and the mmap of static TLS, which crossbeam-channel's thread-locals push past musl's built-in 112 bytes) against 33 before and the floor's 7, makes no mmap or munmap, and runs ~54,000 instructions of its own (callgrind). perf over 2000 runs each (before the arena moved to the end of .bss): exec itself costs tend what it costs the floor; the difference is page faults (~3 µs each here, ~40 µs a run) and user time (~35 µs a run: a cold start, the protocol's decoding and the formatting); the socket calls are the floor's. The code \`tend status\` runs is ~170 KiB, 79 KiB of it one function, tend::proto::msg::Reply::decode (serde's decoder for every reply type at once), whose touched parts alone span two 64 KiB fault-around windows."
}
