//! A blocking control-socket client: connect, hello, send requests, read replies.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use crate::proto::frame::{Decoder, Frame, CLIENT_MAX_FRAME};
use crate::proto::msg::{self, kind, Answer, ErrorCode, ErrorMsg, Expected, Hello, Reply, Request, Welcome};

/// Exit codes of the client commands (tend(1), EXIT STATUS).
pub mod code {
    /// The daemon refused or could not do what was asked.
    pub const FAILED: i32 = 1;
    pub const USAGE: i32 = 2;
    /// No such service, or no such job.
    pub const UNKNOWN_SERVICE: i32 = 4;
    /// No tend is listening on the socket.
    pub const NOT_RUNNING: i32 = 5;
    pub const PERMISSION: i32 = 6;
    /// The daemon's answer was not what the protocol says (or another API version).
    pub const PROTOCOL: i32 = 7;
    /// `wait-ready --timeout` ran out.
    pub const TIMEOUT: i32 = 8;
    /// `request`: the service answered with a status of 400 or more.
    pub const HTTP_STATUS: i32 = 9;
    /// `request`: the service is not available (tend answered for it).
    pub const UNAVAILABLE: i32 = 10;
}

/// A client-side failure: a message and the exit code it maps to.
#[derive(Debug)]
pub struct ClientError {
    pub code: i32,
    pub message: String,
}

impl ClientError {
    pub fn new(code: i32, message: impl Into<String>) -> Self {
        ClientError { code, message: message.into() }
    }

    /// The exit code for an ERROR frame.
    pub fn from_reply(e: &ErrorMsg) -> Self {
        let code = match e.code {
            ErrorCode::UnknownService | ErrorCode::UnknownJob => code::UNKNOWN_SERVICE,
            ErrorCode::PermissionDenied => code::PERMISSION,
            ErrorCode::BadSignal => code::USAGE,
            ErrorCode::UnsupportedVersion
            | ErrorCode::BadRequest
            | ErrorCode::UnknownType
            | ErrorCode::HelloRequired
            | ErrorCode::FrameTooLarge => code::PROTOCOL,
            ErrorCode::Unavailable => code::UNAVAILABLE,
            ErrorCode::Timeout => code::TIMEOUT,
            ErrorCode::Busy
            | ErrorCode::ShuttingDown
            | ErrorCode::Failed
            | ErrorCode::UnknownStream
            | ErrorCode::BadGateway
            | ErrorCode::JobRunning => code::FAILED,
        };
        ClientError { code, message: e.message.clone() }
    }
}

pub struct Client {
    stream: UnixStream,
    dec: Decoder,
    buf: Vec<u8>,
    rbuf: Vec<u8>,
    next_id: u64,
    pub path: PathBuf,
    pub welcome: Welcome,
}

impl Client {
    /// Connect and say hello.
    pub fn connect(path: &Path) -> Result<Client, ClientError> {
        let show = path.display();
        let stream = UnixStream::connect(path).map_err(|e| match e.raw_os_error() {
            Some(libc::ENOENT) | Some(libc::ECONNREFUSED) => ClientError::new(
                code::NOT_RUNNING,
                format!("not running: no control socket at {show} ({e}); set --socket or $TEND_SOCKET"),
            ),
            Some(libc::EACCES) | Some(libc::EPERM) => {
                ClientError::new(code::PERMISSION, format!("cannot connect to {show}: {e}"))
            }
            _ => ClientError::new(code::NOT_RUNNING, format!("cannot connect to {show}: {e}")),
        })?;
        let mut c = Client {
            stream,
            dec: Decoder::new(CLIENT_MAX_FRAME),
            buf: Vec::new(),
            rbuf: Vec::new(),
            next_id: 1,
            path: path.to_path_buf(),
            welcome: Welcome { api: 0, version: String::new(), pid: 0, capabilities: vec![], max_frame: 0 },
        };
        let hello = Hello {
            api: msg::API_VERSION,
            client: format!("tend {}", crate::VERSION),
            capabilities: msg::CAPABILITIES.iter().map(|s| s.to_string()).collect(),
        };
        c.send(&Request::Hello(hello))?;
        match c.recv_as::<Welcome>(kind::WELCOME)? {
            Answer::Reply(w) => c.welcome = w,
            Answer::Error(e) => return Err(ClientError::from_reply(&e)),
            Answer::Other(k) => {
                return Err(ClientError::new(code::PROTOCOL, format!("expected a welcome, got message type 0x{k:02x}")))
            }
        }
        Ok(c)
    }

    /// Make `recv` give up after this long without data (None: wait forever).
    pub fn set_read_timeout(&self, d: Option<std::time::Duration>) -> Result<(), ClientError> {
        self.stream.set_read_timeout(d).map_err(|e| self.io_error(e))
    }

    pub fn next_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    pub fn send(&mut self, r: &Request) -> Result<(), ClientError> {
        self.buf.clear();
        r.encode(&mut self.buf);
        if let Err(e) = self.stream.write_all(&self.buf) {
            // The daemon may have refused us (permission, busy) and closed before we
            // wrote: its ERROR frame is what to report, not the EPIPE.
            if let Ok(Reply::Error(m)) = self.recv() {
                return Err(ClientError::from_reply(&m));
            }
            return Err(self.io_error(e));
        }
        Ok(())
    }

