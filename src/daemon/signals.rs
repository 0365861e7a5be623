//! Signals: the mask the loop runs under, the signalfd it reads, names and numbers.
//!
//! What must hold (PITFALLS §1, §2):
//! - [`take_over`] runs first, before any thread exists: every signal except the
//!   synchronous faults is blocked, so the kernel queues it (even for PID 1 at SIG_DFL)
//!   and the signalfd reads it. Threads spawned later inherit the mask.
//! - SIGCHLD must not be SIG_IGN, or the kernel auto-reaps and exit statuses are lost.
//! - The signalfd is NONBLOCK|CLOEXEC and drained until it is empty (signals coalesce;
//!   mio is edge-triggered).
//! - What tend was started with (mask, SIGCHLD/SIGPIPE ignored) is kept in
//!   [`Inherited`] so init mode can hand it back to its child, as tini does.

use std::os::fd::AsRawFd;

use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};
use nix::sys::signal::{sigprocmask, SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};

use crate::error::{Result, SysContext};

/// Synchronous fault signals: never blocked, never forwarded. If tend faults it must
/// die of it, not read it from a queue (tini.c:470-478; signal-hook's FORBIDDEN).
pub const FAULT_SIGNALS: [Signal; 7] =
    [Signal::SIGFPE, Signal::SIGILL, Signal::SIGSEGV, Signal::SIGBUS, Signal::SIGABRT, Signal::SIGTRAP, Signal::SIGSYS];

/// The mask every tend thread runs under: everything but the faults.
pub fn loop_mask() -> SigSet {
    let mut m = SigSet::all();
    for s in FAULT_SIGNALS {
        m.remove(s);
    }
    m
}

/// What tend inherited from whoever started it.
#[derive(Clone, Copy)]
pub struct Inherited {
    /// The signal mask tend was started with.
    pub mask: SigSet,
    /// SIGCHLD was SIG_IGN at start (tend reset it to SIG_DFL).
    pub sigchld_ignored: bool,
    /// SIGPIPE was SIG_IGN at start. tend's `main` does not let the Rust runtime touch
    /// SIGPIPE, but std's `Command` resets it to SIG_DFL in every child.
    pub sigpipe_ignored: bool,
}

/// The kernel's `struct sigaction` (x86_64 and most 64-bit ABIs), for the raw
/// `rt_sigaction` syscall. The C library's `sigaction` refuses the signals it reserves
/// for itself (32 and 33 with glibc, up to 34 with musl), yet those can be inherited
/// ignored like any other and must be reset for a child too.
#[repr(C)]
struct KernelSigaction {
    handler: usize,
    flags: libc::c_ulong,
    restorer: usize,
    mask: u64,
}

/// True if signal `n` is SIG_IGN, asked of the kernel directly.
pub fn kernel_is_ignored(n: i32) -> bool {
    let mut old = KernelSigaction { handler: 0, flags: 0, restorer: 0, mask: 0 };
    // SAFETY: a null new action only queries; `old` matches the kernel's layout and
    // the size argument is that of the kernel's sigset (8 bytes).
    let r = unsafe { libc::syscall(libc::SYS_rt_sigaction, n, std::ptr::null::<KernelSigaction>(), &mut old, 8usize) };
    r == 0 && old.handler == libc::SIG_IGN
}

/// Set signal `n` to SIG_DFL with the raw syscall. Async-signal-safe (one syscall, no
/// memory but the stack): used between fork and exec.
pub fn kernel_set_default(n: i32) -> bool {
    let act = KernelSigaction { handler: libc::SIG_DFL, flags: 0, restorer: 0, mask: 0 };
    // SAFETY: `act` matches the kernel's layout; SIG_DFL needs no restorer.
    let r = unsafe { libc::syscall(libc::SYS_rt_sigaction, n, &act, std::ptr::null_mut::<KernelSigaction>(), 8usize) };
    r == 0
}

/// Set `n` to SIG_IGN with a raw rt_sigaction (safe between clone and exec).
pub fn kernel_set_ignore(n: i32) -> bool {
    let act = KernelSigaction { handler: libc::SIG_IGN, flags: 0, restorer: 0, mask: 0 };
    // SAFETY: `act` matches the kernel's layout; SIG_IGN needs no restorer.
    let r = unsafe { libc::syscall(libc::SYS_rt_sigaction, n, &act, std::ptr::null_mut::<KernelSigaction>(), 8usize) };
    r == 0
}

