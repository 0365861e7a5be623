//! The control socket: the listener, its connections, peer credentials, the hello, and
//! each connection's bounded output queue. What a request does is decided by the
//! supervisor (`requests.rs`); this module only moves frames.
//!
//! Rules (tend-protocol(7)):
//! - The socket file is created with the configured mode (0600 by default) and group,
//!   in a directory created 0700 if missing (plus search permission for the group or
//!   others when the mode lets them in). `<socket>.lock` is held with flock(2) for
//!   tend's lifetime: a busy lock means another tend is live on that path (refused);
//!   otherwise a leftover socket file is a stale one and is replaced (PITFALLS §11).
//! - Every connection's SO_PEERCRED (and SO_PEERGROUPS) is checked at accept: root,
//!   tend's own uid, `allow_uids`, and members of `allow_gids` or of the socket's
//!   `group` get in; anyone else gets a `permission_denied` error frame.
//! - Nothing blocks: reads and writes are non-blocking; a connection whose queue is above
//!   half of `client_queue` is not read from until it drains (so a pipelining client
//!   that does not read cannot grow it); stream data that does not fit is dropped and
//!   counted for the subscriber.
//! - Malformed input of any kind gets an error frame, then the connection is closed;
//!   other connections are unaffected.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use mio::net::{UnixListener, UnixStream};
use mio::{Interest, Registry, Token};

use crate::config::Control as ControlConfig;
use crate::proto::frame::Decoder;
use crate::proto::msg::{self, kind, ErrorCode, ErrorMsg, Hello, Request, Requestor, Welcome};
use crate::proto::FrameError;

/// The listener's token; connections get tokens from [`CONN_BASE`] up, never reused.
pub const LISTENER: Token = Token(2);
pub const CONN_BASE: usize = 1 << 32;

/// The longest socket path: sun_path holds 108 bytes with the NUL.
pub const MAX_SOCKET_PATH: usize = 107;

/// Frames decoded from one connection per wake-up before the others get a turn.
const FRAMES_PER_TURN: usize = 512;
const READ_CHUNK: usize = 64 * 1024;
/// A connection that has not sent its hello, or has sent part of a frame, and then
/// nothing for this long is closed (it holds a buffer of up to `max_frame`).
pub const INPUT_TIMEOUT: Duration = Duration::from_secs(10);

/// A logs request being served: a cursor into the service's rings per stream
/// (stdout, stderr). The ring is the subscriber's buffer: whatever it still holds is
/// sent as the queue makes room; what it evicted first is reported as lost. A snapshot
/// ends at the rings' ends as of the request; a follow never ends by itself.
pub struct LogSub {
    pub id: u64,
    pub svc: usize,
    pub wants: [bool; 2],
    pub follow: bool,
    /// Next absolute ring position to send.
    pub next: [u64; 2],
    /// Where a snapshot ends.
    pub end: [u64; 2],
    /// Bytes evicted from the ring before they were sent, not yet reported.
    pub lost: [u64; 2],
}

/// An event subscription.
pub struct EventSub {
    pub id: u64,
    /// Events below this sequence number are not sent.
    pub from: u64,
    /// Events not sent because the queue was full: the first lost sequence number and
    /// one past the last.
    pub lost: Option<(u64, u64)>,
}

pub struct Conn {
    stream: UnixStream,
    dec: Decoder,
    out: Vec<u8>,
    out_pos: usize,
    greeted: bool,
    /// Close once the queue is written (after an error frame).
    closing: bool,
    /// Reading stopped because the queue is above the high-water mark.
    paused: bool,
    /// Reading stopped because a job's input queue this connection feeds is full
    /// (jobinput.rs); resumed by the supervisor when it drains.
    pub held: bool,
    pub who: Requestor,
    /// When bytes last arrived (for the incomplete-input timeout).
    last_input: Instant,
    pub logs: Vec<LogSub>,
    pub events: Vec<EventSub>,
}

impl Conn {
    pub fn queued(&self) -> usize {
        self.out.len() - self.out_pos
    }

