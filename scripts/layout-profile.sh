#!/usr/bin/env bash
# scripts/layout-profile.sh: regenerate scripts/layout.ld (`make layout`).
#
# The static build links with scripts/layout.ld (.cargo/config.toml), which puts the
# code and read-only data of tend's hot paths ahead of everything else. This script
# finds them: it builds the musl binary as `make static` does, with a linker map, runs
# the hot paths under valgrind's lackey tool (every instruction fetch and data
# access), and hands the map and traces to scripts/layout.py. Run it after changes
# that move much code on these paths, a version bump or a new toolchain (both change
# every symbol hash: the layout then falls back on its patterns), and commit the new
# layout.ld (bench rows 20, 50, 60 and 92 show whether it was needed). Not needed to
# build: the build only reads the committed layout.ld. Needs valgrind (`make layout`
# installs it).
#
# The hot paths, in this order (what comes first is packed first):
#   1. `tend -- sleep 1000` up to idle, then SIGTERM to exit: the init as bench rows 20
#      and 50 run it (tini's command line, not PID 1, so the subreaper warning too);
#   2. `tend -- /bin/true` (bench row 30);
#   3. `tend status s05`, `tend ls` and `tend version` against a running `tend run` with
#      10 services (bench row 92);
#   4. that `tend run` itself: start-up, 10 services spawned, idle, the requests of 3.,
#      SIGTERM and shutdown (bench rows 60-91).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
command -v valgrind >/dev/null || { echo "layout-profile: needs valgrind (./scripts/deps.sh layout)" >&2; exit 2; }

musl=x86_64-unknown-linux-musl
target=$root/target/layout-profile
# The map, the traces and a report of every hot section stay in $work for a look.
work=$target/work
rm -rf "$work"
mkdir -p "$work"
# `tend run`'s config and socket in a short path (a socket path has 108 bytes at most).
sock_dir=$(mktemp -d /tmp/tend-layout.XXXXXX)
run_pid=""
cleanup() {
    [ -n "$run_pid" ] && kill -TERM "$run_pid" 2>/dev/null && wait "$run_pid" 2>/dev/null
    rm -rf "$sock_dir"
}
trap cleanup EXIT

# The same profile as `make static` (the same code, and the same symbol names: cargo
# hashes the profile, strip included, into every Rust symbol), plus a linker map, which
# names every input section whether or not the binary keeps its symbols, and without
# the current layout. RUSTFLAGS (not part of those hashes) replaces the config's
# rustflags; the linker (rust-lld) still comes from it.
echo "layout-profile: building (with a linker map) in $target" >&2
RUSTFLAGS="-C relocation-model=static -C link-arg=-Map=$work/tend.map" \
    CARGO_TARGET_DIR=$target \
    cargo build --release --target $musl >&2
bin=$target/$musl/release/tend

# lackey BASENAME CMD...: run CMD traced; each process's trace in $work/BASENAME.PID
# (the clone child of a spawn too: until it execs, it runs tend's code in tend's
# memory). Backgrounded with &, $! is valgrind itself (exec: no subshell in between).
lackey() {
    local base=$1
    shift
    exec valgrind --tool=lackey --trace-mem=yes --log-file="$work/$base.%p" "$@"
}

# traces BASENAME: its trace files, the first process's first.
traces() {
    local f
    for f in "$work/$1".*; do echo "${f##*.} $f"; done | sort -n | cut -d' ' -f2-
}

wait_child_exec() { # wait_child_exec PID COMM: until PID has a child named COMM
    local pid=$1 comm=$2 i kid
    for ((i = 0; i < 3000; i++)); do
        for kid in $(cat "/proc/$pid/task/$pid/children" 2>/dev/null); do
            [ "$(cat "/proc/$kid/comm" 2>/dev/null)" = "$comm" ] && return 0
        done
        sleep 0.01
    done
    echo "layout-profile: $comm never started under $pid" >&2
    return 1
}

echo "layout-profile: 1. tend -- sleep 1000, SIGTERM" >&2
lackey init "$bin" -- sleep 1000 </dev/null >/dev/null 2>&1 &
pid=$!
wait_child_exec "$pid" sleep
sleep 0.5
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
[ "$rc" = 143 ] || { echo "layout-profile: tend -- sleep exited $rc, not 143" >&2; exit 1; }

echo "layout-profile: 2. tend -- /bin/true" >&2
(lackey true "$bin" -- /bin/true </dev/null >/dev/null 2>&1)

echo "layout-profile: 3. tend run with 10 services; tend status, ls, version against it" >&2
{
    for i in 01 02 03 04 05 06 07 08 09 10; do
        printf '[service.s%s]\ncommand = ["sleep", "infinity"]\nstdout = "null"\nstderr = "null"\n' "$i"
    done
} >"$sock_dir/tend.toml"
lackey run "$bin" run -c "$sock_dir/tend.toml" --socket "$sock_dir/tend.sock" </dev/null >/dev/null 2>&1 &
run_pid=$!
for ((i = 0; i < 1500; i++)); do
    "$bin" status s10 --socket "$sock_dir/tend.sock" >/dev/null 2>&1 && break
    sleep 0.02
done
sleep 1
(lackey status "$bin" status s05 --socket "$sock_dir/tend.sock" >/dev/null)
(lackey ls "$bin" ls --socket "$sock_dir/tend.sock" >/dev/null)
(lackey version "$bin" version --socket "$sock_dir/tend.sock" >/dev/null)
kill -TERM "$run_pid"
rc=0
wait "$run_pid" || rc=$?
run_pid=""
[ "$rc" = 0 ] || { echo "layout-profile: tend run exited $rc, not 0" >&2; exit 1; }

mapfile -t all < <(traces init; traces true; traces status; traces ls; traces version; traces run)
# Hot natively, but never under valgrind, which gives no vDSO to the program: musl's
# __vdsosym, the vDSO lookup behind the first clock_gettime (tend run's), calls strcmp.
also=(--also '*(.text.strcmp)')
python3 scripts/layout.py --report "$work/report.txt" "${also[@]}" "$work/tend.map" "${all[@]}" >scripts/layout.ld
grep -v '^    ' "$work/report.txt" >&2
echo "layout-profile: wrote scripts/layout.ld ($(grep -c '^    \*' scripts/layout.ld) patterns; every section: $work/report.txt)" >&2
