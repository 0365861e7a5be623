# Row: idle RSS of the init itself while it supervises `sleep 1000`.
# Target: <= tini-static's (the static peer; dynamic peers also count mapped libc pages).

rss_of() { # rss_of INIT_PATH -> VmRSS:RssAnon in KiB
    local bin=$1 pid kids i rss=""
    "$bin" -- sleep 1000 </dev/null >/dev/null 2>&1 &
    pid=$!
    track "$pid"
    # Wait until the child has exec'd sleep, then let the init settle in its wait loop.
    for ((i = 0; i < 500; i++)); do
        kids=$(cat "/proc/$pid/task/$pid/children" 2>/dev/null)
        [ -n "$kids" ] && [ "$(cat "/proc/${kids%% *}/comm" 2>/dev/null)" = sleep ] && break
        sleep 0.01
    done
    sleep 0.2
    rss=$(awk '/^VmRSS:/ { r = $2 } /^RssAnon:/ { a = $2 } END { print r ":" a }' "/proc/$pid/status" 2>/dev/null)
    kill -TERM "$pid" 2>/dev/null
    for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.01; done
    kill_tree "$pid"
    echo "$rss"
}

row() {
    table "$INIT_TABLE" "${INIT_COLS[@]}"
    local reps=9 name b r m
    [ "$QUICK" = 1 ] && reps=2
    local -A med=() amed=()
    local -A samples=() anon=()
    local v
    # Interleaved: one of each per round.
    for ((r = 0; r < reps; r++)); do
        for name in tend "${INIT_PEERS[@]}"; do
            if [ "$name" = tend ]; then b=$TEND; else b=$(peer_bin "$name"); fi
            [ -n "$b" ] || continue
            v=$(rss_of "$b")
            samples[$name]+="${v%%:*} "
            anon[$name]+="${v#*:} "
        done
    done
    local cells=()
    for name in tend "${INIT_PEERS[@]}"; do
        if [ -z "${samples[$name]:-}" ]; then
            cells+=("$NA")
            continue
        fi
        read -r m _ <<<"$(tr ' ' '\n' <<<"${samples[$name]}" | grep . | stats)"
        med[$name]=$m
        read -r amed[$name] _ <<<"$(tr ' ' '\n' <<<"${anon[$name]}" | grep . | stats)"
        cells+=("$(fmt "$m" 0) KiB (anon $(fmt "${amed[$name]}" 0))")
    done
    local t=${med[tend]:-} ts=${med[tini-static]:-}
    emit "idle RSS, supervising \`sleep 1000\`" "${cells[@]}" "$NA" "$(ratio "$t" "${med[tini]:-}")" \
        "$(ratio "$t" "$ts")" "≤ tini-static" "$(verdict "${t:-None} <= ${ts:-None}")"
    note "idle RSS: \`INIT -- sleep 1000\` started in the background (not PID 1); once the child has exec'd sleep, 0.2 s to settle, then VmRSS from /proc/INIT/status (and RssAnon, its private part: most of a static binary's RSS is its code and constants, mapped from the page cache a 64 KiB fault-around window at a time, or a whole large folio of the page cache at a time; so it follows how scattered the code the init runs is, not the binary's size: tend's static build packs the init's code and constants first in .text and .rodata with scripts/layout.ld. The same binary can show ~40 KiB more when the file was written differently, e.g. copied, as its page-cache folios then fall differently). Median of $reps launches each, interleaved."
}
