//! Shared helpers for the black-box `tend run` tests (tests/run_*.rs).
//!
//! Every test runs the built binary with real processes and real signals:
//! - it works in its own directory, `$TMPDIR/tend-test-<pid>-<name>` ([`TestDir`]),
//!   removed when the test passes and kept (and named) when it fails;
//! - tend is started by [`Tend::start`] with a clean signal state (every disposition
//!   SIG_DFL, an empty mask, no inherited fd above 2), stdin from /dev/null, and an
//!   environment marker, `TEND_TEST_MARKER=<dir>`, that every service inherits;
//! - tend's stdout and stderr are read by threads into [`Lines`], so a test can wait for
//!   a line with a deadline instead of sleeping;
//! - when a [`Tend`] is dropped, pass or fail, tend and every process carrying the
//!   marker (services, their children, orphans that left the tree) are SIGKILLed, so no
//!   test leaves a process behind.
//!
//! The test process's own signal state is never changed (tests run as threads of one
//! process): what tend starts with is set up between fork and exec.
#![allow(dead_code)]

#[path = "../base/mod.rs"]
mod base;
pub use base::*;

use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// The environment variable that marks every process of one test.
pub const MARKER_VAR: &str = "TEND_TEST_MARKER";

// ---------------------------------------------------------------------------------
// Collected output

struct LinesInner {
    lines: Vec<String>,
    eof: bool,
}

/// Lines read from a stream by a background thread.
#[derive(Clone)]
pub struct Lines {
    inner: Arc<(Mutex<LinesInner>, Condvar)>,
}

impl Lines {
    /// Read `r` line by line (lossy UTF-8) on a new thread.
    pub fn spawn(r: impl Read + Send + 'static) -> Lines {
        let lines =
            Lines { inner: Arc::new((Mutex::new(LinesInner { lines: Vec::new(), eof: false }), Condvar::new())) };
        let l = lines.clone();
        std::thread::spawn(move || {
            let mut r = BufReader::with_capacity(1 << 16, r);
            let mut buf = Vec::new();
            loop {
                buf.clear();
                match r.read_until(b'\n', &mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        if buf.last() == Some(&b'\n') {
                            buf.pop();
                        }
                        let line = String::from_utf8_lossy(&buf).into_owned();
                        let (m, cv) = &*l.inner;
                        m.lock().unwrap_or_else(|e| e.into_inner()).lines.push(line);
                        cv.notify_all();
                    }
                }
            }
            let (m, cv) = &*l.inner;
            m.lock().unwrap_or_else(|e| e.into_inner()).eof = true;
            cv.notify_all();
        });
        lines
    }

    /// Every line so far.
    pub fn snapshot(&self) -> Vec<String> {
        self.inner.0.lock().unwrap_or_else(|e| e.into_inner()).lines.clone()
    }

    /// Everything so far, one line per line.
    pub fn text(&self) -> String {
        let mut s = self.snapshot().join("\n");
        s.push('\n');
        s
    }

    /// Wait until the stream is at EOF (at most `timeout`); returns whether it is.
    pub fn wait_eof(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let (m, cv) = &*self.inner;
        let mut g = m.lock().unwrap_or_else(|e| e.into_inner());
        while !g.eof {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            g = cv.wait_timeout(g, deadline - now).unwrap_or_else(|e| e.into_inner()).0;
        }
        true
    }

    /// Wait for the `n`th (1-based) line matching `pred`, at most `timeout`.
    pub fn wait_nth(&self, n: usize, timeout: Duration, pred: impl Fn(&str) -> bool) -> Option<String> {
        let deadline = Instant::now() + timeout;
        let (m, cv) = &*self.inner;
        let mut g = m.lock().unwrap_or_else(|e| e.into_inner());
        let mut seen = 0;
        let mut scanned = 0;
        loop {
            for l in &g.lines[scanned..] {
                if pred(l) {
                    seen += 1;
                    if seen == n {
                        return Some(l.clone());
                    }
                }
            }
            scanned = g.lines.len();
            let now = Instant::now();
            if now >= deadline || g.eof {
                return None;
            }
            g = cv.wait_timeout(g, deadline - now).unwrap_or_else(|e| e.into_inner()).0;
        }
    }

    /// Wait for a line matching `pred`.
    pub fn wait_for(&self, timeout: Duration, pred: impl Fn(&str) -> bool) -> Option<String> {
        self.wait_nth(1, timeout, pred)
    }

    /// Lines matching `pred` so far.
    pub fn matching(&self, pred: impl Fn(&str) -> bool) -> Vec<String> {
        self.snapshot().into_iter().filter(|l| pred(l)).collect()
    }
}

