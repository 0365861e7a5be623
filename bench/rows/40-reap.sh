# Rows: reaping 10,000 zombies re-parented to the init. The method is in
# bench/src/reap.c (the driver) and bench/src/reap_helper.c (the init's main child).
# Floor: mininit (bench/src/mininit.c), a bare blocking wait() loop.
# Target: <= 1.0x tini (DESIGN.md: "reap 10,000 waiting zombies ... <= tini").

reap_row() { # reap_row FIGURE RUNS TARGET [-b]; TARGET "info..." means no verdict
    local fig=$1 runs=$2 target=$3
    shift 3
    table "$INIT_TABLE" "${INIT_COLS[@]}"
    local dir=$OUT/reap.d name b
    mkdir -p "$dir"
    local helper=("$OUT/reap_helper" -l "$@" 10000 "$dir") # "$@": -b for burst, as for reap
    local args=() ns=() flag=()
    [ "$PIDNS" = 1 ] || ns=(-n)
    for name in tend "${INIT_PEERS[@]}" floor; do
        case $name in
        tend) b=$TEND ;;
        floor) b=$OUT/mininit ;;
        *) b=$(peer_bin "$name") ;;
        esac
        [ -n "$b" ] || continue
        flag=()
        if [ "$PIDNS" = 0 ]; then
            # Not PID 1: the init must be a child subreaper to get the orphans.
            case $name in
            tend | tini | tini-static) flag=(-s) ;;
            dumb-init) continue ;; # no subreaper mode: n/a
            esac
        fi
        args+=(::: "$name" "$b" "${flag[@]}" -- "${helper[@]}")
    done
    local -A med=() bad=() cpu=()
    local m p mn n bd c
    while read -r name m p mn n bd c; do
        med[$name]=$m bad[$name]=$bd cpu[$name]=$c
    done < <(timeout -k 5 150 "$OUT/reap" "${ns[@]}" "$@" "$runs" "$dir" "${args[@]}")
    rm -rf "$dir"
    local cells=() cell
    for name in tend "${INIT_PEERS[@]}" floor; do
        m=${med[$name]:-}
        if is_num "$m"; then
            cell="$(fmt "$m" 1) ms"
            is_num "${cpu[$name]:-}" && cell+=" (cpu $(fmt "${cpu[$name]}" 1))"
            [ "${bad[$name]:-0}" != 0 ] && cell+=" (${bad[$name]} failed)"
        else
            cell=$NA
        fi
        cells+=("$cell")
    done
    local t=${med[tend]:-} ti=${med[tini]:-} ts=${med[tini-static]:-}
    local r1 r2 ok
    r1=$(ratio "$t" "$ti")
    [ "$r1" != "$NA" ] && [ "$(ratio "${cpu[tend]:-}" "${cpu[tini]:-}")" != "$NA" ] &&
        r1+=" (cpu $(ratio "${cpu[tend]}" "${cpu[tini]}"))"
    r2=$(ratio "$t" "$ts")
    [ "$r2" != "$NA" ] && [ "$(ratio "${cpu[tend]:-}" "${cpu[tini-static]:-}")" != "$NA" ] &&
        r2+=" (cpu $(ratio "${cpu[tend]}" "${cpu[tini-static]}"))"
    ok=$(verdict "${t:-None} <= ${ti:-None}")
    [[ $target == info* ]] && ok=info
    [ "${bad[tend]:-0}" != 0 ] && ok="MISS (failures)"
    emit "$fig" "${cells[@]}" "$r1" "$r2" "$target" "$ok"
}

row() {
    local runs=20 bruns=8
    [ "$QUICK" = 1 ] && runs=2 bruns=2
    local where="as PID 1 of a new pid namespace (clone(CLONE_NEWPID))"
    [ "$PIDNS" = 1 ] || where="as a child subreaper (-s for tini/tend; catatonit is one by default; dumb-init has no such mode: n/a)"
    reap_row "reap 10,000 waiting zombies" "$runs" "≤ 1.0x tini"
    reap_row "reap 10,000 orphans exiting at once" "$bruns" "info: kernel-bound, noisy" -b
    note "reap 10,000 waiting zombies: each init runs $where, with bench/src/reap_helper.c as its main child. The helper's spawner makes 10,000 children (clone(CLONE_VM), to make them fast; as zombies they are like any other) that exit at once, and holds them as zombies (waitid WNOWAIT). The driver (bench/src/reap.c) SIGSTOPs the init; the spawner exits, which re-parents the 10,000 zombies to the stopped init. t0, SIGCONT to the init; the helper polls kill(pid, 0) for every pid until ESRCH (a zombie still answers, only a reaped pid gives ESRCH): t1. Median wall time t1 - t0 of $runs runs per init, interleaved; (cpu x) is the median CPU the init itself ran over [t0, t1] (/proc/PID/schedstat), steadier than wall time on a loaded machine. The init must exit 0. Floor: \`mininit\` (bench/src/mininit.c), a bare blocking wait() loop. The kernel's own cost per reap (release_task) dominates, so expect every init near the floor."
    note "reap 10,000 orphans exiting at once: the 10,000 are orphaned to the running init while blocked on a pipe; t0 is taken as the pipe is released and they all exit, so the figure includes the kernel tearing 10,000 processes down on 2 CPUs while the init reaps (do_exit against the reaper's wait() scans of its 10,000 children, both on tasklist_lock). $bruns runs per init. Every init makes one wait4() per zombie here too (checked with perf on the syscalls:sys_exit_wait4 tracepoint when this row was written: about 10,004 calls each, 2 of them empty), but how far the reaper runs ahead of the exits decides how many still-running children each wait4() walks past under tasklist_lock, so the figure swings by 2x from run to run: a sanity check, no verdict; the row above is the comparison."
}
