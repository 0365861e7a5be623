//! The worker pool that forwards requests to service sockets (DESIGN.md: "worker pool
//! for blocking work"). N threads take jobs from a bounded crossbeam channel (a full
//! queue is the caller's "busy", never unbounded growth), do the blocking connect /
//! write / read against the service's Unix socket, and hand what they read back on a
//! second channel, then wake the loop with its `mio::Waker` (send first, then wake:
//! PITFALLS §10). The loop never blocks on any of it.
//!
//! - Deadline: a job must have its response head within `timeout` of its submission
//!   (queueing included), else it fails with [`Failure::Timeout`]; after the head, each
//!   read of the body may wait `timeout` again.
//! - Connections are kept per socket path and reused while the upstream keeps them
//!   alive. A kept connection is checked before reuse (a peek: EOF or stray bytes mean
//!   it is dead); an idempotent request that meets EOF before any response byte on a
//!   reused connection is retried once on a fresh one.
//! - Flow control: the response body streams back in chunks; each job has a [`Flow`]
//!   window, so a slow client stalls its worker instead of growing tend's memory, and a
//!   client that goes away cancels the job.
//! - Signals stay blocked in every worker (they are spawned from the loop thread, whose
//!   mask has them blocked: PITFALLS §2). Every socket is close-on-exec.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TrySendError};
use nix::errno::Errno;

use crate::http::chunked;
use crate::http::response::{self, Framing};

/// Bytes of response body a job may have in flight (sent to the loop, not yet written
/// to its client) before its worker waits.
pub const WINDOW: usize = 256 * 1024;
/// Largest chunk read from an upstream at once.
const READ_CHUNK: usize = 64 * 1024;
/// Largest response head accepted from an upstream.
pub(crate) const MAX_RESPONSE_HEAD: usize = 64 * 1024;
/// Kept connections per socket, and how long one may idle before it is dropped.
const IDLE_PER_SOCKET: usize = 64;
const IDLE_MAX_AGE: Duration = Duration::from_secs(60);

/// One request to forward.
pub struct Job {
    pub id: u64,
    pub socket: Arc<Path>,
    /// The request head and body, ready to write (http::request::upstream_head).
    pub bytes: Vec<u8>,
    /// HEAD: the response has no body whatever its headers say.
    pub head_request: bool,
    /// Safe to retry on a fresh connection (GET, HEAD, OPTIONS, PUT, DELETE, TRACE).
    pub idempotent: bool,
    pub timeout: Duration,
    pub submitted: Instant,
    pub flow: Arc<Flow>,
}

/// Why a job failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The socket is missing or refuses connections.
    Unavailable,
    /// No response head within the timeout (or the body stalled for as long).
    Timeout,
    /// The upstream's answer is not HTTP, or it closed mid-response.
    BadGateway,
    /// The loop cancelled the job (its client went away).
    Cancelled,
}

/// What a worker reports about a job, in order: `Head`, then `Data`... and `End`, or
/// `Fail` at any point.
pub enum Progress {
    /// The response head, the body bytes read with it, and whether that is all of it.
    Head {
        head: response::Head,
        data: Vec<u8>,
        end: bool,
    },
    Data(Vec<u8>),
    End,
    Fail {
        why: Failure,
        detail: String,
    },
}

pub struct Done {
    pub job: u64,
    pub p: Progress,
}

/// A job's flow-control window, shared by its worker and the loop.
pub struct Flow {
    st: Mutex<(isize, bool)>,
    cv: Condvar,
}