// ---------------------------------------------------------------------------------
// tend's event lines

/// One line of tend's own output on stderr: `tend | TIME MESSAGE`.
#[derive(Clone, Debug, PartialEq)]
pub struct Note {
    /// Microseconds since the Unix epoch, from the RFC 3339 time stamp.
    pub micros: i64,
    pub msg: String,
}

/// A state change: `NAME OLD->NEW: REASON`.
#[derive(Clone, Debug, PartialEq)]
pub struct Transition {
    pub micros: i64,
    pub service: String,
    pub from: String,
    pub to: String,
    pub reason: String,
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `2026-11-22T16:00:36.310483Z` -> microseconds since the epoch.
pub fn parse_rfc3339_micros(ts: &str) -> Option<i64> {
    let b = ts.as_bytes();
    if b.len() != 27 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[19] != b'.' || b[26] != b'Z' {
        return None;
    }
    let n = |r: std::ops::Range<usize>| ts.get(r)?.parse::<i64>().ok();
    let days = days_from_civil(n(0..4)?, n(5..7)?, n(8..10)?);
    let secs = days * 86_400 + n(11..13)? * 3600 + n(14..16)? * 60 + n(17..19)?;
    Some(secs * 1_000_000 + n(20..26)?)
}

/// Parse one of tend's own lines; None for service output and anything else.
pub fn parse_note(line: &str) -> Option<Note> {
    let (who, rest) = line.split_once(" | ")?;
    if who.trim_end() != "tend" {
        return None;
    }
    let (ts, msg) = rest.split_once(' ')?;
    Some(Note { micros: parse_rfc3339_micros(ts)?, msg: msg.to_string() })
}

/// Parse a state-change line.
pub fn parse_transition(line: &str) -> Option<Transition> {
    let note = parse_note(line)?;
    let (head, reason) = note.msg.split_once(": ")?;
    let (service, change) = head.split_once(' ')?;
    let (from, to) = change.split_once("->")?;
    let word = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase());
    if !word(from) || !word(to) {
        return None;
    }
    Some(Transition {
        micros: note.micros,
        service: service.to_string(),
        from: from.to_string(),
        to: to.to_string(),
        reason: reason.to_string(),
    })
}

// ---------------------------------------------------------------------------------
// /proc

/// One process, told apart from a later process that reuses its pid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Proc {
    pub pid: i32,
    start: u64,
}

impl Proc {
    /// The process `pid` now; panics if there is none.
    #[track_caller]
    pub fn of(pid: i32) -> Proc {
        let s = stat(pid).unwrap_or_else(|| panic!("process {pid} does not exist"));
        Proc { pid, start: s.starttime }
    }

    /// Still there: running, stopped, or a zombie nobody has reaped.
    pub fn exists(&self) -> bool {
        self.stat().is_some()
    }

    /// Still there and not a zombie.
    pub fn alive(&self) -> bool {
        self.stat().is_some_and(|s| s.state != 'Z')
    }

    /// Its parent, while it exists.
    pub fn ppid(&self) -> Option<i32> {
        self.stat().map(|s| s.ppid)
    }

    /// Wait (at most `timeout`) until it is gone entirely: dead and reaped.
    pub fn wait_gone(&self, timeout: Duration) -> bool {
        poll_until(timeout, || !self.exists())
    }

    /// Its /proc/PID/stat while it is this process (not one that reuses the pid).
    fn stat(&self) -> Option<Stat> {
        stat(self.pid).filter(|s| s.starttime == self.start)
    }
}

/// True if the environment of `pid` holds `VAR=value` exactly.
fn has_env(pid: i32, entry: &[u8]) -> bool {
    match fs::read(format!("/proc/{pid}/environ")) {
        Ok(env) => env.split(|&b| b == 0).any(|e| e == entry),
        Err(_) => false,
    }
}

/// Live (non-zombie) processes whose environment holds `TEND_TEST_MARKER=marker`.
pub fn marked_pids(marker: &str) -> Vec<i32> {
    let entry = format!("{MARKER_VAR}={marker}").into_bytes();
    let me = std::process::id() as i32;
    all_pids().into_iter().filter(|&p| p != me && alive(p) && has_env(p, &entry)).collect()
}

