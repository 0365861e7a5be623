# bash completion for tend(1). Installed by `make install` as
# $PREFIX/share/bash-completion/completions/tend. Kept in step with the binary's
# help by tests/cli_help.rs: every subcommand and flag below is one it accepts.

# The names of the services of the running tend (nothing if none answers).
_tend_services() {
    local sock=() i
    for ((i = 1; i < COMP_CWORD; i++)); do
        if [[ ${COMP_WORDS[i]} == --socket ]]; then
            sock=(--socket "${COMP_WORDS[i + 1]}")
        fi
    done
    "${COMP_WORDS[0]}" ls "${sock[@]}" 2>/dev/null | awk 'NR > 1 { print $1 }'
}

_tend() {
    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
    local cmds="init run ls status start stop restart signal logs events reload request wait-ready check shutdown version import top spawn wait retry rm attach help"
    local cmd="" i
    for ((i = 1; i < COMP_CWORD; i++)); do
        case ${COMP_WORDS[i]} in
        -*) ;;
        *)
            cmd=${COMP_WORDS[i]}
            break
            ;;
        esac
    done
    if [[ -z $cmd ]]; then
        COMPREPLY=($(compgen -W "$cmds --help" -- "$cur"))
        return
    fi

    local opts
    case $cmd in
    init) opts="-g -h -l -s -v -w -p -e --version" ;;
    run) opts="-c --config --socket" ;;
    ls) opts="--jobs --state --name --since --socket --json" ;;
    status) opts="--socket --json" ;;
    start | stop | restart) opts="--no-wait --socket --json" ;;
    signal) opts="-g --group --socket --json" ;;
    logs) opts="-f --follow -n --lines --bytes --stderr --stdout --all --since --until -t --timestamps --rotate --socket --json" ;;
    events) opts="-f --follow --from --socket --json" ;;
    reload) opts="--socket --json" ;;
    request) opts="-X --method -H --header -d --data -i --include --socket --json" ;;
    wait-ready) opts="--timeout --socket --json" ;;
    check) opts="--socket --json" ;;
    shutdown) opts="--socket --json" ;;
    version) opts="--socket --json" ;;
    import) opts="" ;;
    top) opts="-s --sort -r --reverse -d --interval --once --socket --json" ;;
    spawn) opts="-a --attach -i --interactive -t --tty --name --env --cwd --user --timeout --retries --socket --json" ;;
    wait) opts="--timeout --socket --json" ;;
    retry | rm | attach) opts="--socket --json" ;;
    help) return ;;
    *) return ;;
    esac

    # The value of an option.
    case $cmd:$prev in
    run:-c | run:--config | *:--socket | request:-d | request:--data)
        COMPREPLY=($(compgen -f -- "$cur"))
        return
        ;;
    init:-p)
        COMPREPLY=($(compgen -W "SIGKILL SIGTERM SIGINT SIGHUP SIGQUIT SIGUSR1 SIGUSR2" -- "$cur"))
        return
        ;;
    request:-X | request:--method)
        COMPREPLY=($(compgen -W "GET HEAD POST PUT PATCH DELETE OPTIONS" -- "$cur"))
        return
        ;;
    spawn:--cwd)
        COMPREPLY=($(compgen -d -- "$cur"))
        return
        ;;
    spawn:--user)
        COMPREPLY=($(compgen -u -- "$cur"))
        return
        ;;
    ls:--state)
        COMPREPLY=($(compgen -W "running exited failed" -- "$cur"))
        return
        ;;
    spawn:--name | spawn:--env | spawn:--timeout | spawn:--retries | wait:--timeout | ls:--name | ls:--since)
        return
        ;;
    top:-s | top:--sort)
        COMPREPLY=($(compgen -W "cpu rss name state pid uptime restarts ready health req" -- "$cur"))
        return
        ;;
    init:-e | logs:-n | logs:--lines | logs:--bytes | logs:--since | logs:--until | \
        events:--from | request:-H | request:--header | wait-ready:--timeout | \
        top:-d | top:--interval)
        return
        ;;
    esac

    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$opts --help" -- "$cur"))
        return
    fi
    case $cmd in
    init | spawn) COMPREPLY=($(compgen -c -- "$cur")) ;;
    import)
        if [[ $prev == import ]]; then
            COMPREPLY=($(compgen -W "supervisord procfile" -- "$cur"))
        else
            COMPREPLY=($(compgen -f -- "$cur"))
        fi
        ;;
    status | start | stop | restart | signal | logs | wait-ready | request)
        COMPREPLY=($(compgen -W "$(_tend_services)" -- "$cur"))
        ;;
    esac
}

complete -F _tend tend
