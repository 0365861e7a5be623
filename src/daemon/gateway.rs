//! The loop's side of request forwarding: whether a service is *available* (running,
//! ready, and its socket accepts connections), handing jobs to the worker pool
//! ([`forward`]), routing what the workers report back to the control connection or
//! ingress client that asked, the `request` control operation, and the per-service
//! counters (requests, errors, latency) shown by `tend status`. Nothing here blocks:
//! the only socket call is a non-blocking connect to check a service's socket.

use std::collections::HashMap;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::Token;
use nix::errno::Errno;

use crate::daemon::forward::{self, Failure, Flow, Job, Pool, Progress};
use crate::daemon::ingress::Ingress;
use crate::daemon::service::State;
use crate::daemon::supervisor::Supervisor;
use crate::http::request::{upstream_head, valid_method, valid_name, valid_target, valid_value};
use crate::proto::msg::{kind, ErrorCode, HttpReq, HttpResponse, ServiceInfo};

/// Largest response body returned over the control socket (one RESPONSE frame).
pub const MAX_CONTROL_BODY: usize = 8 << 20;
/// A socket check is trusted this long for `tend status`.
const SOCKET_CHECK_TTL: Duration = Duration::from_secs(1);

/// A log-linear latency histogram in microseconds: 8 buckets per power of two (at most
/// 12.5% error), from 0 to about 19 hours.
#[derive(Clone)]
pub struct Histogram {
    buckets: Box<[u32; Histogram::N]>,
    pub count: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram { buckets: Box::new([0; Histogram::N]), count: 0 }
    }
}

impl Histogram {
    const N: usize = 8 + 34 * 8;

    fn index(us: u64) -> usize {
        if us < 8 {
            return us as usize;
        }
        let e = (63 - us.leading_zeros()) as usize;
        let sub = ((us >> (e - 3)) & 7) as usize;
        (8 + (e - 3) * 8 + sub).min(Self::N - 1)
    }

    /// The middle of bucket `i`.
    fn value(i: usize) -> u64 {
        if i < 8 {
            return i as u64;
        }
        let e = (i - 8) / 8 + 3;
        let sub = ((i - 8) % 8) as u64;
        let low = (8 + sub) << (e - 3);
        low + (1u64 << (e - 3)) / 2
    }

    pub fn record(&mut self, d: Duration) {
        let i = Self::index(d.as_micros().min(u64::MAX as u128) as u64);
        self.buckets[i] = self.buckets[i].saturating_add(1);
        self.count += 1;
    }

    /// The `q` quantile (0.5, 0.99), microseconds; None when empty.
    pub fn quantile(&self, q: f64) -> Option<u64> {
        if self.count == 0 {
            return None;
        }
        let rank = ((q * self.count as f64).ceil() as u64).clamp(1, self.count);
        let mut seen = 0u64;
        for (i, &n) in self.buckets.iter().enumerate() {
            seen += u64::from(n);
            if seen >= rank {
                return Some(Self::value(i));
            }
        }
        None
    }
}

/// Forwarding counters and the last socket check of one service.
#[derive(Default)]
pub struct SvcStats {
    pub requests: u64,
    pub errors: u64,
    pub latency: Histogram,
    /// (pid it was made for, when, None if accepting or why not).
    sock: Option<(u32, Instant, Option<String>)>,
    /// The socket path shared by this service's jobs (made once, not per request).
    path: Option<Arc<std::path::Path>>,
}

/// Who is waiting for a job's result.
pub enum Origin {
    Control { token: Token, id: u64, head: Option<crate::http::response::Head>, body: Vec<u8> },
    Ingress { token: Token },
}

pub struct Pending {
    pub svc: usize,
    pub origin: Origin,
    pub started: Instant,
    pub flow: Arc<Flow>,
}

/// Why a request was not handed to a worker.
pub enum Refused {
    /// Not available (why, e.g. "web is backoff").
    Unavailable(String),
    /// The queue is full (or the pool could not start).
    Busy(String),
}

/// The forwarding state of the supervisor.
#[derive(Default)]
pub struct Gateway {
    pool: Option<Pool>,
    pub jobs: HashMap<u64, Pending>,
    next_job: u64,
    stats: Vec<SvcStats>,
    pub ingress: Option<Ingress>,
}

impl Gateway {
    pub fn stats(&mut self, idx: usize) -> &mut SvcStats {
        if self.stats.len() <= idx {
            self.stats.resize_with(idx + 1, SvcStats::default);
        }
        &mut self.stats[idx]
    }
}

