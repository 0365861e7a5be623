//! The only fork/exec site in tend (PITFALLS §9).
//!
//! Everything the child needs (argv, masks, ids, limits) is computed by the caller into
//! a [`ChildSetup`] *before* the fork. Between fork and exec the child runs only
//! async-signal-safe calls (signal-safety(7)): setsid/setpgid, tcsetpgrp, prctl,
//! setrlimit, umask, setgroups/setgid/setuid, sigaction, sigprocmask. No allocation,
//! no locks, no logging.
//!
//! The child is made with `clone(CLONE_VM | CLONE_VFORK)`, as posix_spawn does: it
//! borrows tend's memory until it execs, so no page tables are copied and no page
//! is copied on write afterwards (a fork of a multithreaded tend also costs TLB
//! shoot-downs). tend is suspended meanwhile. Everything the child touches (argv,
//! envp, the candidate paths of a PATH search, masks, ids) is built before the clone,
//! and between clone and exec it makes only raw system calls: libc's setuid, setgid,
//! setgroups and setrlimit would broadcast to "all threads", which here are tend's.
//!
//! A failing step is reported in the shared memory as `step * STEP_BASE + errno` and
//! decoded by [`SpawnError`], which can then name the call that failed; the child then
//! exits 127 and is reaped on the spot.

use std::ffi::{CString, OsStr, OsString};
use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};

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
    /// Make the terminal on fd 0 (a pty slave) the controlling terminal of the child's
    /// new session: TIOCSCTTY right after `setsid` (needs [`Group::NewSession`]).
    pub controlling_tty: bool,
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
    /// The same cgroup's directory, opened: where clone3(2) can create the child
    /// directly (CLONE_INTO_CGROUP), sparing the migration through `cgroup_procs`,
    /// which costs a grace period (10 ms and more) when cgroups were idle.
    pub cgroup_dir: Option<std::os::fd::RawFd>,
}