impl Flow {
    pub fn new() -> Arc<Flow> {
        Arc::new(Flow { st: Mutex::new((WINDOW as isize, false)), cv: Condvar::new() })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (isize, bool)> {
        // A worker never panics while holding it (panic = abort), so poisoning cannot
        // happen; take the data either way.
        self.st.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The loop wrote `n` bytes of this job's body to its client: room for more.
    pub fn give(&self, n: usize) {
        if n == 0 {
            return;
        }
        let mut g = self.lock();
        g.0 += n as isize;
        self.cv.notify_one();
    }

    /// The client went away: the worker stops at its next step.
    pub fn cancel(&self) {
        self.lock().1 = true;
        self.cv.notify_one();
    }

    pub(crate) fn cancelled(&self) -> bool {
        self.lock().1
    }

    /// Take `n` bytes of window without waiting (the loop's fast path, which reads
    /// only what one read returns before handing the rest to a worker).
    pub(crate) fn take_now(&self, n: usize) {
        self.lock().0 -= n as isize;
    }

    /// Take `n` bytes of window, waiting (at most `wait`) while there is none. False if
    /// cancelled or the wait ran out.
    fn take(&self, n: usize, wait: Duration) -> bool {
        let until = Instant::now() + wait;
        let mut g = self.lock();
        while g.0 <= 0 && !g.1 {
            let now = Instant::now();
            if now >= until {
                return false;
            }
            g = self.cv.wait_timeout(g, until - now).map(|r| r.0).unwrap_or_else(|e| e.into_inner().0);
        }
        if g.1 {
            return false;
        }
        g.0 -= n as isize;
        true
    }
}

/// A connection to an upstream with the socket timeouts it has now (to skip the
/// setsockopt when they are already right).
pub(crate) struct Upstream {
    pub(crate) s: UnixStream,
    rto: Option<Duration>,
    wto: Option<Duration>,
}

impl Upstream {
    /// A connection with no socket timeouts set by tend yet.
    pub(crate) fn new(s: UnixStream) -> Upstream {
        Upstream { s, rto: None, wto: None }
    }

    fn read_timeout(&mut self, d: Duration) -> io::Result<()> {
        let d = d.max(Duration::from_millis(1));
        if self.rto != Some(d) {
            self.s.set_read_timeout(Some(d))?;
            self.rto = Some(d);
        }
        Ok(())
    }

    fn write_timeout(&mut self, d: Duration) -> io::Result<()> {
        let d = d.max(Duration::from_millis(1));
        if self.wto != Some(d) {
            self.s.set_write_timeout(Some(d))?;
            self.wto = Some(d);
        }
        Ok(())
    }

    /// Still usable: nothing to read (EAGAIN), neither EOF nor stray bytes.
    fn looks_alive(&self) -> bool {
        let mut b = [0u8; 1];
        // SAFETY: a 1-byte buffer we own; recv with MSG_PEEK|MSG_DONTWAIT only looks.
        let r =
            unsafe { libc::recv(self.s.as_raw_fd(), b.as_mut_ptr().cast(), 1, libc::MSG_PEEK | libc::MSG_DONTWAIT) };
        r < 0 && matches!(Errno::last(), Errno::EAGAIN)
    }
}

/// Kept connections of one socket, with when each was put back.
type Kept = Vec<(Upstream, Instant)>;

/// Kept-alive upstream connections by socket path.
#[derive(Default)]
struct Idle {
    m: Mutex<HashMap<Arc<Path>, Kept>>,
}

impl Idle {
    fn take(&self, path: &Arc<Path>) -> Option<Upstream> {
        let now = Instant::now();
        loop {
            let (u, at) = {
                let mut m = self.m.lock().unwrap_or_else(|e| e.into_inner());
                m.get_mut(path)?.pop()?
            };
            if now.saturating_duration_since(at) < IDLE_MAX_AGE && u.looks_alive() {
                return Some(u);
            }
        }
    }

    fn put(&self, path: &Arc<Path>, u: Upstream) {
        let mut m = self.m.lock().unwrap_or_else(|e| e.into_inner());
        let v = m.entry(Arc::clone(path)).or_default();
        if v.len() < IDLE_PER_SOCKET {
            v.push((u, Instant::now()));
        }
    }
}

/// What a worker is given: a request to forward, or the rest of a response whose
/// head the loop read itself (fastpath.rs) on a kept connection.
pub(crate) enum Work {
    New(Job),
    Rest { job: Job, up: Upstream, body: BodyState, close: bool },
}

/// The pool: the job queue's sending side and the results' receiving side.
pub struct Pool {
    tx: Sender<Work>,
    pub results: Receiver<Done>,
    idle: Arc<Idle>,
}

impl Pool {
    /// Start `workers` threads behind a queue of `queue` jobs; `wake` wakes the loop.
    pub fn spawn(workers: usize, queue: usize, wake: Arc<dyn Fn() + Send + Sync>) -> io::Result<Pool> {
        let (tx, rx) = crossbeam_channel::bounded::<Work>(queue);
        // Unbounded, but bounded in fact: each job has at most WINDOW bytes in flight.
        let (rtx, rrx) = crossbeam_channel::unbounded::<Done>();
        let idle = Arc::new(Idle::default());
        for i in 0..workers {
            let (rx, rtx, wake, idle) = (rx.clone(), rtx.clone(), Arc::clone(&wake), Arc::clone(&idle));
            std::thread::Builder::new()
                .name(format!("tend-fwd-{i}"))
                .stack_size(256 * 1024)
                .spawn(move || worker(rx, rtx, wake, idle))?;
        }
        Ok(Pool { tx, results: rrx, idle })
    }

    /// Queue a job; gives it back if the queue is full (the caller answers "busy").
    pub fn submit(&self, job: Job) -> Result<(), Job> {
        match self.tx.try_send(Work::New(job)) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(w) | TrySendError::Disconnected(w)) => match w {
                Work::New(j) => Err(j),
                Work::Rest { job, .. } => Err(job),
            },
        }
    }

