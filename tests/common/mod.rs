//! Shared helpers for the black-box `tend init` tests.
//!
//! Every test runs the built binary with real processes and real signals. The rules
//! these helpers enforce:
//! - Each test works in its own directory under the system temp dir (removed when the
//!   test passes, kept and named when it fails).
//! - Every process a test starts is killed when the test ends, pass or fail: [`Spawned`]
//!   kills tend and everything below it on drop, any pid handed to [`Spawned::track`],
//!   and any process left whose working directory is the test's (every process a test
//!   starts runs there, orphans that no longer hang below tend included).
//! - The test process's own signal state is never touched (tests run as threads of one
//!   process): the state tend starts with is set up between fork and exec, in a
//!   `pre_exec` hook ([`Start`]).
//! - Waits poll for a condition with a generous deadline instead of sleeping.
#![allow(dead_code)]

#[path = "../base/mod.rs"]
mod base;
pub use base::*;

use std::collections::HashMap;
use std::fs::{self, File};
use std::io;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

/// The first line of tend's warning when it can neither reap as PID 1 nor as subreaper
/// (tini's wording: "... so zombie reaping won't work").
pub const REAPER_WARNING: &str = "zombie reaping won't work";

// ---------------------------------------------------------------------------------
// Polling

/// Wait until `path` exists and return its contents.
pub fn wait_for_file(path: &Path) -> String {
    wait_until(DEADLINE, &format!("file {}", path.display()), || path.exists());
    // The writer may still be writing: re-read until two reads agree and end in a newline.
    let mut last = String::new();
    wait_until(DEADLINE, &format!("a complete line in {}", path.display()), || {
        let now = fs::read_to_string(path).unwrap_or_default();
        let done = now == last && now.ends_with('\n');
        last = now;
        done
    });
    last
}

// ---------------------------------------------------------------------------------
// /proc

/// The live tree below `root` (not including it), from a /proc scan.
pub fn descendants(root: i32) -> Vec<Stat> {
    let all: Vec<Stat> = all_pids().into_iter().filter_map(stat).collect();
    let mut kids: HashMap<i32, Vec<&Stat>> = HashMap::new();
    for s in &all {
        kids.entry(s.ppid).or_default().push(s);
    }
    let mut out = Vec::new();
    let mut todo = vec![root];
    while let Some(p) = todo.pop() {
        for s in kids.get(&p).into_iter().flatten() {
            todo.push(s.pid);
            out.push((*s).clone());
        }
    }
    out
}

/// A signal-set field of /proc/PID/status ("SigBlk", "SigIgn", "ShdPnd") as a bit set.
pub fn sigset_field(text: &str, name: &str) -> u64 {
    let v = parse_status_field(text, name).unwrap_or_else(|| panic!("no {name} in status:\n{text}"));
    u64::from_str_radix(&v, 16).unwrap_or_else(|e| panic!("{name}: {v}: {e}"))
}

/// The bit of signal `sig` in a /proc signal set.
pub fn sigbit(sig: i32) -> u64 {
    1u64 << (sig - 1)
}

/// Signals of a /proc signal set, by name, for messages.
pub fn sigset_names(set: u64) -> Vec<String> {
    (1..=64).filter(|&s| set & sigbit(s) != 0).map(signame).collect()
}

/// The process-wide pending set of `pid` (signals sent with kill(2) to the process).
pub fn shared_pending(pid: i32) -> Option<u64> {
    let text = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    Some(sigset_field(&text, "ShdPnd"))
}

/// The short name of a signal ("TERM"), or "RTMIN+n".
pub fn signame(sig: i32) -> String {
    let names = [
        "HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "BUS", "FPE", "KILL", "USR1", "SEGV", "USR2", "PIPE", "ALRM",
        "TERM", "STKFLT", "CHLD", "CONT", "STOP", "TSTP", "TTIN", "TTOU", "URG", "XCPU", "XFSZ", "VTALRM", "PROF",
        "WINCH", "IO", "PWR", "SYS",
    ];
    match usize::try_from(sig - 1).ok().and_then(|i| names.get(i)) {
        Some(n) => n.to_string(),
        None => format!("RTMIN+{}", sig - libc::SIGRTMIN()),
    }
}

// ---------------------------------------------------------------------------------
// Starting tend

/// The signal state and terminal tend is started with, applied between fork and exec.
///
/// Whatever the test process inherited, tend starts from a known state
/// ([`reset_for_exec`]): every disposition SIG_DFL, an empty mask, then `ignore` and
/// `block` applied. Inherited fds above 2 (from cargo, the shell...) are marked
/// close-on-exec so they don't reach tend, and core dumps are off.
#[derive(Clone, Debug, Default)]
pub struct Start {
    /// Signals set to SIG_IGN.
    pub ignore: Vec<i32>,
    /// Signals blocked.
    pub block: Vec<i32>,
    /// Block every signal (the C library's reserved ones aside).
    pub block_all: bool,
    /// Start a new session and make stdin (a terminal) its controlling terminal.
    pub controlling_tty: bool,
}