/// Every signal whose disposition is SIG_IGN right now (what a child must reset).
pub fn ignored_now() -> Vec<i32> {
    (1..=libc::SIGRTMAX())
        .filter(|&n| n != libc::SIGKILL && n != libc::SIGSTOP)
        .filter(|&n| kernel_is_ignored(n))
        .collect()
}

/// Block the loop's signals and make SIGCHLD reapable. Call before any thread exists.
pub fn take_over() -> Result<Inherited> {
    let mut old = SigSet::empty();
    sigprocmask(SigmaskHow::SIG_SETMASK, Some(&loop_mask()), Some(&mut old)).ctx("sigprocmask")?;
    let sigchld_ignored = kernel_is_ignored(libc::SIGCHLD);
    if sigchld_ignored {
        kernel_set_default(libc::SIGCHLD);
    }
    Ok(Inherited { mask: old, sigchld_ignored, sigpipe_ignored: kernel_is_ignored(libc::SIGPIPE) })
}

/// kill(2) with a raw signal number (nix's `kill` takes a `Signal`, which cannot hold
/// real-time signals). A negative `target` is a process group.
pub fn send(target: i32, signo: i32) -> std::result::Result<(), nix::errno::Errno> {
    // SAFETY: kill with integer arguments only.
    if unsafe { libc::kill(target, signo) } < 0 {
        Err(nix::errno::Errno::last())
    } else {
        Ok(())
    }
}

/// One signal read from the signalfd.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Received {
    pub signo: i32,
    /// Sender's pid (0 for the kernel).
    pub pid: u32,
    pub uid: u32,
    pub code: i32,
}

/// The signalfd, registered with the loop's `Poll`.
pub struct SignalSource {
    fd: SignalFd,
}

impl SignalSource {
    /// A signalfd for the loop mask. [`take_over`] must have blocked the mask already.
    pub fn new() -> Result<Self> {
        let fd = SignalFd::with_flags(&loop_mask(), SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC).ctx("signalfd")?;
        Ok(SignalSource { fd })
    }

    pub fn register(&self, registry: &Registry, token: Token) -> Result<()> {
        let raw = self.fd.as_raw_fd();
        registry
            .register(&mut SourceFd(&raw), token, Interest::READABLE)
            .map_err(|e| crate::error::Error::Io("registering the signalfd".into(), e))
    }

    /// Read every pending signal into `out` (until EAGAIN).
    pub fn drain(&mut self, out: &mut Vec<Received>) -> Result<()> {
        loop {
            match self.fd.read_signal() {
                Ok(Some(si)) => out.push(Received {
                    signo: si.ssi_signo as i32,
                    pid: si.ssi_pid,
                    uid: si.ssi_uid,
                    code: si.ssi_code,
                }),
                Ok(None) => return Ok(()),
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(crate::error::Error::Sys("reading the signalfd", e)),
            }
        }
    }
}

const NAMES: [(&str, i32); 31] = [
    ("HUP", libc::SIGHUP),
    ("INT", libc::SIGINT),
    ("QUIT", libc::SIGQUIT),
    ("ILL", libc::SIGILL),
    ("TRAP", libc::SIGTRAP),
    ("ABRT", libc::SIGABRT),
    ("BUS", libc::SIGBUS),
    ("FPE", libc::SIGFPE),
    ("KILL", libc::SIGKILL),
    ("USR1", libc::SIGUSR1),
    ("SEGV", libc::SIGSEGV),
    ("USR2", libc::SIGUSR2),
    ("PIPE", libc::SIGPIPE),
    ("ALRM", libc::SIGALRM),
    ("TERM", libc::SIGTERM),
    ("STKFLT", libc::SIGSTKFLT),
    ("CHLD", libc::SIGCHLD),
    ("CONT", libc::SIGCONT),
    ("STOP", libc::SIGSTOP),
    ("TSTP", libc::SIGTSTP),
    ("TTIN", libc::SIGTTIN),
    ("TTOU", libc::SIGTTOU),
    ("URG", libc::SIGURG),
    ("XCPU", libc::SIGXCPU),
    ("XFSZ", libc::SIGXFSZ),
    ("VTALRM", libc::SIGVTALRM),
    ("PROF", libc::SIGPROF),
    ("WINCH", libc::SIGWINCH),
    ("IO", libc::SIGIO),
    ("PWR", libc::SIGPWR),
    ("SYS", libc::SIGSYS),
];