    /// Hand a worker the rest of a response (its head was sent already). Err if the
    /// queue is full (the work, and its connection, are dropped).
    pub(crate) fn submit_rest(&self, w: Work) -> Result<(), ()> {
        self.tx.try_send(w).map_err(|_| ())
    }

    /// Keep a connection whose last response was complete, for the workers.
    pub(crate) fn put_idle(&self, socket: &Arc<Path>, up: Upstream) {
        self.idle.put(socket, up)
    }

    /// A kept connection to `socket`, checked alive, if there is one.
    pub(crate) fn take_idle(&self, socket: &Arc<Path>) -> Option<Upstream> {
        self.idle.take(socket)
    }

    /// Jobs waiting for a worker.
    pub fn queued(&self) -> usize {
        self.tx.len()
    }
}

fn worker(rx: Receiver<Work>, tx: Sender<Done>, wake: Arc<dyn Fn() + Send + Sync>, idle: Arc<Idle>) {
    let mut buf = vec![0u8; READ_CHUNK];
    while let Ok(w) = rx.recv() {
        match w {
            Work::New(job) => {
                let mut out = Out { tx: &tx, wake: &*wake, job: job.id, held: None };
                if job.flow.cancelled() {
                    out.send(Progress::Fail { why: Failure::Cancelled, detail: String::new() });
                    continue;
                }
                run(&job, &idle, &mut buf, &mut out);
            }
            Work::Rest { job, mut up, body, close } => {
                let mut out = Out { tx: &tx, wake: &*wake, job: job.id, held: None };
                if let Attempt::Done(true) = rest(&job, &mut up, body, close, &mut buf, &mut out) {
                    idle.put(&job.socket, up);
                }
                out.release();
            }
        }
    }
}

/// Sends a job's progress to the loop: send, then wake.
struct Out<'a> {
    tx: &'a Sender<Done>,
    wake: &'a (dyn Fn() + Send + Sync),
    job: u64,
    /// The last message of a complete response, sent only once the connection is back
    /// in the idle set, so that the loop's next request to the service can reuse it.
    held: Option<Progress>,
}

