//! The loop's fast path for forwarding: a small request to a service that has a kept
//! (alive, idle) connection in the pool is written by the loop itself, non-blocking,
//! and the response head read when the connection becomes readable, as nginx does. This
//! spares two thread hand-offs per request (loop -> worker -> loop, each a wake-up of
//! a sleeping thread), which dominate the round trip of a fast upstream.
//!
//! Everything that may block or take long stays with the worker pool (DESIGN.md): a
//! request without a kept connection (connecting), a large request, and the rest of a
//! response whose body is not complete in the first reads (handed to a worker with
//! the connection, under the job's flow window). The deadline is a loop timer: no head
//! by the job's deadline is a timeout (504), as in the pool.

use std::io::{Read, Write};

use mio::{Interest, Token};

use crate::daemon::forward::{self, BodyState, Failure, Job, Progress, Upstream, Work};
use crate::daemon::supervisor::Supervisor;
use crate::daemon::timers::Timer;
use crate::http::response;

/// Upstream connections of fast jobs get tokens from here up (job id added).
pub const UPSTREAM_BASE: usize = 1 << 50;
/// Largest request (head and body) the loop writes itself.
const MAX_FAST_REQUEST: usize = 16 * 1024;
/// Read size while waiting for a head.
const READ_STEP: usize = 16 * 1024;

/// A request the loop is forwarding itself.
pub struct FastJob {
    job: Job,
    up: Upstream,
    /// Bytes of the request written so far.
    written: usize,
    /// What was read so far (no complete head yet).
    buf: Vec<u8>,
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
    /// Try the fast path for `job`; gives it back when it does not apply.
    pub(super) fn fast_submit(&mut self, job: Job) -> Result<(), Job> {
        if job.bytes.len() > MAX_FAST_REQUEST {
            return Err(job);
        }
        let Some(pool) = &self.gw.pool else { return Err(job) };
        let Some(up) = pool.take_idle(&job.socket) else { return Err(job) };
        if up.s.set_nonblocking(true).is_err() {
            return Err(job);
        }
        let id = job.id;
        let deadline = job.submitted + job.timeout;
        let mut f = FastJob { job, up, written: 0, buf: Vec::new() };
        let fd = std::os::fd::AsRawFd::as_raw_fd(&f.up.s);
        let token = Token(UPSTREAM_BASE + id as usize);
        let registry = self.poll.registry();
        // Registered before the write: the response may arrive at once, and epoll
        // reports a registration that is already readable.
        if registry.register(&mut mio::unix::SourceFd(&fd), token, Interest::READABLE).is_err() {
            return Err(f.job);
        }
        match f.up.s.write(&f.job.bytes) {
            Ok(n) => f.written = n,
            Err(e) if would_block(&e) => {}
            // Nothing was written: the pool tries another connection or a new one.
            Err(_) => {
                let _ = registry.deregister(&mut mio::unix::SourceFd(&fd));
                return Err(f.job);
            }
        }
        if f.written < f.job.bytes.len() {
            let both = Interest::READABLE | Interest::WRITABLE;
            if registry.reregister(&mut mio::unix::SourceFd(&fd), token, both).is_err() && f.written == 0 {
                let _ = registry.deregister(&mut mio::unix::SourceFd(&fd));
                return Err(f.job);
            }
        }
        self.timers.add(deadline, Timer::FastDeadline { job: id });
        self.gw.fast.insert(id, f);
        Ok(())
    }

    /// Readiness on a fast job's upstream connection.
    pub(super) fn on_upstream(&mut self, token: Token) {
        let id = (token.0 - UPSTREAM_BASE) as u64;
        let Some(f) = self.gw.fast.get_mut(&id) else { return };
        let next = step(f);
        self.fast_next(id, next);
    }

    /// The deadline of a fast job passed.
    pub(super) fn on_fast_deadline(&mut self, id: u64) {
        let Some(f) = self.gw.fast.get(&id) else { return };
        let t = f.job.timeout;
        self.fast_next(id, Next::Fail(Failure::Timeout, format!("no response within {:.3}s", t.as_secs_f64())));
    }

