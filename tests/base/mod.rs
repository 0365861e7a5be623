//! Helpers shared by both black-box suites: `tests/common` (tend init) and
//! `tests/support` (tend run) include this module and re-export it.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
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

/// kill(2); true if the signal was sent.
pub fn kill(pid: i32, sig: i32) -> bool {
    // SAFETY: kill with integer arguments only.
    unsafe { libc::kill(pid, sig) == 0 }
}
