//! Pseudo-terminals for `tend spawn -t`: the daemon keeps the master, the job gets the
//! slave as its standard streams and controlling terminal (setsid, then TIOCSCTTY on
//! fd 0, in [`crate::daemon::spawn`]).
//!
//! Both ends are opened close-on-exec; the spawn code dups the slave onto 0, 1 and 2
//! of the child only. The master is non-blocking (it is tend's own descriptor, shared
//! with no one). When the last slave descriptor closes (the job and everything it
//! started are gone) a read of the master fails with EIO: that is the end of output.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd};

use nix::fcntl::OFlag;
use nix::pty::{grantpt, posix_openpt, ptsname_r, unlockpt};

/// A terminal's size in character cells (`struct winsize` without the pixels).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WinSize {
    pub rows: u16,
    pub cols: u16,
}

/// Both ends of a new pseudo-terminal.
pub struct Pty {
    /// tend's end: reads the job's output, takes keystrokes and the window size.
    pub master: OwnedFd,
    /// The job's end, for its fds 0, 1 and 2 (tend closes its copy after the spawn).
    pub slave: OwnedFd,
}

/// Open a pseudo-terminal of `size` (the kernel's 0x0 if None). If `owner` is given
/// (the job's uid and gid), the slave device is given to it, as login(1) does, so that
/// a job run as another user can reopen its own terminal.
pub fn open(size: Option<WinSize>, owner: Option<(u32, u32)>) -> io::Result<Pty> {
    let master = posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)?;
    grantpt(&master)?;
    unlockpt(&master)?;
    let name = ptsname_r(&master)?;
    let path = std::ffi::CString::new(name).map_err(|_| io::Error::from(io::ErrorKind::InvalidData))?;
    // SAFETY: a plain open(2) of a NUL-terminated path; the result is checked.
    let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just opened and is owned by nothing else.
    let slave = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: PtyMaster owns the fd; into_raw_fd hands that ownership over.
    let master = unsafe { OwnedFd::from_raw_fd(master.into_raw_fd()) };
    if let Some((uid, gid)) = owner {
        // SAFETY: fchown on a descriptor we own.
        if unsafe { libc::fchown(slave.as_raw_fd(), uid, gid) } < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    if let Some(size) = size {
        set_size(master.as_fd(), size)?;
    }
    set_nonblocking(master.as_fd())?;
    Ok(Pty { master, slave })
}

fn set_nonblocking(fd: BorrowedFd) -> io::Result<()> {
    // SAFETY: F_GETFL/F_SETFL on a descriptor we hold.
    unsafe {
        let flags = libc::fcntl(fd.as_raw_fd(), libc::F_GETFL);
        if flags < 0 || libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// TIOCSWINSZ: set the terminal's size; the kernel sends SIGWINCH to its foreground
/// process group when it changed.
pub fn set_size(fd: BorrowedFd, size: WinSize) -> io::Result<()> {
    let ws = libc::winsize { ws_row: size.rows, ws_col: size.cols, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: TIOCSWINSZ reads one winsize from the pointer.
    if unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, &ws) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// TIOCGWINSZ: the terminal's size.
pub fn get_size(fd: BorrowedFd) -> io::Result<WinSize> {
    let mut ws = libc::winsize { ws_row: 0, ws_col: 0, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: TIOCGWINSZ writes one winsize into the struct it is given.
    if unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCGWINSZ, &mut ws) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(WinSize { rows: ws.ws_row, cols: ws.ws_col })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cloexec(fd: BorrowedFd) -> bool {
        // SAFETY: F_GETFD on a descriptor we hold.
        let flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFD) };
        flags >= 0 && flags & libc::FD_CLOEXEC != 0
    }

    #[test]
    fn opens_both_ends_close_on_exec_with_the_size() {
        let pty = open(Some(WinSize { rows: 33, cols: 101 }), None).unwrap();
        assert!(cloexec(pty.master.as_fd()) && cloexec(pty.slave.as_fd()));
        // SAFETY: isatty only inspects the fd.
        assert_eq!(unsafe { libc::isatty(pty.slave.as_raw_fd()) }, 1);
        assert_eq!(get_size(pty.slave.as_fd()).unwrap(), WinSize { rows: 33, cols: 101 });
        set_size(pty.master.as_fd(), WinSize { rows: 10, cols: 20 }).unwrap();
        assert_eq!(get_size(pty.slave.as_fd()).unwrap(), WinSize { rows: 10, cols: 20 });
    }

    #[test]
    fn bytes_pass_both_ways_and_eio_after_the_slave_closes() {
        let pty = open(None, None).unwrap();
        nix::unistd::write(&pty.slave, b"out\n").unwrap();
        let mut buf = [0u8; 64];
        let n = nix::unistd::read(&pty.master, &mut buf).unwrap();
        // The line discipline turns \n into \r\n on output (onlcr).
        assert_eq!(&buf[..n], b"out\r\n");
        // Non-blocking master: nothing more to read yet.
        assert_eq!(nix::unistd::read(&pty.master, &mut buf), Err(nix::errno::Errno::EAGAIN));
        nix::unistd::write(&pty.master, b"in\n").unwrap();
        let mut rd = [0u8; 64];
        let n = nix::unistd::read(&pty.slave, &mut rd).unwrap();
        assert_eq!(&rd[..n], b"in\n");
        // Echo came back to the master.
        let n = nix::unistd::read(&pty.master, &mut buf).unwrap();
        assert_eq!(&buf[..n], b"in\r\n");
        drop(pty.slave);
        assert_eq!(nix::unistd::read(&pty.master, &mut buf), Err(nix::errno::Errno::EIO));
    }

    #[test]
    fn a_child_gets_it_as_controlling_terminal() {
        use crate::daemon::spawn::{spawn, ChildSetup, Command, Group};
        let pty = open(Some(WinSize { rows: 7, cols: 42 }), None).unwrap();
        let mut cmd = Command::new("/bin/sh");
        // /dev/tty opens only for a process with a controlling terminal.
        cmd.args(["-c", "stty size </dev/tty; echo pgrp=$(ps -o tpgid= -p $$ | tr -d ' ') sid=$$"]);
        for i in 0..3 {
            let fd = pty.slave.try_clone().unwrap();
            match i {
                0 => cmd.stdin(fd),
                1 => cmd.stdout(fd),
                _ => cmd.stderr(fd),
            };
        }
        let setup = ChildSetup { group: Group::NewSession, controlling_tty: true, ..ChildSetup::new(Vec::new()) };
        let pid = spawn(&mut cmd, setup).unwrap();
        drop(cmd);
        drop(pty.slave);
        let mut out = Vec::new();
        let mut buf = [0u8; 256];
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            match nix::unistd::read(&pty.master, &mut buf) {
                Ok(0) | Err(nix::errno::Errno::EIO) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(nix::errno::Errno::EAGAIN) => {
                    assert!(std::time::Instant::now() < deadline, "no EOF; got {out:?}");
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
                Err(e) => panic!("{e}"),
            }
        }
        let mut status = 0;
        // SAFETY: our own child.
        unsafe { libc::waitpid(pid as i32, &mut status, 0) };
        let out = String::from_utf8_lossy(&out);
        assert!(out.starts_with("7 42\r\n"), "{out:?}");
        // The job's shell leads its session and is the terminal's foreground group.
        assert!(out.contains(&format!("pgrp={pid} sid={pid}")), "{out:?}");
        assert_eq!(status, 0);
    }
}