/// SIGKILL every process carrying `marker`, until none is left (bounded).
pub fn kill_marked(marker: &str) {
    for _ in 0..20 {
        let pids = marked_pids(marker);
        if pids.is_empty() {
            return;
        }
        for p in pids {
            kill(p, libc::SIGKILL);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

// ---------------------------------------------------------------------------------
// Starting tend

/// How tend is started.
#[derive(Clone, Debug, Default)]
pub struct Opts {
    /// Signals tend starts with set to SIG_IGN.
    pub ignore: Vec<i32>,
    /// Signals tend starts with blocked.
    pub block: Vec<i32>,
    /// Give tend this open fd (of the test process), without close-on-exec, as fd `.1`.
    pub leak_fd: Option<(i32, i32)>,
    /// Hand tend's stdout to the test ([`Tend::take_stdout`]) instead of reading it.
    pub raw_stdout: bool,
    /// Run tend through this command: `WRAP... TEND run -c ...` (it must exec tend in
    /// the end, so that the pid is tend's).
    pub wrap: Vec<String>,
}

/// A running `tend run -c DIR/tend.toml`.
pub struct Tend {
    child: Child,
    pub pid: i32,
    pub config: PathBuf,
    pub out: Lines,
    pub err: Lines,
    raw_stdout: Option<ChildStdout>,
    marker: String,
    status: Option<ExitStatus>,
}

impl Tend {
    /// Write `config` to DIR/tend.toml and start `tend run -c` on it.
    #[track_caller]
    pub fn start(dir: &TestDir, config: &str) -> Tend {
        Tend::start_with(dir, config, Opts::default())
    }

    #[track_caller]
    pub fn start_with(dir: &TestDir, config: &str, opts: Opts) -> Tend {
        // Each test's own control socket, so tests can run side by side.
        Tend::launch(dir, config, &[], Some(&dir.join("tend.sock")), opts)
    }

    /// Like [`Tend::start`], with extra arguments after `run -c DIR/tend.toml` and
    /// $TEND_SOCKET set to `socket_env` (None: not set at all).
    #[track_caller]
    pub fn start_custom(dir: &TestDir, config: &str, args: &[&str], socket_env: Option<&Path>) -> Tend {
        Tend::launch(dir, config, args, socket_env, Opts::default())
    }

    #[track_caller]
    fn launch(dir: &TestDir, config: &str, args: &[&str], socket_env: Option<&Path>, opts: Opts) -> Tend {
        let path = dir.join("tend.toml");
        fs::write(&path, config).expect("writing the config");
        let mut cmd = match opts.wrap.split_first() {
            Some((first, rest)) => {
                let mut c = Command::new(first);
                c.args(rest).arg(TEND);
                c
            }
            None => Command::new(TEND),
        };
        cmd.arg("run").arg("-c").arg(&path).args(args);
        cmd.current_dir(dir.path());
        cmd.env(MARKER_VAR, dir.s());
        match socket_env {
            Some(p) => cmd.env("TEND_SOCKET", p),
            None => cmd.env_remove("TEND_SOCKET"),
        };
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let o = opts.clone();
        // SAFETY: only async-signal-safe calls, on memory prepared before the fork.
        unsafe {
            cmd.pre_exec(move || {
                // No fd of the test process reaches tend unless asked for.
                reset_for_exec(&o.ignore, &o.block, false)?;
                if let Some((from, to)) = o.leak_fd {
                    // dup2 clears close-on-exec on the new fd.
                    if libc::dup2(from, to) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawning {TEND}: {e}"));
        let pid = child.id() as i32;
        let err = Lines::spawn(child.stderr.take().expect("stderr"));
        let (out, raw_stdout) = if opts.raw_stdout {
            (Lines::spawn(std::io::empty()), child.stdout.take())
        } else {
            (Lines::spawn(child.stdout.take().expect("stdout")), None)
        };
        Tend { child, pid, config: path, out, err, raw_stdout, marker: dir.s(), status: None }
    }

    /// tend's stdout, with `Opts::raw_stdout`.
    pub fn take_stdout(&mut self) -> ChildStdout {
        self.raw_stdout.take().expect("raw_stdout was not requested")
    }

    /// stdout and stderr so far, for failure messages.
    pub fn dump(&self) -> String {
        format!("--- tend stdout:\n{}--- tend stderr:\n{}---", self.out.text(), self.err.text())
    }

    /// Send `sig` to tend.
    #[track_caller]
    pub fn signal(&self, sig: i32) {
        assert!(self.status.is_none(), "signal {sig} to a tend that has exited");
        assert!(kill(self.pid, sig), "kill({}, {sig}): {}", self.pid, std::io::Error::last_os_error());
    }

    /// The exit status if tend has exited.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        self.wait_timeout(Duration::ZERO)
    }

    /// Wait for tend to exit, at most `timeout`; None if it is still running.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = wait_child(&mut self.child, timeout);
        }
        self.status
    }

    /// Wait for tend to exit (at most `timeout`) and return its exit code; panic if it
    /// does not exit or is killed by a signal.
    #[track_caller]
    pub fn exit_code_within(&mut self, timeout: Duration) -> i32 {
        match self.wait_timeout(timeout) {
            None => panic!("tend did not exit within {timeout:?}\n{}", self.dump()),
            Some(st) => {
                // Let the readers catch the last lines.
                self.out.wait_eof(Duration::from_secs(2));
                self.err.wait_eof(Duration::from_secs(2));
                st.code().unwrap_or_else(|| panic!("tend was killed: {st:?}\n{}", self.dump()))
            }
        }
    }

    /// [`Tend::exit_code_within`] the default deadline.
    #[track_caller]
    pub fn exit_code(&mut self) -> i32 {
        self.exit_code_within(DEADLINE)
    }

    /// Wait for a stderr line containing `needle`; panic after the deadline.
    #[track_caller]
    pub fn wait_err(&self, needle: &str) -> String {
        self.wait_err_n(needle, 1)
    }

    /// Wait for the `n`th stderr line containing `needle`.
    #[track_caller]
    pub fn wait_err_n(&self, needle: &str, n: usize) -> String {
        match self.err.wait_nth(n, DEADLINE, |l| l.contains(needle)) {
            Some(l) => l,
            None => panic!("no line #{n} containing {needle:?} on tend's stderr within {DEADLINE:?}\n{}", self.dump()),
        }
    }

    /// Wait for a stdout line containing `needle`; panic after the deadline.
    #[track_caller]
    pub fn wait_out(&self, needle: &str) -> String {
        match self.out.wait_for(DEADLINE, |l| l.contains(needle)) {
            Some(l) => l,
            None => panic!("no line containing {needle:?} on tend's stdout within {DEADLINE:?}\n{}", self.dump()),
        }
    }

    /// Wait for the `n`th transition of `service` into state `to`.
    #[track_caller]
    pub fn wait_transition_n(&self, service: &str, to: &str, n: usize) -> Transition {
        let pred = |l: &str| parse_transition(l).is_some_and(|t| t.service == service && t.to == to);
        match self.err.wait_nth(n, DEADLINE, pred) {
            Some(l) => parse_transition(&l).expect("parsed above"),
            None => panic!("no transition #{n} of {service} to {to} within {DEADLINE:?}\n{}", self.dump()),
        }
    }

    /// Wait for the first transition of `service` into state `to`.
    #[track_caller]
    pub fn wait_transition(&self, service: &str, to: &str) -> Transition {
        self.wait_transition_n(service, to, 1)
    }

    /// Every state change so far, of `service`.
    pub fn transitions(&self, service: &str) -> Vec<Transition> {
        self.err.snapshot().iter().filter_map(|l| parse_transition(l)).filter(|t| t.service == service).collect()
    }

    /// Live processes of this test other than tend itself (services, their children,
    /// orphans), found by the environment marker.
    pub fn leftovers(&self) -> Vec<i32> {
        marked_pids(&self.marker).into_iter().filter(|&p| p != self.pid).collect()
    }

    /// Assert that no process of this test is left (call after tend exited).
    #[track_caller]
    pub fn assert_no_leftovers(&self) {
        let left = self.leftovers();
        let desc: Vec<String> = left
            .iter()
            .map(|p| {
                let cmd = fs::read(format!("/proc/{p}/cmdline")).unwrap_or_default();
                let cmd: Vec<u8> = cmd.into_iter().map(|b| if b == 0 { b' ' } else { b }).collect();
                format!("{p}: {}", String::from_utf8_lossy(&cmd))
            })
            .collect();
        assert!(left.is_empty(), "processes left behind: {desc:?}\n{}", self.dump());
    }
}

impl Drop for Tend {
    fn drop(&mut self) {
        if self.try_wait().is_none() {
            kill(self.pid, libc::SIGKILL);
            let _ = self.child.wait();
        }
        kill_marked(&self.marker);
        if std::thread::panicking() {
            eprintln!("{}", self.dump());
        }
    }
}

/// The exit code of a `sh -c` service killed by `sig`, as tend reports it.
pub fn signalled(sig: i32) -> i32 {
    128 + sig
}

// ---------------------------------------------------------------------------------
// The control plane (tests/ctl_*.rs)

/// True when the tests run as root (user switches, chown).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no failure mode.
    unsafe { libc::geteuid() == 0 }
}

/// Raise this process's soft RLIMIT_NOFILE to at least `want`; false if the hard limit
/// does not allow it. tend inherits the limit from the test process.
pub fn raise_nofile(want: u64) -> bool {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: a valid rlimit out-pointer.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return false;
    }
    if lim.rlim_cur >= want {
        return true;
    }
    if lim.rlim_max < want {
        return false;
    }
    lim.rlim_cur = want;
    // SAFETY: as above.
    unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) == 0 }
}

