# Row: forwarding through the HTTP ingress. wrk on loopback against tend's ingress
# (`[ingress]` routing to a service's Unix socket), against nginx (Debian nginx-light)
# proxying to the same socket with kept-alive upstream connections, and against the
# upstream directly over TCP (the floor): requests/s and p50/p99 latency at 1, 16 and 256
# connections, all in one run. The upstream is bench/src/http_upstream.c (one epoll
# thread answering a 13-byte body), started by tend as its service so that every path
# reaches the same process. Targets (issue 7): >= 0.8x nginx's requests/s; tend's p50 at
# most 50 µs above the direct one.

INGRESS_TABLE="Ingress (wrk, loopback)"

# ingress_wrk URL CONNS SECONDS [CPU] -> "REQ_PER_S P50_US P99_US", or nothing on
# failure; wrk runs on CPU if given.
ingress_wrk() {
    local out
    local -a pin=()
    [ -n "${4:-}" ] && pin=(taskset -c "$4")
    out=$("${pin[@]}" wrk -t1 -c"$2" -d"$3"s --latency "$1" 2>&1) || return 1
    python3 - "$out" <<'PY'
import re, sys
t = sys.argv[1]
def us(v, unit):
    return float(v) * {"us": 1, "ms": 1e3, "s": 1e6}[unit]
rps = re.search(r"Requests/sec:\s+([\d.]+)", t)
p50 = re.search(r"\s50%\s+([\d.]+)(us|ms|s)\b", t)
p99 = re.search(r"\s99%\s+([\d.]+)(us|ms|s)\b", t)
errs = re.search(r"Non-2xx or 3xx responses: (\d+)", t)
if not (rps and p50 and p99) or errs:
    sys.exit(1)
print(rps.group(1), us(*p50.groups()), us(*p99.groups()))
PY
}

# Run wrk against tend, nginx (when $ngx is set) and the upstream directly with $1
# connections (on CPU $2 when given), and emit the two rows named by $3: requests/s, and
# p50 / p99 with what tend adds; $4 is the p50 target ("" for information only). Reads
# tport, nport, dport, ngx and secs from the caller.
ingress_rows() {
    local conns=$1 cpu=$2 label=$3 target=$4
    local t n d
    t=$(ingress_wrk "http://127.0.0.1:$tport/" "$conns" "$secs" "$cpu") || t=""
    n=""
    [ -n "$ngx" ] && { n=$(ingress_wrk "http://127.0.0.1:$nport/" "$conns" "$secs" "$cpu") || n=""; }
    d=$(ingress_wrk "http://127.0.0.1:$dport/" "$conns" "$secs" "$cpu") || d=""
    local tr tp50 tp99 nr np50 np99 dr dp50 dp99
    read -r tr tp50 tp99 <<<"${t:-$NA $NA $NA}"
    read -r nr np50 np99 <<<"${n:-$NA $NA $NA}"
    read -r dr dp50 dp99 <<<"${d:-$NA $NA $NA}"
    emit "requests/s, $label" "$(fmt "$tr" 0)" "$(fmt "$nr" 0)" "$(fmt "$dr" 0)" \
        "$(ratio "$tr" "$nr")" "" ">= 0.8x nginx" "$(verdict "$tr / $nr >= 0.8")"
    local added=$NA ok="-"
    is_num "$tp50" && is_num "$dp50" && added="$(fmt "$(calc "$tp50 - $dp50")" 0) µs"
    [ -n "$target" ] && ok=$(verdict "$tp50 - $dp50 < 50")
    emit "p50 / p99 µs, $label" "$(fmt "$tp50" 0) / $(fmt "$tp99" 0)" \
        "$(fmt "$np50" 0) / $(fmt "$np99" 0)" "$(fmt "$dp50" 0) / $(fmt "$dp99" 0)" "" "$added" \
        "${target:-(info)}" "$ok"
}

row() {
    table "$INGRESS_TABLE" tend nginx direct tend/nginx "tend - direct (p50)" target ok
    command -v wrk >/dev/null || { log "ingress row: wrk is not installed"; return 1; }
    local dir secs=5 tport nport dport pid npid ngx conns
    [ "$QUICK" = 1 ] && secs=2
    dir=$(mktemp -d /tmp/tend-bench-ingress.XXXXXX)
    track_dir "$dir"
    read -r tport nport dport < <(python3 -c '
import socket
ss = [socket.socket() for _ in range(3)]
for s in ss: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in ss])')
    cat >"$dir/tend.toml" <<EOF
