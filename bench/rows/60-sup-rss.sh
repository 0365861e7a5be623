# Rows 60-80: the "Supervisor" table, tend (`tend run`) against supervisord, s6-svscan and
# runsvdir. This file also holds the helpers the other supervisor rows (70-sup-crash.sh,
# 80-sup-stop.sh) source: the table's columns, and one configuration of N services for
# each supervisor.
#
# Row: idle RSS of the supervisor's whole tree minus the services, with 10 services.
# Target (DESIGN.md): tend <= 2 MiB.

SUP_TABLE="Supervisor"
SUP_PEERS=(supervisord s6-svscan runsvdir)
SUP_COLS=(tend "${SUP_PEERS[@]}" floor tend/floor tend/supervisord tend/s6-svscan target ok)

# sup_prepare DIR N PRE CMD...: N services (s01..sNN) running CMD, one directory per
# supervisor under DIR: tend.toml, supervisord.conf (log, pid file and child logs in DIR,
# no control socket), s6/ (a scan directory) and runit/ (a runsvdir directory). PRE is a
# shell line the s6 and runit run scripts execute before `exec CMD` (empty for none).
# Every supervisor restarts at once and without a limit, as far as it allows.
sup_prepare() {
    local dir=$1 n=$2 pre=$3
    shift 3
    local i s a toml="" sd
    for a in "$@"; do toml+="${toml:+, }\"$a\""; done
    mkdir -p "$dir/s6" "$dir/runit"
    echo 'shutdown_timeout = "10s"' >"$dir/tend.toml"
    cat >"$dir/supervisord.conf" <<EOF
[supervisord]
nodaemon=true
logfile=$dir/supervisord.log
pidfile=$dir/supervisord.pid
childlogdir=$dir
EOF
    for ((i = 1; i <= n; i++)); do
        s=$(printf 's%02d' "$i")
        cat >>"$dir/tend.toml" <<EOF
[service.$s]
command = [$toml]
restart = "always"
backoff = { initial = "0s" }
start_limit = { burst = 0 }
stdout = "null"
stderr = "null"
EOF
        cat >>"$dir/supervisord.conf" <<EOF
[program:$s]
command=$*
autorestart=true
startsecs=0
startretries=1000000
stdout_logfile=NONE
stderr_logfile=NONE
EOF
        for sd in s6 runit; do
            mkdir -p "$dir/$sd/$s"
            printf '#!/bin/sh\n%s\nexec %s\n' "${pre:-:}" "$*" >"$dir/$sd/$s/run"
            chmod +x "$dir/$sd/$s/run"
        done
    done
}

# sup_cmd NAME DIR -> the command line (one word a line) that runs supervisor NAME on
# DIR's configuration; nothing if NAME is not installed.
sup_cmd() {
    local b
    case $1 in
    tend) printf '%s\n' "$TEND" run -c "$2/tend.toml" --socket "$2/tend.sock" ;;
    supervisord) b=$(peer_bin supervisord) && [ -n "$b" ] && printf '%s\n' "$b" -n -c "$2/supervisord.conf" ;;
    s6-svscan) b=$(peer_bin s6-svscan) && [ -n "$b" ] && printf '%s\n' "$b" "$2/s6" ;;
    runsvdir) b=$(peer_bin runsvdir) && [ -n "$b" ] && printf '%s\n' "$b" "$2/runit" ;;
    esac
}

# sup_stopsig NAME: the signal that makes NAME stop all its services and exit. runsvdir
# exits on TERM without stopping its runsv processes; on HUP it TERMs each runsv first.
sup_stopsig() { case $1 in runsvdir) echo HUP ;; *) echo TERM ;; esac; }

# sup_tree PID: PID and all its descendants (children of every thread), one a line.
sup_tree() { echo "$1"; descendants "$1"; }

# sup_comm PID -> its comm (builtins only), or nothing if it is gone.
sup_comm() { local c=""; read -r c 2>/dev/null <"/proc/$1/comm"; echo "$c"; }

# sup_mkdir NAME -> a fresh scratch directory under $OUT (git-ignored); sup_rmdirs removes them.
sup_mkdir() { mktemp -d "$OUT/sup-$1.XXXXXX"; }
sup_rmdirs() { rm -rf "$OUT"/sup-*.??????; }

