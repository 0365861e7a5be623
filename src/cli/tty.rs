//! The client's terminal while it is attached to a job on a pseudo-terminal
//! (`tend spawn -t --attach`, `tend attach`): raw mode, the window size, the signals
//! that end or resize the session, and the detach keys.
//!
//! What must hold: the terminal is given back as it was however the session ends.
//! [`Signals::block`] runs before raw mode is set, so SIGINT, SIGTERM, SIGHUP, SIGQUIT
//! and SIGWINCH only ever reach the loop through the signalfd; the loop then returns
//! normally and [`RawMode`]'s `Drop` restores the modes. (SIGKILL cannot be caught; a
//! `reset` or `stty sane` repairs the terminal then.)

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

use nix::errno::Errno;
use nix::sys::signal::{sigprocmask, SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::termios::{self, SetArg, Termios};

use crate::daemon::pty::{get_size, WinSize};

/// Ctrl-P then Ctrl-Q detaches (as `docker attach`).
pub const DETACH_KEYS: [u8; 2] = [0x10, 0x11];

pub fn isatty(fd: BorrowedFd) -> bool {
    // SAFETY: isatty only inspects the fd.
    unsafe { libc::isatty(fd.as_raw_fd()) == 1 }
}

/// The size of the terminal on standard input, else standard output; None if neither
/// is a terminal (or it says 0x0).
pub fn window_size() -> Option<WinSize> {
    [io::stdin().as_fd(), io::stdout().as_fd()]
        .into_iter()
        .filter_map(|fd| get_size(fd).ok())
        .find(|ws| ws.rows > 0 && ws.cols > 0)
}

/// Standard input in raw mode: every byte as typed, no echo, no signals from keys, no
/// output processing (the job's terminal does its own). Dropping it restores the modes
/// it found.
pub struct RawMode {
    saved: Termios,
}

impl RawMode {
    /// Raw mode on standard input; None if it is not a terminal.
    pub fn enter() -> io::Result<Option<RawMode>> {
        let stdin = io::stdin();
        if !isatty(stdin.as_fd()) {
            return Ok(None);
        }
        let saved = termios::tcgetattr(stdin.as_fd())?;
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        termios::tcsetattr(stdin.as_fd(), SetArg::TCSADRAIN, &raw)?;
        Ok(Some(RawMode { saved }))
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        // Nothing to report an error to: the session is over either way.
        let _ = termios::tcsetattr(io::stdin().as_fd(), SetArg::TCSADRAIN, &self.saved);
    }
}

/// What a signal asks of the session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignalEvent {
    /// SIGWINCH: send the new size.
    Resize,
    /// SIGINT, SIGTERM, SIGHUP or SIGQUIT: detach and exit (the job keeps running).
    Quit,
}

/// The session's signals (and `tend top`'s), blocked and read from a signalfd (the client is
/// single-threaded).
pub struct Signals {
    fd: SignalFd,
}

impl Signals {
    pub fn block() -> io::Result<Signals> {
        let mut set = SigSet::empty();
        for s in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP, Signal::SIGQUIT, Signal::SIGWINCH] {
            set.add(s);
        }
        sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), None)?;
        let fd = SignalFd::with_flags(&set, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)?;
        Ok(Signals { fd })
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Every pending signal, in order.
    pub fn drain(&self) -> io::Result<Vec<SignalEvent>> {
        let mut out = Vec::new();
        loop {
            match self.fd.read_signal() {
                Ok(Some(si)) if si.ssi_signo == Signal::SIGWINCH as u32 => out.push(SignalEvent::Resize),
                Ok(Some(_)) => out.push(SignalEvent::Quit),
                Ok(None) => return Ok(out),
                Err(Errno::EINTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// Finds the detach keys in what the user types. Ctrl-P is held back until the next
/// key shows whether it starts the sequence; any other key sends it on.
#[derive(Debug, Default)]
pub struct DetachKeys {
    held: bool,
}

impl DetachKeys {
    /// Append the bytes of `input` to send to the job to `out`; true if the detach
    /// sequence was typed (what follows it in `input` is dropped).
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> bool {
        for &b in input {
            if self.held {
                self.held = false;
                if b == DETACH_KEYS[1] {
                    return true;
                }
                out.push(DETACH_KEYS[0]);
            }
            if b == DETACH_KEYS[0] {
                self.held = true;
            } else {
                out.push(b);
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(d: &mut DetachKeys, input: &[u8]) -> (Vec<u8>, bool) {
        let mut out = Vec::new();
        let detached = d.feed(input, &mut out);
        (out, detached)
    }

    #[test]
    fn plain_keys_pass() {
        let mut d = DetachKeys::default();
        assert_eq!(feed(&mut d, b"ls -l\r\x03\x11"), (b"ls -l\r\x03\x11".to_vec(), false));
    }

    #[test]
    fn ctrl_p_ctrl_q_detaches() {
        let mut d = DetachKeys::default();
        assert_eq!(feed(&mut d, b"ab\x10\x11cd"), (b"ab".to_vec(), true));
    }

    #[test]
    fn the_sequence_split_across_reads() {
        let mut d = DetachKeys::default();
        assert_eq!(feed(&mut d, b"x\x10"), (b"x".to_vec(), false));
        assert_eq!(feed(&mut d, b"\x11"), (Vec::new(), true));
    }

    #[test]
    fn ctrl_p_alone_is_sent_with_the_next_key() {
        let mut d = DetachKeys::default();
        assert_eq!(feed(&mut d, b"\x10"), (Vec::new(), false));
        assert_eq!(feed(&mut d, b"a"), (b"\x10a".to_vec(), false));
        // Ctrl-P Ctrl-P Ctrl-Q: the first is sent, the second and Ctrl-Q detach.
        assert_eq!(feed(&mut d, b"\x10\x10\x11"), (b"\x10".to_vec(), true));
    }
}