impl Out<'_> {
    fn last(&mut self, p: Progress) {
        self.held = Some(p);
    }

    fn release(&mut self) {
        if let Some(p) = self.held.take() {
            self.send(p);
        }
    }

    fn send(&mut self, p: Progress) {
        if self.tx.send(Done { job: self.job, p }).is_ok() {
            (self.wake)();
        }
    }

    fn fail(&mut self, why: Failure, detail: String) {
        self.send(Progress::Fail { why, detail });
    }
}

/// How one attempt on one connection went.
enum Attempt {
    /// Done (reported); keep the connection if true.
    Done(bool),
    /// A reused connection was found dead before any response byte: try a fresh one.
    Stale,
    Failed(Failure, String),
}

fn run(job: &Job, idle: &Idle, buf: &mut [u8], out: &mut Out) {
    let deadline = job.submitted + job.timeout;
    let mut fresh_only = false;
    loop {
        let reused = if fresh_only { None } else { idle.take(&job.socket) };
        let (mut up, was_reused) = match reused {
            Some(u) => (u, true),
            None => match connect(&job.socket, deadline) {
                Ok(s) => (Upstream { s, rto: None, wto: None }, false),
                Err((why, detail)) => return out.fail(why, detail),
            },
        };
        match attempt(job, &mut up, was_reused, deadline, buf, out) {
            Attempt::Done(keep) => {
                if keep {
                    idle.put(&job.socket, up);
                }
                return out.release();
            }
            Attempt::Stale if job.idempotent => fresh_only = true,
            Attempt::Stale => {
                return out.fail(Failure::BadGateway, "the kept-alive connection was closed before a response".into())
            }
            Attempt::Failed(why, detail) => return out.fail(why, detail),
        }
    }
}

/// Connect to the socket, waiting at most until `deadline` (a full listen backlog
/// blocks connect(2) on a Unix socket; SO_SNDTIMEO bounds it).
fn connect(path: &Path, deadline: Instant) -> Result<UnixStream, (Failure, String)> {
    use nix::sys::socket::{self, sockopt, AddressFamily, SockFlag, SockType, UnixAddr};
    let show = path.display();
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err((Failure::Timeout, "the request waited in tend's queue past its request_timeout".into()));
    }
    let err = |e: Errno| (Failure::Unavailable, format!("cannot connect to its socket {show}: {}", e.desc()));
    let fd: OwnedFd =
        socket::socket(AddressFamily::Unix, SockType::Stream, SockFlag::SOCK_CLOEXEC, None).map_err(err)?;
    let addr = UnixAddr::new(path).map_err(err)?;
    let tv = nix::sys::time::TimeVal::new(left.as_secs() as _, left.subsec_micros().max(1) as _);
    socket::setsockopt(&fd, sockopt::SendTimeout, &tv).map_err(err)?;
    match socket::connect(fd.as_raw_fd(), &addr) {
        Ok(()) => Ok(UnixStream::from(fd)),
        Err(Errno::ENOENT) => Err((Failure::Unavailable, format!("its socket {show} does not exist"))),
        Err(Errno::ECONNREFUSED) => Err((Failure::Unavailable, format!("its socket {show} refuses connections"))),
        Err(Errno::EAGAIN | Errno::EINPROGRESS | Errno::ETIMEDOUT) => {
            Err((Failure::Timeout, format!("connecting to its socket {show} timed out (its listen backlog is full)")))
        }
        Err(e) => Err(err(e)),
    }
}

fn timed_out(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut)
}

/// The timeout for the next blocking step: the job's timeout, or what is left before
/// the deadline when that is clearly less (queueing ate into it).
fn step_timeout(job: &Job, deadline: Instant) -> Duration {
    let left = deadline.saturating_duration_since(Instant::now());
    if left < job.timeout.mul_f32(0.9) {
        left
    } else {
        job.timeout
    }
}