/// A non-blocking connect to `path`: None if it accepts (or its backlog is merely
/// full), else why not.
fn check_socket(path: &std::path::Path) -> Option<String> {
    use nix::sys::socket::{self, AddressFamily, SockFlag, SockType, UnixAddr};
    let show = path.display();
    let fd = match socket::socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
        None,
    ) {
        Ok(fd) => fd,
        Err(e) => return Some(format!("tend cannot make a socket: {}", e.desc())),
    };
    let addr = match UnixAddr::new(path) {
        Ok(a) => a,
        Err(e) => return Some(format!("its socket path {show} is unusable: {}", e.desc())),
    };
    match socket::connect(fd.as_raw_fd(), &addr) {
        Ok(()) | Err(Errno::EAGAIN) | Err(Errno::EINPROGRESS) => None,
        Err(Errno::ENOENT) => Some(format!("its socket {show} does not exist")),
        Err(Errno::ECONNREFUSED) => Some(format!("its socket {show} refuses connections")),
        Err(e) => Some(format!("cannot connect to its socket {show}: {}", e.desc())),
    }
}

impl Supervisor {
    /// Ok if requests can be forwarded to service `idx` now; else why not ("web is
    /// stopped", "web is running, but its socket ... refuses connections").
    /// `fresh`: check the socket unless a check younger than a second says it accepts.
    pub(super) fn availability(&mut self, idx: usize, fresh: bool) -> Result<(), String> {
        let s = &self.svcs[idx];
        let name = &s.cfg.name;
        let Some(sock) = s.cfg.socket.clone() else {
            return Err(format!("{name} has no socket to forward to"));
        };
        if s.removed {
            return Err(format!("{name} was removed from the configuration"));
        }
        if s.m.state != State::Running {
            return Err(format!("{name} is {}", s.m.state));
        }
        if s.m.paused {
            return Err(format!("{name} is paused (stopped by a signal)"));
        }
        if s.ck.reloading {
            return Err(format!("{name} is reloading"));
        }
        let pid = s.m.pid.unwrap_or(0);
        let name = name.clone();
        let now = Instant::now();
        let st = self.gw.stats(idx);
        let known = match &st.sock {
            Some((p, at, res)) if *p == pid => Some((*at, res.clone())),
            _ => None,
        };
        let recheck = match &known {
            None => fresh,
            Some((_, Some(_))) => true,
            Some((at, None)) => fresh && now.saturating_duration_since(*at) >= SOCKET_CHECK_TTL,
        };
        let res = if recheck {
            let r = check_socket(&sock);
            self.gw.stats(idx).sock = Some((pid, now, r.clone()));
            r
        } else {
            known.and_then(|k| k.1)
        };
        match res {
            None => Ok(()),
            Some(why) => Err(format!("{name} is running, but {why}")),
        }
    }

    /// Hand a request for service `idx` to the pool. `bytes` is the upstream request.
    pub(super) fn submit(&mut self, idx: usize, bytes: Vec<u8>, method: &str, origin: Origin) -> Result<u64, Refused> {
        if let Err(why) = self.availability(idx, false) {
            self.count(idx, true);
            return Err(Refused::Unavailable(why));
        }
        if self.gw.pool.is_none() {
            let w = Arc::clone(&self.waker);
            let wake: Arc<dyn Fn() + Send + Sync> = Arc::new(move || {
                let _ = w.wake();
            });
            match Pool::spawn(self.cfg.forward.workers, self.cfg.forward.queue, wake) {
                Ok(p) => self.gw.pool = Some(p),
                Err(e) => {
                    self.note(&format!("cannot start the forwarding workers: {e}"));
                    self.count(idx, true);
                    return Err(Refused::Busy(format!("tend cannot start its forwarding workers: {e}")));
                }
            }
        }
        let s = &self.svcs[idx];
        let Some(sock) = &s.cfg.socket else {
            return Err(Refused::Unavailable(format!("{} has no socket to forward to", s.cfg.name)));
        };
        let timeout = s.cfg.request_timeout.unwrap_or(self.cfg.forward.request_timeout);
        let st = self.gw.stats(idx);
        let socket = match &st.path {
            Some(p) if **p == **sock => Arc::clone(p),
            _ => {
                let p = forward::socket_arc(sock);
                st.path = Some(Arc::clone(&p));
                p
            }
        };
        self.gw.next_job += 1;
        let id = self.gw.next_job;
        let flow = Flow::new();
        let job = Job {
            id,
            socket,
            bytes,
            head_request: method == "HEAD",
            idempotent: forward::idempotent(method),
            timeout,
            submitted: Instant::now(),
            flow: Arc::clone(&flow),
        };
        let queue = self.cfg.forward.queue;
        let Some(pool) = &self.gw.pool else { return Err(Refused::Busy("no forwarding workers".into())) };
        if pool.submit(job).is_err() {
            self.count(idx, true);
            return Err(Refused::Busy(format!(
                "tend is busy: {queue} requests are already waiting for a worker (forward.queue)"
            )));
        }
        self.gw.jobs.insert(id, Pending { svc: idx, origin, started: Instant::now(), flow });
        Ok(id)
    }