/// VmRSS of `pid` in KiB (0 once it is gone).
pub fn rss_kib(pid: i32) -> u64 {
    status_field(pid, "VmRSS").and_then(|v| v.split_whitespace().next()?.parse().ok()).unwrap_or(0)
}

/// How a finished command ended and what it printed.
#[derive(Debug)]
pub struct CtlOut {
    pub status: ExitStatus,
    /// The exit code; None when killed by a signal.
    pub code: Option<i32>,
    pub out: String,
    pub err: String,
    /// The command's pid.
    pub pid: i32,
}

impl CtlOut {
    /// For failure messages.
    pub fn show(&self) -> String {
        format!("{:?}\n--- stdout:\n{}--- stderr:\n{}---", self.status, self.out, self.err)
    }

    /// The stdout lines, each parsed as JSON; panics if any is not.
    #[track_caller]
    pub fn json_lines(&self) -> Vec<serde_json::Value> {
        self.out
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l:?}\n{}", self.show())))
            .collect()
    }
}

/// `tend ARGS` as a client: $TEND_SOCKET is the test's socket (DIR/tend.sock), the test
/// marker is set (so a left-over client is killed with the test's processes), stdin is
/// /dev/null.
pub fn ctl_command(dir: &TestDir, args: &[&str]) -> Command {
    let mut cmd = Command::new(TEND);
    cmd.args(args);
    cmd.current_dir(dir.path());
    cmd.env(MARKER_VAR, dir.s());
    cmd.env("TEND_SOCKET", dir.join("tend.sock"));
    cmd.stdin(Stdio::null());
    cmd
}

