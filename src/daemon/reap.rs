//! The reaper: the only caller of `wait*` in tend (PITFALLS §3).
//!
//! One SIGCHLD can stand for many exits, so every wake-up loops `waitpid(-1, WNOHANG)`
//! until it returns 0 or ECHILD, with no cap. libc is called directly rather than
//! through nix because nix's `WaitStatus` cannot represent a child killed by a
//! real-time signal (it fails to convert the number), and losing a status is not an
//! option here.

use nix::errno::Errno;

/// How a child changed state, as reported by `waitpid`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// It exited with this code.
    Exited(i32),
    /// It was killed by this signal.
    Signaled { signo: i32, core_dumped: bool },
    /// It was stopped by this signal (only with job control).
    Stopped(i32),
    /// It was continued (only with job control).
    Continued,
}

impl Status {
    /// Decode a raw `waitpid` status word.
    pub fn from_raw(st: libc::c_int) -> Status {
        if libc::WIFEXITED(st) {
            Status::Exited(libc::WEXITSTATUS(st))
        } else if libc::WIFSIGNALED(st) {
            Status::Signaled { signo: libc::WTERMSIG(st), core_dumped: libc::WCOREDUMP(st) }
        } else if libc::WIFSTOPPED(st) {
            Status::Stopped(libc::WSTOPSIG(st))
        } else {
            Status::Continued
        }
    }

    /// The status a shell would report: the exit code, or 128 + the signal number,
    /// reduced modulo 256 as an exit status must be (tini.c:579-591).
    pub fn shell_code(self) -> Option<i32> {
        match self {
            Status::Exited(c) => Some(c & 0xff),
            Status::Signaled { signo, .. } => Some((128 + signo) % 256),
            Status::Stopped(_) | Status::Continued => None,
        }
    }

    /// True once the process is gone (exited or killed), false for stop/continue.
    pub fn is_final(self) -> bool {
        matches!(self, Status::Exited(_) | Status::Signaled { .. })
    }
}

/// Reap every child whose state changed; `on` is called for each. With `job_control`,
/// stops and continues are reported too (WUNTRACED|WCONTINUED). Returns whether any
/// child is left (false once waitpid says ECHILD).
pub fn reap_all(job_control: bool, mut on: impl FnMut(i32, Status)) -> Result<bool, Errno> {
    let flags = libc::WNOHANG | if job_control { libc::WUNTRACED | libc::WCONTINUED } else { 0 };
    loop {
        let mut st: libc::c_int = 0;
        // SAFETY: `st` is a valid out-pointer; waitpid has no other memory effects.
        let pid = unsafe { libc::waitpid(-1, &mut st, flags) };
        match pid {
            0 => return Ok(true),
            -1 => match Errno::last() {
                Errno::ECHILD => return Ok(false),
                Errno::EINTR => continue,
                e => return Err(e),
            },
            pid => on(pid, Status::from_raw(st)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_codes() {
        assert_eq!(Status::Exited(42).shell_code(), Some(42));
        assert_eq!(Status::Signaled { signo: 15, core_dumped: false }.shell_code(), Some(143));
        assert_eq!(Status::Signaled { signo: 9, core_dumped: true }.shell_code(), Some(137));
        assert_eq!(Status::Stopped(19).shell_code(), None);
    }

    #[test]
    fn decodes_raw_status() {
        assert_eq!(Status::from_raw(42 << 8), Status::Exited(42));
        assert_eq!(Status::from_raw(9), Status::Signaled { signo: 9, core_dumped: false });
        assert_eq!(Status::from_raw(0x80 | 11), Status::Signaled { signo: 11, core_dumped: true });
        assert_eq!(Status::from_raw((19 << 8) | 0x7f), Status::Stopped(19));
        assert_eq!(Status::from_raw(0xffff), Status::Continued);
    }
}