fn attempt(job: &Job, up: &mut Upstream, reused: bool, deadline: Instant, buf: &mut [u8], out: &mut Out) -> Attempt {
    let secs = |d: Duration| format!("{:.3}s", d.as_secs_f64());
    if let Err(e) = up.write_timeout(step_timeout(job, deadline)).and_then(|_| up.s.write_all(&job.bytes)) {
        if timed_out(&e) {
            return Attempt::Failed(
                Failure::Timeout,
                format!("writing the request timed out after {}", secs(job.timeout)),
            );
        }
        if reused {
            return Attempt::Stale;
        }
        return Attempt::Failed(Failure::BadGateway, format!("writing the request failed: {e}"));
    }
    // The response head (after any 1xx interim responses) and the body bytes read with it.
    let mut filled = 0;
    let mut seen_any = false;
    let First { head, body, data, done, keep } = loop {
        if Instant::now() >= deadline {
            return Attempt::Failed(Failure::Timeout, format!("no response within {}", secs(job.timeout)));
        }
        if filled == buf.len() {
            return Attempt::Failed(Failure::BadGateway, format!("response head larger than {} bytes", buf.len()));
        }
        if let Err(e) = up.read_timeout(step_timeout(job, deadline)) {
            return Attempt::Failed(Failure::BadGateway, format!("setting a read timeout: {e}"));
        }
        let n = match up.s.read(&mut buf[filled..]) {
            Ok(0) if !seen_any && reused => return Attempt::Stale,
            Ok(0) => {
                return Attempt::Failed(Failure::BadGateway, "closed the connection before a complete response".into())
            }
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if timed_out(&e) => {
                return Attempt::Failed(Failure::Timeout, format!("no response within {}", secs(job.timeout)))
            }
            Err(e) if !seen_any && reused && e.kind() == io::ErrorKind::ConnectionReset => return Attempt::Stale,
            Err(e) => return Attempt::Failed(Failure::BadGateway, format!("reading the response failed: {e}")),
        };
        seen_any = true;
        filled += n;
        match first_response(&buf[..filled], job.head_request, MAX_RESPONSE_HEAD.min(buf.len())) {
            Ok(None) => {}
            Ok(Some(f)) => break f,
            Err(why) => return Attempt::Failed(Failure::BadGateway, why),
        }
    };
    let close = head.close;
    let idle = job.timeout;
    if done {
        out.last(Progress::Head { head, data, end: true });
        return Attempt::Done(keep);
    }
    if !job.flow.take(data.len(), idle) {
        return Attempt::Failed(Failure::Cancelled, String::new());
    }
    out.send(Progress::Head { head, data, end: false });
    rest(job, up, body, close, buf, out)
}

/// The body after the head: read, decode, report, with the job's flow window.
fn rest(job: &Job, up: &mut Upstream, mut body: BodyState, close: bool, buf: &mut [u8], out: &mut Out) -> Attempt {
    let idle = job.timeout;
    if up.read_timeout(idle).is_err() {
        out.fail(Failure::BadGateway, "setting a read timeout failed".into());
        return Attempt::Done(false);
    }
    loop {
        let n = match up.s.read(buf) {
            Ok(0) if matches!(body, BodyState::Close) => {
                out.last(Progress::End);
                return Attempt::Done(false);
            }
            Ok(0) => {
                out.fail(Failure::BadGateway, "the response ended before its body was complete".into());
                return Attempt::Done(false);
            }
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                let why = if timed_out(&e) { Failure::Timeout } else { Failure::BadGateway };
                out.fail(why, format!("reading the response body failed: {e}"));
                return Attempt::Done(false);
            }
        };
        let (data, done, extra) = match body.feed(&buf[..n]) {
            Ok(x) => x,
            Err(e) => {
                out.fail(Failure::BadGateway, e);
                return Attempt::Done(false);
            }
        };
        if !data.is_empty() {
            if !job.flow.take(data.len(), idle) {
                out.fail(Failure::Cancelled, String::new());
                return Attempt::Done(false);
            }
            out.send(Progress::Data(data));
        }
        if done {
            out.last(Progress::End);
            return Attempt::Done(!close && !extra);
        }
    }
}