    pub fn is_closing(&self) -> bool {
        self.closing
    }

    /// The output queue, for replies built in place (snapshots, history).
    pub fn out_mut(&mut self) -> &mut Vec<u8> {
        &mut self.out
    }

    /// End the subscriptions that match (removed, each told with END); how many.
    pub fn end_where(&mut self, logs: impl Fn(&LogSub) -> bool, events: impl Fn(&EventSub) -> bool) -> usize {
        let mut ended = Vec::new();
        self.logs.retain(|s| {
            !logs(s) || {
                ended.push(s.id);
                false
            }
        });
        self.events.retain(|s| {
            !events(s) || {
                ended.push(s.id);
                false
            }
        });
        for &id in &ended {
            msg::encode(kind::END, &msg::End { id }, &mut self.out);
        }
        ended.len()
    }

    /// Queue stream data (a frame of about `size` bytes) if it fits under `limit`
    /// (`client_queue`); false if not (the caller counts the loss).
    pub fn try_stream<T: serde::Serialize>(&mut self, limit: usize, k: u8, body: &T, size: usize) -> bool {
        if self.closing || self.queued() + size + 64 > limit {
            return false;
        }
        msg::encode(k, body, &mut self.out);
        true
    }
}

/// What reading a connection produced.
pub enum Input {
    Request(Request),
    /// Malformed input: answered with this error after the requests before it, then
    /// the connection is closed.
    Fatal(ErrorMsg),
}

pub struct Control {
    listener: UnixListener,
    pub path: PathBuf,
    lock_path: PathBuf,
    _lock: File,
    pub conns: HashMap<Token, Conn>,
    next: usize,
    cfg: ControlConfig,
    own_uid: u32,
    /// Connections with frames left undecoded (turn over) or reading to resume.
    pub pending: Vec<Token>,
    /// Log and event subscriptions across connections (0: skip the fan-out), kept by
    /// [`Control::recount`] whenever a subscription starts or ends.
    pub log_followers: usize,
    pub event_followers: usize,
    /// Read buffer shared by all connections (not zeroed per read).
    rbuf: Vec<u8>,
    pid: u32,
}

/// The socket path: `--socket`, then `$TEND_SOCKET`, then the config, then the
/// default: `/run/tend.sock` for root, else `$XDG_RUNTIME_DIR/tend.sock`, else
/// `/tmp/tend-UID/tend.sock`. The client resolves it the same way, without the config.
pub fn socket_path(flag: Option<&Path>, config: Option<&Path>) -> PathBuf {
    if let Some(p) = flag {
        return p.to_path_buf();
    }
    if let Some(p) = std::env::var_os("TEND_SOCKET").filter(|v| !v.is_empty()) {
        return PathBuf::from(p);
    }
    if let Some(p) = config {
        return p.to_path_buf();
    }
    default_socket_path()
}

pub fn default_socket_path() -> PathBuf {
    // SAFETY: geteuid has no failure mode.
    let uid = unsafe { libc::geteuid() };
    if uid == 0 {
        return PathBuf::from("/run/tend.sock");
    }
    if let Some(d) = std::env::var_os("XDG_RUNTIME_DIR").filter(|v| !v.is_empty()) {
        return Path::new(&d).join("tend.sock");
    }
    PathBuf::from(format!("/tmp/tend-{uid}/tend.sock"))
}

fn peer(stream: &UnixStream) -> Option<Requestor> {
    let cred = nix::sys::socket::getsockopt(stream, nix::sys::socket::sockopt::PeerCredentials).ok()?;
    let pid = cred.pid();
    // The pid is only recorded, never trusted for access (PITFALLS §11).
    let name = if pid > 0 {
        std::fs::read_to_string(format!("/proc/{pid}/comm")).map(|s| s.trim_end().to_string()).unwrap_or_default()
    } else {
        String::new()
    };
    Some(Requestor { uid: cred.uid(), gid: cred.gid(), pid, name })
}

