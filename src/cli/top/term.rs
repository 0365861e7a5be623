//! The terminal side of `tend top`, with no framework: termios raw mode on standard
//! input, ANSI escapes on standard output, a signalfd for the signals that end or
//! resize the view, and poll(2) over both.
//!
//! What must hold: the terminal is given back as it was (modes, main screen, cursor)
//! however the view ends. [`Signals::block`] runs first, so SIGINT, SIGTERM, SIGHUP
//! and SIGQUIT (and SIGWINCH) only ever reach the loop through the signalfd; the
//! loop then returns normally and [`Terminal`]'s `Drop` restores everything. Raw
//! mode clears ISIG, so Ctrl-C and Ctrl-\ arrive as keys and quit the same way.

use std::io::{self, Write};
use std::os::fd::AsFd;
use std::time::Duration;

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::termios::{self, InputFlags, LocalFlags, SetArg, SpecialCharacterIndices, Termios};

use crate::cli::tty::{isatty, SignalEvent};
use crate::daemon::pty::get_size;

use super::Screen;

const ENTER: &[u8] = b"\x1b[?1049h\x1b[?25l\x1b[H\x1b[2J";
const LEAVE: &[u8] = b"\x1b[0m\x1b[?25h\x1b[?1049l";

pub fn stdout_is_tty() -> bool {
    isatty(io::stdout().as_fd())
}

/// Columns and lines of the terminal on standard output; $COLUMNS and $LINES, or
/// 80x24, when the kernel does not say.
pub fn size() -> (usize, usize) {
    match get_size(io::stdout().as_fd()) {
        Ok(ws) if ws.cols > 0 && ws.rows > 0 => (usize::from(ws.cols), usize::from(ws.rows)),
        _ => {
            let env =
                |k: &str, d: usize| std::env::var(k).ok().and_then(|v| v.parse().ok()).filter(|v| *v > 0).unwrap_or(d);
            (env("COLUMNS", 80), env("LINES", 24))
        }
    }
}

fn write_out(bytes: &[u8]) -> io::Result<()> {
    let mut o = io::stdout().lock();
    o.write_all(bytes)?;
    o.flush()
}

/// What the loop is woken for.
#[derive(Debug, PartialEq, Eq)]
pub enum Event {
    /// A quitting signal, or the end of the input (the terminal hung up).
    Quit,
    /// SIGWINCH.
    Resize,
    Keys(Vec<u8>),
}

/// The signals the view handles (the same as an attached terminal session's).
pub use crate::cli::tty::Signals;

/// The terminal while the view is on: the alternate screen, the cursor hidden and,
/// when standard input is a terminal, raw mode. Dropping it restores all three.
pub struct Terminal {
    saved: Option<Termios>,
}

impl Terminal {
    pub fn enter() -> io::Result<Terminal> {
        let stdin = io::stdin();
        let saved = if isatty(io::stdin().as_fd()) {
            let saved = termios::tcgetattr(stdin.as_fd())?;
            let mut raw = saved.clone();
            // Keys one at a time, unechoed; Ctrl-C, Ctrl-\, Ctrl-S as bytes. Output
            // processing stays on.
            raw.local_flags.remove(LocalFlags::ICANON | LocalFlags::ECHO | LocalFlags::ISIG | LocalFlags::IEXTEN);
            raw.input_flags.remove(InputFlags::IXON | InputFlags::ICRNL);
            raw.control_chars[SpecialCharacterIndices::VMIN as usize] = 1;
            raw.control_chars[SpecialCharacterIndices::VTIME as usize] = 0;
            termios::tcsetattr(stdin.as_fd(), SetArg::TCSAFLUSH, &raw)?;
            Some(saved)
        } else {
            None
        };
        // Built before the first write, so a failing write still restores the modes.
        let t = Terminal { saved };
        write_out(ENTER)?;
        Ok(t)
    }

    /// Draw over the previous screen: each line overwritten and cleared to its end,
    /// then everything below cleared; the column headers in reverse video across the
    /// whole width, the sorted column's also underlined. One write, no flicker.
    pub fn draw(&mut self, s: &Screen, width: usize) -> io::Result<()> {
        let mut buf = String::from("\x1b[H");
        for (i, line) in s.lines.iter().enumerate() {
            if i > 0 {
                buf.push_str("\r\n");
            }
            if i == s.header {
                let n = line.chars().count();
                let pad = " ".repeat(width.saturating_sub(n));
                buf.push_str("\x1b[7m");
                match s.sorted {
                    Some((a, b)) if a < n => {
                        let b = b.min(n);
                        let part = |x: usize, y: usize| line.chars().skip(x).take(y - x).collect::<String>();
                        buf.push_str(&part(0, a));
                        buf.push_str("\x1b[4m");
                        buf.push_str(&part(a, b));
                        buf.push_str("\x1b[24m");
                        buf.push_str(&part(b, n));
                    }
                    _ => buf.push_str(line),
                }
                buf.push_str(&pad);
                buf.push_str("\x1b[0m");
            } else {
                buf.push_str(line);
                buf.push_str("\x1b[K");
            }
        }
        buf.push_str("\x1b[J");
        write_out(buf.as_bytes())
    }

    /// Wait at most `timeout` for keys or signals.
    pub fn wait(&mut self, signals: &Signals, timeout: Duration) -> io::Result<Vec<Event>> {
        let stdin = io::stdin();
        let mut fds = vec![PollFd::new(signals.fd(), PollFlags::POLLIN)];
        if self.saved.is_some() {
            fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
        }
        // Rounded up, so the loop does not spin through the last millisecond.
        let ms = timeout.as_nanos().div_ceil(1_000_000);
        let t = PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX);
        match poll(&mut fds, t) {
            Ok(_) => {}
            Err(Errno::EINTR) => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        }
        let mut events = Vec::new();
        let sig_ready = fds[0].any().unwrap_or(false);
        let input = fds.get(1).and_then(|f| f.revents()).unwrap_or(PollFlags::empty());
        drop(fds);
        if sig_ready {
            events.extend(signals.drain()?.into_iter().map(|e| match e {
                SignalEvent::Quit => Event::Quit,
                SignalEvent::Resize => Event::Resize,
            }));
        }
        if input.contains(PollFlags::POLLIN) {
            let mut buf = [0u8; 256];
            match nix::unistd::read(stdin.as_fd(), &mut buf) {
                Ok(0) => events.push(Event::Quit),
                Ok(n) => events.push(Event::Keys(buf[..n].to_vec())),
                Err(Errno::EINTR | Errno::EAGAIN) => {}
                Err(e) => return Err(e.into()),
            }
        } else if input.intersects(PollFlags::POLLHUP | PollFlags::POLLERR | PollFlags::POLLNVAL) {
            events.push(Event::Quit);
        }
        Ok(events)
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        // Nothing to report an error to: the view is over either way.
        let _ = write_out(LEAVE);
        if let Some(saved) = &self.saved {
            let _ = termios::tcsetattr(io::stdin().as_fd(), SetArg::TCSADRAIN, saved);
        }
    }
}
