//! The HTTP ingress: a TCP listener and its client connections, all non-blocking in the
//! loop. A connection reads a request head (http::request), then its body (Content-Length
//! or chunked, bounded by `max_body`), routes it to a service and hands it to the
//! worker pool (gateway.rs); the response streams back as the workers report it, framed
//! for this client (Content-Length kept; chunked or close-delimited upstream bodies sent
//! chunked to HTTP/1.1 clients, close-delimited to HTTP/1.0 ones).
//!
//! - One request at a time per connection: pipelined requests wait in the input buffer
//!   until the response before them is complete, and reading stops while that buffer is
//!   full, so a pipelining client cannot grow it.
//! - A malformed request gets its 4xx and the connection is closed; other connections
//!   are unaffected. Requests tend answers itself (503 while a service is not
//!   available, 504, 502, busy) keep the connection open.
//! - The output queue of a connection holds at most about two flow-control windows of a
//!   response body: a slow client stalls the worker of its request, never tend's memory.
//! - `/_tend/health` and `/_tend/ready` answer from tend's own state (see
//!   [`crate::check`]), for any host.
//! - At shutdown the listener is closed first; requests in flight finish, idle
//!   connections are closed.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::sync::Arc;
use std::time::Instant;

use mio::net::{TcpListener, TcpStream};
use mio::{Interest, Token};

use crate::config::Ingress as IngressConfig;
use crate::daemon::forward::{Failure, Flow, Progress, WINDOW};
use crate::daemon::gateway::{Origin, Refused};
use crate::daemon::supervisor::Supervisor;
use crate::http::chunked;
use crate::http::request::{self, BodyKind, Forwarded, Head};
use crate::http::response::{self, Out};
use crate::http::route;

/// The listener's token; connections get tokens from [`CONN_BASE`] up, never reused.
pub const LISTENER: Token = Token(3);
pub const CONN_BASE: usize = 1 << 40;

const READ_CHUNK: usize = 64 * 1024;
const TITLE: &str = "Cannot service request";

/// Reading the body of a request.
struct BodyRead {
    head: Head,
    left: u64,
    dec: Option<chunked::Decoder>,
    body: Vec<u8>,
}

enum Phase {
    /// Waiting for (the rest of) a request head.
    Head,
    Body(Box<BodyRead>),
    /// Forwarded; no response head yet.
    Wait {
        job: u64,
        minor: u8,
        keep_alive: bool,
        head_request: bool,
    },
    /// Streaming the response body.
    Stream {
        job: u64,
        out: Out,
        keep_alive: bool,
    },
    /// Refused or failed: close once the queue is written.
    Done,
}

struct Conn {
    s: TcpStream,
    ip: String,
    inbuf: Vec<u8>,
    phase: Phase,
    out: Vec<u8>,
    out_pos: usize,
    /// Last byte in or out.
    last: Instant,
    /// The client sent FIN: finish the response in progress, then close.
    eof: bool,
    /// Close once the queue is written.
    closing: bool,
    /// The streaming job's window, and the body bytes queued since it was last credited.
    flow: Option<Arc<Flow>>,
    owed: usize,
}

impl Conn {
    fn queued(&self) -> usize {
        self.out.len() - self.out_pos
    }
}

pub struct Ingress {
    listener: Option<TcpListener>,
    pub cfg: IngressConfig,
    conns: HashMap<Token, Conn>,
    next: usize,
    rbuf: Vec<u8>,
    /// accept(2) failed (no fds): retried by the sweep.
    accept_failed: bool,
    /// tend is shutting down: no new connections, no keep-alive.
    draining: bool,
}

impl Ingress {
    /// Bind the listener (with SO_REUSEADDR, close-on-exec, non-blocking).
    pub fn bind(cfg: &IngressConfig, registry: &mio::Registry) -> std::io::Result<Ingress> {
        let mut listener = TcpListener::bind(cfg.listen)?;
        registry.register(&mut listener, LISTENER, Interest::READABLE)?;
        Ok(Ingress {
            listener: Some(listener),
            cfg: cfg.clone(),
            conns: HashMap::new(),
            next: CONN_BASE,
            rbuf: vec![0; READ_CHUNK],
            accept_failed: false,
            draining: false,
        })
    }

