# Rows: reaping 10,000 zombies re-parented to the init (see bench/src/reap.c and
# reap_helper.c for the method). Floor: mininit, a bare blocking wait() loop.
# Target: <= 1.0x tini.

reap_row() { # reap_row FIGURE RUNS [-b]
    local fig=$1 runs=$2
    shift 2
    table "$INIT_TABLE" "${INIT_COLS[@]}"
    local nz=10000
    local dir=$OUT/reap.d name b
    mkdir -p "$dir"
    local helper=("$OUT/reap_helper" "$nz" "$dir")
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
    local -A med=() p90=() bad=()
    local m p mn n bd
    while read -r name m p mn n bd; do
        med[$name]=$m p90[$name]=$p bad[$name]=$bd
    done < <(timeout -k 5 150 "$OUT/reap" "${ns[@]}" "$@" "$runs" "$nz" "$dir" "${args[@]}")
    rm -rf "$dir"
    local cells=() c
    for name in tend "${INIT_PEERS[@]}" floor; do
        m=${med[$name]:-}
        if is_num "$m"; then
            c="$(fmt "$m" 1) ms"
            [ "${bad[$name]:-0}" != 0 ] && c+=" (${bad[$name]} failed)"
        else
            c=$NA
        fi
        cells+=("$c")
    done
    local t=${med[tend]:-} ti=${med[tini]:-}
    local ok
    ok=$(verdict "${t:-None} <= ${ti:-None}")
    [ "${bad[tend]:-0}" != 0 ] && ok="MISS (failures)"
    emit "$fig" "${cells[@]}" "$(ratio "$t" "$ti")" "$(ratio "$t" "${med[tini-static]:-}")" "≤ 1.0x tini" "$ok"
}

row() {
    local where="as PID 1 of a new pid namespace (clone(CLONE_NEWPID))"
    [ "$PIDNS" = 1 ] || where="as a child subreaper (-s for tini/tend; catatonit is one by default; dumb-init has no such mode: n/a)"
    local runs=5
    [ "$QUICK" = 1 ] && runs=2
    reap_row "reap 10,000 waiting zombies" "$runs"
    reap_row "reap 10,000 orphans exiting at once" "$runs" -b
    note "reap 10,000 waiting zombies: each init runs $where with the helper as its main child. The helper forks a spawner that forks 10,000 grandchildren blocked on a pipe, and exits: they are orphaned to the init. The driver SIGSTOPs the init, the helper closes the pipe, all 10,000 exit and stay zombies; once /proc shows all in state Z the driver takes t0 and SIGCONTs the init; the helper polls kill(pid, 0) until ESRCH (only a reaped pid gives ESRCH, a zombie answers) for every pid and takes t1. Median of $runs runs per init, interleaved; the init must exit 0. Floor: \`mininit\` (bench/src/mininit.c), a plain blocking wait() loop."
    note "reap 10,000 orphans exiting at once: the same, but the init is not stopped: t0 is taken as the pipe is closed, so the figure includes the kernel tearing 10,000 processes down while the init reaps. It is dominated by the kernel (do_exit against the reaper's wait scans on tasklist_lock) and very noisy on 2 CPUs: read it as a sanity check, the row above is the comparison."
}
