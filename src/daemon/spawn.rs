//! The only fork/exec site in tend (PITFALLS §9).
//!
//! Everything the child needs (argv, masks, ids, limits) is computed by the caller into
//! a [`ChildSetup`] *before* the fork. Between fork and exec the child runs only
//! async-signal-safe calls (signal-safety(7)): setsid/setpgid, tcsetpgrp, prctl,
//! setrlimit, umask, setgroups/setgid/setuid, sigaction, sigprocmask. No allocation,
//! no locks, no logging.
//!
//! A failing step is reported to the parent through std's CLOEXEC error pipe. std
//! carries only an `i32`, so the step is encoded in it as `step * STEP_BASE + errno`
//! and decoded by [`SpawnError`], which can then name the call that failed.

use std::fmt;
use std::io;
use std::os::unix::process::CommandExt;
use std::process::Command;

use nix::errno::Errno;
use nix::sys::signal::SigSet;

/// `setrlimit`'s resource type differs between glibc and musl.
#[cfg(target_env = "gnu")]
pub type RlimitResource = libc::__rlimit_resource_t;
#[cfg(not(target_env = "gnu"))]
pub type RlimitResource = libc::c_int;

/// Which process group / session the child gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Group {
    /// Stay in tend's group.
    Inherit,
    /// `setpgid(0, 0)`: a new group in tend's session (tini's choice, so the tty works).
    NewGroup,
    /// `setsid()`: a new session and group, no controlling tty (services).
    NewSession,
}

/// A user to become, resolved before the fork.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserSwitch {
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups, set first (setgroups, then setgid, then setuid).
    pub groups: Vec<libc::gid_t>,
}

/// What the child does between fork and exec, in this order: group, tty, parent-death
/// signal, rlimits, umask, user, dispositions, mask.
#[derive(Clone)]
pub struct ChildSetup {
    pub group: Group,
    /// Make the child's group the tty's foreground group (ENOTTY/ENXIO are fine).
    pub foreground_tty: bool,
    /// `PR_SET_PDEATHSIG` with this signal; the child checks its parent is still tend.
    pub pdeathsig: Option<i32>,
    pub rlimits: Vec<(RlimitResource, libc::rlim_t, libc::rlim_t)>,
    pub umask: Option<libc::mode_t>,
    pub user: Option<UserSwitch>,
    /// Signals to reset to SIG_DFL (those tend found ignored), before `ignore`. tend
    /// installs no handlers, so these are the only non-default dispositions.
    pub reset: Vec<i32>,
    /// Signals to set to SIG_IGN (what init mode inherited ignored).
    pub ignore: Vec<i32>,
    /// The mask the child execs with.
    pub mask: SigSet,
    /// Directory to change to, after the user switch (so the service's own
    /// permissions apply); prepared before the fork.
    pub cwd: Option<std::ffi::CString>,
    /// A service cgroup's `cgroup.procs`, opened by the parent: the child writes "0"
    /// to it first thing, moving itself in before it can fork.
    pub cgroup_procs: Option<std::os::fd::RawFd>,
}

impl ChildSetup {
    /// A plain child: same group, empty mask, and the signals in `reset` (those tend
    /// found ignored, from [`crate::daemon::signals::ignored_now`]) back to SIG_DFL.
    pub fn new(reset: Vec<i32>) -> Self {
        ChildSetup {
            group: Group::Inherit,
            foreground_tty: false,
            pdeathsig: None,
            rlimits: Vec::new(),
            umask: None,
            user: None,
            reset,
            ignore: Vec::new(),
            mask: SigSet::empty(),
            cwd: None,
            cgroup_procs: None,
        }
    }
}

const STEP_BASE: i32 = 10_000;

/// Steps of the child's setup, for error messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i32)]
pub enum Step {
    Exec = 0,
    Setsid = 1,
    Setpgid = 2,
    Tcsetpgrp = 3,
    Pdeathsig = 4,
    Setrlimit = 5,
    Setgroups = 6,
    Setgid = 7,
    Setuid = 8,
    Sigaction = 9,
    Sigprocmask = 10,
    /// Parent side: creating the output pipes.
    Pipe = 11,
    Chdir = 12,
    Cgroup = 13,
}