    pub fn local_addr(&self) -> Option<std::net::SocketAddr> {
        self.listener.as_ref().and_then(|l| l.local_addr().ok())
    }
}

/// A response tend answers itself, queued on `c`.
fn own(c: &mut Conn, status: u16, ctype: &str, body: &[u8], minor: u8, keep_alive: bool, head_only: bool) {
    response::own_response(status, ctype, body, minor, keep_alive, head_only, &mut c.out);
    if !keep_alive {
        c.closing = true;
        c.phase = Phase::Done;
    } else {
        c.phase = Phase::Head;
    }
}

fn problem_response(
    c: &mut Conn,
    status: u16,
    title: &str,
    detail: &str,
    minor: u8,
    keep_alive: bool,
    head_only: bool,
) {
    let body = response::problem(title, status, detail);
    own(c, status, "application/problem+json", &body, minor, keep_alive, head_only);
}

impl Supervisor {
    /// Bind the ingress if the configuration has one.
    pub(super) fn start_ingress(&mut self) -> crate::error::Result<()> {
        let Some(cfg) = self.cfg.ingress.clone() else { return Ok(()) };
        let ing = Ingress::bind(&cfg, self.poll.registry())
            .map_err(|e| crate::error::Error::Usage(format!("binding the ingress on {}: {e}", cfg.listen)))?;
        self.gw.ingress = Some(ing);
        Ok(())
    }

    /// A reload: new routes and limits apply to new requests (the listen address stays).
    pub(super) fn reload_ingress(&mut self, new: Option<&IngressConfig>) {
        let Some(ing) = &mut self.gw.ingress else { return };
        match new {
            Some(c) => {
                let moved = c.listen != ing.cfg.listen;
                ing.cfg = IngressConfig { listen: ing.cfg.listen, ..c.clone() };
                if moved {
                    let l = ing.cfg.listen;
                    self.note(&format!("ingress.listen changed: it takes effect at the next start (still on {l})"));
                }
            }
            None => ing.cfg.routes.clear(),
        }
    }

    /// Shutdown: stop accepting (first thing), close idle connections, no keep-alive.
    pub(super) fn ingress_drain(&mut self) {
        let registry = self.poll.registry();
        let Some(ing) = &mut self.gw.ingress else { return };
        ing.draining = true;
        if let Some(mut l) = ing.listener.take() {
            let _ = registry.deregister(&mut l);
        }
        let idle: Vec<Token> = ing
            .conns
            .iter()
            .filter(|(_, c)| matches!(c.phase, Phase::Head) && c.inbuf.is_empty() && c.queued() == 0)
            .map(|(&t, _)| t)
            .collect();
        for t in idle {
            self.ingress_close(t);
        }
    }

    pub(super) fn on_ingress(&mut self, token: Token) {
        if token == LISTENER {
            self.ingress_accept();
        } else {
            self.ingress_io(token);
        }
    }