/// Run `cmd` to its end, at most `timeout`; kill it and panic if it does not end.
#[track_caller]
pub fn run_output(mut cmd: Command, timeout: Duration) -> CtlOut {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let shown = format!("{cmd:?}");
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawning {shown}: {e}"));
    let pid = child.id() as i32;
    let read = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = r.read_to_end(&mut v);
            v
        })
    };
    let out = read(Box::new(child.stdout.take().expect("stdout")));
    let err = read(Box::new(child.stderr.take().expect("stderr")));
    let Some(status) = wait_child(&mut child, timeout) else {
        let _ = child.kill();
        let _ = child.wait();
        let (o, e) = (out.join().unwrap_or_default(), err.join().unwrap_or_default());
        panic!(
            "{shown} did not end within {timeout:?}\n--- stdout:\n{}--- stderr:\n{}---",
            String::from_utf8_lossy(&o),
            String::from_utf8_lossy(&e)
        );
    };
    let (raw_out, raw_err) = (out.join().unwrap_or_default(), err.join().unwrap_or_default());
    CtlOut {
        status,
        code: status.code(),
        out: String::from_utf8_lossy(&raw_out).into_owned(),
        err: String::from_utf8_lossy(&raw_err).into_owned(),
        pid,
    }
}

/// Run the client command `tend ARGS` (see [`ctl_command`]) to its end.
#[track_caller]
pub fn ctl(dir: &TestDir, args: &[&str]) -> CtlOut {
    run_output(ctl_command(dir, args), DEADLINE)
}

/// Run `tend ARGS` and assert it exits 0; returns its output.
#[track_caller]
pub fn ctl_ok(dir: &TestDir, args: &[&str]) -> CtlOut {
    let o = ctl(dir, args);
    assert_eq!(o.code, Some(0), "tend {} failed\n{}", args.join(" "), o.show());
    o
}