impl Step {
    fn from_i32(n: i32) -> Option<Step> {
        use Step::*;
        [
            Exec,
            Setsid,
            Setpgid,
            Tcsetpgrp,
            Pdeathsig,
            Setrlimit,
            Setgroups,
            Setgid,
            Setuid,
            Sigaction,
            Sigprocmask,
            Pipe,
            Chdir,
            Cgroup,
        ]
        .into_iter()
        .find(|s| *s as i32 == n)
    }

    fn name(self) -> &'static str {
        match self {
            Step::Exec => "exec",
            Step::Setsid => "setsid",
            Step::Setpgid => "setpgid",
            Step::Tcsetpgrp => "tcsetpgrp",
            Step::Pdeathsig => "prctl(PR_SET_PDEATHSIG)",
            Step::Setrlimit => "setrlimit",
            Step::Setgroups => "setgroups",
            Step::Setgid => "setgid",
            Step::Setuid => "setuid",
            Step::Sigaction => "sigaction",
            Step::Sigprocmask => "sigprocmask",
            Step::Pipe => "pipe",
            Step::Chdir => "chdir",
            Step::Cgroup => "joining the service's cgroup",
        }
    }
}

/// Why a spawn failed: the step and its errno (or a parent-side I/O error).
#[derive(Debug)]
pub struct SpawnError {
    pub step: Step,
    pub errno: Option<Errno>,
    pub io: io::Error,
}

impl SpawnError {
    /// A failure on the parent's side before the fork (creating pipes).
    pub fn parent(io: io::Error) -> Self {
        SpawnError { step: Step::Pipe, errno: io.raw_os_error().map(Errno::from_raw), io }
    }

    fn from_io(io: io::Error) -> Self {
        match io.raw_os_error() {
            Some(code) => {
                let step = Step::from_i32(code / STEP_BASE).unwrap_or(Step::Exec);
                let errno = Errno::from_raw(code % STEP_BASE);
                SpawnError { step, errno: Some(errno), io: io::Error::from_raw_os_error(code % STEP_BASE) }
            }
            None => SpawnError { step: Step::Exec, errno: None, io },
        }
    }

    /// The exit code a shell (and tini) gives this failure: 127 not found, 126 not
    /// executable, 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        match (self.step, self.errno) {
            (Step::Exec, Some(Errno::ENOENT)) => crate::error::exit::NOT_FOUND,
            (Step::Exec, Some(Errno::EACCES | Errno::ENOEXEC | Errno::EISDIR | Errno::EPERM)) => {
                crate::error::exit::NOT_EXECUTABLE
            }
            _ => crate::error::exit::FAILURE,
        }
    }

    /// The step that failed ("exec", "setuid", ...).
    pub fn step_name(&self) -> &'static str {
        self.step.name()
    }

    /// strerror-style text of the errno.
    pub fn reason(&self) -> String {
        match self.errno {
            Some(e) => e.desc().to_string(),
            None => self.io.to_string(),
        }
    }
}

impl fmt::Display for SpawnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} failed: {}", self.step.name(), self.reason())
    }
}

impl std::error::Error for SpawnError {}

fn fail(step: Step) -> io::Error {
    io::Error::from_raw_os_error(step as i32 * STEP_BASE + Errno::last_raw())
}

