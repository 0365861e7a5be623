# Row: size of the static stripped binary, against the peers' installed binaries.
# Target (DESIGN.md): <= 2 MiB; aim: <= tini-static (the static peer tend replaces).

row() {
    table "$INIT_TABLE" "${INIT_COLS[@]}"
    local name b bytes kind desc
    local -A size=()
    local cells=()
    for name in tend "${INIT_PEERS[@]}"; do
        if [ "$name" = tend ]; then b=$TEND; else b=$(peer_bin "$name"); fi
        if [ -z "$b" ]; then
            cells+=("$NA")
            continue
        fi
        b=$(readlink -f "$b")
        bytes=$(stat -c %s "$b")
        size[$name]=$bytes
        desc=$(file -b "$b" 2>/dev/null)
        case $desc in
        *static*) kind=static ;;
        *dynamic*) kind=dynamic ;;
        *) kind="?" ;;
        esac
        [[ $desc == *"not stripped"* ]] && kind+=", not stripped"
        cells+=("$bytes B = $(fmt "$(calc "$bytes / 1024")" 1) KiB ($kind)")
    done
    local t=${size[tend]:-} ts=${size[tini-static]:-}
    local ok
    ok=$(verdict "${t:-None} <= 2 * 1024 * 1024")
    [ -n "$ts" ] && [ -n "$t" ] && ok+=" (aim: $(verdict "$t <= $ts"))"
    emit "binary size" "${cells[@]}" "$NA" "$(ratio "$t" "${size[tini]:-}")" "$(ratio "$t" "$ts")" \
        "≤ 2 MiB, aim ≤ tini-static" "$ok"
    note "binary size: \`stat -c %s\` of each file as installed (tend: the binary given to run.sh); \`file\` says static or dynamic. A dynamic peer also maps libc (not counted)."
}