/// A command left running in the background (a follower); killed on drop.
pub struct Bg {
    child: Child,
    pub pid: i32,
    pub out: Lines,
    pub err: Lines,
}

impl Bg {
    /// Start `cmd` with its stdout and stderr read into [`Lines`].
    #[track_caller]
    pub fn spawn(mut cmd: Command) -> Bg {
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawning {cmd:?}: {e}"));
        let out = Lines::spawn(child.stdout.take().expect("stdout"));
        let err = Lines::spawn(child.stderr.take().expect("stderr"));
        Bg { pid: child.id() as i32, child, out, err }
    }

    /// The exit status if it has ended.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        wait_child(&mut self.child, Duration::ZERO)
    }

    /// Wait (at most `timeout`) for it to end.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<ExitStatus> {
        wait_child(&mut self.child, timeout)
    }

    /// Both streams so far, for failure messages.
    pub fn dump(&self) -> String {
        format!("--- stdout:\n{}--- stderr:\n{}---", self.out.text(), self.err.text())
    }
}

impl Drop for Bg {
    fn drop(&mut self) {
        if self.try_wait().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Tend {
    /// Wait until tend answers on `socket` (its "supervising" line is out and a client
    /// connects); panics after the deadline.
    #[track_caller]
    pub fn wait_socket(&self, socket: &Path) {
        self.wait_err("supervising");
        let ok = poll_until(DEADLINE, || std::os::unix::net::UnixStream::connect(socket).is_ok());
        assert!(ok, "nothing accepts connections on {} within {DEADLINE:?}\n{}", socket.display(), self.dump());
    }
}

// --- raw protocol ----------------------------------------------------------------------

/// One frame: u32 big-endian length of (type + body), the type byte, the body.
pub fn frame(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut v = ((body.len() + 1) as u32).to_be_bytes().to_vec();
    v.push(kind);
    v.extend_from_slice(body);
    v
}

/// A msgpack body with named fields (a map), as the protocol wants.
pub fn named<T: serde::Serialize>(v: &T) -> Vec<u8> {
    rmp_serde::to_vec_named(v).expect("msgpack encoding")
}

/// A request frame, encoded by the crate's own wire types.
pub fn request(r: &tend::proto::Request) -> Vec<u8> {
    let mut v = Vec::new();
    r.encode(&mut v);
    v
}

/// A hello frame with this API version.
pub fn hello_frame(api: u32) -> Vec<u8> {
    frame(tend::proto::msg::kind::HELLO, &named(&serde_json::json!({ "api": api, "client": "ctl-test" })))
}

/// A raw connection to the control socket, reads bounded by the deadline.
pub struct Raw {
    pub s: std::os::unix::net::UnixStream,
    dec: tend::proto::Decoder,
}

/// What reading a closing connection ends with.
#[derive(Debug, PartialEq, Eq)]
pub enum Closed {
    /// Read returned 0.
    Eof,
    /// ECONNRESET: the server closed with our bytes unread (AF_UNIX reports that).
    Reset,
}

impl Raw {
    #[track_caller]
    pub fn connect(path: &Path) -> Raw {
        let s = std::os::unix::net::UnixStream::connect(path)
            .unwrap_or_else(|e| panic!("connecting to {}: {e}", path.display()));
        Raw::from_stream(s)
    }

    /// A raw connection over an already connected stream (e.g. one a writer thread
    /// shares through `try_clone`); reads bounded by the deadline.
    pub fn from_stream(s: std::os::unix::net::UnixStream) -> Raw {
        s.set_read_timeout(Some(DEADLINE)).expect("read timeout");
        Raw { s, dec: tend::proto::Decoder::new(tend::proto::frame::CLIENT_MAX_FRAME) }
    }

    /// Write all of `bytes`; panics on an error.
    #[track_caller]
    pub fn send(&mut self, bytes: &[u8]) {
        use std::io::Write;
        self.s.write_all(bytes).unwrap_or_else(|e| panic!("writing to the control socket: {e}"));
    }

    /// Write, reporting errors (the server may have closed already).
    pub fn try_send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        use std::io::Write;
        self.s.write_all(bytes)
    }

    #[track_caller]
    pub fn req(&mut self, r: &tend::proto::Request) {
        self.send(&request(r));
    }

    /// The next frame, or how the connection ended. Panics on a timeout or bad framing.
    #[track_caller]
    pub fn next(&mut self) -> Result<tend::proto::Frame, Closed> {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match self.dec.next_frame() {
                Ok(Some(f)) => return Ok(f),
                Ok(None) => {}
                Err(e) => panic!("bad framing from the daemon: {e}"),
            }
            match self.s.read(&mut buf) {
                Ok(0) => return Err(Closed::Eof),
                Ok(n) => self.dec.push(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) if e.raw_os_error() == Some(libc::ECONNRESET) => return Err(Closed::Reset),
                Err(e) => panic!("reading the control socket: {e} (no frame within {DEADLINE:?}?)"),
            }
        }
    }