/// Runs in the child between fork and exec. Async-signal-safe calls only.
fn child_setup(s: &ChildSetup, parent: libc::pid_t) -> io::Result<()> {
    // SAFETY (whole function): every call below is async-signal-safe per
    // signal-safety(7) and uses only memory prepared before the fork.
    unsafe {
        if let Some(fd) = s.cgroup_procs {
            if libc::write(fd, b"0".as_ptr().cast(), 1) < 0 {
                return Err(fail(Step::Cgroup));
            }
        }
        match s.group {
            Group::Inherit => {}
            Group::NewGroup => {
                if libc::setpgid(0, 0) < 0 {
                    return Err(fail(Step::Setpgid));
                }
            }
            Group::NewSession => {
                if libc::setsid() < 0 {
                    return Err(fail(Step::Setsid));
                }
            }
        }
        // Done in the child, as tini does (tini.c:158-165): the parent doing it could
        // race with a grandparent init doing the same. SIGTTOU is still blocked here.
        if s.foreground_tty && libc::tcsetpgrp(0, libc::getpgrp()) < 0 {
            let e = Errno::last();
            if e != Errno::ENOTTY && e != Errno::ENXIO {
                return Err(fail(Step::Tcsetpgrp));
            }
        }
        if let Some(sig) = s.pdeathsig {
            if libc::prctl(libc::PR_SET_PDEATHSIG, sig as libc::c_ulong, 0, 0, 0) < 0 {
                return Err(fail(Step::Pdeathsig));
            }
            // The parent may have died before the prctl (util-linux#1490).
            if libc::getppid() != parent {
                Errno::set_raw(libc::ESRCH);
                return Err(fail(Step::Pdeathsig));
            }
        }
        for &(res, soft, hard) in &s.rlimits {
            let lim = libc::rlimit { rlim_cur: soft, rlim_max: hard };
            if libc::setrlimit(res, &lim) < 0 {
                return Err(fail(Step::Setrlimit));
            }
        }
        if let Some(m) = s.umask {
            libc::umask(m);
        }
        if let Some(u) = &s.user {
            if libc::setgroups(u.groups.len(), u.groups.as_ptr()) < 0 {
                return Err(fail(Step::Setgroups));
            }
            if libc::setgid(u.gid) < 0 {
                return Err(fail(Step::Setgid));
            }
            if libc::setuid(u.uid) < 0 {
                return Err(fail(Step::Setuid));
            }
        }
        if let Some(dir) = &s.cwd {
            if libc::chdir(dir.as_ptr()) < 0 {
                return Err(fail(Step::Chdir));
            }
        }
        for &sig in &s.reset {
            if !crate::daemon::signals::kernel_set_default(sig) {
                return Err(fail(Step::Sigaction));
            }
        }
        for &sig in &s.ignore {
            if libc::signal(sig, libc::SIG_IGN) == libc::SIG_ERR {
                return Err(fail(Step::Sigaction));
            }
        }
        // Last, so that nothing above runs with signals deliverable.
        if libc::sigprocmask(libc::SIG_SETMASK, s.mask.as_ref(), std::ptr::null_mut()) < 0 {
            return Err(fail(Step::Sigprocmask));
        }
    }
    Ok(())
}

/// Spawn `cmd` with `setup` applied in the child. Returns the child's pid. The
/// returned `Child` handle is dropped on purpose: the reaper owns all waiting.
pub fn spawn(cmd: &mut Command, setup: ChildSetup) -> Result<u32, SpawnError> {
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: child_setup only makes async-signal-safe calls (see its comment).
    unsafe {
        cmd.pre_exec(move || child_setup(&setup, parent));
    }
    match cmd.spawn() {
        Ok(child) => Ok(child.id()),
        Err(e) => Err(SpawnError::from_io(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_step_and_errno() {
        let e = SpawnError::from_io(io::Error::from_raw_os_error(Step::Setuid as i32 * STEP_BASE + libc::EPERM));
        assert_eq!(e.step, Step::Setuid);
        assert_eq!(e.errno, Some(Errno::EPERM));
        assert_eq!(e.to_string(), "setuid failed: Operation not permitted");
        assert_eq!(e.exit_code(), 1);
        let e = SpawnError::from_io(io::Error::from_raw_os_error(libc::ENOENT));
        assert_eq!((e.step, e.exit_code()), (Step::Exec, 127));
        let e = SpawnError::from_io(io::Error::from_raw_os_error(libc::EACCES));
        assert_eq!(e.exit_code(), 126);
    }
}