/// Where a response body stands, by its framing.
pub(crate) enum BodyState {
    None,
    Length(u64),
    Chunked(chunked::Decoder),
    Close,
}

impl BodyState {
    pub(crate) fn new(f: Framing) -> BodyState {
        match f {
            Framing::None => BodyState::None,
            Framing::Length(n) => BodyState::Length(n),
            Framing::Chunked => BodyState::Chunked(chunked::Decoder::new()),
            Framing::Close => BodyState::Close,
        }
    }

    /// The body bytes in `input`, whether the body is complete, and whether bytes
    /// follow it (then the connection is not reused).
    pub(crate) fn feed(&mut self, input: &[u8]) -> Result<(Vec<u8>, bool, bool), String> {
        match self {
            BodyState::None => Ok((Vec::new(), true, !input.is_empty())),
            BodyState::Length(left) => {
                let n = usize::try_from(*left).unwrap_or(usize::MAX).min(input.len());
                *left -= n as u64;
                Ok((input[..n].to_vec(), *left == 0, input.len() > n))
            }
            BodyState::Chunked(d) => {
                let mut data = Vec::with_capacity(input.len());
                let used = d.feed(input, &mut data).map_err(|e| e.to_string())?;
                Ok((data, d.is_done(), used < input.len()))
            }
            BodyState::Close => Ok((input.to_vec(), false, false)),
        }
    }
}

/// A response's final head and the body bytes that came with it.
pub(crate) struct First {
    pub(crate) head: response::Head,
    pub(crate) body: BodyState,
    pub(crate) data: Vec<u8>,
    /// The body is complete.
    pub(crate) done: bool,
    /// The body is complete and the connection may be reused.
    pub(crate) keep: bool,
}

/// The final response head at the start of `buf`, after any 1xx interim responses (a
/// 101 is refused), and the body bytes read with it; `Ok(None)`: more bytes are needed.
/// Errors are answered 502. Sans-IO, shared by the pool and the loop's fast path.
/// Interim responses count towards `max_head`.
pub(crate) fn first_response(buf: &[u8], head_request: bool, max_head: usize) -> Result<Option<First>, String> {
    let mut at = 0;
    loop {
        let Some((head, used)) = response::parse(&buf[at..], head_request, max_head)? else { return Ok(None) };
        at += used;
        if head.status == 101 {
            return Err("the service switched protocols (101), which tend does not forward".into());
        }
        if head.status < 200 {
            continue;
        }
        let mut body = BodyState::new(head.framing);
        let (data, done, extra) = body.feed(&buf[at..])?;
        let keep = done && !head.close && !extra;
        return Ok(Some(First { head, body, data, done, keep }));
    }
}

/// Methods a kept connection's failure may retry (RFC 9110 §9.2.2).
pub fn idempotent(method: &str) -> bool {
    matches!(method, "GET" | "HEAD" | "OPTIONS" | "PUT" | "DELETE" | "TRACE")
}

