//! The loop's fast path for forwarding: a small request is written by the loop itself
//! on a kept-alive upstream connection the loop owns (non-blocking, registered with
//! the poll for good), and the response head is read when the connection becomes
//! readable, as nginx does. This spares the two thread hand-offs per request (loop ->
//! worker -> loop, each the wake-up of a sleeping thread) that dominate the round trip
//! of a fast upstream, and a kept connection costs no system call while idle: an event
//! on it then means the service closed it (or sent stray bytes), and it is dropped.
//!
//! Everything that may block or take long stays with the worker pool (DESIGN.md):
//! connecting (the loop adopts connections the workers kept), large requests, and the
//! rest of a response whose body is not complete in the first read (handed to a worker
//! with the connection, under the job's flow window). The deadline is a loop timer: no
//! head by the job's deadline is a timeout (504), as in the pool.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use mio::unix::SourceFd;
use mio::{Interest, Token};

use crate::daemon::forward::{self, BodyState, Failure, First, Job, Progress, Upstream, Work};
use crate::daemon::supervisor::Supervisor;
use crate::daemon::timers::Timer;
use crate::http::response;

/// Tokens of the loop's upstream connections, from here up, never reused.
pub const UPSTREAM_BASE: usize = 1 << 50;
/// Largest request (head and body) the loop writes itself.
const MAX_FAST_REQUEST: usize = 16 * 1024;
/// Read size while waiting for a head.
const READ_STEP: usize = 16 * 1024;
/// Requests the loop carries at once; more go to the pool. (A low cap, such as 4, was
/// measured: with 16 clients the requests that went through the pool then had a p99
/// of ~300 ms against ~20-40 ms with all on the loop, on this 2-vCPU machine.)
const MAX_IN_FLIGHT: usize = 256;

/// An upstream connection owned by the loop.
pub struct Conn {
    s: UnixStream,
    socket: Arc<Path>,
    /// The job it carries; None while idle.
    job: Option<u64>,
}

/// A request the loop is forwarding itself.
pub struct FastJob {
    job: Job,
    conn: Token,
    /// Bytes of the request written so far.
    written: usize,
    /// What was read so far (no complete head yet).
    buf: Vec<u8>,
}

/// The loop's upstream connections and the requests on them.
#[derive(Default)]
pub struct Fast {
    conns: HashMap<Token, Conn>,
    idle: HashMap<Arc<Path>, Vec<Token>>,
    jobs: HashMap<u64, FastJob>,
    next: usize,
    /// When the one deadline timer is armed for: one timer for all jobs, not one per
    /// request (which would pile up in the heap for a whole request_timeout).
    armed: Option<Instant>,
    /// The read buffer lent to a job while it reads (see `on_upstream`).
    spare: Vec<u8>,
}

enum Next {
    Wait,
    /// Give the request to the pool instead (nothing of it reached the upstream, or
    /// the kept connection turned out closed and the request may be retried).
    Pool,
    Fail(Failure, String),
    /// A complete response; keep the connection if true.
    Done(response::Head, Vec<u8>, bool),
    /// A head, the body so far, and the rest to read by a worker.
    Rest(response::Head, Vec<u8>, BodyState, bool),
}

fn would_block(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::WouldBlock
}

impl Supervisor {
    /// An idle connection to `socket` the loop owns, or one adopted from the pool.
    fn fast_conn(&mut self, socket: &Arc<Path>) -> Option<Token> {
        if let Some(t) = self.gw.fast.idle.get_mut(socket).and_then(|v| v.pop()) {
            return Some(t);
        }
        let up = self.gw.pool.as_ref()?.take_idle(socket)?;
        let s = up.s;
        s.set_nonblocking(true).ok()?;
        let token = Token(UPSTREAM_BASE + self.gw.fast.next);
        self.gw.fast.next += 1;
        let fd = s.as_raw_fd();
        // Readable only: a writable edge after every request would cost a read.
        self.poll.registry().register(&mut SourceFd(&fd), token, Interest::READABLE).ok()?;
        self.gw.fast.conns.insert(token, Conn { s, socket: Arc::clone(socket), job: None });
        Some(token)
    }

    fn fast_close(&mut self, token: Token) -> Option<Conn> {
        let c = self.gw.fast.conns.remove(&token)?;
        let _ = self.poll.registry().deregister(&mut SourceFd(&c.s.as_raw_fd()));
        Some(c)
    }

