# Row: the log-capture table with 128-byte writes (the method, helpers and targets are in
# 94-log-64k.sh). The writer makes 8.4 million write(2)s per GiB, so each capturer wakes
# far more often per byte: what it costs per wake-up shows here.

# shellcheck source=bench/rows/94-log-64k.sh
. "$BENCH/rows/94-log-64k.sh"

row() {
    local rounds=3
    [ "$QUICK" = 1 ] && rounds=1
    log_rows 128 "128-byte" "$rounds" $((1 << 30))
}