fn rtmin() -> i32 {
    libc::SIGRTMIN()
}
fn rtmax() -> i32 {
    libc::SIGRTMAX()
}

/// Parse a signal given as a name (`TERM`, `SIGTERM`, `term`, `RTMIN+3`, `SIGRTMAX-1`)
/// or a number (`15`). Returns a precise message on failure.
pub fn parse_signal(s: &str) -> std::result::Result<i32, String> {
    let bad =
        || format!("invalid signal '{s}': expected a name such as TERM or SIGTERM, or a number from 1 to {}", rtmax());
    if s.is_empty() {
        return Err(bad());
    }
    if s.bytes().all(|b| b.is_ascii_digit()) {
        return match s.parse::<i32>() {
            Ok(n) if (1..=rtmax()).contains(&n) => Ok(n),
            _ => Err(bad()),
        };
    }
    let up = s.to_ascii_uppercase();
    let name = up.strip_prefix("SIG").unwrap_or(&up);
    if let Some(&(_, n)) = NAMES.iter().find(|(nm, _)| *nm == name) {
        return Ok(n);
    }
    if name == "IOT" {
        return Ok(libc::SIGABRT);
    }
    if name == "POLL" {
        return Ok(libc::SIGIO);
    }
    let rt = |base: i32, rest: &str, sign: i32| -> std::result::Result<i32, String> {
        if rest.is_empty() {
            return Ok(base);
        }
        let off: i32 = rest.parse().map_err(|_| bad())?;
        let n = base + sign * off;
        if off >= 0 && (rtmin()..=rtmax()).contains(&n) {
            Ok(n)
        } else {
            Err(bad())
        }
    };
    if let Some(rest) = name.strip_prefix("RTMIN") {
        return match rest.strip_prefix('+') {
            Some(r) => rt(rtmin(), r, 1),
            None if rest.is_empty() => Ok(rtmin()),
            None => Err(bad()),
        };
    }
    if let Some(rest) = name.strip_prefix("RTMAX") {
        return match rest.strip_prefix('-') {
            Some(r) => rt(rtmax(), r, -1),
            None if rest.is_empty() => Ok(rtmax()),
            None => Err(bad()),
        };
    }
    Err(bad())
}

/// The conventional name of a signal number: `SIGTERM`, `SIGRTMIN+3`, or `signal 99`.
pub fn signal_name(n: i32) -> String {
    if let Some((name, _)) = NAMES.iter().find(|(_, v)| *v == n) {
        return format!("SIG{name}");
    }
    if (rtmin()..=rtmax()).contains(&n) {
        return if n == rtmin() { "SIGRTMIN".into() } else { format!("SIGRTMIN+{}", n - rtmin()) };
    }
    format!("signal {n}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_and_numbers() {
        assert_eq!(parse_signal("TERM"), Ok(libc::SIGTERM));
        assert_eq!(parse_signal("SIGTERM"), Ok(libc::SIGTERM));
        assert_eq!(parse_signal("sigkill"), Ok(libc::SIGKILL));
        assert_eq!(parse_signal("9"), Ok(9));
        assert_eq!(parse_signal("RTMIN"), Ok(libc::SIGRTMIN()));
        assert_eq!(parse_signal("SIGRTMIN+3"), Ok(libc::SIGRTMIN() + 3));
        assert_eq!(parse_signal("RTMAX-1"), Ok(libc::SIGRTMAX() - 1));
    }

    #[test]
    fn rejects_bad_signals() {
        for s in ["", "0", "65", "TERMX", "SIG", "RTMIN+99", "RTMIN-1", "-9", "1.5", "RTMINX"] {
            assert!(parse_signal(s).is_err(), "{s} accepted");
        }
        assert!(parse_signal("FOO").unwrap_err().contains("invalid signal 'FOO'"));
    }

    #[test]
    fn names_round_trip() {
        for n in 1..=libc::SIGRTMAX() {
            let name = signal_name(n);
            if n > 31 && n < rtmin() {
                continue; // reserved by the C library for its threads
            }
            assert_eq!(parse_signal(&name), Ok(n), "{name}");
        }
    }

    #[test]
    fn faults_are_not_in_the_loop_mask() {
        let m = loop_mask();
        for s in FAULT_SIGNALS {
            assert!(!m.contains(s));
        }
        assert!(m.contains(Signal::SIGTERM) && m.contains(Signal::SIGCHLD));
    }
}
