# Rows 94-95: the "Log capture" table. One child writes 1 GiB flat out to its stdout,
# captured by tend (ring buffer only, and with log.file), by `cat > /dev/null` and
# `cat > FILE` (the raw pipe: the floor), by supervisord (stdout_logfile) and by s6-log,
# all writing to the same file system (a tmpfs when /dev/shm is one). The method is in
# bench/src/logcap.py; the writer is bench/src/logflood.c. This file also holds the helpers
# 95-log-128b.sh sources.
#
# Row: 64 KiB writes. Targets (issue 8): throughput >= 90% of cat's (files off against
# `cat > /dev/null`, files on against `cat > FILE`), the capturing process's CPU seconds
# per GiB <= 1.2x cat's, peak RSS during the flood < 2x idle.

LOG_TABLE="Log capture (1 GiB from one service)"
LOG_COLS=(tend "tend + file" "cat >/dev/null" "cat >FILE" supervisord s6-log "tend / cat" target ok)

# log_dir_for_bench -> a scratch directory on a tmpfs with room for 1 GiB at a time, else
# under $OUT (the caller tracks it: a command substitution cannot).
log_dir_for_bench() {
    local d
    if [ "$(stat -f -c %T /dev/shm 2>/dev/null)" = tmpfs ] &&
        [ "$(df -k --output=avail /dev/shm 2>/dev/null | tail -1)" -gt $((3 << 20)) ]; then
        d=$(mktemp -d /dev/shm/tend-bench-logs.XXXXXX)
    else
        d=$(mktemp -d "$OUT/logs.XXXXXX")
    fi
    echo "$d"
}

# log_med FILE NAME FIELD -> the median of column FIELD (2 MiB/s, 3 CPU-s/GiB, 4 peak
# KiB, 5 idle KiB) of NAME's lines in FILE, or n/a.
log_med() {
    local m
    read -r m _ <<<"$(awk -v n="$2" -v f="$3" '$1 == n && $f != "n/a" { print $f }' "$1" | stats)"
    echo "$m"
}

# log_rows SIZE LABEL ROUNDS BYTES: measure every capturer ROUNDS times (interleaved) and
# emit the throughput, CPU and RSS lines.
log_rows() {
    local size=$1 label=$2 rounds=$3 bytes=$4 dir res which=(tend-off tend-on cat-null cat-file)
    table "$LOG_TABLE" "${LOG_COLS[@]}"
    [ -n "$(peer_bin supervisord)" ] && which+=(supervisord)
    [ -n "$(peer_bin s6-log)" ] && which+=(s6-log)
    dir=$(log_dir_for_bench)
    track_dir "$dir"
    res=$OUT/logcap-$size.txt
    timeout -k 5 900 python3 "$BENCH/src/logcap.py" "$TEND" "$OUT/logflood" "$dir/run" "$bytes" "$size" \
        "$rounds" "${which[@]}" >"$res" || log "logcap.py failed; see $res"
    local -A mib=() cpu=()
    local n
    for n in tend-off tend-on cat-null cat-file supervisord s6-log; do
        mib[$n]=$(log_med "$res" "$n" 2)
        cpu[$n]=$(log_med "$res" "$n" 3)
    done
    local cells=() c
    for n in tend-off tend-on cat-null cat-file supervisord s6-log; do
        c=$NA
        is_num "${mib[$n]}" && c="$(fmt "${mib[$n]}" 0) MiB/s"
        cells+=("$c")
    done
    local r_off r_on
    r_off=$(ratio "${mib[tend-off]}" "${mib[cat-null]}")
    r_on=$(ratio "${mib[tend-on]}" "${mib[cat-file]}")
    emit "throughput, $label writes" "${cells[@]}" "no file $r_off, file $r_on" "≥ 0.9x" \
        "$(verdict "${mib[tend-off]:-None} >= 0.9 * ${mib[cat-null]:-None} and ${mib[tend-on]:-None} >= 0.9 * ${mib[cat-file]:-None}")"
    cells=()
    for n in tend-off tend-on cat-null cat-file supervisord s6-log; do
        c=$NA
        is_num "${cpu[$n]}" && c="$(fmt "${cpu[$n]}" 3)"
        cells+=("$c")
    done
    r_off=$(ratio "${cpu[tend-off]}" "${cpu[cat-null]}")
    r_on=$(ratio "${cpu[tend-on]}" "${cpu[cat-file]}")
    emit "CPU-s/GiB of the capturing process, $label writes" "${cells[@]}" "no file $r_off, file $r_on" "≤ 1.2x" \
        "$(verdict "${cpu[tend-off]:-None} <= 1.2 * ${cpu[cat-null]:-None} and ${cpu[tend-on]:-None} <= 1.2 * ${cpu[cat-file]:-None}")"
    local pk_off pk_on id_off id_on
    pk_off=$(log_med "$res" tend-off 4) pk_on=$(log_med "$res" tend-on 4)
    id_off=$(log_med "$res" tend-off 5) id_on=$(log_med "$res" tend-on 5)
    local rss_cells=()
    for n in off on; do
        local pk id
        [ $n = off ] && pk=$pk_off id=$id_off || { pk=$pk_on id=$id_on; }
        if is_num "$pk" && is_num "$id"; then
            rss_cells+=("$(fmt "$(calc "$pk / 1024")" 2) MiB (idle $(fmt "$(calc "$id / 1024")" 2); $(ratio "$pk" "$id"))")
        else
            rss_cells+=("$NA")
        fi
    done
    local sup_pk
    sup_pk=$(log_med "$res" supervisord 4)
    is_num "$sup_pk" && sup_pk="$(fmt "$(calc "$sup_pk / 1024")" 1) MiB" || sup_pk=$NA
    emit "peak RSS during the flood, $label writes" "${rss_cells[@]}" "$NA" "$NA" "$sup_pk" "$NA" \
        "no file $(ratio "$pk_off" "$id_off"), file $(ratio "$pk_on" "$id_on")" "< 2x idle" \
        "$(verdict "${pk_off:-None} < 2 * ${id_off:-None} and ${pk_on:-None} < 2 * ${id_on:-None}")"
}

row() {
    local rounds=3
    [ "$QUICK" = 1 ] && rounds=1
    log_rows 65536 "64 KiB" "$rounds" $((1 << 30))
    note "log capture: bench/src/logflood.c writes 1 GiB of 64-byte lines to its stdout as fast as it can, in write(2)s of 64 KiB (row 94) or 128 bytes (row 95), once the capturing process is up and settled (it waits on a FIFO). Capturers: tend (\`tend run\`, the service's stdout \`capture\`: ring buffer only; and with \`log.file = true\`, \`max_size = 0\`), \`cat > /dev/null\` and \`cat > FILE\` (the raw pipe, the floor), supervisord -n (stdout_logfile, no rotation) and \`s6-log -b n20 s268435455 DIR\` (blocking mode: it loses nothing either), every file on the same file system ($(stat -f -c %T /dev/shm 2>/dev/null) at /dev/shm when it has room, else bench/out). Throughput: 1 GiB / the time from letting the writer go until the capturer has taken it all (cat and s6-log: their exit at EOF; tend and supervisord, which stay: /proc/PID/io shows 1 GiB more read, or written with a file, polled every ms). CPU: the capturing process only, all its threads (/proc/PID/task/*/schedstat, or the rusage of cat and s6-log), over the same window, per GiB. Peak RSS: VmHWM at the end, against VmRSS before the flood. bench/src/logcap.py; median of the rounds, capturers interleaved in a rotated order each round."
}
