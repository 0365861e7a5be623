//! Helpers shared by both black-box suites: `tests/common` (tend init) and
//! `tests/support` (tend run) include this module and re-export it.
#![allow(dead_code)]

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus};
use std::time::{Duration, Instant};

/// The binary under test.
pub const TEND: &str = env!("CARGO_BIN_EXE_tend");

/// The deadline for anything that should happen "at once".
pub const DEADLINE: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------------
// Temp dirs

/// A per-test scratch directory, `$TMPDIR/tend-test-<pid>-<name>`: removed when the
/// test passes, kept (and named) when it fails.
pub struct TestDir {
    path: PathBuf,
}

impl TestDir {
    pub fn new(name: &str) -> TestDir {
        let path = std::env::temp_dir().join(format!("tend-test-{}-{}", std::process::id(), name));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).unwrap_or_else(|e| panic!("creating {}: {e}", path.display()));
        // Services may run as another user (run_user.rs) and write here.
        let _ = fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o777));
        TestDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn join(&self, p: impl AsRef<Path>) -> PathBuf {
        self.path.join(p)
    }

    /// The directory as a string, for configs and shell scripts.
    pub fn s(&self) -> String {
        self.path.to_str().expect("temp dir is UTF-8").to_string()
    }

    /// Write a file of this directory.
    pub fn write(&self, p: impl AsRef<Path>, text: &str) {
        let p = self.join(p);
        fs::write(&p, text).unwrap_or_else(|e| panic!("writing {}: {e}", p.display()));
    }

    /// Write a file of this directory with permissions `mode` (0o755: a script to run,
    /// 0o644: one that cannot be); returns its path.
    pub fn write_mode(&self, p: impl AsRef<Path>, text: &str, mode: u32) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let p = self.join(p);
        fs::write(&p, text).unwrap_or_else(|e| panic!("writing {}: {e}", p.display()));
        fs::set_permissions(&p, fs::Permissions::from_mode(mode))
            .unwrap_or_else(|e| panic!("chmod {mode:o} {}: {e}", p.display()));
        p
    }

    /// Read a file of this directory, or "" if it does not exist.
    pub fn read(&self, p: impl AsRef<Path>) -> String {
        fs::read_to_string(self.join(p)).unwrap_or_default()
    }

    /// The pid a process wrote to `name` (`echo $$ > name`), once the line is complete.
    pub fn read_pid(&self, name: &str) -> Option<i32> {
        let s = self.read(name);
        if !s.ends_with('\n') {
            return None;
        }
        s.trim().parse().ok()
    }

    /// Wait until a process has written its pid to `name`.
    #[track_caller]
    pub fn wait_pid(&self, name: &str) -> i32 {
        let mut pid = None;
        wait_until(DEADLINE, &format!("a pid in {}", self.join(name).display()), || {
            pid = self.read_pid(name);
            pid.is_some()
        });
        pid.unwrap_or_default()
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("test failed: keeping {}", self.path.display());
        } else {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

// ---------------------------------------------------------------------------------
// Skips

/// Say that a test is skipped and why. Written to stderr directly rather than with
/// `eprintln!`, which the test harness captures (and shows only for failed tests).
pub fn skip(test: &str, why: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {why}");
}

// ---------------------------------------------------------------------------------
// Polling

/// Poll `cond` until it holds; panic with `what` after `timeout`.
#[track_caller]
pub fn wait_until(timeout: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    if !poll_until(timeout, &mut cond) {
        panic!("timed out after {timeout:?} waiting for: {what}");
    }
}

/// Poll `cond` until it holds or `timeout` passes; returns whether it held.
pub fn poll_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    let mut pause = Duration::from_millis(1);
    loop {
        if cond() {
            return true;
        }
        if start.elapsed() > timeout {
            return false;
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(20));
    }
}

/// Wait at most `timeout` for `child` to exit (reaping it); its status, or None while it
/// still runs. `Duration::ZERO` only looks. A reaped `Child` keeps its status, so asking
/// again is fine; an error (which a child we own never gives) counts as still running.
pub fn wait_child(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let mut st = None;
    poll_until(timeout, || {
        st = child.try_wait().ok().flatten();
        st.is_some()
    });
    st
}

// ---------------------------------------------------------------------------------
// /proc and signals

/// Every pid in /proc.
pub fn all_pids() -> Vec<i32> {
    let Ok(rd) = fs::read_dir("/proc") else { return Vec::new() };
    rd.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok()).collect()
}

/// The direct children of `pid`, zombies included (the kernel's own list).
pub fn children(pid: i32) -> Vec<i32> {
    fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|s| s.parse().ok())
        .collect()
}

/// A field of /proc/PID/status ("SigBlk", "Groups", ...), or None once it is gone.
pub fn status_field(pid: i32, name: &str) -> Option<String> {
    let text = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_status_field(&text, name)
}

