# Rows: one-shot jobs (issue 6). tend runs the 10 services of the control rows; beside
# them:
# - jobs/s of `tend spawn --attach -- /bin/true` as a whole CLI process (hyperfine -N, as
#   row 92): the client starts, connects, spawns, streams, exits with the job's status;
#   against /bin/true run directly by hyperfine, and against a plain fork+exec+wait loop
#   of /bin/true (bench/src/ctl_bench.c `job`, per-iteration median);
# - the in-protocol round trip, one connection: SPAWN then WAIT, and SPAWN with attach,
#   against fork+exec+wait in the client (bench/src/ctl_bench.c `job`), p50 and p99.
# The issue sets no target: the rows are for orientation ("info").

# ctl_mkdir, ctl_prepare, ctl_start_tend
# shellcheck source=bench/rows/90-ctl-ping-rtt.sh
. "$BENCH/rows/90-ctl-ping-rtt.sh"

JOBS_TABLE="Jobs"
JOBS_COLS=(tend /bin/true fork+exec tend/true tend/fork+exec target ok)

# jobs_rate MS -> "N/s" from a median wall time in ms.
jobs_rate() { if is_num "${1:-}"; then echo "$(fmt "$(calc "1000 / $1")" 0)/s"; else echo "$NA"; fi; }

row() {
    table "$JOBS_TABLE" "${JOBS_COLS[@]}"
    local rounds=3 runs=300 warmup=30 iters=2000 warm=200 dir truebin=/bin/true
    [ "$QUICK" = 1 ] && rounds=1 runs=100 iters=500 warm=50
    [ -x $truebin ] || truebin=/usr/bin/true
    ctl_mkdir dir || return 1
    ctl_prepare "$dir"
    ctl_start_tend "$dir" || return 1 # cleanup kills tend and removes $dir

    # In-protocol round trips, and the fork+exec+wait loop (medians of per-iteration
    # times, like hyperfine's below).
    local -A p50=() p99=()
    local name a b c d e
    while read -r name a b c d e; do
        p50[$name]=$a p99[$name]=$c
    done < <(timeout -k 5 120 "$OUT/ctl_bench" job "$dir/tend.sock" "$truebin" "$iters" "$warm" "$rounds")

    # Whole CLI processes.
    local fig='jobs/s, `tend spawn --attach -- /bin/true` as a whole CLI process'
    local -A med=()
    local m
    if command -v hyperfine >/dev/null; then
        hyperfine_rounds jobs-cli "$rounds" "$runs" "$warmup" \
            tend "$TEND spawn --attach --socket $dir/tend.sock -- $truebin" true "$truebin"
        while read -r name m; do med[$name]=$m; done < <(hyperfine_medians "$OUT"/jobs-cli-*.json)
    fi
    kill_tree "$CTL_TEND_PID"
    rm -rf "$dir"
    local t=${med[tend]:-} tr=${med[true]:-} fe=${p50[fork-exec]:-}
    local fe_ms="" tcell="$NA" trcell="$NA" fcell="$NA" rf="$NA"
    is_num "$fe" && fe_ms=$(calc "$fe / 1000")
    is_num "$t" && tcell="$(jobs_rate "$t") ($(fmt "$t" 3) ms)"
    is_num "$tr" && trcell="$(jobs_rate "$tr") ($(fmt "$tr" 3) ms)"
    is_num "$fe_ms" && fcell="$(jobs_rate "$fe_ms") ($(fmt "$fe_ms" 3) ms)"
    # Ratios of rates (jobs/s): tend's over the other's.
    is_num "$t" && is_num "$fe_ms" && rf=$(ratio "$fe_ms" "$t")
    emit "$fig" "$tcell" "$trcell" "$fcell" "$(ratio "${tr:-}" "${t:-}")" "$rf" "(none set)" "info"

    cell() { # cell NAME -> "p50 X µs (p99 Y)"
        is_num "${p50[$1]:-}" || { echo "$NA"; return; }
        echo "p50 $(ctl_us "${p50[$1]}") µs (p99 $(ctl_us "${p99[$1]}"))"
    }
    emit "in-protocol round trip of a \`/bin/true\` job: SPAWN then WAIT" "$(cell spawn-wait)" "$NA" \
        "$(cell fork-exec)" "$NA" "$(ratio "${p50[spawn-wait]:-}" "$fe")" "(none set)" "info"
    emit "in-protocol round trip of a \`/bin/true\` job: SPAWN with attach" "$(cell spawn-attach)" "$NA" \
        "$(cell fork-exec)" "$NA" "$(ratio "${p50[spawn-attach]:-}" "$fe")" "(none set)" "info"
    unset -f cell
    note "jobs: tend runs the 10 services \`sleep infinity\` of the control rows. Whole process: hyperfine -N, $rounds round(s) × $runs runs (+$warmup warm-up) of \`tend spawn --attach --socket SOCK -- $truebin\` (connect, hello, SPAWN with attach, the JOB replies, exit with the job's status) and of \`$truebin\` alone, order rotated each round, median of the pooled samples, shown as jobs/s = 1000 / median ms. fork+exec: a plain loop of fork(); execv($truebin); waitpid() in bench/src/ctl_bench.c \`job\`, each iteration timed, median (the same statistic as hyperfine's; a rate over a window would fold in the long tail of this shared machine). In-protocol: the same program, one connection, $rounds round(s) × $iters round trips (+$warm warm-up) per group, rotated with the fork+exec loop: SPAWN {command: [$truebin]}, its JOB, WAIT for it, the JOB that says it ended; or one SPAWN with attach and the JOB that ends its stream. Ratios: tend/true and tend/fork+exec of jobs/s (whole process), of times (in-protocol). A job is a unit like a service (spawned through the same path: new session, signal mask reset, stdio pipes registered with the loop, reaped by the one reaper), so the difference to fork+exec is that path plus the protocol."
}
