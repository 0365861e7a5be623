# Row: SIGTERM to the init -> child gone and init exited (see bench/src/sigterm.c).
# Floor: SIGTERM straight to `sleep 1000`, no init. Target: <= 1.0x tini.

row() {
    table "$INIT_TABLE" "${INIT_COLS[@]}"
    local runs=300 name b
    [ "$QUICK" = 1 ] && runs=50
    local args=()
    for name in tend "${INIT_PEERS[@]}"; do
        if [ "$name" = tend ]; then b=$TEND; else b=$(peer_bin "$name"); fi
        [ -n "$b" ] || continue
        args+=(::: "$name" "$b" -- sleep 1000)
    done
    args+=(::: floor sleep 1000)
    local -A med=() p90=() bad=()
    local m p mn n bd
    while read -r name m p mn n bd; do
        med[$name]=$m p90[$name]=$p bad[$name]=$bd
    done < <(timeout -k 5 120 "$OUT/sigterm" "$runs" "${args[@]}")
    local cells=() c
    for name in tend "${INIT_PEERS[@]}" floor; do
        m=${med[$name]:-}
        if is_num "$m"; then
            c=$(ms_p90 "$m" "${p90[$name]}" 3)
            [ "${bad[$name]:-0}" != 0 ] && c+=" (${bad[$name]} bad exits)"
        else
            c=$NA
        fi
        cells+=("$c")
    done
    local t=${med[tend]:-} ti=${med[tini]:-}
    local ok
    ok=$(verdict "${t:-None} <= ${ti:-None}")
    [ "${bad[tend]:-0}" != 0 ] && ok="MISS (bad exits)"
    emit "SIGTERM → child gone, init exited" "${cells[@]}" "$(ratio "$t" "$ti")" \
        "$(ratio "$t" "${med[tini-static]:-}")" "≤ 1.0x tini" "$ok"
    note "SIGTERM → exit: a C driver (bench/src/sigterm.c) fork/execs \`INIT -- sleep 1000\` (not PID 1), waits until the init's child has exec'd sleep and the init sleeps in its wait (+2 ms), then t0, kill(init, SIGTERM), waitpid(init), t1. $runs runs per init, interleaved round-robin; median (p90). The init must exit 143 (or die of TERM) with its child dead; any other end counts as a bad exit. Floor: SIGTERM straight to \`sleep 1000\`."
}
