# Helpers for bench/run.sh and the rows under bench/rows/. Sourced, not run.
# Everything here writes to $RESULTS (the markdown) or $OUT (scratch); progress and
# diagnostics go to stderr.

NA="n/a"

log() { printf '[bench %s] %s\n' "$(date +%T)" "$*" >&2; }

# ---- processes: everything a row starts in the background is tracked and killed on exit.
BENCH_PIDS=()
track() { BENCH_PIDS+=("$1"); }
# track_dir DIR: a scratch directory outside $OUT, removed by cleanup (after the row, or
# on an interrupt).
BENCH_DIRS=()
track_dir() { BENCH_DIRS+=("$1"); }

# descendants PID: PID's children (of every thread) and theirs, recursively, one a line.
# Bash builtins only: the supervisor rows run it in polling loops.
descendants() {
    local f c kids
    for f in /proc/"$1"/task/*/children; do
        kids=()
        read -r -a kids 2>/dev/null <"$f"
        for c in "${kids[@]}"; do
            echo "$c"
            descendants "$c"
        done
    done
}

# kill_tree PID: SIGKILL PID and all its descendants (listed from /proc first, so that
# grandchildren such as a supervisor's services are not left behind re-parented); reap
# PID if it is ours.
kill_tree() {
    local pid=$1 kids
    kids=$(descendants "$pid")
    kill -KILL "$pid" 2>/dev/null || true
    # shellcheck disable=SC2086
    [ -n "$kids" ] && kill -KILL $kids 2>/dev/null
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    local p
    for p in "${BENCH_PIDS[@]}"; do
        kill -0 "$p" 2>/dev/null && kill_tree "$p"
    done
    BENCH_PIDS=()
    for p in "${BENCH_DIRS[@]}"; do
        [ -d "$p" ] && rm -rf "$p"
    done
    BENCH_DIRS=()
}

# ---- numbers
# stats: numbers on stdin (one a line) -> "median p90 min n", or "n/a n/a n/a 0".
stats() {
    python3 -c '
import sys
v = sorted(float(x) for x in sys.stdin.read().split())
if not v:
    print("n/a n/a n/a 0"); sys.exit()
n = len(v)
med = v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2
print(f"{med:.6g} {v[int(0.9 * (n - 1))]:.6g} {v[0]:.6g} {n}")'
}

is_num() { [[ ${1:-} =~ ^[0-9]+([.][0-9]+)?([eE][-+]?[0-9]+)?$ ]]; }

# calc EXPR: python arithmetic on already-validated numbers.
calc() { python3 -c "print($1)"; }

# ratio A B [DIGITS] -> "1.02x", or n/a unless both are numbers and B > 0.
ratio() {
    if is_num "${1:-}" && is_num "${2:-}" && [ "$(calc "$2 > 0")" = True ]; then
        python3 -c "print(f'{$1 / $2:.${3:-2}f}x')"
    else
        echo "$NA"
    fi
}

# verdict CONDITION-AS-PYTHON -> PASS or MISS (n/a if the condition cannot be evaluated).
verdict() {
    local r
    r=$(python3 -c "print($1)" 2>/dev/null) || { echo "$NA"; return; }
    case $r in True) echo PASS ;; False) echo MISS ;; *) echo "$NA" ;; esac
}

# fmt NUMBER [DIGITS]: fixed-point, or the input unchanged if it is not a number.
fmt() { if is_num "${1:-}"; then python3 -c "print(f'{$1:.${2:-2}f}')"; else echo "${1:-$NA}"; fi; }

# ms_p90 MEDIAN_US P90_US DIGITS [MORE] -> "0.287 ms (p90 0.356[; MORE])", from microseconds.
ms_p90() {
    echo "$(fmt "$(calc "$1 / 1000")" "$3") ms (p90 $(fmt "$(calc "$2 / 1000")" "$3")${4:+; $4})"
}

# ---- hyperfine
# hyperfine_rounds PREFIX ROUNDS RUNS WARMUP NAME CMD [NAME CMD]...: ROUNDS runs of
# `hyperfine -N` over all the commands, each round in a rotated order, so that a burst of
# noise hits every command rather than whichever one hyperfine happened to be running.
# Writes $OUT/PREFIX-R.json and .log for round R (after removing $OUT/PREFIX-*.json).
hyperfine_rounds() {
    local prefix=$1 rounds=$2 runs=$3 warmup=$4 r k i
    shift 4
    local -a names=() cmds=() order
    while [ $# -ge 2 ]; do
        names+=("$1") cmds+=("$2")
        shift 2
    done
    local n=${#cmds[@]}
    rm -f "$OUT/$prefix"-*.json
    for ((r = 0; r < rounds; r++)); do
        order=()
        for ((k = 0; k < n; k++)); do
            i=$(((k + r) % n))
            order+=(-n "${names[$i]}" "${cmds[$i]}")
        done
        hyperfine -N --style basic --warmup "$warmup" --runs "$runs" --export-json "$OUT/$prefix-$r.json" \
            "${order[@]}" >"$OUT/$prefix-$r.log" 2>&1 || log "hyperfine failed; see $OUT/$prefix-$r.log"
    done
}

# hyperfine_medians JSON... -> "NAME MEDIAN_MS" a command, over the samples of all the
# files pooled. A file in which a command exited non-zero is left out for that command
# (and said on stderr); a file that cannot be read is skipped.
hyperfine_medians() {
    python3 - "$@" <<'PY'
import json, sys, statistics
pool = {}
for path in sys.argv[1:]:
    try:
        for res in json.load(open(path))["results"]:
            if all(c == 0 for c in res.get("exit_codes", [0])):
                pool.setdefault(res["command"], []).extend(res["times"])
            else:
                print("failed", res["command"], file=sys.stderr)
    except Exception:
        pass
for name, t in pool.items():
    print(name, statistics.median(t) * 1000)
PY
}

# ---- peers
# peer_bin NAME -> path of an installed peer, or nothing. Missing peers become n/a cells.
# BENCH_SKIP="dumb-init catatonit" treats those peers as missing (to test the n/a paths).
peer_bin() {
    [[ " ${BENCH_SKIP:-} " == *" $1 "* ]] && return 1
    case $1 in
    tini-static) [ -x /usr/bin/tini-static ] && echo /usr/bin/tini-static || command -v tini-static ;;
    *) command -v "$1" ;;
    esac 2>/dev/null
}

# ---- the table
# table TITLE COLUMN...: start a table (a "### TITLE" section) unless the last row used
# the same TITLE. Columns after "figure"; rows must emit exactly that many cells after it.
CUR_TABLE=""
CUR_COLS=0
table() {
    local title=$1
    shift
    [ "$title" = "$CUR_TABLE" ] && return
    CUR_TABLE=$title
    CUR_COLS=$#
    {
        printf '\n### %s\n\n| figure |' "$title"
        printf ' %s |' "$@"
        printf '\n|---|'
        printf -- '---|%.0s' "$@"
        printf '\n'
    } >>"$RESULTS"
}

# emit FIGURE CELL...: one table line. Missing cells are padded with n/a.
emit() {
    local line="| $1 |" i=1
    shift
    for ((i = 1; i <= CUR_COLS; i++)); do
        line+=" ${1:-$NA} |"
        [ $# -gt 0 ] && shift
    done
    printf '%s\n' "$line" >>"$RESULTS"
    log "row: $line"
}

# note TEXT: a line for the method notes printed after the tables.
note() { printf -- '- %s\n' "$*" >>"$NOTES"; }