/// The peer's supplementary groups at connect time (SO_PEERGROUPS, Linux 4.13+);
/// empty where the kernel does not have it.
fn peer_groups(stream: &UnixStream) -> Vec<u32> {
    let mut groups = vec![0 as libc::gid_t; 64];
    loop {
        let mut len = (groups.len() * std::mem::size_of::<libc::gid_t>()) as libc::socklen_t;
        // SAFETY: the buffer is `len` bytes long and the kernel writes at most that.
        let r = unsafe {
            libc::getsockopt(
                stream.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_PEERGROUPS,
                groups.as_mut_ptr().cast(),
                &mut len,
            )
        };
        let n = len as usize / std::mem::size_of::<libc::gid_t>();
        if r == 0 {
            groups.truncate(n);
            return groups;
        }
        if std::io::Error::last_os_error().raw_os_error() == Some(libc::ERANGE) && n > groups.len() {
            groups.resize(n, 0);
            continue;
        }
        return Vec::new();
    }
}

fn fatal(id: u64, code: ErrorCode, message: impl Into<String>) -> Input {
    Input::Fatal(ErrorMsg { id, code, message: message.into() })
}

fn error_frame(id: u64, code: ErrorCode, message: impl Into<String>, out: &mut Vec<u8>) {
    msg::encode(kind::ERROR, &ErrorMsg { id, code, message: message.into() }, out);
}

