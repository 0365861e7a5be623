# Row: wall time of `INIT -- /bin/true` (start, spawn, reap, exit), with hyperfine.
# Floor: /bin/true alone. Target: <= 1.0x tini (i.e. overhead over the floor <= tini's).

row() {
    table "$INIT_TABLE" "${INIT_COLS[@]}"
    local fig='wall time of `X -- /bin/true`'
    if ! command -v hyperfine >/dev/null; then
        emit "$fig" "$NA" "$NA" "$NA" "$NA" "$NA" "$NA" "$NA" "$NA" "≤ 1.0x tini" "n/a (no hyperfine)"
        return
    fi
    local rounds=3 runs=300 warmup=30
    [ "$QUICK" = 1 ] && rounds=1 runs=100
    local cmds=() name b
    local truebin=/bin/true
    [ -x $truebin ] || truebin=/usr/bin/true
    for name in tend "${INIT_PEERS[@]}"; do
        if [ "$name" = tend ]; then b=$TEND; else b=$(peer_bin "$name"); fi
        [ -n "$b" ] || continue
        cmds+=("$name" "$b -- $truebin")
    done
    cmds+=(floor "$truebin")
    # Several rounds, each in a rotated order, all samples pooled; name -> median ms.
    hyperfine_rounds true "$rounds" "$runs" "$warmup" "${cmds[@]}"
    local -A med=()
    local m
    while read -r name m; do med[$name]=$m; done < <(hyperfine_medians "$OUT"/true-*.json)
    local cells=() fl=${med[floor]:-}
    for name in tend "${INIT_PEERS[@]}"; do
        if [ -n "${med[$name]:-}" ]; then
            cells+=("$(fmt "${med[$name]}" 3) ms (+$(fmt "$(calc "${med[$name]} - ${fl:-0}")" 3))")
        else
            cells+=("$NA")
        fi
    done
    local t=${med[tend]:-} ti=${med[tini]:-} ts=${med[tini-static]:-}
    local r1 r2
    r1=$(ratio "$t" "$ti")
    if is_num "$t" && is_num "$ti" && is_num "$fl"; then
        r1+=" (overhead $(ratio "$(calc "$t - $fl")" "$(calc "$ti - $fl")"))"
    fi
    r2=$(ratio "$t" "$ts")
    emit "$fig" "${cells[@]}" "$(fmt "$fl" 3) ms" "$r1" "$r2" "≤ 1.0x tini" "$(verdict "${t:-None} <= ${ti:-None}")"
    note "\`X -- /bin/true\`: hyperfine -N (no shell), $rounds round(s) × $runs runs (+$warmup warm-up) per command, command order rotated each round, median of the pooled samples; (+x) is the overhead over the floor (/bin/true alone). Inits are not PID 1 here, so tini prints its subreaper warning (to /dev/null), as tend does."
}
