# Row: the loop's cost of health checks: 100 services, each with a TCP health probe every
# second, against one listener; tend's CPU time (user+system, from /proc/PID/stat) over a
# window, as % of one core. Target (issue 5): < 1%. For comparison, the same 100 services
# with exec probes (`exec = "true"`, a child per probe) and without probes.

row() {
    table "$READY_TABLE" tend target ok
    local win=60 warm=3 kind dir pid port lpid
    [ "$QUICK" = 1 ] && win=10
    dir=$(mktemp -d /tmp/tend-bench-probe.XXXXXX)
    track_dir "$dir"
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    python3 -c '
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(512)
while True:
    c, _ = s.accept(); c.close()' "$port" &
    lpid=$!
    track "$lpid"
    local -A pct=()
    local tck
    tck=$(getconf CLK_TCK)
    for kind in tcp exec none; do
        {
            echo 'shutdown_timeout = "10s"'
            for ((i = 0; i < 100; i++)); do
                printf '[service.s%03d]\ncommand = ["sleep", "100000"]\n' "$i"
                case $kind in
                tcp) printf 'health = { tcp = "127.0.0.1:%s", interval = "1s" }\n' "$port" ;;
                exec) printf 'health = { exec = ["true"], interval = "1s" }\n' ;;
                esac
            done
        } >"$dir/$kind.toml"
        "$TEND" run -c "$dir/$kind.toml" --socket "$dir/$kind.sock" >/dev/null 2>"$dir/$kind.err" &
        pid=$!
        track "$pid"
        sleep "$warm"
        local a b
        a=$(awk '{print $14 + $15}' "/proc/$pid/stat")
        sleep "$win"
        b=$(awk '{print $14 + $15}' "/proc/$pid/stat")
        pct[$kind]=$(calc "($b - $a) / $tck / $win * 100")
        kill -TERM "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
        grep -q "health check failed" "$dir/$kind.err" && log "probe row: $kind probes failed; see $dir/$kind.err"
    done
    emit "loop CPU, 100 services, TCP health probe every 1 s" "$(fmt "${pct[tcp]}" 3)% of a core" "< 1%" \
        "$(verdict "${pct[tcp]} < 1")"
    emit "… with exec probes (\`true\`, 100 children/s)" "$(fmt "${pct[exec]}" 3)% of a core" "(info)" "-"
    emit "… without probes" "$(fmt "${pct[none]}" 3)% of a core" "(info)" "-"
    note "probe CPU: 100 services \`sleep 100000\`, each with \`health = { tcp = \"127.0.0.1:PORT\", interval = \"1s\" }\` against one Python listener that accepts and closes; tend's utime+stime from /proc/PID/stat over ${win} s after ${warm} s of warm-up, as % of one core. The exec line runs \`true\` as each probe (a vfork+exec and a reap per probe); the last line has no probes."
}
