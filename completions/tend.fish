# fish completion for tend(1). Installed by `make install` as
# $PREFIX/share/fish/vendor_completions.d/tend.fish. Kept in step with the binary's
# help by tests/cli_help.rs: every subcommand and flag below is one it accepts.

# The names of the services of the running tend (nothing if none answers).
function __tend_services
    set -l sock
    set -l words (commandline -opc)
    if set -l i (contains -i -- --socket $words)
        set sock --socket $words[(math $i + 1)]
    end
    $words[1] ls $sock 2>/dev/null | awk 'NR > 1 { print $1 }'
end

set -l cmds init run ls status start stop restart signal logs events reload request wait-ready check shutdown version import top spawn wait retry rm help
complete -c tend -f

complete -c tend -n "not __fish_seen_subcommand_from $cmds" -l help -d 'Display usage information'
complete -c tend -n "not __fish_seen_subcommand_from $cmds" -a init -d 'Run one command as a tini-compatible init'
complete -c tend -n "not __fish_seen_subcommand_from $cmds" -a run -d 'Supervise the services of a configuration file'
complete -c tend -n "not __fish_seen_subcommand_from $cmds" -a ls -d 'List the services and their state'
complete -c tend -n "not __fish_seen_subcommand_from $cmds" -a status -d 'Show one service in detail'
complete -c tend -n "not __fish_seen_subcommand_from $cmds" -a start -d 'Start a service and wait until it is running'
complete -c tend -n "not __fish_seen_subcommand_from $cmds" -a stop -d 'Stop a service and wait until it is gone'
complete -c tend -n "not __fish_seen_subcommand_from $cmds" -a restart -d 'Restart a service'
complete -c tend -n "not __fish_seen_subcommand_from $cmds" -a signal -d 'Send a signal to a service'
complete -c tend -n "not __fish_seen_subcommand_from $cmds" -a logs -d "Print a service's captured output"
complete -c tend -n "not __fish_seen_subcommand_from $cmds" -a events -d "Print tend's event history"
complete -c tend -n "not __fish_seen_subcommand_from $cmds" -a reload -d 'Re-read the configuration file'
complete -c tend -n "not __fish_seen_subcommand_from $cmds" -a request -d "Forward an HTTP request to a service's socket"
complete -c tend -n "not __fish_seen_subcommand_from $cmds" -a spawn -d 'Run a one-shot job'
complete -c tend -n "not __fish_seen_subcommand_from $cmds" -a wait -d 'Wait until a job has ended'
complete -c tend -n "not __fish_seen_subcommand_from $cmds" -a retry -d 'Run an ended job again'
complete -c tend -n "not __fish_seen_subcommand_from $cmds" -a rm -d 'Forget an ended job'
complete -c tend -n "not __fish_seen_subcommand_from $cmds" -a wait-ready -d 'Wait until services are ready'
complete -c tend -n "not __fish_seen_subcommand_from $cmds" -a check -d 'Exit 0 if every service is ready and healthy'
complete -c tend -n "not __fish_seen_subcommand_from $cmds" -a shutdown -d 'Stop every service and make tend exit'
complete -c tend -n "not __fish_seen_subcommand_from $cmds" -a version -d "Print tend's version"
complete -c tend -n "not __fish_seen_subcommand_from $cmds" -a import -d 'Print a tend.toml equivalent to a supervisord.conf or Procfile'
complete -c tend -n "not __fish_seen_subcommand_from $cmds" -a top -d 'Show the services live'
complete -c tend -n "not __fish_seen_subcommand_from $cmds" -a help -d 'Print a summary of the commands'

# tend init: tini's options, then a command.
complete -c tend -n '__fish_seen_subcommand_from init' -s g -d "Send signals to the child's process group"
complete -c tend -n '__fish_seen_subcommand_from init' -s h -d 'Show help and exit'
complete -c tend -n '__fish_seen_subcommand_from init' -s l -d 'Show license and exit'
complete -c tend -n '__fish_seen_subcommand_from init' -s s -d 'Register as a process subreaper'
complete -c tend -n '__fish_seen_subcommand_from init' -s v -d 'More verbose output'
complete -c tend -n '__fish_seen_subcommand_from init' -s w -d 'Warn when processes are reaped'
complete -c tend -n '__fish_seen_subcommand_from init' -s p -x -a 'SIGKILL SIGTERM SIGINT SIGHUP' -d 'Signal when the parent dies'
complete -c tend -n '__fish_seen_subcommand_from init' -s e -x -d 'Remap this exit code to 0'
complete -c tend -n '__fish_seen_subcommand_from init' -l version -d 'Show version and exit'
complete -c tend -n '__fish_seen_subcommand_from init' -a '(__fish_complete_command)'

complete -c tend -n '__fish_seen_subcommand_from run' -s c -l config -r -F -d 'The configuration file'
complete -c tend -n '__fish_seen_subcommand_from run' -l socket -r -F -d 'The control socket'
complete -c tend -n '__fish_seen_subcommand_from run' -l help -d 'Display usage information'