    /// Count one finished request of service `idx`.
    pub(super) fn count(&mut self, idx: usize, error: bool) {
        let st = self.gw.stats(idx);
        st.requests += 1;
        if error {
            st.errors += 1;
        }
    }

    /// Everything the workers reported since the last wake-up.
    pub(super) fn on_forward_results(&mut self) {
        let Some(pool) = &self.gw.pool else { return };
        let done: Vec<forward::Done> = pool.results.try_iter().collect();
        for d in done {
            self.on_progress(d.job, d.p);
        }
    }

    fn on_progress(&mut self, job: u64, p: Progress) {
        let Some(pending) = self.gw.jobs.get_mut(&job) else { return };
        let idx = pending.svc;
        let finished = matches!(p, Progress::End | Progress::Fail { .. } | Progress::Head { end: true, .. });
        match &p {
            Progress::Head { head, .. } => {
                let lat = pending.started.elapsed();
                let error = head.status >= 500;
                let pid = self.svcs[idx].m.pid.unwrap_or(0);
                let st = self.gw.stats(idx);
                st.latency.record(lat);
                st.sock = Some((pid, Instant::now(), None));
                if error {
                    st.errors += 1;
                }
                st.requests += 1;
            }
            Progress::Fail { why, detail } => {
                if *why == Failure::Unavailable {
                    let pid = self.svcs[idx].m.pid.unwrap_or(0);
                    self.gw.stats(idx).sock = Some((pid, Instant::now(), Some(detail.clone())));
                }
                if *why != Failure::Cancelled {
                    // Counted as a request unless its head was counted already.
                    let had_head = match &self.gw.jobs.get(&job).map(|p| &p.origin) {
                        Some(Origin::Control { head, .. }) => head.is_some(),
                        Some(Origin::Ingress { token }) => self.ingress_has_head(*token, job),
                        None => false,
                    };
                    let st = self.gw.stats(idx);
                    if !had_head {
                        st.requests += 1;
                    }
                    st.errors += 1;
                }
            }
            Progress::Data(_) | Progress::End => {}
        }
        let Some(pending) = self.gw.jobs.get_mut(&job) else { return };
        match &mut pending.origin {
            Origin::Control { .. } => self.control_progress(job, p),
            Origin::Ingress { token } => {
                let token = *token;
                self.ingress_progress(token, job, p);
            }
        }
        if finished {
            self.gw.jobs.remove(&job);
        }
    }

    /// A control REQUEST's job reported: collect the body, answer when complete.
    fn control_progress(&mut self, job: u64, p: Progress) {
        let Some(pending) = self.gw.jobs.get_mut(&job) else { return };
        let flow = Arc::clone(&pending.flow);
        let svc = self.svcs[pending.svc].cfg.name.clone();
        let Origin::Control { token, id, head, body } = &mut pending.origin else { return };
        let (token, id) = (*token, *id);
        if !self.control.conns.contains_key(&token) {
            flow.cancel();
            return;
        }
        let mut complete = false;
        let mut error: Option<(ErrorCode, String)> = None;
        match p {
            Progress::Head { head: h, data, end } => {
                *head = Some(h);
                body.extend_from_slice(&data);
                flow.give(data.len());
                complete = end;
            }
            Progress::Data(data) => {
                body.extend_from_slice(&data);
                flow.give(data.len());
            }
            Progress::End => complete = true,
            Progress::Fail { why, detail } => {
                let code = match why {
                    Failure::Unavailable => ErrorCode::Unavailable,
                    Failure::Timeout => ErrorCode::Timeout,
                    Failure::BadGateway => ErrorCode::BadGateway,
                    Failure::Cancelled => ErrorCode::Failed,
                };
                let msg = match why {
                    Failure::Unavailable => format!("{svc} is running, but {detail}; see its logs"),
                    _ => format!("{svc}: {detail}"),
                };
                error = Some((code, msg));
            }
        }
        if body.len() > MAX_CONTROL_BODY && error.is_none() && !complete {
            flow.cancel();
            error = Some((
                ErrorCode::Failed,
                format!(
                    "{svc}: the response body is larger than {} MiB, the most a control reply carries; use the HTTP ingress",
                    MAX_CONTROL_BODY >> 20
                ),
            ));
        }
        if let Some((code, msg)) = error {
            self.gw.jobs.remove(&job);
            self.control.error(token, id, code, msg);
            self.dirty.push(token);
            return;
        }
        if !complete {
            return;
        }
        let Some(Pending { origin: Origin::Control { head: Some(h), body, .. }, .. }) = self.gw.jobs.remove(&job)
        else {
            return;
        };
        let reply = HttpResponse {
            id,
            status: h.status,
            reason: h.reason,
            headers: h.headers.into_iter().map(|(n, v)| (n, String::from_utf8_lossy(&v).into_owned())).collect(),
            body,
        };
        self.control.reply(token, kind::RESPONSE, &reply);
        self.dirty.push(token);
    }

