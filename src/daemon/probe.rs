//! Connect probes (`tcp`, `unix`, `http`): a non-blocking socket driven by the loop's
//! readiness events, never blocking it. The loop owns the deadline; this module only
//! says, after each event, whether the attempt is decided. Exec probes are children
//! and live in the supervisor.

use std::io::{self, Read, Write};

use mio::net::{TcpStream, UnixStream};

use crate::config::Probe;

/// How an attempt ended: passed or failed, with a short description.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Pass(String),
    Fail(String),
}

enum Sock {
    Tcp(TcpStream),
    Unix(UnixStream),
}

/// One connect (or HTTP GET) attempt in flight.
pub struct Attempt {
    sock: Sock,
    connected: bool,
    /// For http: the request, how much of it is written, and the response so far.
    http: Option<(Vec<u8>, usize, Vec<u8>)>,
}

/// Bytes of an HTTP response read before the status line must have been seen.
const MAX_STATUS_LINE: usize = 4096;

impl Attempt {
    /// Start connecting. An immediate refusal is an `Err` with the reason.
    pub fn start(p: &Probe) -> Result<Attempt, String> {
        let (sock, http) = match p {
            Probe::Tcp(a) => (Sock::Tcp(TcpStream::connect(*a).map_err(|e| e.to_string())?), None),
            Probe::Unix(path) => (Sock::Unix(UnixStream::connect(path).map_err(unix_error)?), None),
            Probe::Http { addr, host, path } => {
                let req = format!(
                    "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: tend/{}\r\nConnection: close\r\n\r\n",
                    crate::VERSION
                );
                (
                    Sock::Tcp(TcpStream::connect(*addr).map_err(|e| e.to_string())?),
                    Some((req.into_bytes(), 0, Vec::new())),
                )
            }
            Probe::Exec(_) => return Err("exec probes are not connect probes".into()),
        };
        Ok(Attempt { sock, connected: false, http })
    }

    pub fn source(&mut self) -> &mut dyn mio::event::Source {
        match &mut self.sock {
            Sock::Tcp(s) => s,
            Sock::Unix(s) => s,
        }
    }

    /// Drive the attempt after a readiness event; `None` while undecided.
    pub fn advance(&mut self) -> Option<Outcome> {
        if !self.connected {
            let (err, peer) = match &self.sock {
                Sock::Tcp(s) => (s.take_error(), s.peer_addr().map(|_| ())),
                Sock::Unix(s) => (s.take_error(), s.peer_addr().map(|_| ())),
            };
            match err {
                Ok(Some(e)) | Err(e) => return Some(Outcome::Fail(e.to_string())),
                Ok(None) => {}
            }
            match peer {
                Ok(()) => self.connected = true,
                Err(e) if e.kind() == io::ErrorKind::NotConnected => return None,
                Err(e) => return Some(Outcome::Fail(e.to_string())),
            }
        }
        let Some((req, sent, resp)) = &mut self.http else {
            return Some(Outcome::Pass("connected".into()));
        };
        let Sock::Tcp(s) = &mut self.sock else { return Some(Outcome::Fail("http over a unix socket".into())) };
        while *sent < req.len() {
            match s.write(&req[*sent..]) {
                Ok(n) => *sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return None,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Some(Outcome::Fail(format!("sending the request: {e}"))),
            }
        }
        let mut buf = [0u8; 1024];
        loop {
            if let Some(verdict) = status_verdict(resp) {
                return Some(verdict);
            }
            if resp.len() >= MAX_STATUS_LINE {
                return Some(Outcome::Fail("no HTTP status line in the first 4 KiB".into()));
            }
            match s.read(&mut buf) {
                Ok(0) => return Some(Outcome::Fail("connection closed before an HTTP status line".into())),
                Ok(n) => resp.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return None,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Some(Outcome::Fail(format!("reading the response: {e}"))),
            }
        }
    }
}

fn unix_error(e: io::Error) -> String {
    match e.kind() {
        // A full backlog on a Unix socket is EAGAIN, not "in progress".
        io::ErrorKind::WouldBlock => "the socket's backlog is full".into(),
        _ => e.to_string(),
    }
}

/// The verdict once the status line is complete: 2xx and 3xx pass.
pub fn status_verdict(resp: &[u8]) -> Option<Outcome> {
    let end = resp.windows(2).position(|w| w == b"\r\n").or_else(|| resp.iter().position(|&b| b == b'\n'))?;
    let line = String::from_utf8_lossy(&resp[..end]);
    let mut parts = line.splitn(3, ' ');
    let (proto, code) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if !proto.starts_with("HTTP/") || code.len() != 3 {
        return Some(Outcome::Fail(format!(
            "not an HTTP status line: {:?}",
            line.chars().take(80).collect::<String>()
        )));
    }
    match code.parse::<u16>() {
        Ok(c) if (200..400).contains(&c) => Some(Outcome::Pass(format!("HTTP {c}"))),
        Ok(c) => Some(Outcome::Fail(format!("HTTP {c}"))),
        Err(_) => Some(Outcome::Fail(format!("bad HTTP status code {code:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines() {
        assert_eq!(status_verdict(b"HTTP/1.1 200 OK\r\n"), Some(Outcome::Pass("HTTP 200".into())));
        assert_eq!(status_verdict(b"HTTP/1.0 302 Found\r\nLocation: /"), Some(Outcome::Pass("HTTP 302".into())));
        assert_eq!(status_verdict(b"HTTP/1.1 503 Service Unavailable\r\n"), Some(Outcome::Fail("HTTP 503".into())));
        assert_eq!(status_verdict(b"HTTP/1.1 200 O"), None);
        assert!(matches!(status_verdict(b"SSH-2.0-OpenSSH\r\n"), Some(Outcome::Fail(_))));
        assert!(matches!(status_verdict(b"HTTP/1.1 2x0 OK\r\n"), Some(Outcome::Fail(_))));
    }
}