    /// Try the fast path for `job`; gives it back when it does not apply.
    pub(super) fn fast_submit(&mut self, job: Job) -> Result<(), Job> {
        if job.bytes.len() > MAX_FAST_REQUEST || self.gw.fast.jobs.len() >= MAX_IN_FLIGHT {
            return Err(job);
        }
        let Some(token) = self.fast_conn(&job.socket) else { return Err(job) };
        let Some(c) = self.gw.fast.conns.get_mut(&token) else { return Err(job) };
        let written = match c.s.write(&job.bytes) {
            Ok(n) => n,
            Err(e) if would_block(&e) => 0,
            // Nothing was written: the pool tries another connection or a new one.
            Err(_) => {
                self.fast_close(token);
                return Err(job);
            }
        };
        if written < job.bytes.len() {
            // Rare (a 16 KiB request into an idle connection's buffer): the rest goes
            // out as the service reads.
            let both = Interest::READABLE | Interest::WRITABLE;
            let fd = c.s.as_raw_fd();
            // Only ENOMEM can make it fail; then the job's deadline ends it (504).
            let _ = self.poll.registry().reregister(&mut SourceFd(&fd), token, both);
        }
        c.job = Some(job.id);
        let id = job.id;
        let deadline = job.submitted + job.timeout;
        if self.gw.fast.armed.is_none_or(|t| deadline < t) {
            self.gw.fast.armed = Some(deadline);
            self.timers.add(deadline, Timer::FastDeadline);
        }
        self.gw.fast.jobs.insert(id, FastJob { job, conn: token, written, buf: Vec::new() });
        Ok(())
    }

    /// Readiness on one of the loop's upstream connections.
    pub(super) fn on_upstream(&mut self, token: Token) {
        let Some(c) = self.gw.fast.conns.get_mut(&token) else { return };
        let Some(id) = c.job else {
            // Idle: EOF or stray bytes mean the service is done with it.
            let mut b = [0u8; 1];
            match c.s.read(&mut b) {
                Err(e) if would_block(&e) => {}
                _ => {
                    if let Some(c) = self.fast_close(token) {
                        if let Some(v) = self.gw.fast.idle.get_mut(&c.socket) {
                            v.retain(|t| *t != token);
                        }
                    }
                }
            }
            return;
        };
        let Some(f) = self.gw.fast.jobs.get_mut(&id) else { return };
        // The read buffer is lent from `Fast` while the job holds no partial head, so
        // a request does not allocate one of its own.
        let spare = &mut self.gw.fast.spare;
        if f.buf.capacity() == 0 {
            std::mem::swap(&mut f.buf, spare);
        }
        let next = step(f, &mut c.s);
        if (f.buf.is_empty() || !matches!(next, Next::Wait)) && spare.capacity() == 0 {
            f.buf.clear();
            std::mem::swap(&mut f.buf, spare);
        }
        self.fast_next(id, next);
    }

    /// The deadline timer: fail the jobs past their deadline, arm for the next one.
    pub(super) fn on_fast_deadline(&mut self) {
        let now = Instant::now();
        match self.gw.fast.armed {
            // An earlier arming's timer, superseded: the later one is still due.
            Some(t) if t > now => return,
            _ => self.gw.fast.armed = None,
        }
        let mut late = Vec::new();
        let mut next: Option<Instant> = None;
        for (&id, f) in &self.gw.fast.jobs {
            let d = f.job.submitted + f.job.timeout;
            if d <= now {
                late.push((id, f.job.timeout));
            } else {
                next = Some(next.map_or(d, |n| n.min(d)));
            }
        }
        if let Some(d) = next {
            self.gw.fast.armed = Some(d);
            self.timers.add(d, Timer::FastDeadline);
        }
        for (id, t) in late {
            self.fast_next(id, Next::Fail(Failure::Timeout, format!("no response within {:.3}s", t.as_secs_f64())));
        }
    }