[ingress]
listen = "127.0.0.1:$tport"
max_connections = 4096
routes = { "/" = "up" }
[forward]
queue = 4096
[service.up]
command = ["$OUT/http_upstream", "$dir/up.sock", "$dport"]
socket = "$dir/up.sock"
ready = { unix = "$dir/up.sock", interval = "20ms" }
stdout = "null"
EOF
    "$TEND" run -c "$dir/tend.toml" --socket "$dir/tend.sock" >/dev/null 2>"$dir/tend.err" &
    pid=$!
    track "$pid"
    for _ in $(seq 200); do [ -S "$dir/tend.sock" ] && break; sleep 0.05; done
    TEND_SOCKET=$dir/tend.sock "$TEND" wait-ready --timeout 10s >/dev/null 2>&1 ||
        { log "ingress row: the upstream did not get ready; see $dir/tend.err"; return 1; }
    ngx=$(peer_bin nginx || true)
    [ -z "$ngx" ] && [ -x /usr/sbin/nginx ] && ngx=/usr/sbin/nginx
    if [ -n "$ngx" ]; then
        mkdir -p "$dir/ngx"
        : >"$dir/nginx.conf"
        # As root, nginx's workers would run as nobody, who may not use the socket.
        [ "$(id -u)" = 0 ] && echo "user root;" >"$dir/nginx.conf"
        cat >>"$dir/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $dir/ngx/nginx.pid;
error_log $dir/ngx/error.log;
events { worker_connections 8192; }
http {
    access_log off;
    client_body_temp_path $dir/ngx;
    proxy_temp_path $dir/ngx;
    upstream up { server unix:$dir/up.sock; keepalive 64; }
    server {
        listen 127.0.0.1:$nport;
        location / {
            proxy_pass http://up;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
        }
    }
}
EOF
        "$ngx" -c "$dir/nginx.conf" -p "$dir/ngx" 2>"$dir/ngx/stderr" &
        npid=$!
        track "$npid"
        sleep 0.5
    fi
    # Warm-up (the workers start at the first request; connections get kept).
    wrk -t1 -c16 -d1s "http://127.0.0.1:$tport/" >/dev/null 2>&1
    [ -n "$ngx" ] && wrk -t1 -c16 -d1s "http://127.0.0.1:$nport/" >/dev/null 2>&1
    for conns in 1 16 256; do
        local target=""
        [ "$conns" = 1 ] && target="< 50 µs added"
        ingress_rows "$conns" "" "$conns connection(s)" "$target"
    done
    # One connection again with every party on one CPU (as row 90 does): a round trip
    # is then context switches on that CPU, with no wake-up of an idle vCPU (~30-40 µs
    # each on this VM, and whether one happens changes from run to run), so the figure
    # says what each forwarder costs per request. taskset -a -p moves every thread of
    # the running processes (tend's workers, nginx's worker, the upstream); wrk is
    # started on the same CPU.
    local cpu="" pinned=""
    command -v taskset >/dev/null && cpu=$(python3 -c 'import os; print(min(os.sched_getaffinity(0)))')
    if [ -n "$cpu" ]; then
        local all up
        all=$(python3 -c 'import os; print(",".join(map(str, sorted(os.sched_getaffinity(0)))))')
        up=$(pgrep -f "$OUT/http_upstream $dir/up.sock" | head -1)
        local ngx_pids=""
        [ -n "$ngx" ] && ngx_pids="$npid $(pgrep -P "$npid" | tr '\n' ' ')"
        # shellcheck disable=SC2086
        for p in "$pid" "$up" $ngx_pids; do taskset -a -p -c "$cpu" "$p" >/dev/null 2>&1; done
        ingress_rows 1 "$cpu" "1 connection, all on CPU $cpu" "< 50 µs added"
        # shellcheck disable=SC2086
        for p in "$pid" "$up" $ngx_pids; do taskset -a -p -c "$all" "$p" >/dev/null 2>&1; done
        pinned=" The rows \"all on CPU $cpu\" repeat the 1-connection run with tend (all its threads), nginx (master and worker), the upstream and wrk on that one CPU (taskset), as row 90 does, so that no round trip waits for an idle vCPU to wake up."
    fi
    kill -TERM "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    note "ingress: wrk -t1 -cN -d${secs}s --latency, GET / on loopback; the upstream is bench/src/http_upstream.c (one epoll thread, 13-byte body, keep-alive), run by tend as its service on a Unix socket and also listening on TCP for the direct column. tend: \`[ingress]\` with one route to it (4 forwarding workers, the default). nginx: ${ngx:-not installed}, worker_processes 1, \`proxy_pass\` to the same socket with \`keepalive 64\` and HTTP/1.1 upstream connections, access_log off. Each figure is one wrk run; tend, nginx and direct run one after the other per connection count after a 1 s warm-up of each forwarder.$pinned tend forwards small requests on kept upstream connections from its event loop (at most 256 at a time), the rest through its worker pool."
}