impl Control {
    /// Create the socket (see the module doc for the steps).
    pub fn bind(cfg: &ControlConfig, path: PathBuf, registry: &Registry) -> Result<Control, String> {
        // Absolute, so the TEND_SOCKET services get works from any cwd.
        let path = std::path::absolute(&path).unwrap_or(path);
        let show = path.display().to_string();
        if path.as_os_str().len() > MAX_SOCKET_PATH {
            return Err(format!(
                "control socket path {show} is too long: at most {MAX_SOCKET_PATH} bytes fit in a Unix socket address"
            ));
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if !dir.exists() {
                // 0700, plus search permission for whom the socket's mode lets in.
                let mut dmode = 0o700;
                if cfg.mode & 0o070 != 0 {
                    dmode |= 0o010;
                }
                if cfg.mode & 0o007 != 0 {
                    dmode |= 0o001;
                }
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(dmode)
                    .create(dir)
                    .map_err(|e| format!("creating the directory of the control socket {}: {e}", dir.display()))?;
                if let Some(gid) = cfg.group {
                    let _ = std::os::unix::fs::lchown(dir, None, Some(gid));
                }
            } else if dir.starts_with("/tmp") && path == default_socket_path() {
                // The shared fallback: another user may have made it first.
                use std::os::unix::fs::MetadataExt;
                let m = std::fs::symlink_metadata(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
                // SAFETY: geteuid has no failure mode.
                let me = unsafe { libc::geteuid() };
                if !m.is_dir() || m.uid() != me || m.mode() & 0o022 != 0 {
                    return Err(format!(
                        "{} is not a directory owned by uid {me} and writable only by it: refusing to put the \
                         control socket there (set --socket or $TEND_SOCKET)",
                        dir.display()
                    ));
                }
            }
        }
        let mut lock_name = path.as_os_str().to_owned();
        lock_name.push(".lock");
        let lock_path = PathBuf::from(lock_name);
        let lock = std::fs::OpenOptions::new()
            .mode(0o600)
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| format!("opening the lock file {}: {e}", lock_path.display()))?;
        // SAFETY: flock on an fd we own.
        if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
                return Err(format!(
                    "another tend is running with control socket {show} (its lock {} is held)",
                    lock_path.display()
                ));
            }
            return Err(format!("locking {}: {e}", lock_path.display()));
        }
        match std::fs::symlink_metadata(&path) {
            Ok(m) if m.file_type().is_socket() => {
                // Stale: the lock was free, so no tend owns it.
                std::fs::remove_file(&path).map_err(|e| format!("removing the stale socket {show}: {e}"))?;
            }
            Ok(_) => return Err(format!("{show} exists and is not a socket: refusing to replace it")),
            Err(_) => {}
        }
        // Created with no permissions for others from the start, then set exactly.
        // SAFETY: umask only swaps the process's mask; no other thread creates files.
        let old = unsafe { libc::umask(0o177) };
        let bound = UnixListener::bind(&path);
        // SAFETY: as above.
        unsafe { libc::umask(old) };
        let mut listener = bound.map_err(|e| format!("binding the control socket {show}: {e}"))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(cfg.mode))
            .map_err(|e| format!("setting the mode of {show}: {e}"))?;
        if let Some(gid) = cfg.group {
            std::os::unix::fs::lchown(&path, None, Some(gid))
                .map_err(|e| format!("setting the group of {show} to {gid}: {e}"))?;
        }
        registry
            .register(&mut listener, LISTENER, Interest::READABLE)
            .map_err(|e| format!("registering the control socket: {e}"))?;
        Ok(Control {
            listener,
            path,
            lock_path,
            _lock: lock,
            conns: HashMap::new(),
            next: CONN_BASE,
            cfg: cfg.clone(),
            // SAFETY: geteuid has no failure mode.
            own_uid: unsafe { libc::geteuid() },
            pending: Vec::new(),
            log_followers: 0,
            event_followers: 0,
            rbuf: vec![0; READ_CHUNK],
            pid: std::process::id(),
        })
    }

    /// Apply a reloaded `[control]` (limits and access; the path and mode stay).
    pub fn update(&mut self, cfg: &ControlConfig) {
        self.cfg = cfg.clone();
    }

    /// Root, tend's own uid, `allow_uids`, or a member (primary or supplementary group)
    /// of `allow_gids` or of the socket's `group`.
    fn allowed(&self, who: &Requestor, stream: &UnixStream) -> bool {
        if who.uid == 0 || who.uid == self.own_uid || self.cfg.allow_uids.contains(&who.uid) {
            return true;
        }
        let ok = |g: u32| self.cfg.allow_gids.contains(&g) || self.cfg.group == Some(g);
        if ok(who.gid) {
            return true;
        }
        if self.cfg.allow_gids.is_empty() && self.cfg.group.is_none() {
            return false;
        }
        peer_groups(stream).into_iter().any(ok)
    }

    /// Accept every pending connection. Returns false when accepting must pause (no fds
    /// left): the caller retries on a timer.
    pub fn accept(&mut self, registry: &Registry) -> bool {
        loop {
            let (mut stream, _) = match self.listener.accept() {
                Ok(s) => s,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return true,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) if e.raw_os_error() == Some(libc::ECONNABORTED) => continue,
                Err(_) => return false,
            };
            let who = peer(&stream).unwrap_or(Requestor { uid: u32::MAX, gid: u32::MAX, pid: 0, name: String::new() });
            let refusal = if !self.allowed(&who, &stream) {
                Some((
                    ErrorCode::PermissionDenied,
                    format!(
                        "uid {} (gid {}) is not allowed to use this control socket \
                         (see control.allow_uids, control.allow_gids and control.group)",
                        who.uid, who.gid
                    ),
                ))
            } else if self.conns.len() >= self.cfg.max_clients {
                Some((
                    ErrorCode::Busy,
                    format!("too many connections (control.max_clients = {})", self.cfg.max_clients),
                ))
            } else {
                None
            };
            if let Some((code, message)) = refusal {
                // A fresh socket's buffer takes a small frame whole; if not, the close
                // alone tells the client.
                let mut out = Vec::new();
                error_frame(0, code, message, &mut out);
                let _ = stream.write(&out);
                continue;
            }
            let token = Token(self.next);
            self.next += 1;
            if registry.register(&mut stream, token, Interest::READABLE | Interest::WRITABLE).is_err() {
                continue;
            }
            let conn = Conn {
                stream,
                dec: Decoder::new(self.cfg.max_frame),
                out: Vec::new(),
                out_pos: 0,
                greeted: false,
                closing: false,
                paused: false,
                held: false,
                who,
                last_input: Instant::now(),
                logs: Vec::new(),
                events: Vec::new(),
            };
            self.conns.insert(token, conn);
        }
    }

    /// Read what the connection sent and decode up to a turn's worth of requests.
    /// Protocol errors are answered here; the connection may be closed on return.
    pub fn read(&mut self, token: Token, registry: &Registry) -> Vec<Input> {
        let mut inputs = Vec::new();
        let high_water = self.cfg.client_queue / 2;
        let max_frame = self.cfg.max_frame;
        let pid = self.pid;
        let Some(c) = self.conns.get_mut(&token) else { return inputs };
        let buf = &mut self.rbuf;
        let mut eof = false;
        let mut turn_over = false;
        let mut stdin_bytes = 0;
        'outer: loop {
            // Frames already buffered first: the decoder holds at most one chunk.
            loop {
                if c.closing || c.held {
                    break 'outer;
                }
                if c.queued() > high_water {
                    c.paused = true;
                    break 'outer;
                }
                if inputs.len() >= FRAMES_PER_TURN {
                    turn_over = true;
                    break 'outer;
                }
                let frame = match c.dec.next_frame() {
                    Ok(Some(f)) => f,
                    Ok(None) => break,
                    Err(e) => {
                        let code = match e {
                            FrameError::TooLarge { .. } => ErrorCode::FrameTooLarge,
                            FrameError::ZeroLength => ErrorCode::BadRequest,
                        };
                        inputs.push(fatal(0, code, e.to_string()));
                        c.closing = true;
                        break 'outer;
                    }
                };
                match Request::decode(frame.kind, &frame.body) {
                    Ok(Request::Hello(h)) if !c.greeted => {
                        if h.api != msg::API_VERSION {
                            let m = format!(
                                "client speaks API version {}, this tend (version {}) speaks {}",
                                h.api,
                                crate::VERSION,
                                msg::API_VERSION
                            );
                            inputs.push(fatal(0, ErrorCode::UnsupportedVersion, m));
                            c.closing = true;
                            break 'outer;
                        }
                        c.greeted = true;
                        let _: Hello = h;
                        let w = Welcome {
                            api: msg::API_VERSION,
                            version: crate::VERSION.into(),
                            pid,
                            capabilities: msg::CAPABILITIES.iter().map(|s| s.to_string()).collect(),
                            max_frame,
                        };
                        msg::encode(kind::WELCOME, &w, &mut c.out);
                    }
                    Ok(Request::Hello(_)) => {
                        inputs.push(fatal(0, ErrorCode::BadRequest, "a second hello on one connection"));
                        c.closing = true;
                        break 'outer;
                    }
                    Ok(r) if !c.greeted => {
                        let m = format!("the first frame must be a hello (type 0x01), not type 0x{:02x}", frame.kind);
                        inputs.push(fatal(r.id(), ErrorCode::HelloRequired, m));
                        c.closing = true;
                        break 'outer;
                    }
                    Ok(r) => {
                        // A turn takes at most a job input queue's worth of STDIN
                        // bytes, so that holding the connection when the queue is full
                        // bounds it (jobinput.rs).
                        if let Request::Stdin(s) = &r {
                            stdin_bytes += s.data.len();
                        }
                        inputs.push(Input::Request(r));
                        if stdin_bytes >= crate::daemon::jobinput::INPUT_LIMIT {
                            turn_over = true;
                            break 'outer;
                        }
                    }
                    Err(msg::DecodeError::UnknownType(k)) => {
                        let code = if c.greeted { ErrorCode::UnknownType } else { ErrorCode::HelloRequired };
                        inputs.push(fatal(0, code, format!("unknown message type 0x{k:02x}")));
                        c.closing = true;
                        break 'outer;
                    }
                    Err(e @ msg::DecodeError::BadBody { id, .. }) => {
                        inputs.push(fatal(id, ErrorCode::BadRequest, e.to_string()));
                        c.closing = true;
                        break 'outer;
                    }
                }
            }
            match c.stream.read(buf) {
                Ok(0) => {
                    eof = true;
                    break;
                }
                Ok(n) => {
                    c.last_input = Instant::now();
                    c.dec.push(&buf[..n]);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => {
                    eof = true;
                    break;
                }
            }
        }
        if turn_over {
            self.pending.push(token);
        }
        if eof {
            // The client is gone (or half-closed: it sends nothing more). Requests read
            // before the EOF, and replies still queued, are written first.
            match self.conns.get_mut(&token) {
                Some(c) if !inputs.is_empty() || c.queued() > 0 => c.closing = true,
                _ => self.close(token, registry),
            }
        }
        inputs
    }

    /// Write what is queued. Closes the connection on a write error or once a closing
    /// connection's queue is empty. Resumes reading of a paused connection.
    pub fn flush(&mut self, token: Token, registry: &Registry) {
        let high_water = self.cfg.client_queue / 2;
        let Some(c) = self.conns.get_mut(&token) else { return };
        while c.out_pos < c.out.len() {
            match c.stream.write(&c.out[c.out_pos..]) {
                Ok(0) => break,
                Ok(n) => c.out_pos += n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => {
                    self.close(token, registry);
                    return;
                }
            }
        }
        if c.out_pos == c.out.len() {
            c.out.clear();
            c.out_pos = 0;
            if c.out.capacity() > 256 * 1024 {
                c.out.shrink_to(64 * 1024);
            }
            if c.closing {
                self.close(token, registry);
                return;
            }
        } else if c.out_pos > 64 * 1024 && c.out_pos * 2 > c.out.len() {
            c.out.drain(..c.out_pos);
            c.out_pos = 0;
        }
        if c.paused && c.queued() <= high_water {
            c.paused = false;
            // The wait was tend's, not the client's.
            c.last_input = Instant::now();
            self.pending.push(token);
        }
    }

    pub fn close(&mut self, token: Token, registry: &Registry) {
        if let Some(mut c) = self.conns.remove(&token) {
            let _ = registry.deregister(&mut c.stream);
            if !c.logs.is_empty() || !c.events.is_empty() {
                self.recount();
            }
        }
    }

    /// Queue a reply frame. Replies are never dropped (also not on a closing connection:
    /// it is closed once they are written); reading pauses instead while the queue is
    /// high (see the module doc).
    pub fn reply<T: serde::Serialize>(&mut self, token: Token, k: u8, body: &T) {
        if let Some(c) = self.conns.get_mut(&token) {
            msg::encode(k, body, &mut c.out);
        }
    }

    pub fn error(&mut self, token: Token, id: u64, code: ErrorCode, message: impl Into<String>) {
        if let Some(c) = self.conns.get_mut(&token) {
            error_frame(id, code, message, &mut c.out);
        }
    }

    /// Recount the subscriptions after one started or ended.
    pub fn recount(&mut self) {
        self.log_followers = self.conns.values().map(|c| c.logs.len()).sum();
        self.event_followers = self.conns.values().map(|c| c.events.len()).sum();
    }

    pub fn client_queue(&self) -> usize {
        self.cfg.client_queue
    }

    /// Close connections stuck with no hello or half a frame for [`INPUT_TIMEOUT`].
    pub fn sweep(&mut self, registry: &Registry) {
        let now = Instant::now();
        let stuck: Vec<Token> = self
            .conns
            .iter()
            .filter(|(_, c)| {
                !c.closing
                    && !c.paused
                    && !c.held
                    && (!c.greeted || c.dec.pending() > 0)
                    && now.saturating_duration_since(c.last_input) >= INPUT_TIMEOUT
            })
            .map(|(&t, _)| t)
            .collect();
        for token in stuck {
            if let Some(c) = self.conns.get_mut(&token) {
                let what = if c.greeted { "an incomplete frame" } else { "no hello" };
                let m = format!("{what} after {}s: closing", INPUT_TIMEOUT.as_secs());
                error_frame(0, ErrorCode::BadRequest, m, &mut c.out);
                c.closing = true;
            }
            self.flush(token, registry);
        }
    }

    /// Remove the socket and lock files (clean exit).
    pub fn remove_files(&self) {
        let _ = std::fs::remove_file(&self.path);
        let _ = std::fs::remove_file(&self.lock_path);
    }
}
