# Row: time from a service's sd_notify READY=1 to the start of the service that depends
# on it (`depends_on = { db = "ready" }`). Target (issue 5): < 1 ms.
#
# Method: db is bench/src/notify_ready.c (stamps CLOCK_REALTIME, then sends READY=1 to its
# $NOTIFY_SOCKET); web is bench/src/stamp.c (stamps CLOCK_REALTIME first thing in main).
# Two figures per start: READY=1 -> tend's event "web waiting->starting" (tend read the
# datagram and decided to start web), and READY=1 -> web's first instruction (after
# tend's spawn and the kernel's exec), which the target applies to.
# Each sample is a fresh `tend run`; median and p90 over the samples.

READY_TABLE="Readiness"

row() {
    table "$READY_TABLE" tend target ok
    local n=30 i dir pid
    [ "$QUICK" = 1 ] && n=5
    local spawn_us=() run_us=()
    for ((i = 0; i < n; i++)); do
        dir=$(mktemp -d /tmp/tend-bench-ready.XXXXXX)
        track_dir "$dir"
        cat >"$dir/tend.toml" <<EOF
[service.db]
command = ["$OUT/notify_ready", "$dir/ready", "20"]
ready = "notify"
[service.web]
command = ["$OUT/stamp", "$dir/web"]
restart = "never"
depends_on = { db = "ready" }
EOF
        "$TEND" run -c "$dir/tend.toml" --socket "$dir/tend.sock" >/dev/null 2>"$dir/err" &
        pid=$!
        track "$pid"
        local t=0
        while [ ! -s "$dir/web" ] && [ $t -lt 500 ]; do
            sleep 0.01
            t=$((t + 1))
        done
        kill -TERM "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
        [ -s "$dir/web" ] && [ -s "$dir/ready" ] || { log "ready row: sample $i produced no stamps"; continue; }
        local r w e
        r=$(<"$dir/ready") w=$(<"$dir/web")
        e=$(python3 - "$dir/err" <<'EOF'
import re, sys, datetime
for line in open(sys.argv[1]):
    m = re.search(r"\| (\S+) web waiting->starting", line)
    if m:
        t = datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)
        print(int(t.timestamp()) * 1000000 + t.microsecond)
        break
EOF
        )
        is_num "$e" && spawn_us+=("$((e - r))")
        run_us+=("$((w - r))")
        rm -rf "$dir"
    done
    local sm sp smin sn rm_ rp rmin rn
    read -r sm sp smin sn < <(printf '%s\n' "${spawn_us[@]}" | stats)
    read -r rm_ rp rmin rn < <(printf '%s\n' "${run_us[@]}" | stats)
    emit "READY=1 → tend starts the dependent (its event)" "$(ms_p90 "$sm" "$sp" 3 "n=$sn")" "(info)" "-"
    emit "READY=1 → dependent's first instruction" "$(ms_p90 "$rm_" "$rp" 3 "n=$rn")" "< 1 ms" \
        "$(verdict "$rm_ < 1000")"
    note "READY=1 → dependent: db (bench/src/notify_ready.c, \`ready = \"notify\"\`) stamps CLOCK_REALTIME and sends READY=1 to \$NOTIFY_SOCKET; web (\`depends_on = { db = \"ready\" }\`, bench/src/stamp.c) stamps CLOCK_REALTIME first thing. \"tend starts\" = the time stamp of tend's event \`web waiting->starting\` (the datagram read, the dependency met, before the spawn); first instruction = web's own stamp, after tend's spawn (clone3 into its cgroup, created while it waited) and the exec. $n fresh \`tend run\`s, median (p90)."
}