    /// The next frame, decoded; panics at the end of the connection.
    #[track_caller]
    pub fn reply(&mut self) -> tend::proto::Reply {
        match self.next() {
            Ok(f) => tend::proto::Reply::decode(f.kind, &f.body)
                .unwrap_or_else(|e| panic!("undecodable frame type 0x{:02x}: {e}", f.kind)),
            Err(c) => panic!("the daemon closed the connection ({c:?}) where a reply was due"),
        }
    }

    /// Say hello (the current API version) and return the welcome.
    #[track_caller]
    pub fn hello(&mut self) -> tend::proto::msg::Welcome {
        self.send(&hello_frame(tend::proto::msg::API_VERSION));
        match self.reply() {
            tend::proto::Reply::Welcome(w) => w,
            other => panic!("expected a welcome, got {other:?}"),
        }
    }

    /// Expect an ERROR frame with `code`, then the end of the connection.
    #[track_caller]
    pub fn expect_error_then_close(&mut self, code: tend::proto::msg::ErrorCode) -> tend::proto::msg::ErrorMsg {
        let e = match self.reply() {
            tend::proto::Reply::Error(e) => e,
            other => panic!("expected an error frame {code:?}, got {other:?}"),
        };
        assert_eq!(e.code, code, "wrong error code: {e:?}");
        assert!(!e.message.is_empty(), "an error frame without a message: {e:?}");
        match self.next() {
            Err(_) => {}
            Ok(f) => panic!("the connection stayed open after {e:?}: got frame type 0x{:02x}", f.kind),
        }
        e
    }
}

/// A service that writes its pid to DIR/NAME.pid and sleeps; `extra` lines follow the
/// command.
pub fn sleeper(dir: &TestDir, name: &str, extra: &str) -> String {
    format!("[service.{name}]\ncommand = \"echo $$ > {d}/{name}.pid; exec sleep 1000\"\n{extra}", d = dir.s())
}

/// `tend status NAME --json`, parsed; panics unless it succeeds.
#[track_caller]
pub fn status_json(dir: &TestDir, name: &str) -> serde_json::Value {
    let o = ctl_ok(dir, &["status", name, "--json"]);
    serde_json::from_str(o.out.trim_end()).unwrap_or_else(|e| panic!("status --json is not JSON ({e})\n{}", o.show()))
}

/// Start tend and wait until its control socket answers `tend ls`.
#[track_caller]
pub fn start_serving(dir: &TestDir, config: &str) -> Tend {
    let tend = Tend::start(dir, config);
    tend.wait_err("supervising");
    wait_until(DEADLINE, "the control socket answers", || ctl(dir, &["ls"]).code == Some(0));
    tend
}

// ---------------------------------------------------------------------------------
// tend import

/// Run `tend import ARGS` in `cwd`: (exit code, stdout, stderr).
pub fn import(cwd: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(TEND)
        .arg("import")
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("running {TEND}: {e}"));
    let code = out.status.code().unwrap_or_else(|| panic!("tend import killed: {:?}", out.status));
    (code, String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// tests/data/import, the realistic input files.
pub fn import_data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/import")
}

// ---------------------------------------------------------------------------------
// One-shot jobs

/// A config with one idle service, for tests about jobs (`extra`: top-level keys,
/// written before the service table).
pub fn jobs_config(dir: &TestDir, extra: &str) -> String {
    format!("{extra}\n{}", sleeper(dir, "idle", ""))
}