    fn ingress_accept(&mut self) {
        let registry = self.poll.registry();
        let Some(ing) = &mut self.gw.ingress else { return };
        let Some(listener) = &ing.listener else { return };
        ing.accept_failed = false;
        loop {
            let (mut s, peer) = match listener.accept() {
                Ok(x) => x,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) if e.raw_os_error() == Some(libc::ECONNABORTED) => continue,
                Err(_) => {
                    ing.accept_failed = true;
                    return;
                }
            };
            if ing.conns.len() >= ing.cfg.max_connections {
                let mut out = Vec::new();
                let body = response::problem(
                    TITLE,
                    503,
                    &format!("too many connections (ingress.max_connections = {})", ing.cfg.max_connections),
                );
                response::own_response(503, "application/problem+json", &body, 1, false, false, &mut out);
                let _ = s.write(&out);
                continue;
            }
            let _ = s.set_nodelay(true);
            let token = Token(ing.next);
            ing.next += 1;
            if registry.register(&mut s, token, Interest::READABLE | Interest::WRITABLE).is_err() {
                continue;
            }
            let ip = match peer.ip() {
                std::net::IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or_else(|| v6.to_string(), |v4| v4.to_string()),
                v4 => v4.to_string(),
            };
            ing.conns.insert(
                token,
                Conn {
                    s,
                    ip,
                    inbuf: Vec::new(),
                    phase: Phase::Head,
                    out: Vec::new(),
                    out_pos: 0,
                    last: Instant::now(),
                    eof: false,
                    closing: false,
                    flow: None,
                    owed: 0,
                },
            );
        }
    }

    fn ingress_close(&mut self, token: Token) {
        let registry = self.poll.registry();
        let Some(ing) = &mut self.gw.ingress else { return };
        if let Some(mut c) = ing.conns.remove(&token) {
            let _ = registry.deregister(&mut c.s);
            if let Some(f) = &c.flow {
                f.cancel();
            }
            if let Phase::Wait { job, .. } | Phase::Stream { job, .. } = c.phase {
                if let Some(p) = self.gw.jobs.get(&job) {
                    p.flow.cancel();
                }
            }
        }
    }

    /// Read what the client sent, act on complete requests, write what is queued.
    fn ingress_io(&mut self, token: Token) {
        self.ingress_pump(token);
        self.ingress_flush(token);
    }

    /// Read and act until the socket has nothing more or input must wait (a request
    /// in flight with a full buffer behind it).
    fn ingress_pump(&mut self, token: Token) {
        while self.ingress_read(token) {
            self.ingress_advance(token);
        }
        self.ingress_advance(token);
    }

    /// Read into the input buffer; true if it stopped with the buffer full while the
    /// connection can consume it (call again once it has).
    fn ingress_read(&mut self, token: Token) -> bool {
        let Some(ing) = &mut self.gw.ingress else { return false };
        let max_in = ing.cfg.limits.max_head + READ_CHUNK;
        let Some(c) = ing.conns.get_mut(&token) else { return false };
        let buf = &mut ing.rbuf;
        loop {
            if c.eof || c.closing {
                return false;
            }
            // Pipelined input beyond one head and a chunk waits until it is needed
            // (a body being read is consumed as it arrives).
            let consuming = matches!(c.phase, Phase::Head | Phase::Body(_));
            if !consuming && c.inbuf.len() >= max_in {
                return false;
            }
            match c.s.read(buf) {
                Ok(0) => {
                    c.eof = true;
                    return false;
                }
                Ok(n) => {
                    c.last = Instant::now();
                    c.inbuf.extend_from_slice(&buf[..n]);
                    if consuming && c.inbuf.len() >= max_in {
                        // Let advance consume it before reading more.
                        return true;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return false,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => {
                    c.eof = true;
                    c.closing = true;
                    return false;
                }
            }
        }
    }

    /// Parse and act on buffered input while the connection is between requests or
    /// reading a body.
    fn ingress_advance(&mut self, token: Token) {
        loop {
            let Some(ing) = &mut self.gw.ingress else { return };
            let limits = ing.cfg.limits;
            let draining = ing.draining;
            let Some(c) = ing.conns.get_mut(&token) else { return };
            match &mut c.phase {
                Phase::Head => {
                    if c.inbuf.is_empty() {
                        if c.eof {
                            c.closing = true;
                            c.phase = Phase::Done;
                        }
                        break;
                    }
                    match request::parse(&c.inbuf, &limits) {
                        Ok(None) => {
                            if c.eof {
                                c.closing = true;
                                c.phase = Phase::Done;
                            }
                            break;
                        }
                        Err(r) => {
                            let title =
                                if r.status == 413 || r.status == 431 { "Request too large" } else { "Bad request" };
                            problem_response(c, r.status, title, &r.detail, 1, false, false);
                            c.inbuf.clear();
                            break;
                        }
                        Ok(Some((mut head, n))) => {
                            c.inbuf.drain(..n);
                            if draining {
                                head.keep_alive = false;
                            }
                            let (left, dec) = match head.body {
                                BodyKind::None => (0, None),
                                BodyKind::Length(l) => (l, None),
                                BodyKind::Chunked => (0, Some(chunked::Decoder::new())),
                            };
                            if head.expect_continue && head.body != BodyKind::None {
                                let _ = write!(c.out, "HTTP/1.{} 100 Continue\r\n\r\n", head.minor);
                            }
                            let cap = usize::try_from(left.min(1 << 20)).unwrap_or(0);
                            c.phase =
                                Phase::Body(Box::new(BodyRead { head, left, dec, body: Vec::with_capacity(cap) }));
                        }
                    }
                }
                Phase::Body(b) => {
                    let consumed = match &mut b.dec {
                        None => {
                            let n = usize::try_from(b.left).unwrap_or(usize::MAX).min(c.inbuf.len());
                            b.body.extend_from_slice(&c.inbuf[..n]);
                            b.left -= n as u64;
                            n
                        }
                        Some(d) => match d.feed(&c.inbuf, &mut b.body) {
                            Ok(n) => n,
                            Err(e) => {
                                let msg = e.to_string();
                                problem_response(c, 400, "Bad request", &msg, 1, false, false);
                                c.inbuf.clear();
                                break;
                            }
                        },
                    };
                    c.inbuf.drain(..consumed);
                    if b.body.len() as u64 > limits.max_body {
                        let msg = format!("body larger than {} bytes", limits.max_body);
                        problem_response(c, 413, "Request too large", &msg, 1, false, false);
                        c.inbuf.clear();
                        break;
                    }
                    let complete = match &b.dec {
                        None => b.left == 0,
                        Some(d) => d.is_done(),
                    };
                    if !complete {
                        if c.eof {
                            c.closing = true;
                            c.phase = Phase::Done;
                        }
                        break;
                    }
                    let Phase::Body(b) = std::mem::replace(&mut c.phase, Phase::Head) else { break };
                    let BodyRead { head, body, .. } = *b;
                    self.ingress_dispatch(token, head, body);
                }
                Phase::Wait { .. } | Phase::Stream { .. } | Phase::Done => break,
            }
        }
    }

    /// A complete request: tend's own endpoints, else route and forward.
    fn ingress_dispatch(&mut self, token: Token, head: Head, body: Vec<u8>) {
        let head_only = head.method == "HEAD";
        let (minor, keep) = (head.minor, head.keep_alive);
        let path = head.path().to_string();
        if path == "/_tend/health" || path == "/_tend/ready" {
            let live: Vec<usize> = (0..self.svcs.len()).filter(|&i| !self.svcs[i].removed).collect();
            let infos: Vec<_> = live.into_iter().map(|i| self.info(i)).collect();
            let problems = crate::check::problems(&infos, path == "/_tend/health");
            let shutting = self.shutdown.is_some();
            let ok = problems.is_empty() && !shutting;
            let mut v = serde_json::json!({ "ok": ok, "problems": problems });
            if shutting {
                v["shutting_down"] = serde_json::Value::Bool(true);
            }
            let mut b = serde_json::to_vec(&v).unwrap_or_default();
            b.push(b'\n');
            let Some(c) = self.ingress_conn(token) else { return };
            let allowed = matches!(head.method.as_str(), "GET" | "HEAD");
            if !allowed {
                problem_response(c, 405, "Method not allowed", "only GET and HEAD", minor, keep, head_only);
                return;
            }
            own(c, if ok { 200 } else { 503 }, "application/json", &b, minor, keep, head_only);
            return;
        }
        let idx = {
            let Some(ing) = &self.gw.ingress else { return };
            let r = route::find(&ing.cfg.routes, &head.host, &path).map(|r| r.service.clone());
            r.and_then(|name| self.svcs.iter().position(|s| !s.removed && s.cfg.name == name))
        };
        let Some(idx) = idx else {
            let detail = format!("no route for host {:?} and path {path:?}", head.host);
            if let Some(c) = self.ingress_conn(token) {
                problem_response(c, 404, "No route", &detail, minor, keep, head_only);
            }
            return;
        };
        let ip = match self.ingress_conn(token) {
            Some(c) => c.ip.clone(),
            None => return,
        };
        let mut bytes = Vec::with_capacity(256 + body.len());
        let fwd = Forwarded { client_ip: &ip, proto: "http" };
        request::upstream_head(
            &head.method,
            &head.target,
            &head.authority,
            &head.headers,
            body.len(),
            Some(&fwd),
            &mut bytes,
        );
        bytes.extend_from_slice(&body);
        match self.submit(idx, bytes, &head.method, Origin::Ingress { token }) {
            Ok(job) => {
                if let Some(c) = self.ingress_conn(token) {
                    c.phase = Phase::Wait { job, minor, keep_alive: keep, head_request: head_only };
                }
            }
            Err(Refused::Unavailable(why)) => {
                if let Some(c) = self.ingress_conn(token) {
                    problem_response(c, 503, TITLE, &format!("{why}; see its logs"), minor, keep, head_only);
                }
            }
            Err(Refused::Busy(why)) => {
                if let Some(c) = self.ingress_conn(token) {
                    problem_response(c, 503, TITLE, &why, minor, keep, head_only);
                }
            }
        }
    }

    fn ingress_conn(&mut self, token: Token) -> Option<&mut Conn> {
        self.gw.ingress.as_mut()?.conns.get_mut(&token)
    }

    /// Whether the job's response head was already sent to the client (for counting).
    pub(super) fn ingress_has_head(&self, token: Token, job: u64) -> bool {
        let Some(c) = self.gw.ingress.as_ref().and_then(|i| i.conns.get(&token)) else { return true };
        matches!(c.phase, Phase::Stream { job: j, .. } if j == job)
    }

    /// A worker reported on the job of connection `token`.
    pub(super) fn ingress_progress(&mut self, token: Token, job: u64, p: Progress) {
        let svc_idx = self.gw.jobs.get(&job).map(|p| p.svc);
        let flow = self.gw.jobs.get(&job).map(|p| Arc::clone(&p.flow));
        // The connection by field, so that the services stay readable beside it.
        let Some(c) = self.gw.ingress.as_mut().and_then(|i| i.conns.get_mut(&token)) else {
            if let Some(f) = flow {
                f.cancel();
            }
            return;
        };
        let mut finished = false;
        match (p, &c.phase) {
            (Progress::Head { head, data, end }, &Phase::Wait { job: j, minor, keep_alive, head_request })
                if j == job =>
            {
                let out = if head_request { Out::None } else { response::out_framing(&head, minor) };
                let keep = keep_alive && out != Out::Close;
                response::client_head(&head, out, minor, keep, &mut c.out);
                write_body(c, out, &data);
                c.owed += data.len();
                c.flow = flow;
                c.phase = Phase::Stream { job, out, keep_alive: keep };
                finished = end;
            }
            (Progress::Data(data), &Phase::Stream { job: j, out, .. }) if j == job => {
                write_body(c, out, &data);
                c.owed += data.len();
            }
            (Progress::End, &Phase::Stream { job: j, .. }) if j == job => finished = true,
            (Progress::Fail { why, detail }, &Phase::Wait { job: j, minor, keep_alive, head_request }) if j == job => {
                let svc = svc_idx.and_then(|i| self.svcs.get(i)).map(|s| s.cfg.name.as_str()).unwrap_or("");
                let (status, detail) = match why {
                    Failure::Unavailable => (503, format!("{svc} is running, but {detail}; see its logs")),
                    Failure::Timeout => (504, format!("{svc}: {detail}")),
                    Failure::BadGateway => (502, format!("{svc}: {detail}")),
                    Failure::Cancelled => (503, format!("{svc}: the request was cancelled")),
                };
                problem_response(c, status, TITLE, &detail, minor, keep_alive, head_request);
            }
            (Progress::Fail { .. }, &Phase::Stream { job: j, .. }) if j == job => {
                // Mid-body: the client can only learn it from an incomplete response.
                c.flow = None;
                c.closing = true;
                c.phase = Phase::Done;
            }
            _ => {}
        }
        if finished {
            if let Phase::Stream { out, keep_alive, .. } = c.phase {
                if out == Out::Chunked {
                    c.out.extend_from_slice(chunked::LAST_CHUNK);
                }
                c.flow = None;
                c.owed = 0;
                if keep_alive && !c.eof {
                    c.phase = Phase::Head;
                } else {
                    c.closing = true;
                    c.phase = Phase::Done;
                }
            }
        }
        self.ingress_flush(token);
        // The next pipelined request, and input that waited for this response.
        if finished {
            self.ingress_pump(token);
            self.ingress_flush(token);
        }
    }

    /// Write the queue; close when done and closing; give the worker its window back.
    fn ingress_flush(&mut self, token: Token) {
        let Some(c) = self.ingress_conn(token) else { return };
        while c.out_pos < c.out.len() {
            match c.s.write(&c.out[c.out_pos..]) {
                Ok(0) => break,
                Ok(n) => {
                    c.out_pos += n;
                    c.last = Instant::now();
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => {
                    self.ingress_close(token);
                    return;
                }
            }
        }
        if c.out_pos == c.out.len() {
            c.out.clear();
            c.out_pos = 0;
            if c.out.capacity() > 4 * WINDOW {
                c.out.shrink_to(64 * 1024);
            }
        } else if c.out_pos > 64 * 1024 && c.out_pos * 2 > c.out.len() {
            c.out.drain(..c.out_pos);
            c.out_pos = 0;
        }
        if c.queued() < WINDOW / 2 && c.owed > 0 {
            if let Some(f) = &c.flow {
                f.give(c.owed);
            }
            c.owed = 0;
        }
        let idle_after_eof = c.eof && matches!(c.phase, Phase::Head) && c.inbuf.is_empty();
        if c.queued() == 0 && (c.closing || idle_after_eof) {
            if !c.closing {
                c.closing = true;
            }
            let _ = c.s.shutdown(std::net::Shutdown::Write);
            self.ingress_close(token);
        }
    }

    /// Once a second: close connections idle (or stuck in a head or body) longer than
    /// `idle_timeout`; retry accepting after a failure.
    pub(super) fn ingress_sweep(&mut self) {
        let Some(ing) = &mut self.gw.ingress else { return };
        let now = Instant::now();
        let limit = ing.cfg.idle_timeout;
        let stale: Vec<Token> = ing
            .conns
            .iter()
            .filter(|(_, c)| {
                matches!(c.phase, Phase::Head | Phase::Body(_) | Phase::Done)
                    && now.saturating_duration_since(c.last) >= limit
            })
            .map(|(&t, _)| t)
            .collect();
        let retry = ing.accept_failed;
        for t in stale {
            self.ingress_close(t);
        }
        if retry {
            self.ingress_accept();
        }
    }

    /// Whether the ingress has connections or a listener (the sweep timer runs then).
    pub(super) fn ingress_active(&self) -> bool {
        self.gw.ingress.as_ref().is_some_and(|i| i.listener.is_some() || !i.conns.is_empty())
    }

    /// Whether `token` is one of the ingress's.
    pub fn is_ingress_token(token: Token) -> bool {
        token == LISTENER || token.0 >= CONN_BASE
    }
}

/// Queue response body bytes framed as `out`.
fn write_body(c: &mut Conn, out: Out, data: &[u8]) {
    match out {
        Out::Chunked => chunked::encode_chunk(data, &mut c.out),
        Out::Length(_) | Out::Close => c.out.extend_from_slice(data),
        Out::None => {}
    }
}