    fn fast_next(&mut self, id: u64, next: Next) {
        if matches!(next, Next::Wait) {
            return;
        }
        let Some(f) = self.gw.fast.remove(&id) else { return };
        let FastJob { job, up, .. } = f;
        let fd = std::os::fd::AsRawFd::as_raw_fd(&up.s);
        let _ = self.poll.registry().deregister(&mut mio::unix::SourceFd(&fd));
        let blocking = up.s.set_nonblocking(false).is_ok();
        match next {
            Next::Wait => {}
            Next::Pool => {
                drop(up);
                let Some(pool) = &self.gw.pool else { return };
                if let Err(job) = pool.submit(job) {
                    let why = "tend is busy: the forwarding queue is full".to_string();
                    self.on_progress(job.id, Progress::Fail { why: Failure::Unavailable, detail: why });
                }
            }
            Next::Fail(why, detail) => {
                drop(up);
                self.on_progress(id, Progress::Fail { why, detail });
            }
            Next::Done(head, data, keep) => {
                // Back in the idle set first, so that the next request (pipelined, or
                // this client's next) can reuse it.
                if let (true, true, Some(pool)) = (keep, blocking, &self.gw.pool) {
                    pool.put_idle(&job.socket, up);
                }
                self.on_progress(id, Progress::Head { head, data, end: true });
            }
            Next::Rest(head, data, body, close) => {
                job.flow.take_now(data.len());
                let flow = std::sync::Arc::clone(&job.flow);
                self.on_progress(id, Progress::Head { head, data, end: false });
                if !blocking {
                    self.on_progress(id, Progress::Fail { why: Failure::BadGateway, detail: "the connection failed".into() });
                    return;
                }
                let Some(pool) = &self.gw.pool else { return };
                if flow.cancelled() {
                    return;
                }
                if let Err(w) = pool.submit_rest(Work::Rest { job, up, body, close }) {
                    drop(w);
                    let detail = "tend is busy: no worker to read the rest of the response".to_string();
                    self.on_progress(id, Progress::Fail { why: Failure::BadGateway, detail });
                }
            }
        }
    }
}

/// Write what is left of the request, read what arrived, and decide.
fn step(f: &mut FastJob) -> Next {
    while f.written < f.job.bytes.len() {
        match f.up.s.write(&f.job.bytes[f.written..]) {
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
        let r = f.up.s.read(&mut f.buf[at..]);
        let n = match r {
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
        if n == 0 {
            // A kept connection the service closed before answering: as the pool does,
            // an idempotent request is retried (by the pool, on another connection).
            if at == 0 && f.job.idempotent {
                return Next::Pool;
            }
            if at == 0 {
                return Next::Fail(
                    Failure::BadGateway,
                    "the kept-alive connection was closed before a response".into(),
                );
            }
        }
        // Parse what there is (skipping 1xx interim responses).
        loop {
            match response::parse(&f.buf, f.job.head_request, forward::MAX_RESPONSE_HEAD) {
                Ok(None) => break,
                Ok(Some((h, _))) if h.status == 101 => {
                    return Next::Fail(
                        Failure::BadGateway,
                        "the service switched protocols (101), which tend does not forward".into(),
                    )
                }
                Ok(Some((h, used))) if h.status < 200 => {
                    let _ = h;
                    f.buf.drain(..used);
                }
                Ok(Some((head, used))) => {
                    let mut body = BodyState::new(head.framing);
                    let (data, done, extra) = match body.feed(&f.buf[used..]) {
                        Ok(x) => x,
                        Err(e) => return Next::Fail(Failure::BadGateway, e),
                    };
                    let close = head.close;
                    if done {
                        return Next::Done(head, data, !close && !extra);
                    }
                    if n == 0 {
                        // EOF right after the head: the end of a close-delimited body.
                        return match body {
                            BodyState::Close => Next::Done(head, data, false),
                            _ => Next::Fail(
                                Failure::BadGateway,
                                "the response ended before its body was complete".into(),
                            ),
                        };
                    }
                    return Next::Rest(head, data, body, close);
                }
                Err(why) => return Next::Fail(Failure::BadGateway, why),
            }
        }
        if n == 0 {
            return Next::Fail(Failure::BadGateway, "closed the connection before a complete response".into());
        }
    }
}