impl Start {
    /// Install the pre_exec hook on `cmd`.
    pub fn apply(&self, cmd: &mut Command) {
        let s = self.clone();
        // SAFETY: the closure only makes async-signal-safe system calls, with memory
        // prepared before the fork (the vectors are moved in, not allocated there).
        unsafe {
            cmd.pre_exec(move || {
                reset_for_exec(&s.ignore, &s.block, s.block_all)?;
                if s.controlling_tty {
                    if libc::setsid() < 0 {
                        return Err(io::Error::last_os_error());
                    }
                    if libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                        return Err(io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
    }
}

/// `tend ARGS...` (pass "init" first for the subcommand form).
pub fn tend<I, S>(args: I) -> Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let mut c = Command::new(TEND);
    c.args(args);
    c
}

/// The variables that change how `tend init` behaves, as they do tini.
pub const TINI_ENV: [&str; 3] = ["TINI_SUBREAPER", "TINI_VERBOSITY", "TINI_KILL_PROCESS_GROUP"];

/// Remove [`TINI_ENV`] from what `cmd` passes on, so that only a test's own flags count.
pub fn clear_tini_env(cmd: &mut Command) {
    for k in TINI_ENV {
        cmd.env_remove(k);
    }
}

/// `tend init FLAGS... -- sh -c SCRIPT`, without the [`TINI_ENV`] variables.
pub fn init_sh(flags: &[&str], script: &str) -> Command {
    let mut cmd = tend(["init"].iter().chain(flags).chain(&["--", "sh", "-c", script]));
    clear_tini_env(&mut cmd);
    cmd
}

/// A started process (usually tend), killed with its whole tree when dropped.
pub struct Spawned {
    child: Child,
    pid: i32,
    out: PathBuf,
    err: PathBuf,
    status: Option<ExitStatus>,
    /// Processes (pid, start time) to kill on drop.
    tracked: Vec<(i32, u64)>,
}

/// How a finished process ended, with what it wrote.
#[derive(Debug)]
pub struct Outcome {
    pub status: ExitStatus,
    /// stdout as bytes, and as (lossy) text
    pub stdout_bytes: Vec<u8>,
    pub stdout: String,
    pub stderr: String,
}

impl Outcome {
    /// The exit code, or None if killed by a signal.
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// The signal that killed it, if any.
    pub fn signal(&self) -> Option<i32> {
        self.status.signal()
    }

    /// Assert the exit code, showing the output if it is wrong.
    #[track_caller]
    pub fn assert_code(&self, code: i32) {
        assert_eq!(
            self.code(),
            Some(code),
            "wrong exit status {:?}\nstdout:\n{}\nstderr:\n{}",
            self.status,
            self.stdout,
            self.stderr
        );
    }
}

/// Spawn `cmd` with `start` applied, stdin from /dev/null unless `cmd` set it (pass
/// `keep_stdin`), stdout and stderr into files of `dir`, cwd `dir` unless `cmd` set one.
/// (Whatever is left running in `dir` when the [`Spawned`] drops is killed: a command
/// that leaves a daemon behind on purpose, such as `podman run -d` and its conmon, must
/// run elsewhere.)
pub fn spawn_in(dir: &TestDir, mut cmd: Command, start: &Start, keep_stdin: bool) -> Spawned {
    static SEQ: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let out = dir.join(format!(".stdout.{n}"));
    let err = dir.join(format!(".stderr.{n}"));
    cmd.stdout(File::create(&out).expect("stdout file"));
    cmd.stderr(File::create(&err).expect("stderr file"));
    if !keep_stdin {
        cmd.stdin(Stdio::null());
    }
    if cmd.get_current_dir().is_none() {
        cmd.current_dir(dir.path());
    }
    start.apply(&mut cmd);
    let child = cmd.spawn().unwrap_or_else(|e| panic!("spawning {cmd:?}: {e}"));
    let pid = child.id() as i32;
    Spawned { child, pid, out, err, status: None, tracked: Vec::new() }
}

/// Spawn with a clean start (see [`Start`]).
pub fn spawn(dir: &TestDir, cmd: Command) -> Spawned {
    spawn_in(dir, cmd, &Start::default(), false)
}

/// Run to completion with a clean start.
pub fn run(dir: &TestDir, cmd: Command) -> Outcome {
    spawn(dir, cmd).wait()
}

impl Spawned {
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Send `sig` to the process.
    #[track_caller]
    pub fn signal(&self, sig: i32) {
        assert!(self.status.is_none(), "signal {} to a process that has exited", signame(sig));
        assert!(kill(self.pid, sig), "kill({}, {}): {}", self.pid, signame(sig), io::Error::last_os_error());
    }

    /// Kill `pid` too when this is dropped (an orphan that left the tree).
    pub fn track(&mut self, pid: i32) {
        if let Some(s) = stat(pid) {
            self.tracked.push((pid, s.starttime));
        }
    }

    /// The output so far.
    pub fn stderr_now(&self) -> String {
        String::from_utf8_lossy(&fs::read(&self.err).unwrap_or_default()).into_owned()
    }

    pub fn stdout_now(&self) -> String {
        String::from_utf8_lossy(&fs::read(&self.out).unwrap_or_default()).into_owned()
    }

    /// The exit status if it has exited (reaping it).
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        self.wait_at_most(Duration::ZERO)
    }

    /// The exit status once it has exited, waiting at most `timeout`.
    fn wait_at_most(&mut self, timeout: Duration) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = wait_child(&mut self.child, timeout);
        }
        self.status
    }

    /// True while the process has not exited.
    pub fn running(&mut self) -> bool {
        self.try_wait().is_none()
    }

    /// Wait for the exit, at most `timeout`; panic (and kill everything) after that.
    #[track_caller]
    pub fn wait_timeout(&mut self, timeout: Duration) -> Outcome {
        let Some(status) = self.wait_at_most(timeout) else {
            panic!(
                "pid {} did not exit within {timeout:?}\nstdout:\n{}\nstderr:\n{}",
                self.pid,
                self.stdout_now(),
                self.stderr_now()
            );
        };
        let stdout_bytes = fs::read(&self.out).unwrap_or_default();
        Outcome {
            status,
            stdout: String::from_utf8_lossy(&stdout_bytes).into_owned(),
            stdout_bytes,
            stderr: self.stderr_now(),
        }
    }

    /// Wait for the exit with the default deadline.
    #[track_caller]
    pub fn wait(&mut self) -> Outcome {
        self.wait_timeout(DEADLINE)
    }

    /// The only child of tend once it exists (tend's main child).
    #[track_caller]
    pub fn child_pid(&self) -> i32 {
        let mut kid = 0;
        wait_until(DEADLINE, "tend's child to appear", || match children(self.pid).as_slice() {
            [k] => {
                kid = *k;
                true
            }
            _ => false,
        });
        kid
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        // Collect the tree first: once tend is gone its descendants are re-parented.
        let mut victims: Vec<(i32, u64)> = Vec::new();
        if self.try_wait().is_none() {
            victims.extend(descendants(self.pid).into_iter().map(|s| (s.pid, s.starttime)));
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        victims.extend(self.tracked.iter().copied());
        // Anything else still running in the test's directory: every process a test
        // starts has it as its cwd, orphans that left tend's tree included.
        if let Some(dir) = self.out.parent() {
            for pid in all_pids() {
                let in_dir = fs::read_link(format!("/proc/{pid}/cwd")).is_ok_and(|cwd| cwd.starts_with(dir));
                if in_dir {
                    if let Some(s) = stat(pid) {
                        victims.push((pid, s.starttime));
                    }
                }
            }
        }
        for (pid, start) in victims {
            // Only if it is still the same process (pids are reused).
            if stat(pid).is_some_and(|s| s.starttime == start) {
                kill(pid, libc::SIGKILL);
            }
        }
    }
}

// ---------------------------------------------------------------------------------
// Scripts

/// A POSIX sh script for a child of an init that is PID 1 (of a PID namespace or a
/// container): it checks `$PPID` is 1, makes orphans (double-forked `sleep`s, and short
/// lived ones that exit at once), checks they were re-parented to PID 1, kills the
/// sleepers, and waits (up to 10 s) until none of them is left, not even as a zombie,
/// and no zombie child of PID 1 remains. It prints what it found and exits with `$2`
/// when all is well, 3 when not.
///
/// `$1` is a prefix for external commands ("" on a normal system, "/bin/busybox " in a
/// busybox-only image).
pub const PID1_REAP_SCRIPT: &str = r#"
bb=$1; code=$2
fail() { echo "FAIL: $*"; exit 3; }
[ "$PPID" = 1 ] || fail "parent of the child is $PPID, not 1"
# ST <- the fields after the comm of /proc/$1/stat (state ppid pgrp ...), without forking
st() { ST=; read -r ST 2>/dev/null </proc/$1/stat || return 1; ST=${ST##*") "}; }
orphans=
i=0
while [ $i -lt 5 ]; do
    orphans="$orphans $( (${bb}sleep 1000 </dev/null >/dev/null 2>&1 & echo $!) )"
    i=$((i + 1))
done
i=0
while [ $i -lt 50 ]; do
    ( (exit 0) & )
    i=$((i + 1))
done
for p in $orphans; do
    st $p || fail "orphan $p vanished before it was killed"
    set -- $ST
    [ "$2" = 1 ] || fail "orphan $p has parent $2, not 1"
done
kill $orphans
n=0
while :; do
    left=
    for p in $orphans; do st $p && left="$left $p"; done
    zombies=
    for d in /proc/[0-9]*; do
        st ${d#/proc/} || continue
        set -- $ST
        [ "$1" = Z ] && [ "$2" = 1 ] && zombies="$zombies ${d#/proc/}"
    done
    [ -z "$left$zombies" ] && break
    n=$((n + 1))
    [ $n -lt 200 ] || fail "still there after 10 s: orphans [$left ], zombies of PID 1 [$zombies ]"
    ${bb}sleep 0.05
done
echo "ok: orphans$orphans reaped, no zombies"
exit $code
"#;