/// A field of a /proc/PID/status text.
pub fn parse_status_field(text: &str, name: &str) -> Option<String> {
    text.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(':').map(|v| v.trim().to_string()))
}

/// The fields of /proc/PID/stat the tests use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stat {
    pub pid: i32,
    pub comm: String,
    pub state: char,
    pub ppid: i32,
    pub pgrp: i32,
    pub session: i32,
    pub tty_nr: i32,
    pub tpgid: i32,
    pub starttime: u64,
}

/// Parse a /proc/PID/stat line (the comm field may contain spaces and parentheses).
pub fn parse_stat(line: &str) -> Option<Stat> {
    let open = line.find('(')?;
    let close = line.rfind(')')?;
    let pid = line[..open].trim().parse().ok()?;
    let comm = line[open + 1..close].to_string();
    let f: Vec<&str> = line[close + 1..].split_whitespace().collect();
    // f[0] is field 3 (state); field N is f[N - 3].
    Some(Stat {
        pid,
        comm,
        state: f.first()?.chars().next()?,
        ppid: f.get(1)?.parse().ok()?,
        pgrp: f.get(2)?.parse().ok()?,
        session: f.get(3)?.parse().ok()?,
        tty_nr: f.get(4)?.parse().ok()?,
        tpgid: f.get(5)?.parse().ok()?,
        starttime: f.get(19)?.parse().ok()?,
    })
}

/// /proc/PID/stat, or None once the process is gone (reaped).
pub fn stat(pid: i32) -> Option<Stat> {
    parse_stat(&fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// True if `pid` exists and is not a zombie.
pub fn alive(pid: i32) -> bool {
    stat(pid).is_some_and(|s| s.state != 'Z')
}

/// Processes in state Z whose parent is `ppid`.
pub fn zombies_of(ppid: i32) -> Vec<i32> {
    all_pids().into_iter().filter_map(stat).filter(|s| s.ppid == ppid && s.state == 'Z').map(|s| s.pid).collect()
}

/// kill(2); true if the signal was sent.
pub fn kill(pid: i32, sig: i32) -> bool {
    // SAFETY: kill with integer arguments only.
    unsafe { libc::kill(pid, sig) == 0 }
}

// ---------------------------------------------------------------------------------
// The state the binary under test starts with

/// The kernel's `struct sigaction` (x86_64 layout), for rt_sigaction(2) directly.
#[repr(C)]
struct KernelSigaction {
    handler: libc::sighandler_t,
    flags: libc::c_ulong,
    restorer: usize,
    mask: u64,
}

/// Set `sig`'s disposition with the raw system call. The C library refuses to touch its
/// own two real-time signals (32, 33), yet glibc's posix_spawn leaves them *ignored* in
/// the children of a multi-threaded parent, cargo included, and SIG_IGN survives exec:
/// the test process itself starts with signal 32 ignored.
fn set_disposition_raw(sig: i32, handler: libc::sighandler_t) {
    let act = KernelSigaction { handler, flags: 0, restorer: 0, mask: 0 };
    // SAFETY: a valid kernel sigaction and its size; no old action requested.
    unsafe {
        libc::syscall(libc::SYS_rt_sigaction, sig, &act as *const KernelSigaction, std::ptr::null::<u8>(), 8usize);
    }
}

/// For a `pre_exec` hook only (it would wreck the test process itself): whatever the test
/// process inherited, start from a known state. Every disposition SIG_DFL, then `ignore`
/// set to SIG_IGN; the mask `block` (on top of everything the C library lets
/// sigfillset block, if `block_all`); every fd above 2 close-on-exec (std's own error
/// pipe is already, so it keeps working); no core dumps. Only async-signal-safe system
/// calls, on memory prepared before the fork.
pub fn reset_for_exec(ignore: &[i32], block: &[i32], block_all: bool) -> io::Result<()> {
    for sig in 1..=libc::SIGRTMAX() {
        if sig != libc::SIGKILL && sig != libc::SIGSTOP {
            set_disposition_raw(sig, libc::SIG_DFL);
        }
    }
    for &sig in ignore {
        set_disposition_raw(sig, libc::SIG_IGN);
    }
    // SAFETY: a local sigset_t, filled by the C library, then installed as the mask.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        if block_all {
            libc::sigfillset(&mut set);
        } else {
            libc::sigemptyset(&mut set);
        }
        for &sig in block {
            libc::sigaddset(&mut set, sig);
        }
        if libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut()) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    let zero = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: plain system calls with valid arguments.
    unsafe {
        libc::setrlimit(libc::RLIMIT_CORE, &zero);
        libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, libc::CLOSE_RANGE_CLOEXEC);
    }
    Ok(())
}