    fn io_error(&self, e: std::io::Error) -> ClientError {
        ClientError::new(code::PROTOCOL, format!("control connection to {} failed: {e}", self.path.display()))
    }

    /// The next frame from the server. A closed connection is an error.
    pub fn recv(&mut self) -> Result<Reply, ClientError> {
        let f = self.recv_frame()?;
        Reply::decode(f.kind, &f.body)
            .map_err(|e| ClientError::new(code::PROTOCOL, format!("bad reply from the daemon: {e}")))
    }

    /// The next frame from the server as a `T` (frame type `expect`) or an ERROR; any
    /// other type is not decoded. A closed connection is an error.
    pub fn recv_as<T: serde::de::DeserializeOwned>(&mut self, expect: u8) -> Result<Answer<T>, ClientError> {
        let f = self.recv_frame()?;
        msg::decode_expected(expect, f.kind, &f.body)
            .map_err(|e| ClientError::new(code::PROTOCOL, format!("bad reply from the daemon: {e}")))
    }

    /// The next frame from the server, not decoded (for fields this client's wire
    /// types do not have). A closed connection is an error.
    pub fn recv_frame(&mut self) -> Result<Frame, ClientError> {
        loop {
            match self.dec.next_frame() {
                Ok(Some(f)) => return Ok(f),
                Ok(None) => {}
                Err(e) => return Err(ClientError::new(code::PROTOCOL, format!("bad reply from the daemon: {e}"))),
            }
            if self.rbuf.is_empty() {
                // Small: a status reply is under 1 KiB, and every page the client
                // touches is a page fault in a process that lives half a millisecond.
                self.rbuf = vec![0; 2 * 1024];
            }
            let n = match self.stream.read(&mut self.rbuf) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.io_error(e)),
            };
            if n == 0 {
                return Err(ClientError::new(code::PROTOCOL, "the daemon closed the connection"));
            }
            self.dec.push(&self.rbuf[..n]);
            // A full buffer: a long list or a log stream; read more per call from now on.
            if n == self.rbuf.len() && n < 64 * 1024 {
                self.rbuf = vec![0; 2 * n];
            }
        }
    }

    /// Send one request and return its (single) reply, which must be a `T`; an ERROR
    /// becomes an Err. Decodes only `T` (see `msg::Expected`).
    pub fn call_as<T: Expected>(&mut self, r: Request) -> Result<T, ClientError> {
        let id = r.id();
        self.send(&r)?;
        // Nothing else is in flight on this connection.
        match self.recv_as::<T>(T::KIND)? {
            Answer::Reply(t) if t.id() == id => Ok(t),
            Answer::Reply(t) => {
                Err(ClientError::new(code::PROTOCOL, format!("reply to request {} where {id} was asked", t.id())))
            }
            Answer::Error(e) => Err(ClientError::from_reply(&e)),
            Answer::Other(k) => Err(ClientError::new(
                code::PROTOCOL,
                format!("unexpected reply: message type 0x{k:02x} where 0x{:02x} was expected", T::KIND),
            )),
        }
    }

    /// The socket, for a client that polls it with other descriptors (`spawn --attach`).
    pub fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        use std::os::fd::AsFd;
        self.stream.as_fd()
    }

    pub fn set_nonblocking(&self, on: bool) -> Result<(), ClientError> {
        self.stream.set_nonblocking(on).map_err(|e| self.io_error(e))
    }

    /// Non-blocking socket: read what has arrived into the decoder. False at the end
    /// of the connection.
    pub fn read_some(&mut self) -> Result<bool, ClientError> {
        if self.rbuf.len() < 64 * 1024 {
            self.rbuf = vec![0; 64 * 1024];
        }
        loop {
            match self.stream.read(&mut self.rbuf) {
                Ok(0) => return Ok(false),
                Ok(n) => self.dec.push(&self.rbuf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(true),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.io_error(e)),
            }
        }
    }

    /// The next complete frame already read, decoded.
    pub fn next_reply(&mut self) -> Result<Option<Reply>, ClientError> {
        match self.dec.next_frame() {
            Ok(Some(f)) => Reply::decode(f.kind, &f.body)
                .map(Some)
                .map_err(|e| ClientError::new(code::PROTOCOL, format!("bad reply from the daemon: {e}"))),
            Ok(None) => Ok(None),
            Err(e) => Err(ClientError::new(code::PROTOCOL, format!("bad reply from the daemon: {e}"))),
        }
    }

    /// Non-blocking socket: write what it takes of `buf`; how much.
    pub fn write_some(&mut self, buf: &[u8]) -> Result<usize, ClientError> {
        loop {
            match self.stream.write(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(0),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.io_error(e)),
            }
        }
    }

    /// Send one request and return its (single) reply; an ERROR becomes an Err.
    pub fn call(&mut self, r: Request) -> Result<Reply, ClientError> {
        let id = r.id();
        self.send(&r)?;
        // Nothing else is in flight on this connection.
        match self.recv()? {
            Reply::Error(e) => Err(ClientError::from_reply(&e)),
            reply if reply.id() == id => Ok(reply),
            other => Err(ClientError::new(code::PROTOCOL, format!("unexpected reply {other:?}"))),
        }
    }
}
