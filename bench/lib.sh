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
descendants() {
    local f c
    for f in /proc/"$1"/task/*/children; do
        for c in $(cat "$f" 2>/dev/null); do
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
