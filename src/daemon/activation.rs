//! Socket activation: the sockets of the services' `listen` entries. tend binds each
//! once (close-on-exec, blocking, as systemd passes them) and keeps it for as long as
//! some service lists it; every incarnation gets a copy as fds 3.. with the systemd
//! protocol (`LISTEN_FDS`, `LISTEN_PID`, `LISTEN_FDNAMES`, sd_listen_fds(3)). Since the
//! socket outlives the process, clients connecting during a restart wait in its
//! backlog instead of being refused.
//!
//! A Unix socket's file is replaced if it is a stale socket (one nothing accepts on;
//! never another kind of file), made mode 0666 before listen(2) (as systemd's SocketMode default; restrict
//! access with the directory), and removed when a reload drops the entry and when tend
//! exits.

use std::collections::HashMap;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};

use nix::sys::socket::{self, AddressFamily, Backlog, SockFlag, SockType, UnixAddr};

use crate::config::{Listen, ListenAddr};
use crate::daemon::spawn::Command;

/// listen(2) backlog; the kernel caps it at net.core.somaxconn.
const BACKLOG: i32 = 4096;

/// Bind and listen on `addr`.
pub fn bind(addr: &ListenAddr) -> io::Result<OwnedFd> {
    let nerr = |e: nix::errno::Errno| io::Error::from_raw_os_error(e as i32);
    let backlog = Backlog::new(BACKLOG).unwrap_or(Backlog::MAXCONN);
    match addr {
        ListenAddr::Tcp(a) => {
            // std sets SO_REUSEADDR (a restarted tend rebinds at once, whatever
            // TIME_WAIT connections remain) and close-on-exec; a second listen(2)
            // raises its backlog of 128.
            let fd = OwnedFd::from(std::net::TcpListener::bind(a)?);
            socket::listen(&fd, backlog).map_err(nerr)?;
            Ok(fd)
        }
        ListenAddr::Unix(path) => {
            match std::fs::symlink_metadata(path) {
                Ok(m) if m.file_type().is_socket() => {
                    // Stale unless something accepts on it (another tend, another server).
                    if std::os::unix::net::UnixStream::connect(path).is_ok() {
                        return Err(io::Error::new(io::ErrorKind::AddrInUse, "another process listens on it"));
                    }
                    std::fs::remove_file(path)?
                }
                Ok(_) => {
                    return Err(io::Error::new(io::ErrorKind::AlreadyExists, "the path exists and is not a socket"))
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
            let fd =
                socket::socket(AddressFamily::Unix, SockType::Stream, SockFlag::SOCK_CLOEXEC, None).map_err(nerr)?;
            let ua = UnixAddr::new(path).map_err(nerr)?;
            socket::bind(fd.as_raw_fd(), &ua).map_err(nerr)?;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666))?;
            socket::listen(&fd, backlog).map_err(nerr)?;
            Ok(fd)
        }
    }
}

/// The bound sockets, by address (instances of a service share them).
#[derive(Default)]
pub struct Listeners {
    by_addr: HashMap<ListenAddr, OwnedFd>,
}

impl Listeners {
    /// Bind every address in `wanted` not bound yet. On a failure, the ones bound by
    /// this call are closed again and the error names the address.
    pub fn bind_missing<'a>(&mut self, wanted: impl IntoIterator<Item = &'a ListenAddr>) -> Result<usize, String> {
        let mut new: Vec<ListenAddr> = Vec::new();
        for a in wanted {
            if self.by_addr.contains_key(a) {
                continue;
            }
            match bind(a) {
                Ok(fd) => {
                    self.by_addr.insert(a.clone(), fd);
                    new.push(a.clone());
                }
                Err(e) => {
                    for n in &new {
                        self.close(n);
                    }
                    return Err(format!("cannot listen on {a}: {e}"));
                }
            }
        }
        Ok(new.len())
    }

    /// Close the sockets no longer in `wanted`; returns them.
    pub fn close_unlisted<'a>(&mut self, wanted: impl IntoIterator<Item = &'a ListenAddr>) -> Vec<ListenAddr> {
        let keep: Vec<&ListenAddr> = wanted.into_iter().collect();
        let gone: Vec<ListenAddr> = self.by_addr.keys().filter(|a| !keep.contains(a)).cloned().collect();
        for a in &gone {
            self.close(a);
        }
        gone
    }

    fn close(&mut self, a: &ListenAddr) {
        if self.by_addr.remove(a).is_some() {
            if let ListenAddr::Unix(p) = a {
                let _ = std::fs::remove_file(p);
            }
        }
    }

    /// Hand a service's sockets to `cmd`: fds 3.. in `listen` order and the variables.
    /// Without `listen`, the variables tend may have inherited are not passed on.
    pub fn prepare(&self, listen: &[Listen], cmd: &mut Command) -> io::Result<()> {
        if listen.is_empty() {
            for k in ["LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"] {
                cmd.env_remove(k);
            }
            return Ok(());
        }
        for (i, l) in listen.iter().enumerate() {
            let fd = self.by_addr.get(&l.addr).ok_or_else(|| {
                io::Error::new(io::ErrorKind::NotFound, format!("{} is not bound (a reload failed?)", l.addr))
            })?;
            // F_DUPFD_CLOEXEC: tend's copy for this spawn only.
            cmd.extra_fd(3 + i as i32, fd.try_clone()?);
        }
        let (fds, names) = variables(listen);
        cmd.env("LISTEN_FDS", fds).env("LISTEN_FDNAMES", names).listen_pid();
        Ok(())
    }
}

/// `LISTEN_FDS` and `LISTEN_FDNAMES` for these entries (`LISTEN_PID` is the child's).
pub fn variables(listen: &[Listen]) -> (String, String) {
    let names: Vec<&str> = listen.iter().map(|l| l.name.as_str()).collect();
    (listen.len().to_string(), names.join(":"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_follow_the_order() {
        let l = |a: &str, n: &str| Listen { addr: ListenAddr::Unix(a.into()), name: n.into() };
        assert_eq!(variables(&[l("/a", "web"), l("/b", "admin")]), ("2".into(), "web:admin".into()));
    }

    #[test]
    fn unix_socket_replaces_a_stale_one_but_not_a_file() {
        let dir = std::env::temp_dir().join(format!("tend-act-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let p = dir.join("s.sock");
        let a = ListenAddr::Unix(p.clone());
        let first = bind(&a).unwrap();
        assert!(bind(&a).is_err(), "a live socket was replaced");
        drop(first);
        let fd = bind(&a).expect("a stale socket file is replaced");
        // SAFETY: F_GETFD on our own fd.
        let flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFD) };
        assert_eq!(flags & libc::FD_CLOEXEC, libc::FD_CLOEXEC);
        assert_eq!(std::fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o666);
        let f = dir.join("plain");
        std::fs::write(&f, b"x").unwrap();
        assert!(bind(&ListenAddr::Unix(f.clone())).is_err());
        assert!(f.exists());
        drop(fd);
        let mut ls = Listeners::default();
        assert_eq!(ls.bind_missing([&a]), Ok(1));
        assert_eq!(ls.bind_missing([&a]), Ok(0));
        assert_eq!(ls.close_unlisted(std::iter::empty()), vec![a]);
        assert!(!p.exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
