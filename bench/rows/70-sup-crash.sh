# Row: crash-loop restarts per second with backoff off: one service `/bin/false`, restarted
# at once, against a bare fork+exec+wait loop of /bin/false (the floor) in the same run.
# The method is in bench/src/sup_rate.c. Target (DESIGN.md): tend >= 80% of the floor.

# The supervisor table's columns and per-supervisor configurations.
# shellcheck source=bench/rows/60-sup-rss.sh
. "$BENCH/rows/60-sup-rss.sh"

row() {
    table "$SUP_TABLE" "${SUP_COLS[@]}"
    local win=3000 warm=300 rounds=3 pwin=3000 falsebin=/bin/false name dir
    [ "$QUICK" = 1 ] && rounds=1
    [ -x $falsebin ] || falsebin=/usr/bin/false
    sup_rmdirs
    dir=$(sup_mkdir crash)
    # s6-supervise and runsv log nothing per start: their run script echoes a line.
    sup_prepare "$dir" 1 'echo "started (pid $$)"' "$falsebin"
    local -a cmd fast=(::: floor - "$falsebin") slow=()
    mapfile -t cmd < <(sup_cmd tend "$dir")
    fast+=(::: tend "started (pid" "${cmd[@]}")
    for name in "${SUP_PEERS[@]}"; do
        mapfile -t cmd < <(sup_cmd "$name" "$dir")
        [ ${#cmd[@]} -gt 0 ] || continue
        case $name in
        supervisord) slow+=(::: "$name" "spawned: " "${cmd[@]}") ;;
        *) slow+=(::: "$name" "started (pid" "${cmd[@]}") ;;
        esac
    done
    local -A med=() lo=() hi=()
    local m mn mx n
    while read -r name m mn mx n; do
        med[$name]=$m lo[$name]=$mn hi[$name]=$mx
    done < <(
        timeout -k 5 100 "$OUT/sup_rate" "$win" "$warm" "$rounds" "$dir" "${fast[@]}"
        [ ${#slow[@]} -gt 0 ] && timeout -k 5 60 "$OUT/sup_rate" "$pwin" 500 1 "$dir" "${slow[@]}"
    )
    sup_rmdirs
    local cells=() c
    for name in tend "${SUP_PEERS[@]}" floor; do
        m=${med[$name]:-}
        if is_num "$m"; then
            c="$(fmt "$m" 0)/s"
            [ "$m" != "${lo[$name]}" ] && c+=" ($(fmt "${lo[$name]}" 0)–$(fmt "${hi[$name]}" 0))"
            [ "$(calc "$m < 10")" = True ] && c="$(fmt "$m" 2)/s"
        else
            c=$NA
        fi
        cells+=("$c")
    done
    local t=${med[tend]:-} fl=${med[floor]:-}
    emit "crash-loop restarts/s, backoff off" "${cells[@]}" "$(ratio "$t" "$fl")" \
        "$(ratio "$t" "${med[supervisord]:-}" 0)" "$(ratio "$t" "${med[s6-svscan]:-}" 0)" \
        "≥ 0.8x floor" "$(verdict "${t:-None} >= 0.8 * ${fl:-None}")"
    note "crash-loop restarts/s: one service \`$falsebin\` with restart always and no delay (tend: \`restart = \"always\"\`, \`backoff = { initial = \"0s\" }\`, \`start_limit = { burst = 0 }\`; supervisord: autorestart=true, startsecs=0, startretries=1000000; s6-svscan and runsvdir have no such setting: s6-supervise and runsv leave at least 1 s between two starts of a service). bench/src/sup_rate.c starts the supervisor with stdout+stderr appended to a file, waits for the first start and ${warm} ms, then for ${win} ms reads the file every 10 ms and counts one start per tend event \`started (pid N)\`, per supervisord log line \`spawned: \` and, for s6/runit, per line the run script echoes before \`exec $falsebin\`; rate = starts between the first and the last poll that saw any / the time between them. Floor: the driver's own loop of fork(); execv($falsebin); waitpid() for the same window. tend and the floor: $rounds rounds, interleaved, median (min–max); the peers, which throttle to 1/s, one ${pwin} ms window each, afterwards."
}
