//! Command-line dispatch: tini names and tini-style arguments go to `init`, everything
//! else is parsed by argh into one subcommand.

use std::ffi::{OsStr, OsString};
use std::path::Path;

use argh::FromArgs;

use crate::diag;
use crate::init;

pub mod client;
pub mod commands;
pub mod jobs;
pub mod logs;
pub mod top;

use commands::*;
use logs::LogsCmd;

/// Names under which tend behaves as tini (symlinks, hard links, or where Docker's and
/// podman's `--init` mount it: `/sbin/docker-init`, `/run/podman-init`).
pub const INIT_NAMES: [&str; 3] = ["tini", "docker-init", "podman-init"];

/// Exit code for a command line tend cannot parse (its own subcommands; the tini
/// command line keeps tini's code, 1).
pub const EXIT_USAGE: i32 = 2;

#[derive(FromArgs, Debug)]
/// tend: a container init, process supervisor and control plane in one binary.
/// See tend(1).
struct Top {
    #[argh(subcommand)]
    cmd: Sub,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand)]
enum Sub {
    Init(#[allow(dead_code)] InitCmd),
    Run(RunCmd),
    Ls(LsCmd),
    Status(StatusCmd),
    Start(StartCmd),
    Stop(StopCmd),
    Restart(RestartCmd),
    Signal(SignalCmd),
    Logs(LogsCmd),
    Events(EventsCmd),
    Reload(ReloadCmd),
    Request(RequestCmd),
    WaitReady(WaitReadyCmd),
    Check(CheckCmd),
    Shutdown(ShutdownCmd),
    Version(VersionCmd),
    Import(crate::import::ImportCmd),
    Top(top::TopCmd),
    Spawn(jobs::SpawnCmd),
    Wait(jobs::WaitCmd),
    Retry(jobs::RetryCmd),
    Rm(jobs::RmCmd),
}

#[derive(FromArgs, Debug)]
/// Run one command as a tini-compatible init: tend init [-s] [-g] [-p SIG] [-e CODE]...
/// [-v] [-w] -- CMD ARGS...
#[argh(subcommand, name = "init")]
struct InitCmd {
    /// tini options, then the command to run (see tend(1))
    #[argh(positional, greedy)]
    _args: Vec<String>,
}

#[derive(FromArgs, Debug)]
/// Supervise the services of a configuration file, in the foreground.
#[argh(subcommand, name = "run")]
struct RunCmd {
    /// the configuration file (default: ./tend.toml)
    #[argh(option, short = 'c', default = "String::from(\"tend.toml\")")]
    config: String,
    /// the control socket (default: $TEND_SOCKET, the config's control.socket,
    /// /run/tend.sock for root, $XDG_RUNTIME_DIR/tend.sock, /tmp/tend-UID/tend.sock)
    #[argh(option)]
    socket: Option<String>,
}

fn basename(p: &OsStr) -> String {
    Path::new(p).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// Run tend with its full argv (argv[0] included); returns the process exit code.
pub fn main(argv: Vec<OsString>) -> i32 {
    let name = argv.first().map(|a| basename(a)).unwrap_or_else(|| "tend".into());
    let rest = argv.get(1..).unwrap_or(&[]);
    if INIT_NAMES.contains(&name.as_str()) {
        return init::main(&name, rest);
    }
    match rest.first().and_then(|a| a.to_str()) {
        Some("init") => return init::main("tend init", &rest[1..]),
        Some(a) if a != "-h" && init::args::is_tini_flag(a) => return init::main(&name, rest),
        _ => {}
    }
    let mut strs = Vec::with_capacity(rest.len());
    for a in rest {
        match a.to_str() {
            Some(s) => strs.push(s),
            None => {
                diag::err(&format!("tend: argument is not valid UTF-8: {}\n", a.to_string_lossy()));
                return EXIT_USAGE;
            }
        }
    }
    let top = match Top::from_args(&["tend"], &strs) {
        Ok(t) => t,
        Err(early) => {
            return match early.status {
                Ok(()) => {
                    diag::out(&early.output);
                    0
                }
                Err(()) => {
                    diag::err(&format!("{}\nRun 'tend help' for usage.\n", early.output.trim_end()));
                    EXIT_USAGE
                }
            };
        }
    };
    match top.cmd {
        // Reached only through argh's help machinery; `init` is dispatched above.
        Sub::Init(_) => init::main("tend init", &rest[1..]),
        Sub::Run(r) => crate::daemon::supervisor::run(Path::new(&r.config), r.socket.as_deref().map(Path::new)),
        Sub::Ls(c) => finish(commands::ls(c)),
        Sub::Status(c) => finish(commands::status(c)),
        Sub::Start(c) => finish(commands::change(Change::Start(c))),
        Sub::Stop(c) => finish(commands::change(Change::Stop(c))),
        Sub::Restart(c) => finish(commands::change(Change::Restart(c))),
        Sub::Signal(c) => finish(commands::signal(c)),
        Sub::Logs(c) => finish(logs::logs(c)),
        Sub::Events(c) => finish(commands::events(c)),
        Sub::Reload(c) => finish(commands::reload(c)),
        Sub::Request(c) => finish(commands::request(c)),
        Sub::WaitReady(c) => finish(commands::wait_ready(c)),
        Sub::Check(c) => finish(commands::check(c)),
        Sub::Shutdown(c) => finish(commands::shutdown(c)),
        Sub::Version(c) => finish(commands::version(c)),
        Sub::Import(c) => crate::import::main(c),
        Sub::Top(c) => finish(top::main(c)),
        Sub::Spawn(c) => finish(jobs::spawn(c)),
        Sub::Wait(c) => finish(jobs::wait(c)),
        Sub::Retry(c) => finish(jobs::retry(c)),
        Sub::Rm(c) => finish(jobs::rm(c)),
    }
}

/// A client command's exit code; its error, if any, on stderr.
fn finish(r: Result<(), client::ClientError>) -> i32 {
    match r {
        Ok(()) => 0,
        Err(e) => {
            if !e.message.is_empty() {
                diag::err(&format!("tend: {}\n", e.message));
            }
            e.code
        }
    }
}
