//! The sd_notify(3) protocol: a datagram socket per service, named in the service's
//! `$NOTIFY_SOCKET`, carrying newline-separated `KEY=VALUE` assignments. tend binds it
//! in the abstract namespace (`@tend/PID.NONCE/NAME`: no file to create, clean up or
//! give permissions on, whatever user the service runs as) with SO_PASSCRED, so every
//! datagram comes with the sender's pid from the kernel; the loop accepts only those
//! from the service's own processes.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// One assignment tend acts on. Others (`FDSTORE=1`, `ERRNO=`, ...) are ignored, as
/// the protocol asks of unknown keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Msg {
    Ready,
    Reloading,
    Stopping,
    Status(String),
    Watchdog,
    /// `WATCHDOG=trigger`: the service asks to be handled as a watchdog failure.
    WatchdogTrigger,
    MainPid(u32),
}

/// The assignments of one datagram, in order. Invalid UTF-8 and unknown keys are
/// skipped; a line without `=` is ignored.
pub fn parse(data: &[u8]) -> Vec<Msg> {
    let mut out = Vec::new();
    for line in data.split(|&b| b == b'\n') {
        let Ok(line) = std::str::from_utf8(line) else { continue };
        let Some((k, v)) = line.split_once('=') else { continue };
        let m = match (k, v) {
            ("READY", "1") => Msg::Ready,
            ("RELOADING", "1") => Msg::Reloading,
            ("STOPPING", "1") => Msg::Stopping,
            ("STATUS", text) => Msg::Status(text.chars().take(512).collect()),
            ("WATCHDOG", "1") => Msg::Watchdog,
            ("WATCHDOG", "trigger") => Msg::WatchdogTrigger,
            ("MAINPID", pid) => match pid.parse::<u32>() {
                Ok(p) if p > 0 => Msg::MainPid(p),
                _ => continue,
            },
            _ => continue,
        };
        out.push(m);
    }
    out
}

/// A bound notify socket (non-blocking, close-on-exec).
pub struct NotifySocket {
    fd: OwnedFd,
    /// The `$NOTIFY_SOCKET` value: `@` and the abstract name.
    pub name: String,
}

/// Largest datagram read; systemd's own limit is the same order (longer ones are
/// truncated and their tail ignored).
const MAX_DATAGRAM: usize = 4096;

impl NotifySocket {
    /// Bind `@name` in the abstract namespace.
    pub fn bind(name: &str) -> io::Result<NotifySocket> {
        // SAFETY: plain socket(2); the fd is owned right away.
        let raw =
            unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK, 0) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: raw is a fresh fd we own.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: sockaddr_un is plain data; zeroed is a valid value.
        let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
        addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
        let bytes = name.as_bytes();
        if bytes.len() + 1 > addr.sun_path.len() {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "notify socket name too long"));
        }
        // sun_path[0] stays 0: the abstract namespace.
        for (i, &b) in bytes.iter().enumerate() {
            addr.sun_path[i + 1] = b as libc::c_char;
        }
        let len = (std::mem::size_of::<libc::sa_family_t>() + 1 + bytes.len()) as libc::socklen_t;
        // SAFETY: addr is a valid sockaddr_un of `len` bytes.
        if unsafe { libc::bind(fd.as_raw_fd(), (&addr as *const libc::sockaddr_un).cast(), len) } < 0 {
            return Err(io::Error::last_os_error());
        }
        let one: libc::c_int = 1;
        // SAFETY: setsockopt with a pointer to an int of the right size.
        let r = unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_PASSCRED,
                (&one as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(NotifySocket { fd, name: format!("@{name}") })
    }

    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Read one datagram: Ok(None) when there is none left. Returns the data and the
    /// sender's pid (0 if the kernel gave no credentials). File descriptors sent along
    /// (FDSTORE) are closed at once.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<Option<(usize, u32)>> {
        let mut iov = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.len().min(MAX_DATAGRAM) };
        // Room for credentials and a few fds.
        let mut cbuf = [0u64; 64];
        // SAFETY: msghdr is plain data; zeroed is a valid value.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cbuf.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of_val(&cbuf) as _;
        // SAFETY: msg points at live buffers of the sizes given.
        let n = unsafe { libc::recvmsg(self.fd.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC | libc::MSG_DONTWAIT) };
        if n < 0 {
            let e = io::Error::last_os_error();
            return match e.kind() {
                io::ErrorKind::WouldBlock => Ok(None),
                _ => Err(e),
            };
        }
        let mut pid = 0u32;
        // SAFETY: walking the control messages the kernel wrote into cbuf, with the
        // libc macros, within msg_controllen.
        unsafe {
            let mut c = libc::CMSG_FIRSTHDR(&msg);
            while !c.is_null() {
                let data = libc::CMSG_DATA(c);
                let payload = (*c).cmsg_len as usize - libc::CMSG_LEN(0) as usize;
                if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_CREDENTIALS {
                    let cred = std::ptr::read_unaligned(data.cast::<libc::ucred>());
                    pid = cred.pid as u32;
                } else if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS {
                    for i in 0..payload / std::mem::size_of::<libc::c_int>() {
                        let fd = std::ptr::read_unaligned(data.cast::<libc::c_int>().add(i));
                        libc::close(fd);
                    }
                }
                c = libc::CMSG_NXTHDR(&msg, c);
            }
        }
        Ok(Some((n as usize, pid)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_assignments_tend_acts_on() {
        let m = parse(b"READY=1\nSTATUS=Accepting connections\nMAINPID=42\nFDSTORE=1\nWATCHDOG=1\n");
        assert_eq!(m, vec![Msg::Ready, Msg::Status("Accepting connections".into()), Msg::MainPid(42), Msg::Watchdog]);
        assert_eq!(
            parse(b"READY=0\nRELOADING=1\nSTOPPING=1\nWATCHDOG=trigger"),
            vec![Msg::Reloading, Msg::Stopping, Msg::WatchdogTrigger]
        );
        assert_eq!(parse(b"garbage\n\xff\xfe=1\nMAINPID=x\nMAINPID=0\n"), vec![]);
        assert_eq!(parse(b"STATUS="), vec![Msg::Status(String::new())]);
    }

    #[test]
    fn receives_with_the_senders_pid() {
        let name = format!("tend-test/{}.{:?}", std::process::id(), std::thread::current().id());
        let s = NotifySocket::bind(&name).expect("bind");
        assert!(s.name.starts_with('@'));
        let mut buf = [0u8; 4096];
        assert!(s.recv(&mut buf).expect("empty").is_none());
        let sock = std::os::unix::net::UnixDatagram::unbound().expect("socket");
        use std::os::linux::net::SocketAddrExt;
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).expect("addr");
        sock.send_to_addr(b"READY=1", &addr).expect("send");
        let (n, pid) = s.recv(&mut buf).expect("recv").expect("one datagram");
        assert_eq!(&buf[..n], b"READY=1");
        assert_eq!(pid, std::process::id());
    }
}