    fn fast_next(&mut self, id: u64, next: Next) {
        if matches!(next, Next::Wait) {
            return;
        }
        let Some(FastJob { job, conn, .. }) = self.gw.fast.jobs.remove(&id) else { return };
        match next {
            Next::Wait => {}
            Next::Pool => {
                self.fast_close(conn);
                let Some(pool) = &self.gw.pool else { return };
                if let Err(job) = pool.submit(job) {
                    let detail = "tend is busy: the forwarding queue is full".to_string();
                    self.on_progress(job.id, Progress::Fail { why: Failure::Unavailable, detail });
                }
            }
            Next::Fail(why, detail) => {
                self.fast_close(conn);
                self.on_progress(id, Progress::Fail { why, detail });
            }
            Next::Done(head, data, keep) => {
                // Idle again first, so that the next request (pipelined, or this
                // client's next) can use it. The loop keeps as many as it may carry
                // requests at once; the others go back to the workers, who would
                // otherwise connect anew for every request the loop does not take.
                let idle = &mut self.gw.fast.idle;
                match self.gw.fast.conns.get_mut(&conn) {
                    Some(c) if keep && idle.get(&c.socket).map_or(0, |v| v.len()) < MAX_IN_FLIGHT => {
                        c.job = None;
                        idle.entry(Arc::clone(&c.socket)).or_default().push(conn);
                    }
                    _ => {
                        if let Some(c) = self.fast_close(conn) {
                            if let (true, Some(pool), Ok(())) = (keep, &self.gw.pool, c.s.set_nonblocking(false)) {
                                pool.put_idle(&c.socket, Upstream::new(c.s));
                            }
                        }
                    }
                }
                self.on_progress(id, Progress::Head { head, data, end: true });
            }
            Next::Rest(head, data, body, close) => {
                job.flow.take_now(data.len());
                let flow = Arc::clone(&job.flow);
                self.on_progress(id, Progress::Head { head, data, end: false });
                let Some(c) = self.fast_close(conn) else { return };
                if flow.cancelled() || c.s.set_nonblocking(false).is_err() {
                    flow.cancel();
                    return;
                }
                let Some(pool) = &self.gw.pool else { return };
                if pool.submit_rest(Work::Rest { job, up: Upstream::new(c.s), body, close }).is_err() {
                    let detail = "tend is busy: no worker to read the rest of the response".to_string();
                    self.on_progress(id, Progress::Fail { why: Failure::BadGateway, detail });
                }
            }
        }
    }
}

/// Write what is left of the request, read what arrived, and decide.
fn step(f: &mut FastJob, s: &mut UnixStream) -> Next {
    while f.written < f.job.bytes.len() {
        match s.write(&f.job.bytes[f.written..]) {
            Ok(n) => f.written += n,
            Err(e) if would_block(&e) => return Next::Wait,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) if f.written == 0 => return Next::Pool,
            Err(e) => return Next::Fail(Failure::BadGateway, format!("writing the request failed: {e}")),
        }
    }
    loop {
        let at = f.buf.len();
        if at >= forward::MAX_RESPONSE_HEAD {
            return Next::Fail(Failure::BadGateway, format!("response head larger than {at} bytes"));
        }
        f.buf.resize(at + READ_STEP, 0);
        let n = match s.read(&mut f.buf[at..]) {
            Ok(n) => n,
            Err(e) => {
                f.buf.truncate(at);
                if would_block(&e) {
                    return Next::Wait;
                }
                if e.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                if at == 0 && e.kind() == std::io::ErrorKind::ConnectionReset && f.job.idempotent {
                    return Next::Pool;
                }
                return Next::Fail(Failure::BadGateway, format!("reading the response failed: {e}"));
            }
        };
        f.buf.truncate(at + n);
        if n == 0 && at == 0 {
            // A kept connection the service closed before answering: as in the pool,
            // an idempotent request is retried (by the pool, on another connection).
            if f.job.idempotent {
                return Next::Pool;
            }
            return Next::Fail(Failure::BadGateway, "the kept-alive connection was closed before a response".into());
        }
        match forward::first_response(&f.buf, f.job.head_request, forward::MAX_RESPONSE_HEAD) {
            Ok(None) => {}
            Ok(Some(First { head, data, done: true, keep, .. })) => return Next::Done(head, data, keep),
            // EOF right after the head: the end of a close-delimited body.
            Ok(Some(First { head, data, body: BodyState::Close, .. })) if n == 0 => {
                return Next::Done(head, data, false)
            }
            Ok(Some(_)) if n == 0 => {
                return Next::Fail(Failure::BadGateway, "the response ended before its body was complete".into())
            }
            Ok(Some(First { head, data, body, .. })) => {
                let close = head.close;
                return Next::Rest(head, data, body, close);
            }
            Err(why) => return Next::Fail(Failure::BadGateway, why),
        }
        if n == 0 {
            return Next::Fail(Failure::BadGateway, "closed the connection before a complete response".into());
        }
    }
}