# sup_rss NAME DIR N -> "RSS_KiB PSS_KiB NPROC" of NAME's tree minus the N `sleep`s, once
# all N have exec'd and 0.5 s passed; then the whole tree is SIGKILLed.
sup_rss() {
    local name=$1 dir=$2 n=$3 pid i p tree=() ns rss=0 pss=0 np=0 r s comm
    local -a cmd
    mapfile -t cmd < <(sup_cmd "$name" "$dir")
    [ ${#cmd[@]} -gt 0 ] || return 1
    "${cmd[@]}" </dev/null >/dev/null 2>&1 &
    pid=$!
    track "$pid"
    for ((i = 0; i < 1000; i++)); do
        ns=0
        for p in $(sup_tree "$pid"); do
            [ "$(sup_comm "$p")" = sleep ] && ns=$((ns + 1))
        done
        [ "$ns" -ge "$n" ] && break
        sleep 0.01
    done
    sleep 0.5
    mapfile -t tree < <(sup_tree "$pid")
    for p in "${tree[@]}"; do
        comm=$(sup_comm "$p")
        [ -z "$comm" ] || [ "$comm" = sleep ] && continue
        r=$(awk '/^VmRSS:/ { print $2 }' "/proc/$p/status" 2>/dev/null)
        s=$(awk '/^Pss:/ { print $2 }' "/proc/$p/smaps_rollup" 2>/dev/null)
        rss=$((rss + ${r:-0})) pss=$((pss + ${s:-0})) np=$((np + 1))
    done
    # No graceful stop (the stop row measures that): the whole tree, services included, at once.
    kill -KILL "${tree[@]}" 2>/dev/null
    wait "$pid" 2>/dev/null
    [ "$ns" -ge "$n" ] || { log "sup_rss: $name started only $ns of $n services"; return 1; }
    echo "$rss $pss $np"
}

row() {
    table "$SUP_TABLE" "${SUP_COLS[@]}"
    local reps=3 n=10 name r v dir a b c
    [ "$QUICK" = 1 ] && reps=2
    sup_rmdirs
    dir=$(sup_mkdir rss)
    sup_prepare "$dir" "$n" "" sleep 1000
    local -A rs=() ps=() np=()
    for ((r = 0; r < reps; r++)); do
        for name in tend "${SUP_PEERS[@]}"; do
            v=$(sup_rss "$name" "$dir" "$n") || continue
            read -r a b c <<<"$v"
            rs[$name]+="$a " ps[$name]+="$b " np[$name]=$c
        done
    done
    sup_rmdirs
    local -A med=() pmed=()
    local cells=() m pm
    for name in tend "${SUP_PEERS[@]}"; do
        if [ -z "${rs[$name]:-}" ]; then
            cells+=("$NA")
            continue
        fi
        read -r m _ <<<"$(tr ' ' '\n' <<<"${rs[$name]}" | grep . | stats)"
        read -r pm _ <<<"$(tr ' ' '\n' <<<"${ps[$name]}" | grep . | stats)"
        med[$name]=$m pmed[$name]=$pm
        cells+=("$(fmt "$(calc "$m / 1024")" 2) MiB (Pss $(fmt "$(calc "$pm / 1024")" 2); ${np[$name]} proc)")
    done
    local t=${med[tend]:-}
    local r1 r2
    r1=$(ratio "$t" "${med[supervisord]:-}")
    [ "$r1" != "$NA" ] && r1+=" (Pss $(ratio "${pmed[tend]}" "${pmed[supervisord]}"))"
    r2=$(ratio "$t" "${med[s6-svscan]:-}")
    [ "$r2" != "$NA" ] && r2+=" (Pss $(ratio "${pmed[tend]}" "${pmed[s6-svscan]}"))"
    emit "idle RSS of the supervisor tree, 10 services" "${cells[@]}" "$NA" "$NA" "$r1" "$r2" \
        "tend ≤ 2 MiB" "$(verdict "${t:-None} <= 2048")"
    note "supervisor idle RSS: each supervisor runs 10 services \`sleep 1000\` (tend: \`tend run\` with 10 [service.*] tables, stdout/stderr null; supervisord -n with 10 [program:*] sections, no control socket; s6-svscan on a scan directory and runsvdir on a directory of 10 services whose run scripts \`exec sleep 1000\`). Once all 10 sleeps have exec'd, 0.5 s to settle, then the sum over the supervisor's process tree minus the sleeps: tend (1 process, with its threads), supervisord (1 process: python3), s6-svscan + 10 s6-supervise, runsvdir + 10 runsv. VmRSS from /proc/PID/status (the verdict), and Pss from /proc/PID/smaps_rollup, which divides pages shared between processes (text of s6-supervise or runsv, libc, python's) among their users, so it is the fairer figure for a tree of many small processes. tend runs with its control socket open (\`--socket\`), as DESIGN.md's ≤ 2 MiB asks. Median of $reps launches each, interleaved."
}