    /// The `request` control operation.
    pub(super) fn http_request(&mut self, token: Token, r: HttpReq) {
        let Some(idx) = self.svcs.iter().position(|s| !s.removed && s.job.is_none() && s.cfg.name == r.service) else {
            let known: Vec<&str> =
                self.svcs.iter().filter(|s| !s.removed && s.job.is_none()).map(|s| s.cfg.name.as_str()).collect();
            let msg = format!("no service named {:?} (services: {})", r.service, known.join(", "));
            self.control.error(token, r.id, ErrorCode::UnknownService, msg);
            return;
        };
        let bad = |m: String| Some((ErrorCode::BadRequest, m));
        let problem = if !valid_method(&r.method) {
            bad(format!("bad method {:?}: expected a token such as GET or POST", r.method))
        } else if !valid_target(&r.path) {
            bad(format!("bad path {:?}: expected one starting with / and without spaces", r.path))
        } else if r.query.bytes().any(|b| b <= b' ' || b == 0x7f || b == b'#') {
            bad(format!("bad query {:?}", r.query))
        } else if let Some((n, _)) = r.headers.iter().find(|(n, v)| !valid_name(n) || !valid_value(v.as_bytes())) {
            bad(format!("bad header {n:?}: a name is a token, a value has no CR, LF or NUL"))
        } else if self.svcs[idx].cfg.socket.is_none() {
            let name = &self.svcs[idx].cfg.name;
            Some((
                ErrorCode::Failed,
                format!("{name} has no socket: set [service.{name}] socket = PATH to forward to it"),
            ))
        } else if self.shutdown.is_some() {
            Some((ErrorCode::ShuttingDown, "tend is shutting down".into()))
        } else {
            None
        };
        if let Some((code, msg)) = problem {
            self.control.error(token, r.id, code, msg);
            return;
        }
        let target = if r.query.is_empty() { r.path.clone() } else { format!("{}?{}", r.path, r.query) };
        let host = r.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case("host")).map(|(_, v)| v.trim().to_string());
        let headers: Vec<(String, Vec<u8>)> =
            r.headers.iter().map(|(n, v)| (n.clone(), v.trim().as_bytes().to_vec())).collect();
        let mut bytes = Vec::with_capacity(256 + r.body.len());
        upstream_head(&r.method, &target, host.as_deref().unwrap_or(""), &headers, r.body.len(), None, &mut bytes);
        bytes.extend_from_slice(&r.body);
        let origin = Origin::Control { token, id: r.id, head: None, body: Vec::new() };
        match self.submit(idx, bytes, &r.method, origin) {
            Ok(_) => {}
            Err(Refused::Unavailable(why)) => {
                self.control.error(token, r.id, ErrorCode::Unavailable, format!("{why}; see its logs"))
            }
            Err(Refused::Busy(why)) => self.control.error(token, r.id, ErrorCode::Busy, why),
        }
    }

    /// A reload: the default request timeout, the ingress's routes and limits (the
    /// worker count, queue and listen address stay until tend restarts).
    pub(super) fn reload_forward(&mut self, new: &crate::config::Config) {
        self.cfg.forward.request_timeout = new.forward.request_timeout;
        self.reload_ingress(new.ingress.as_ref());
    }

    /// The forwarding fields of a service's status.
    pub(super) fn forward_info(&mut self, idx: usize, info: &mut ServiceInfo) {
        let Some(sock) = &self.svcs[idx].cfg.socket else { return };
        info.socket = sock.display().to_string();
        match self.availability(idx, true) {
            Ok(()) => info.available = Some(true),
            Err(why) => {
                info.available = Some(false);
                info.unavailable = why;
            }
        }
        let st = self.gw.stats(idx);
        info.requests = st.requests;
        info.request_errors = st.errors;
        info.latency_p50_us = st.latency.quantile(0.5);
        info.latency_p99_us = st.latency.quantile(0.99);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_quantiles_are_close() {
        let mut h = Histogram::default();
        assert_eq!(h.quantile(0.5), None);
        for us in 1..=1000u64 {
            h.record(Duration::from_micros(us));
        }
        let p50 = h.quantile(0.5).unwrap() as f64;
        let p99 = h.quantile(0.99).unwrap() as f64;
        assert!((p50 - 500.0).abs() / 500.0 < 0.13, "{p50}");
        assert!((p99 - 990.0).abs() / 990.0 < 0.13, "{p99}");
        for i in 0..Histogram::N {
            assert_eq!(Histogram::index(Histogram::value(i)), i, "bucket {i}");
        }
        h.record(Duration::from_secs(1 << 40));
        assert_eq!(h.count, 1001);
    }
}