impl ChildSetup {
    /// A plain child: same group, empty mask, and the signals in `reset` (those tend
    /// found ignored, from [`crate::daemon::signals::ignored_now`]) back to SIG_DFL.
    pub fn new(reset: Vec<i32>) -> Self {
        ChildSetup {
            group: Group::Inherit,
            foreground_tty: false,
            controlling_tty: false,
            pdeathsig: None,
            rlimits: Vec::new(),
            umask: None,
            user: None,
            reset,
            ignore: Vec::new(),
            mask: SigSet::empty(),
            cwd: None,
            cgroup_procs: None,
            cgroup_dir: None,
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
    /// Parent side: clone(2) itself.
    Fork = 14,
    /// Child side: putting a stream on fd 0, 1 or 2.
    Dup2 = 15,
    /// Child side: taking the pty on fd 0 as controlling terminal.
    Tiocsctty = 16,
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
            Fork,
            Dup2,
            Tiocsctty,
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
            Step::Fork => "clone",
            Step::Dup2 => "dup2",
            Step::Tiocsctty => "ioctl(TIOCSCTTY)",
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
fn child_setup(s: &ChildSetup, parent: libc::pid_t, in_cgroup: bool) -> io::Result<()> {
    // SAFETY (whole function): every call below is async-signal-safe per
    // signal-safety(7) and uses only memory prepared before the fork.
    unsafe {
        if let (Some(fd), false) = (s.cgroup_procs, in_cgroup) {
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
                // A session leader with no controlling terminal takes the one on fd 0.
                if s.controlling_tty && libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                    return Err(fail(Step::Tiocsctty));
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
            let lim = libc::rlimit64 { rlim_cur: soft, rlim_max: hard };
            let none: *mut libc::rlimit64 = std::ptr::null_mut();
            if libc::syscall(libc::SYS_prlimit64, 0, res as libc::c_int, &lim as *const libc::rlimit64, none) < 0 {
                return Err(fail(Step::Setrlimit));
            }
        }
        if let Some(m) = s.umask {
            libc::umask(m);
        }
        if let Some(u) = &s.user {
            if libc::syscall(libc::SYS_setgroups, u.groups.len(), u.groups.as_ptr()) < 0 {
                return Err(fail(Step::Setgroups));
            }
            if libc::syscall(libc::SYS_setgid, u.gid) < 0 {
                return Err(fail(Step::Setgid));
            }
            if libc::syscall(libc::SYS_setuid, u.uid) < 0 {
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
            if !crate::daemon::signals::kernel_set_ignore(sig) {
                return Err(fail(Step::Sigaction));
            }
        }
        // Last, so that nothing above runs with signals deliverable.
        let none: *mut libc::sigset_t = std::ptr::null_mut();
        if libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK,
            s.mask.as_ref() as *const libc::sigset_t,
            none,
            8usize,
        ) < 0
        {
            return Err(fail(Step::Sigprocmask));
        }
    }
    Ok(())
}

/// Where one of the child's standard streams comes from.
pub enum Stdio {
    /// tend's own.
    Inherit,
    /// This fd, duplicated onto 0, 1 or 2 in the child.
    Fd(OwnedFd),
}

impl Stdio {
    pub fn inherit() -> Stdio {
        Stdio::Inherit
    }
}

impl<T: Into<OwnedFd>> From<T> for Stdio {
    fn from(f: T) -> Stdio {
        Stdio::Fd(f.into())
    }
}

/// What to run: program, arguments, environment and standard streams (the subset of
/// `std::process::Command` tend uses, spawned by [`spawn`]).
pub struct Command {
    program: OsString,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    clear_env: bool,
    stdio: [Stdio; 3],
    /// More descriptors for the child: (target fd >= 3, source).
    extra: Vec<(i32, OwnedFd)>,
    /// Variables of tend's own environment not to pass on.
    removed: Vec<OsString>,
    /// Set `LISTEN_PID` to the child's own pid (socket activation).
    listen_pid: bool,
}

impl Command {
    pub fn new(program: impl AsRef<OsStr>) -> Command {
        Command {
            program: program.as_ref().to_owned(),
            args: Vec::new(),
            env: Vec::new(),
            clear_env: false,
            stdio: [Stdio::Inherit, Stdio::Inherit, Stdio::Inherit],
            extra: Vec::new(),
            removed: Vec::new(),
            listen_pid: false,
        }
    }

    pub fn args<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(&mut self, args: I) -> &mut Command {
        self.args.extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// Set a variable (later settings of the same name win).
    pub fn env(&mut self, k: impl AsRef<OsStr>, v: impl AsRef<OsStr>) -> &mut Command {
        self.env.push((k.as_ref().to_owned(), v.as_ref().to_owned()));
        self
    }

    /// Start from an empty environment instead of tend's.
    pub fn env_clear(&mut self) -> &mut Command {
        self.clear_env = true;
        self.env.clear();
        self
    }

    pub fn stdin(&mut self, s: impl Into<Stdio>) -> &mut Command {
        self.stdio[0] = s.into();
        self
    }

    pub fn stdout(&mut self, s: impl Into<Stdio>) -> &mut Command {
        self.stdio[1] = s.into();
        self
    }

    pub fn stderr(&mut self, s: impl Into<Stdio>) -> &mut Command {
        self.stdio[2] = s.into();
        self
    }

    /// Give the child `fd` as descriptor `target` (3 or more), open across the exec
    /// (the readiness pipe of `ready = { fd = N }`, the sockets of `listen`). Targets
    /// are distinct; any order of sources and targets works (see child_main).
    pub fn extra_fd(&mut self, target: i32, fd: OwnedFd) -> &mut Command {
        self.extra.retain(|(t, _)| *t != target);
        self.extra.push((target, fd));
        self
    }

    /// Do not pass on this variable of tend's own environment (a setting made with
    /// [`Command::env`] still applies).
    pub fn env_remove(&mut self, k: impl AsRef<OsStr>) -> &mut Command {
        self.removed.push(k.as_ref().to_owned());
        self
    }

    /// Set `LISTEN_PID` to the child's pid, which only the child knows before its exec:
    /// the entry is reserved in the environment block and the child writes its digits.
    pub fn listen_pid(&mut self) -> &mut Command {
        self.listen_pid = true;
        self
    }
}

fn cstring(s: impl Into<Vec<u8>>) -> Result<CString, SpawnError> {
    CString::new(s).map_err(|_| SpawnError::parent(io::Error::from(io::ErrorKind::InvalidInput)))
}

/// The final environment, "K=V" each, tend's own (unless cleared) with the
/// command's settings applied in order.
fn environment(cmd: &Command) -> Result<Vec<CString>, SpawnError> {
    let mut vars: Vec<(OsString, OsString)> = if cmd.clear_env {
        Vec::new()
    } else {
        std::env::vars_os().filter(|(k, _)| !cmd.removed.contains(k)).collect()
    };
    for (k, v) in &cmd.env {
        match vars.iter_mut().find(|(name, _)| name == k) {
            Some(slot) => slot.1 = v.clone(),
            None => vars.push((k.clone(), v.clone())),
        }
    }
    if cmd.listen_pid {
        // Written by the child (see listen_pid_slot).
        vars.retain(|(k, _)| k != "LISTEN_PID");
    }
    vars.into_iter()
        .map(|(k, v)| {
            let mut kv = k.into_vec();
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            cstring(kv)
        })
        .collect()
}

/// Paths to try, in order, as execvp(3) would: the program itself if it names a path,
/// else each directory of the environment's PATH (musl's default without one).
fn candidates(program: &OsStr, env: &[CString]) -> Result<Vec<CString>, SpawnError> {
    let p = program.as_bytes();
    if p.is_empty() {
        return Err(SpawnError {
            step: Step::Exec,
            errno: Some(Errno::ENOENT),
            io: io::Error::from_raw_os_error(libc::ENOENT),
        });
    }
    if p.contains(&b'/') {
        return Ok(vec![cstring(p)?]);
    }
    let path =
        env.iter().find_map(|kv| kv.as_bytes().strip_prefix(b"PATH=")).unwrap_or(b"/usr/local/bin:/bin:/usr/bin");
    path.split(|&b| b == b':')
        .map(|dir| {
            let dir = if dir.is_empty() { &b"."[..] } else { dir };
            let mut full = dir.to_vec();
            full.push(b'/');
            full.extend_from_slice(p);
            cstring(full)
        })
        .collect()
}

/// Shared between tend and the child (same memory until exec).
struct Ctx<'a> {
    setup: &'a ChildSetup,
    parent: libc::pid_t,
    stdio: [libc::c_int; 3],
    /// (target, source) of each extra descriptor; the child rewrites the sources.
    extra: &'a mut [(libc::c_int, libc::c_int)],
    /// The digits of `LISTEN_PID=` in the environment block (PID_DIGITS bytes and a
    /// NUL), or null.
    pid_slot: *mut u8,
    paths: &'a [CString],
    argv: *const *const libc::c_char,
    envp: *const *const libc::c_char,
    /// `step * STEP_BASE + errno` of the failure, 0 if none.
    err: libc::c_int,
    /// Created in its cgroup by clone3: no migration to do.
    in_cgroup: bool,
}

fn code(step: Step) -> libc::c_int {
    step as libc::c_int * STEP_BASE + Errno::last_raw()
}

/// In the child: a close-on-exec copy of `fd` above `floor`; on failure the child
/// records the dup2 step in `err` and exits (so: only in the child).
unsafe fn dup_above(fd: libc::c_int, floor: libc::c_int, err: &mut libc::c_int) -> libc::c_int {
    // SAFETY: fcntl on a descriptor number; _exit ends the child, which shares no
    // state needing cleanup with tend.
    unsafe {
        let copy = libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, floor + 1);
        if copy < 0 {
            *err = code(Step::Dup2);
            libc::_exit(127);
        }
        copy
    }
}

/// The child, between clone and exec. Raw system calls on prepared memory only.
extern "C" fn child_main(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` is the Ctx that `spawn` passed, alive and not touched by tend
    // until this process execs or exits (CLONE_VFORK).
    let ctx = unsafe { &mut *arg.cast::<Ctx>() };
    // SAFETY (whole block): async-signal-safe calls on memory prepared before clone.
    unsafe {
        // Extra sources at or below the highest target (or below 3) are moved above
        // it first, so that no dup2 below, of a standard stream or of another extra
        // descriptor, clobbers a source not yet placed. The copies are close-on-exec.
        let floor = ctx.extra.iter().map(|e| e.0).max().unwrap_or(0).max(2);
        for e in ctx.extra.iter_mut().filter(|e| e.1 <= floor) {
            e.1 = dup_above(e.1, floor, &mut ctx.err);
        }
        if !ctx.pid_slot.is_null() {
            write_pid(ctx.pid_slot, libc::syscall(libc::SYS_getpid) as u32);
        }
        // Sources below 3 are moved up first, so no dup2 clobbers a later source.
        let mut fds = ctx.stdio;
        for fd in fds.iter_mut().filter(|fd| (0..3).contains(*fd)) {
            *fd = dup_above(*fd, 2, &mut ctx.err);
        }
        for (target, &fd) in fds.iter().enumerate() {
            if fd >= 0 && libc::dup2(fd, target as libc::c_int) < 0 {
                ctx.err = code(Step::Dup2);
                libc::_exit(127);
            }
        }
        if let Err(e) = child_setup(ctx.setup, ctx.parent, ctx.in_cgroup) {
            ctx.err = e.raw_os_error().unwrap_or(libc::EINVAL);
            libc::_exit(127);
        }
        // After the setup (which may write to the cgroup fd a target could replace);
        // every source is above every target now, and dup2 leaves the new descriptor
        // without close-on-exec.
        for &(target, source) in ctx.extra.iter() {
            if libc::dup2(source, target) < 0 {
                ctx.err = code(Step::Dup2);
                libc::_exit(127);
            }
        }
        // execvp's rule: EACCES anywhere wins over the ENOENT of the last try.
        let mut errno = libc::ENOENT;
        let mut denied = false;
        for path in ctx.paths {
            libc::execve(path.as_ptr(), ctx.argv, ctx.envp);
            errno = Errno::last_raw();
            match errno {
                libc::EACCES => denied = true,
                libc::ENOENT | libc::ENOTDIR => {}
                _ => break,
            }
        }
        if denied && (errno == libc::ENOENT || errno == libc::ENOTDIR) {
            errno = libc::EACCES;
        }
        ctx.err = Step::Exec as libc::c_int * STEP_BASE + errno;
        libc::_exit(127)
    }
}

/// Room for the digits of a pid in `LISTEN_PID=` (a u32).
const PID_DIGITS: usize = 10;

/// Write `pid` in decimal at `slot`, NUL-terminated. Async-signal-safe: no allocation.
///
/// # Safety
/// `slot` points at PID_DIGITS + 1 writable bytes.
unsafe fn write_pid(slot: *mut u8, pid: u32) {
    let mut digits = [0u8; PID_DIGITS];
    let (mut n, mut i) = (pid, PID_DIGITS);
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for (k, &d) in digits[i..].iter().enumerate() {
        // SAFETY: k < PID_DIGITS, within the slot.
        unsafe { *slot.add(k) = d };
    }
    // SAFETY: PID_DIGITS - i <= PID_DIGITS, the last byte of the slot at most.
    unsafe { *slot.add(PID_DIGITS - i) = 0 };
}

/// Stack for the child while it borrows tend's memory: child_setup and the exec loop
/// need a few KiB.
const CHILD_STACK: usize = 64 * 1024;

/// clone3 with CLONE_INTO_CGROUP works here (cleared at the first ENOSYS or EPERM).
static CLONE3_OK: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

/// `struct clone_args` of clone3(2), up to `cgroup` (CLONE_ARGS_SIZE_VER2).
#[repr(C)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// clone3(CLONE_VM | CLONE_VFORK | CLONE_INTO_CGROUP) running `child_main(arg)` on the
/// given stack, in the cgroup of directory fd `cgroup`. Returns the child's pid, or the
/// errno when clone3 refused (nothing was created then).
///
/// # Safety
/// As for clone(2) with CLONE_VM: `stack` is `size` writable bytes no one else uses
/// until the child has exec'd or exited (CLONE_VFORK), and `arg` is what child_main
/// expects.
#[cfg(target_arch = "x86_64")]
unsafe fn clone3_into(cgroup: RawFd, stack: *mut u8, size: usize, arg: *mut libc::c_void) -> Result<i32, i32> {
    if !CLONE3_OK.load(std::sync::atomic::Ordering::Relaxed) {
        return Err(libc::ENOSYS);
    }
    // The kernel starts the child with sp = stack + stack_size: keep it 16-byte
    // aligned, so that the `call` below leaves child_main the ABI's alignment.
    let base = (stack as usize + 15) & !15;
    let size = (size - (base - stack as usize)) & !15;
    let args = CloneArgs {
        flags: (libc::CLONE_VM | libc::CLONE_VFORK) as u64 | CLONE_INTO_CGROUP,
        pidfd: 0,
        child_tid: 0,
        parent_tid: 0,
        exit_signal: libc::SIGCHLD as u64,
        stack: base as u64,
        stack_size: size as u64,
        tls: 0,
        set_tid: 0,
        set_tid_size: 0,
        cgroup: cgroup as u64,
    };
    let entry: extern "C" fn(*mut libc::c_void) -> libc::c_int = child_main;
    let ret: i64;
    // SAFETY: the raw syscall returns twice. In the parent (rax != 0) it falls through
    // with only rax, rcx and r11 changed. The child (rax == 0) runs on its own stack:
    // it calls child_main(arg), which execs or _exits, and never comes back here; the
    // exit(2) after it is only a guard.
    unsafe {
        std::arch::asm!(
            "syscall",
            "test rax, rax",
            "jnz 2f",
            "mov rdi, r12",
            "call r13",
            "mov edi, eax",
            "mov eax, 60",
            "syscall",
            "ud2",
            "2:",
            inlateout("rax") libc::SYS_clone3 => ret,
            in("rdi") &args as *const CloneArgs,
            in("rsi") std::mem::size_of::<CloneArgs>(),
            in("r12") arg,
            in("r13") entry,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    if ret < 0 {
        let e = (-ret) as i32;
        // Not this kernel, or a seccomp filter: not worth asking again.
        if matches!(e, libc::ENOSYS | libc::EPERM) {
            CLONE3_OK.store(false, std::sync::atomic::Ordering::Relaxed);
        }
        Err(e)
    } else {
        Ok(ret as i32)
    }
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn clone3_into(_: RawFd, _: *mut u8, _: usize, _: *mut libc::c_void) -> Result<i32, i32> {
    Err(libc::ENOSYS)
}

/// Spawn `cmd` with `setup` applied in the child. Returns the child's pid; the
/// reaper owns all waiting (a child that failed before exec is reaped here).
pub fn spawn(cmd: &mut Command, setup: ChildSetup) -> Result<u32, SpawnError> {
    let envp = environment(cmd)?;
    let paths = candidates(&cmd.program, &envp)?;
    let mut argv = vec![cstring(cmd.program.as_bytes())?];
    for a in &cmd.args {
        argv.push(cstring(a.as_bytes())?);
    }
    let argv_ptrs: Vec<*const libc::c_char> =
        argv.iter().map(|a| a.as_ptr()).chain(std::iter::once(std::ptr::null())).collect();
    // `LISTEN_PID=` and room for the digits the child writes (it shares this memory
    // until its exec, and tend does not read the buffer).
    let mut pid_entry: Vec<u8> = Vec::new();
    if cmd.listen_pid {
        pid_entry.extend_from_slice(b"LISTEN_PID=");
        pid_entry.resize(pid_entry.len() + PID_DIGITS + 1, 0);
    }
    let pid_slot: *mut u8 =
        if cmd.listen_pid { pid_entry.as_mut_ptr().wrapping_add(b"LISTEN_PID=".len()) } else { std::ptr::null_mut() };
    let envp_ptrs: Vec<*const libc::c_char> = envp
        .iter()
        .map(|e| e.as_ptr())
        .chain(cmd.listen_pid.then(|| pid_entry.as_ptr().cast()))
        .chain(std::iter::once(std::ptr::null()))
        .collect();
    let mut extra: Vec<(libc::c_int, libc::c_int)> = cmd.extra.iter().map(|(t, f)| (*t, f.as_raw_fd())).collect();
    let fd = |s: &Stdio| match s {
        Stdio::Inherit => -1,
        Stdio::Fd(f) => f.as_raw_fd(),
    };
    let mut ctx = Ctx {
        setup: &setup,
        parent: std::process::id() as libc::pid_t,
        stdio: [fd(&cmd.stdio[0]), fd(&cmd.stdio[1]), fd(&cmd.stdio[2])],
        extra: &mut extra,
        pid_slot,
        paths: &paths,
        argv: argv_ptrs.as_ptr(),
        envp: envp_ptrs.as_ptr(),
        err: 0,
        in_cgroup: false,
    };
    // Allocated, not zeroed: nothing reads it before the child writes it. The stack
    // grows down from the end, 16-byte aligned.
    let mut stack: Vec<u8> = Vec::with_capacity(CHILD_STACK);
    let top = ((stack.as_mut_ptr() as usize + CHILD_STACK) & !15) as *mut libc::c_void;
    let mut pid = -1;
    if let Some(dir) = setup.cgroup_dir {
        ctx.in_cgroup = true;
        let ctx_ptr: *mut Ctx = &mut ctx;
        // SAFETY: as for clone below; the stack is CHILD_STACK bytes from its base.
        let r = unsafe { clone3_into(dir, stack.as_mut_ptr(), CHILD_STACK, ctx_ptr.cast()) };
        match r {
            Ok(p) => pid = p,
            // Not this kernel, or not this cgroup (or a seccomp filter): migrate instead.
            Err(_) => ctx.in_cgroup = false,
        }
    }
    let ctx_ptr: *mut Ctx = &mut ctx;
    if pid < 0 {
        // SAFETY: child_main only reads the prepared Ctx and writes its `err`; with
        // CLONE_VFORK this thread resumes only after the child exec'd or exited, so the
        // stack, Ctx and everything it points to outlive the child's use of them.
        pid =
            unsafe { libc::clone(child_main, top, libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD, ctx_ptr.cast()) };
    }
    drop(stack);
    if pid < 0 {
        let e = io::Error::last_os_error();
        return Err(SpawnError { step: Step::Fork, errno: e.raw_os_error().map(Errno::from_raw), io: e });
    }
    // SAFETY: the child is done with ctx (see above); volatile because the write came
    // from another process through shared memory.
    let err = unsafe { std::ptr::read_volatile(&(*ctx_ptr).err) };
    if err != 0 {
        let mut status = 0;
        // SAFETY: our own child, already exited.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        return Err(SpawnError::from_io(io::Error::from_raw_os_error(err)));
    }
    Ok(pid as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pid_digits_fill_the_slot() {
        for (pid, want) in [(0u32, "0"), (7, "7"), (4194304, "4194304"), (u32::MAX, "4294967295")] {
            let mut slot = [b'#'; PID_DIGITS + 1];
            // SAFETY: PID_DIGITS + 1 bytes.
            unsafe { write_pid(slot.as_mut_ptr(), pid) };
            let end = slot.iter().position(|&b| b == 0).expect("a NUL");
            assert_eq!(std::str::from_utf8(&slot[..end]).unwrap(), want);
        }
    }

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
