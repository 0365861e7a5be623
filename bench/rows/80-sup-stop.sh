# Row: stop 50 services: the stop signal to the supervisor -> all 50 services gone and the
# supervisor exited. The method is in bench/src/sup_stop.c.
# Target (DESIGN.md): tend <= 10 ms.

# The supervisor table's columns and per-supervisor configurations.
# shellcheck source=bench/rows/60-sup-rss.sh
. "$BENCH/rows/60-sup-rss.sh"

row() {
    table "$SUP_TABLE" "${SUP_COLS[@]}"
    # supervisord takes ~10 s a run and runsvdir ~1 s (see the note): fewer runs of them.
    local runs=10 n=50 sdruns=3 rvruns=5 name dir
    [ "$QUICK" = 1 ] && runs=2 sdruns=1 rvruns=2
    sup_rmdirs
    dir=$(sup_mkdir stop)
    sup_prepare "$dir" "$n" "" sleep 1000
    local -a cmd args=()
    for name in tend "${SUP_PEERS[@]}"; do
        mapfile -t cmd < <(sup_cmd "$name" "$dir")
        [ ${#cmd[@]} -gt 0 ] || continue
        args+=(::: "$name" "$(sup_stopsig "$name")" "${cmd[@]}")
    done
    local -A med=() p90=() bad=() st=()
    local m p mn k bd s
    while read -r name m p mn k bd s; do
        med[$name]=$m p90[$name]=$p bad[$name]=$bd st[$name]=$s
    done < <(timeout -k 5 150 "$OUT/sup_stop" -m supervisord="$sdruns" -m runsvdir="$rvruns" "$runs" "$n" "${args[@]}")
    sup_rmdirs
    local cells=() c
    for name in tend "${SUP_PEERS[@]}"; do
        m=${med[$name]:-}
        if is_num "$m"; then
            c=$(ms_p90 "$m" "${p90[$name]}" 1 "${st[$name]}")
            [ "${bad[$name]:-0}" != 0 ] && c+=" (${bad[$name]} failed)"
        else
            c=$NA
        fi
        cells+=("$c")
    done
    local t=${med[tend]:-} ok
    ok=$(verdict "${t:-None} <= 10000")
    [ "${bad[tend]:-0}" != 0 ] && ok="MISS (failures)"
    [ -n "$t" ] && [ "${st[tend]}" != exit=0 ] && ok="MISS (tend ${st[tend]})"
    emit "stop 50 services: signal → all gone, supervisor exited" "${cells[@]}" "$NA" "$NA" \
        "$(ratio "$t" "${med[supervisord]:-}" 4)" "$(ratio "$t" "${med[s6-svscan]:-}")" "tend ≤ 10 ms" "$ok"
    note "stop 50 services: each supervisor runs 50 services \`sleep 1000\` (configured as in the idle RSS row; sleep dies of the default TERM). bench/src/sup_stop.c, a child subreaper, fork/execs the supervisor, waits until its process tree holds 50 processes named sleep and it sleeps itself, 150 ms to settle (and checks again), then t0, the stop signal: SIGTERM to tend, supervisord and s6-svscan (s6-svscan 2.11 takes it as \`s6-svscanctl -t\`: TERM to every s6-supervise, which brings its service down and exits, and s6-svscan exits once they all have), SIGHUP to runsvdir (runsvdir(8): on HUP it sends TERM to each runsv and exits 111 at once; each runsv then TERMs its service and exits, re-parented to the driver, which reaps it; on TERM runsvdir would exit and leave the services running). t1: the supervisor has exited and every one of the 50 sleep pids answers kill(pid, 0) with ESRCH (reaped, by whoever); the driver blocks in waitpid(-1) and checks after each reap. Median (p90) of $runs runs each ($sdruns for supervisord, $rvruns for runsvdir), interleaved round-robin; (exit=N) is the supervisor's exit status (all of them, e.g. exit=0/sig=9, if its runs ended differently; tend must exit 0 in every run). Where the peers' time goes (a diagnosis run of \`sup_stop -d\`, which also watches the 50 with pidfds, when this row was written): s6-svscan's services are all dead after ~30 ms and reaped by ~40 ms (~40-60 ms in the table's runs); runsvdir's are all dead after ~45 ms, but some runsv notice only at their 1-s timeout, so the last is reaped at ~1.0 s; supervisord TERMs its programs a few per pass of its 1-s main loop, so the last one dies after ~9 s and supervisord exits after ~9-16 s (in the diagnosis run every program died of the TERM, none of the KILL supervisord sends after stopwaitsecs=10 s)."
}