/// `tend spawn ARGS` (the options, then `--`, then the command): the job id printed.
#[track_caller]
pub fn spawn_job(dir: &TestDir, args: &[&str]) -> String {
    let mut all = vec!["spawn"];
    all.extend_from_slice(args);
    let o = ctl_ok(dir, &all);
    let id = o.out.trim().to_string();
    assert!(id.starts_with('%') && id[1..].parse::<u64>().is_ok(), "spawn printed {id:?}\n{}", o.show());
    id
}

/// `tend status %N --json`, parsed; panics unless it succeeds.
#[track_caller]
pub fn job_json(dir: &TestDir, id: &str) -> serde_json::Value {
    let o = ctl_ok(dir, &["status", id, "--json"]);
    serde_json::from_str(o.out.trim_end()).unwrap_or_else(|e| panic!("status --json is not JSON ({e})\n{}", o.show()))
}

/// `tend wait ID`: its exit code (the job's status), after at most the deadline.
#[track_caller]
pub fn wait_job(dir: &TestDir, id: &str) -> i32 {
    let o = ctl(dir, &["wait", id]);
    o.code.unwrap_or_else(|| panic!("tend wait {id} was killed\n{}", o.show()))
}

/// `tend ARGS` as a client run through `setpriv IDS...` (as another user), with the
/// test's socket.
pub fn setpriv_ctl(dir: &TestDir, ids: &[&str], args: &[&str]) -> CtlOut {
    let mut cmd = Command::new("setpriv");
    cmd.args(ids).arg(TEND).args(args);
    cmd.current_dir("/");
    cmd.env(MARKER_VAR, dir.s());
    cmd.env("TEND_SOCKET", dir.join("tend.sock"));
    cmd.stdin(Stdio::null());
    run_output(cmd, DEADLINE)
}

/// Whether clients can be run as another user (`setpriv IDS`) here, reaching the
/// test's socket and the binary; says why not (and the test should return) when not.
pub fn can_setpriv(test: &str, dir: &TestDir, ids: &[&str]) -> bool {
    if !is_root() {
        skip(test, "needs root to run the client as another user with setpriv");
        return false;
    }
    let mut cmd = Command::new("setpriv");
    cmd.args(ids).args(["sh", "-c"]);
    cmd.arg(format!("test -w '{}' && test -x '{TEND}'", dir.join("tend.sock").display()));
    match cmd.status() {
        Ok(st) if st.success() => true,
        Ok(_) => {
            skip(test, &format!("{ids:?} cannot reach {} or run {TEND}", dir.join("tend.sock").display()));
            false
        }
        Err(e) => {
            skip(test, &format!("setpriv: {e}"));
            false
        }
    }
}

/// A config whose line `line` has an error in `key` (none checked when empty): tend
/// exits 78 with one message `tend: FILE:LINE:COL: KEY: ...` containing `fragment` on
/// stderr, nothing on stdout, and the valid service of lines 1-2, which would leave a
/// mark if it ran, never started. `bad` follows those two lines; the test directory is
/// `PREFIX-NAME`.
#[track_caller]
pub fn check_config_error(prefix: &str, name: &str, bad: &str, line: usize, key: &str, fragment: &str) {
    let dir = TestDir::new(&format!("{prefix}-{name}"));
    let text = format!("[service.first]\ncommand = \"touch {d}/started\"\n{bad}", d = dir.s());
    let mut tend = Tend::start(&dir, &text);
    let code = tend.exit_code();
    let (err, out) = (tend.err.text(), tend.out.text());
    let path = dir.join("tend.toml").display().to_string();
    assert_eq!(code, 78, "exit code for {name}; stderr:\n{err}");
    let msg = err.lines().find(|l| l.starts_with("tend: ")).unwrap_or_else(|| panic!("no message:\n{err}"));
    let head = format!("tend: {path}:{line}:");
    assert!(msg.starts_with(&head), "{name}: expected {head:?}..., got {msg:?}");
    let col = msg[head.len()..].split(':').next().unwrap_or("");
    assert!(col.parse::<usize>().is_ok_and(|c| c >= 1), "{name}: no column in {msg:?}");
    if !key.is_empty() {
        assert!(msg.contains(&format!(": {key}: ")), "{name}: key {key:?} missing from {msg:?}");
    }
    assert!(msg.contains(fragment), "{name}: {fragment:?} missing from {msg:?}");
    assert_eq!(err.lines().count(), 1, "{name}: more than the error on stderr:\n{err}");
    assert!(out.trim().is_empty(), "{name}: output on stdout: {out:?}");
    assert!(!dir.join("started").exists(), "{name}: a service ran despite the config error");
}