/// A socket path shared by the jobs of one service.
pub fn socket_arc(p: &std::path::Path) -> Arc<Path> {
    Arc::from(PathBuf::from(p).into_boxed_path())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;

    #[test]
    fn first_response_skips_interim_and_decides_keep() {
        let r = |b: &[u8]| first_response(b, false, MAX_RESPONSE_HEAD);
        assert!(r(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n").unwrap().is_none());
        let f = r(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi").unwrap().unwrap();
        assert_eq!((f.head.status, f.data.as_slice(), f.done, f.keep), (200, &b"hi"[..], true, true));
        // Bytes after the body: complete, but the connection is not reused.
        let f = r(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nab").unwrap().unwrap();
        assert_eq!((f.data.as_slice(), f.done, f.keep), (&b"a"[..], true, false));
        let f = r(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\na").unwrap().unwrap();
        assert_eq!((f.done, f.keep), (false, false));
        assert!(matches!(r(b"HTTP/1.1 101 Switching Protocols\r\n\r\n"), Err(e) if e.contains("101")));
    }

    fn job(sock: &Arc<Path>, id: u64, req: &str, timeout: Duration) -> Job {
        Job {
            id,
            socket: Arc::clone(sock),
            bytes: req.as_bytes().to_vec(),
            head_request: false,
            idempotent: true,
            timeout,
            submitted: Instant::now(),
            flow: Flow::new(),
        }
    }

    fn collect(rx: &Receiver<Done>) -> (Option<u16>, Vec<u8>, Option<Failure>) {
        let (mut status, mut body, mut fail) = (None, Vec::new(), None);
        loop {
            let d = rx.recv_timeout(Duration::from_secs(5)).expect("a result");
            match d.p {
                Progress::Head { head, data, end } => {
                    status = Some(head.status);
                    body.extend(data);
                    if end {
                        return (status, body, fail);
                    }
                }
                Progress::Data(d) => body.extend(d),
                Progress::End => return (status, body, fail),
                Progress::Fail { why, .. } => {
                    fail = Some(why);
                    return (status, body, fail);
                }
            }
        }
    }

    #[test]
    fn forwards_reuses_and_reports() {
        let dir = std::env::temp_dir().join(format!("tend-fwd-unit-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("s.sock");
        let _ = std::fs::remove_file(&path);
        let l = UnixListener::bind(&path).unwrap();
        let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let acc = Arc::clone(&accepted);
        std::thread::spawn(move || {
            for s in l.incoming() {
                let mut s = s.unwrap();
                acc.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                std::thread::spawn(move || {
                    let mut buf = [0u8; 4096];
                    loop {
                        let n = match s.read(&mut buf) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => n,
                        };
                        let req = String::from_utf8_lossy(&buf[..n]).to_string();
                        if req.contains("/hang") {
                            std::thread::sleep(Duration::from_secs(2));
                            return;
                        }
                        let resp = if req.contains("/chunked") {
                            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
                        } else {
                            "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
                        };
                        if s.write_all(resp.as_bytes()).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        let wakes = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let w = Arc::clone(&wakes);
        let pool = Pool::spawn(
            2,
            4,
            Arc::new(move || {
                w.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }),
        )
        .unwrap();
        let sock = socket_arc(&path);
        for i in 0..3 {
            assert!(pool.submit(job(&sock, i, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", Duration::from_secs(5))).is_ok());
            assert_eq!(collect(&pool.results), (Some(200), b"ok".to_vec(), None));
        }
        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 1, "the connection was not reused");
        assert!(pool.submit(job(&sock, 9, "GET /chunked HTTP/1.1\r\nHost: x\r\n\r\n", Duration::from_secs(5))).is_ok());
        assert_eq!(collect(&pool.results), (Some(200), b"abcde".to_vec(), None));
        let t0 = Instant::now();
        assert!(pool
            .submit(job(&sock, 10, "GET /hang HTTP/1.1\r\nHost: x\r\n\r\n", Duration::from_millis(300)))
            .is_ok());
        assert_eq!(collect(&pool.results), (None, vec![], Some(Failure::Timeout)));
        assert!(t0.elapsed() < Duration::from_millis(1500), "{:?}", t0.elapsed());
        assert!(wakes.load(std::sync::atomic::Ordering::SeqCst) >= 5);
        let gone = socket_arc(&dir.join("nope.sock"));
        assert!(pool.submit(job(&gone, 11, "GET / HTTP/1.1\r\n\r\n", Duration::from_secs(1))).is_ok());
        assert_eq!(collect(&pool.results), (None, vec![], Some(Failure::Unavailable)));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn flow_window_blocks_and_cancels() {
        let f = Flow::new();
        assert!(f.take(WINDOW, Duration::from_millis(1)));
        assert!(!f.take(1, Duration::from_millis(20)), "no window left, yet take succeeded");
        f.give(10);
        assert!(f.take(1, Duration::from_millis(1)));
        f.cancel();
        assert!(!f.take(1, Duration::from_secs(1)));
    }
}
