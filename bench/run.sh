#!/usr/bin/env bash
# bench/run.sh TEND_BINARY [ROW...]
#
# Measures tend side by side with its peers in ONE run and writes a markdown table to
# bench/out/results.md (and prints it). The machine is shared and noisy, so every figure
# is a median, every row carries the peers (and a floor) measured in the same run, and
# the verdict is a ratio against a peer (DESIGN.md, "Numbers it must reach").
# `make bench` installs what this needs (./scripts/deps.sh bench): bash, gcc, python3,
# hyperfine, util-linux, and the peers; a missing peer is reported as n/a.
#
# ROW...: optional name filters; only rows whose file name contains one of them run
# (e.g. `bench/run.sh target/.../tend reap sigterm`).
#
# HOW TO ADD A ROW
#   Add bench/rows/NN-name.sh (NN orders the rows; files run in name order). run.sh
#   sources it and then calls the function `row` it must define (and unsets it again).
#   `row` measures and writes table lines through bench/lib.sh:
#     table "TITLE" COL...   start a table with these columns after "figure" (a no-op if
#                            the previous row used the same TITLE). The init rows use
#                            table "$INIT_TABLE" "${INIT_COLS[@]}"; a supervisor row would
#                            use e.g. table "Supervisor" tend supervisord s6-svscan
#                            runsvdir floor tend/supervisord target ok.
#     emit FIGURE CELL...    one line; cells in the table's column order, n/a if missing.
#     note TEXT              one line for the method notes under the tables.
#   Helpers: peer_bin NAME (path or empty), stats (stdin -> "median p90 min n"),
#   ratio A B, verdict PY-EXPR (PASS/MISS), fmt, ms_p90, log, track PID (it and its
#   descendants killed after the row and at exit), track_dir DIR (a scratch directory
#   removed then), kill_tree PID, descendants PID, hyperfine_rounds and hyperfine_medians
#   (hyperfine in rotated rounds, samples pooled).
#   Variables: $TEND (absolute path), $BENCH (bench/), $OUT (bench/out/, git-ignored;
#   helpers from bench/src/*.c are compiled there as $OUT/NAME; what the C drivers share
#   is in bench/src/common.h), $PIDNS (1 if the machine allows new pid namespaces),
#   $QUICK (1: fewer repetitions, for trying a row).
#   A row must clean up every process it starts and should take well under a minute;
#   a row that fails is reported and the run goes on.
#
# Environment: BENCH_QUICK=1 for fewer repetitions; BENCH_VERBOSE=1 to see the inits'
# stderr in the sigterm row; BENCH_SKIP="PEER..." to treat peers as not installed.
set -uo pipefail

if [ $# -lt 1 ] || [ ! -x "$1" ]; then
    echo "usage: $0 TEND_BINARY [ROW...]" >&2
    exit 2
fi
TEND=$(realpath "$1")
shift
ROW_FILTERS=("$@")

BENCH=$(cd "$(dirname "$0")" && pwd)
OUT=$BENCH/out
RESULTS=$OUT/results.md
NOTES=$OUT/notes.tmp
QUICK=${BENCH_QUICK:-0}
export TEND BENCH OUT QUICK
mkdir -p "$OUT"

# shellcheck source=bench/lib.sh
. "$BENCH/lib.sh"

trap 'cleanup' EXIT
trap 'log "interrupted"; cleanup; exit 130' INT TERM

for tool in gcc python3; do
    command -v "$tool" >/dev/null || { echo "bench: $tool is required (make deps-bench)" >&2; exit 2; }
done

# ---- helpers: every bench/src/X.c becomes $OUT/X. reap_helper forks 10,000 times, so it
# is linked statically when libc.a is there (a smaller address space forks faster). A
# source with the line " * bench: static" is linked statically too; " * bench: static-musl"
# with musl-gcc (musl-tools) first, as tend is (the floor of a whole-process row), else
# glibc -static, else dynamically.
log "compiling helpers"
for src in "$BENCH"/src/*.c; do
    name=$(basename "$src" .c)
    flags=(-O2 -Wall -Wextra -pthread)
    link=dynamic
    [ "$name" = reap_helper ] && link=static
    grep -qx ' \* bench: static' "$src" && link=static
    grep -qx ' \* bench: static-musl' "$src" && link=static-musl
    if [ $link = static-musl ] && command -v musl-gcc >/dev/null &&
        musl-gcc "${flags[@]}" -static -o "$OUT/$name" "$src" 2>/dev/null; then
        continue
    fi
    if [ $link != dynamic ] && gcc "${flags[@]}" -static -o "$OUT/$name" "$src" 2>/dev/null; then
        continue
    fi
    gcc "${flags[@]}" -o "$OUT/$name" "$src" || { echo "bench: cannot compile $src" >&2; exit 2; }
done

PIDNS=0
unshare -fp true 2>/dev/null && PIDNS=1
export PIDNS

# The init table: tend, the four peers, the floor, and ratios against tini and tini-static.
INIT_PEERS=(tini tini-static dumb-init catatonit)
INIT_TABLE="Init (tini-compatible)"
INIT_COLS=(tend "${INIT_PEERS[@]}" floor tend/tini tend/tini-static target ok)

# ---- header: what ran where
{
    echo "# tend bench"
    echo
    echo "- date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    echo "- machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), kernel $(uname -r), load at start: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "- tend: $TEND ($( (cd "$BENCH/.." && git describe --always --dirty 2>/dev/null) || echo '?'))"
    for p in "${INIT_PEERS[@]}"; do
        b=$(peer_bin "$p")
        if [ -n "$b" ]; then
            v=$(dpkg -S "$b" 2>/dev/null | cut -d: -f1 | head -1)
            [ -n "$v" ] && v="$v $(dpkg-query -W -f='${Version}' "$v" 2>/dev/null)"
            echo "- $p: $b${v:+ (Debian $v)}"
        else
            echo "- $p: not installed (n/a)"
        fi
    done
    echo "- hyperfine: $(hyperfine --version 2>/dev/null || echo 'not installed (n/a)')"
    echo "- pid namespaces: $([ "$PIDNS" = 1 ] && echo yes || echo 'no (subreaper mode)')"
    echo "- medians; \"ok\" is PASS/MISS against the target; ratios are tend / peer in this run"
} >"$RESULTS"
: >"$NOTES"

# ---- the rows
started=$(date +%s)
for f in "$BENCH"/rows/*.sh; do
    name=$(basename "$f" .sh)
    if [ ${#ROW_FILTERS[@]} -gt 0 ]; then
        keep=0
        for w in "${ROW_FILTERS[@]}"; do [[ $name == *"$w"* ]] && keep=1; done
        [ $keep = 1 ] || continue
    fi
    log "row $name"
    unset -f row
    # shellcheck source=/dev/null
    . "$f"
    if ! declare -F row >/dev/null; then
        log "$f defines no row function; skipped"
        continue
    fi
    t0=$(date +%s)
    row || log "row $name failed (status $?)"
    cleanup
    log "row $name took $(($(date +%s) - t0)) s"
    unset -f row
done

{
    echo
    echo "Load at end: $(cut -d' ' -f1-3 /proc/loadavg); whole run $(($(date +%s) - started)) s."
    if [ -s "$NOTES" ]; then
        echo
        echo "### Method"
        echo
        cat "$NOTES"
    fi
} >>"$RESULTS"
rm -f "$NOTES"

echo
cat "$RESULTS"