# Every client command.
complete -c tend -n '__fish_seen_subcommand_from ls status start stop restart signal logs events reload request wait-ready check shutdown version top spawn wait retry rm' -l socket -r -F -d 'The control socket'
complete -c tend -n '__fish_seen_subcommand_from ls status start stop restart signal logs events reload request wait-ready check shutdown version top spawn wait retry rm' -l json -d 'Print JSON'
complete -c tend -n '__fish_seen_subcommand_from ls status start stop restart signal logs events reload request wait-ready check shutdown version top import spawn wait retry rm' -l help -d 'Display usage information'
complete -c tend -n '__fish_seen_subcommand_from status start stop restart signal logs wait-ready request' -a '(__tend_services)'

complete -c tend -n '__fish_seen_subcommand_from start stop restart' -l no-wait -d 'Return as soon as the change is under way'
complete -c tend -n '__fish_seen_subcommand_from signal' -s g -l group -d 'Signal the whole process group'

complete -c tend -n '__fish_seen_subcommand_from logs' -s f -l follow -d 'Keep printing new output'
complete -c tend -n '__fish_seen_subcommand_from logs' -s n -l lines -x -d 'Only the last N lines'
complete -c tend -n '__fish_seen_subcommand_from logs' -l bytes -x -d 'Only the last N bytes'
complete -c tend -n '__fish_seen_subcommand_from logs' -l stderr -d 'Only stderr'
complete -c tend -n '__fish_seen_subcommand_from logs' -l stdout -d 'Only stdout'
complete -c tend -n '__fish_seen_subcommand_from logs' -l all -d 'Both streams'
complete -c tend -n '__fish_seen_subcommand_from logs' -l since -x -d 'Only lines read since TIME'
complete -c tend -n '__fish_seen_subcommand_from logs' -l until -x -d 'Only lines read before TIME'
complete -c tend -n '__fish_seen_subcommand_from logs' -s t -l timestamps -d 'Start each line with its time'
complete -c tend -n '__fish_seen_subcommand_from logs' -l rotate -d 'Rotate log files now'

complete -c tend -n '__fish_seen_subcommand_from events' -s f -l follow -d 'Keep printing new events'
complete -c tend -n '__fish_seen_subcommand_from events' -l from -x -d 'Start at this sequence number'

complete -c tend -n '__fish_seen_subcommand_from request' -s X -l method -x -a 'GET HEAD POST PUT PATCH DELETE OPTIONS' -d 'The method'
complete -c tend -n '__fish_seen_subcommand_from request' -s H -l header -x -d 'A header field'
complete -c tend -n '__fish_seen_subcommand_from request' -s d -l data -r -F -d 'The body'
complete -c tend -n '__fish_seen_subcommand_from request' -s i -l include -d 'Print the status line and header fields'

complete -c tend -n '__fish_seen_subcommand_from wait-ready' -l timeout -x -d 'Give up after this long'

complete -c tend -n '__fish_seen_subcommand_from ls' -l jobs -d 'List the jobs instead of the services'
complete -c tend -n '__fish_seen_subcommand_from ls' -l state -x -a 'running exited failed' -d 'Only jobs in this state'
complete -c tend -n '__fish_seen_subcommand_from ls' -l name -x -d 'Only jobs whose name matches'
complete -c tend -n '__fish_seen_subcommand_from ls' -l since -x -d 'Only jobs created since TIME'

complete -c tend -n '__fish_seen_subcommand_from spawn' -s a -l attach -d 'Stream its output and exit with its status'
complete -c tend -n '__fish_seen_subcommand_from spawn' -s i -l interactive -d 'Pipe stdin to the job'
complete -c tend -n '__fish_seen_subcommand_from spawn' -l name -x -d 'A name for the job'
complete -c tend -n '__fish_seen_subcommand_from spawn' -l env -x -d 'An environment variable, K=V'
complete -c tend -n '__fish_seen_subcommand_from spawn' -l cwd -x -a '(__fish_complete_directories)' -d 'The working directory'
complete -c tend -n '__fish_seen_subcommand_from spawn' -l user -x -a '(__fish_complete_users)' -d 'The user to run as'
complete -c tend -n '__fish_seen_subcommand_from spawn' -l timeout -x -d 'Stop each attempt after this long'
complete -c tend -n '__fish_seen_subcommand_from spawn' -l retries -x -d 'Run it again when it fails'
complete -c tend -n '__fish_seen_subcommand_from spawn' -a '(__fish_complete_command)'

complete -c tend -n '__fish_seen_subcommand_from wait' -l timeout -x -d 'Give up after this long'

complete -c tend -n '__fish_seen_subcommand_from import' -a 'supervisord procfile' -d 'Kind of file'
complete -c tend -n '__fish_seen_subcommand_from import' -F

complete -c tend -n '__fish_seen_subcommand_from top' -s s -l sort -x -a 'cpu rss name state pid uptime restarts ready health req' -d 'Sort by this column'
complete -c tend -n '__fish_seen_subcommand_from top' -s r -l reverse -d 'Reverse the sort order'
complete -c tend -n '__fish_seen_subcommand_from top' -s d -l interval -x -d 'Time between refreshes'
complete -c tend -n '__fish_seen_subcommand_from top' -l once -d 'Print one table and exit'
