//! `tend init`: the tini-compatible single-child init.
//!
//! The same steps as tini's `main`, in the same order: parse arguments and environment,
//! take over the signals, set the parent-death signal, register as subreaper, warn if
//! zombies cannot be reaped, spawn the child, then loop: wait for signals (signalfd in
//! a mio `Poll`), forward them, reap. Exit with the child's status once it is reaped.

pub mod args;

use std::ffi::OsString;

use mio::{Events, Poll, Token};

use crate::daemon::reap::{self, Status};
use crate::daemon::signals::{self, Inherited, Received, SignalSource};
use crate::daemon::spawn::{self, ChildSetup, Group};
use crate::error::{exit, Error, Result};
use crate::{debug, diag, fatal, info, trace, warn};
use args::{InitOptions, Parsed};

const SIGNALS: Token = Token(0);

/// Entry point: `name` is what to call ourselves in usage text, `args` everything after.
pub fn main(name: &str, args: &[OsString]) -> i32 {
    let mut opts = match args::parse(name, args) {
        Parsed::Run(o) => o,
        Parsed::Exit { code, stdout, stderr } => {
            diag::out(&stdout);
            diag::err(&stderr);
            return code;
        }
    };
    args::apply_env(&mut opts, |k| std::env::var_os(k));
    diag::set_verbosity(opts.verbosity);
    match run(&opts) {
        Ok(code) => code,
        Err(e) => {
            fatal!("{e}");
            e.exit_code()
        }
    }
}

fn remap(opts: &InitOptions, code: i32) -> i32 {
    if u8::try_from(code).is_ok_and(|c| opts.expect.contains(&c)) {
        0
    } else {
        code
    }
}

/// tini's reaper_check: warn when orphans will not be re-parented to us.
fn reaper_check() {
    if std::process::id() == 1 {
        return;
    }
    match nix::sys::prctl::get_child_subreaper() {
        Ok(true) => return,
        Ok(false) => {}
        Err(e) => debug!("Failed to read child subreaper attribute: {}", e.desc()),
    }
    warn!(
        "tend is not running as PID 1 and isn't registered as a child subreaper.\n\
         Zombie processes will not be re-parented to tend, so zombie reaping won't work.\n\
         To fix the problem, use the -s option or set the environment variable TINI_SUBREAPER \
         to register tend as a child subreaper, or run tend as PID 1."
    );
}

/// What the child gets back: tend's original mask and ignored signals, its own group,
/// and the terminal's foreground if there is one (tini's isolate_child and
/// restore_signals).
fn child_setup(inh: &Inherited) -> ChildSetup {
    let mut ignore = Vec::new();
    if inh.sigchld_ignored {
        ignore.push(libc::SIGCHLD);
    }
    if inh.sigpipe_ignored {
        ignore.push(libc::SIGPIPE);
    }
    ChildSetup {
        group: Group::NewGroup,
        foreground_tty: true,
        reset: Vec::new(),
        ignore,
        mask: inh.mask,
        ..ChildSetup::new(Vec::new())
    }
}

fn run(opts: &InitOptions) -> Result<i32> {
    let inherited = signals::take_over()?;
    let mut sigsrc = SignalSource::new()?;

    if let Some(sig) = opts.pdeathsig {
        // SAFETY: prctl with integer arguments only.
        if unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, sig as libc::c_ulong, 0, 0, 0) } < 0 {
            fatal!("Failed to set up parent death signal");
            return Ok(exit::FAILURE);
        }
    }
    if opts.subreaper {
        if let Err(e) = nix::sys::prctl::set_child_subreaper(true) {
            if e == nix::errno::Errno::EINVAL {
                fatal!("PR_SET_CHILD_SUBREAPER is unavailable on this platform. Are you using Linux >= 3.4?");
            } else {
                fatal!("Failed to register as child subreaper: {}", e.desc());
            }
            return Ok(exit::FAILURE);
        }
        trace!("Registered as child subreaper");
    }
    reaper_check();

    let program = &opts.command[0];
    let mut cmd = spawn::Command::new(program);
    cmd.args(&opts.command[1..]);
    let child = match spawn::spawn(&mut cmd, child_setup(&inherited)) {
        Ok(pid) => pid as i32,
        Err(e) => {
            fatal!("{} {} failed: {}", e.step_name(), program.to_string_lossy(), e.reason());
            return Ok(remap(opts, e.exit_code()));
        }
    };
    info!("Spawned child process '{}' with pid '{}'", program.to_string_lossy(), child);

    let mut poll = Poll::new().map_err(|e| Error::Io("creating the poll instance".into(), e))?;
    sigsrc.register(poll.registry(), SIGNALS)?;
    let mut events = Events::with_capacity(4);
    let mut received: Vec<Received> = Vec::with_capacity(8);
    loop {
        if let Err(e) = poll.poll(&mut events, None) {
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(Error::Io("polling".into(), e));
        }
        received.clear();
        sigsrc.drain(&mut received)?;
        for r in &received {
            forward(opts, child, r.signo)?;
        }
        if let Some(code) = reap_once(opts, child)? {
            trace!("Exiting: child has exited");
            return Ok(code);
        }
    }
}

/// Forward one received signal as tini does: SIGCHLD means "reap", SIGTTIN/SIGTTOU are
/// tend's own (tini ignores them), everything else goes to the child or its group.
fn forward(opts: &InitOptions, child: i32, signo: i32) -> Result<()> {
    if signo == libc::SIGCHLD {
        debug!("Received SIGCHLD");
        return Ok(());
    }
    if signo == libc::SIGTTIN || signo == libc::SIGTTOU {
        return Ok(());
    }
    debug!("Passing signal: '{}'", signals::signal_name(signo));
    let target = if opts.kill_group { -child } else { child };
    match signals::send(target, signo) {
        Ok(()) => {}
        Err(nix::errno::Errno::ESRCH) => warn!("Child was dead when forwarding signal"),
        Err(e) => return Err(Error::Sys("forwarding a signal", e)),
    }
    Ok(())
}

/// Reap everything reapable; the main child's status (remapped) once it is gone.
fn reap_once(opts: &InitOptions, child: i32) -> Result<Option<i32>> {
    let mut code = None;
    reap::reap_all(false, |pid, status: Status| {
        debug!("Reaped child with pid: '{pid}'");
        if pid == child {
            match status {
                Status::Exited(c) => info!("Main child exited normally (with status '{c}')"),
                Status::Signaled { signo, .. } => {
                    info!("Main child exited with signal (with signal '{}')", signals::signal_name(signo))
                }
                Status::Stopped(_) | Status::Continued => {}
            }
            code = status.shell_code().map(|c| remap(opts, c));
        } else if opts.warn_on_reap {
            warn!("Reaped zombie process with pid={pid}");
        }
    })
    .map_err(|e| Error::Sys("waitpid", e))?;
    Ok(code)
}
