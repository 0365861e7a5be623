//! What each control request does to the supervisor, and what flows back to clients:
//! replies, log follow data and events. The connections themselves are `control.rs`'s.

use std::time::{Instant, SystemTime};

use mio::Token;

use crate::daemon::control::{Conn, EventSub, Input, LogSub, LISTENER};
use crate::daemon::logserve::{end_snapshot, pump};
use crate::daemon::reap::Status;
use crate::daemon::service::{describe, Event, State};
use crate::daemon::signals;
use crate::daemon::supervisor::Supervisor;
use crate::proto::msg::{
    kind, Done, End, ErrorCode, EventInfo, EventMsg, EventsLost, EventsReq, ExitInfo, ListReply, Requestor,
    ServiceInfo, SignalReq, SignalSpec, StatusReply, Target, VersionReply,
};
use crate::proto::Request;

/// How long a sample of a process's RSS and CPU time is reused.
const USAGE_TTL: std::time::Duration = std::time::Duration::from_millis(100);

/// A service process's /proc/PID/stat, open, and its last sample.
pub struct StatFile {
    pid: u32,
    file: std::fs::File,
    sampled: Option<(Instant, Option<(u64, u64)>)>,
}

/// A START/STOP/RESTART with `wait`, answered when the service gets there.
pub struct Waiter {
    pub token: Token,
    pub id: u64,
    pub idx: usize,
    pub up: bool,
}

pub fn exit_info(st: Status) -> ExitInfo {
    match st {
        Status::Exited(code) => ExitInfo { code: Some(code), signal: None, core_dumped: false, text: describe(st) },
        Status::Signaled { signo, core_dumped } => {
            ExitInfo { code: None, signal: Some(signals::signal_name(signo)), core_dumped, text: describe(st) }
        }
        Status::Stopped(_) | Status::Continued => {
            ExitInfo { code: None, signal: None, core_dumped: false, text: describe(st) }
        }
    }
}

/// (rss bytes, user+system CPU ms) of one process, from its /proc/PID/stat opened
/// once (`file`) and read with pread into a stack buffer: a status request costs one
/// system call for it, not an open/read/close and an allocation.
fn usage(file: &std::fs::File) -> Option<(u64, u64)> {
    use std::os::unix::fs::FileExt;
    let mut buf = [0u8; 1024];
    let n = file.read_at(&mut buf, 0).ok()?;
    let line = &buf[..n];
    let close = line.iter().rposition(|&b| b == b')')?;
    let mut f = line.get(close + 2..)?.split(|&b| b == b' ');
    let num = |v: Option<&[u8]>| -> Option<u64> { std::str::from_utf8(v?).ok()?.parse().ok() };
    // Fields after the command name: state(0) ... utime(11) stime(12) ... rss(21).
    let utime = num(f.nth(11))?;
    let stime = num(f.next())?;
    let rss = num(f.nth(8))?;
    // SAFETY: sysconf has no memory effects.
    let (page, tck) = unsafe { (libc::sysconf(libc::_SC_PAGESIZE), libc::sysconf(libc::_SC_CLK_TCK)) };
    let (page, tck) = (page.max(4096) as u64, tck.max(1) as u64);
    Some((rss * page, (utime + stime) * 1000 / tck))
}

impl Supervisor {
    /// A readiness event on the listener or a connection.
    pub(super) fn on_control(&mut self, token: Token) {
        if token == LISTENER {
            if !self.control.accept(self.poll.registry()) {
                self.arm_accept_retry();
            }
            return;
        }
        self.serve(token);
    }

    /// Answer what a connection sent, then write.
    pub(super) fn serve(&mut self, token: Token) {
        let inputs = self.control.read(token, self.poll.registry());
        for input in inputs {
            match input {
                Input::Request(r) => self.handle(token, r),
                Input::Fatal(e) => self.control.error(token, e.id, e.code, e.message),
            }
        }
        self.write_out(token);
    }

    /// Connections that have more to read (a turn ran out, or a paused one drained).
    pub(super) fn serve_pending(&mut self) {
        for token in std::mem::take(&mut self.control.pending) {
            self.serve(token);
        }
    }

    /// Write every connection that got stream data since the last call.
    pub(super) fn flush_dirty(&mut self) {
        for token in std::mem::take(&mut self.dirty) {
            self.write_out(token);
        }
    }

    /// Write a connection's queue; then, if that made room, tell its subscribers what
    /// they lost and write again.
    fn write_out(&mut self, token: Token) {
        self.control.flush(token, self.poll.registry());
        let q = self.control.client_queue();
        let mut ended = false;
        // Job slots this connection follows, whose held output may now fit.
        let mut jobs_sent: Vec<usize> = Vec::new();
        if let Some(c) = self.control.conns.get_mut(&token) {
            let before = c.queued();
            flush_losses(q, c);
            let mut i = 0;
            while i < c.logs.len() {
                let svc = &self.svcs[c.logs[i].svc];
                let next = c.logs[i].next;
                if pump(q, c, i, [&svc.out, &svc.err]) {
                    if svc.job.is_some() && c.logs[i].next != next {
                        jobs_sent.push(c.logs[i].svc);
                    }
                    i += 1;
                } else {
                    end_snapshot(c, i);
                    ended = true;
                }
            }
            if c.queued() != before {
                self.control.flush(token, self.poll.registry());
            }
        }
        if ended {
            self.control.recount();
        }
        for idx in jobs_sent {
            self.resume_attach_held(idx);
        }
    }

    pub(super) fn who(&self, token: Token) -> Option<Requestor> {
        self.control.conns.get(&token).map(|c| c.who.clone())
    }

    pub(super) fn find(&mut self, token: Token, id: u64, name: &str) -> Option<usize> {
        let found = self.svcs.iter().position(|s| !s.removed && s.job.is_none() && s.cfg.name == name);
        if found.is_none() {
            let known: Vec<&str> =
                self.svcs.iter().filter(|s| !s.removed && s.job.is_none()).map(|s| s.cfg.name.as_str()).collect();
            let msg = format!("no service named {name:?} (services: {})", known.join(", "));
            self.control.error(token, id, ErrorCode::UnknownService, msg);
        }
        found
    }

    pub(super) fn done(&mut self, token: Token, id: u64, message: String) {
        self.control.reply(token, kind::DONE, &Done { id, message });
    }

    fn handle(&mut self, token: Token, r: Request) {
        match r {
            // Answered by control.rs.
            Request::Hello(_) => {}
            Request::List(p) => {
                let mut services = Vec::with_capacity(self.svcs.len());
                for i in 0..self.svcs.len() {
                    if !self.svcs[i].removed && self.svcs[i].job.is_none() {
                        services.push(self.info(i));
                    }
                }
                self.control.reply(token, kind::LIST_REPLY, &ListReply { id: p.id, services });
            }
            Request::Status(t) => {
                if let Some(idx) = self.find(token, t.id, &t.service) {
                    let service = self.info(idx);
                    self.control.reply(token, kind::STATUS_REPLY, &StatusReply { id: t.id, service });
                }
            }
            Request::Start(t) => self.change(token, t, Event::Start),
            Request::Stop(t) => self.change(token, t, Event::Stop),
            Request::Restart(t) => self.change(token, t, Event::Restart),
            Request::Signal(s) => self.signal_request(token, s),
            Request::Logs(l) => self.logs(token, l),
            Request::Events(e) => self.events_request(token, e),
            Request::Reload(p) => {
                if self.shutdown.is_some() {
                    self.control.error(token, p.id, ErrorCode::ShuttingDown, "tend is shutting down: not reloading");
                    return;
                }
                self.requestor = self.who(token);
                let r = self.reload();
                self.requestor = None;
                match r {
                    Ok(summary) => self.done(token, p.id, summary),
                    Err(e) => self.control.error(token, p.id, ErrorCode::Failed, e),
                }
            }
            Request::Shutdown(p) => {
                if self.shutdown.is_some() {
                    self.done(token, p.id, "already shutting down".into());
                    return;
                }
                self.done(token, p.id, "shutting down".into());
                self.requestor = self.who(token);
                let ev = EventInfo {
                    kind: "shutdown".into(),
                    reason: "shutdown requested".into(),
                    requestor: self.requestor.clone(),
                    ..Default::default()
                };
                self.announce("shutdown requested", ev);
                self.begin_shutdown(crate::error::exit::OK);
                self.requestor = None;
            }
            Request::Version(p) => {
                let reply = VersionReply {
                    id: p.id,
                    version: crate::VERSION.into(),
                    api: crate::proto::msg::API_VERSION,
                    pid: std::process::id(),
                    uptime_s: self.started.elapsed().as_secs(),
                };
                self.control.reply(token, kind::VERSION_REPLY, &reply);
            }
            Request::LogRotate(r) => self.rotate_request(token, r),
            Request::Http(r) => self.http_request(token, r),
            Request::Spawn(r) => self.spawn_request(token, r),
            Request::JobStatus(r) => self.job_status_request(token, r),
            Request::Wait(r) => self.wait_request(token, r),
            Request::Retry(r) => self.retry_request(token, r),
            Request::JobList(r) => self.job_list_request(token, r),
            Request::JobRm(r) => self.job_rm_request(token, r),
            Request::Attach(r) => self.attach_request(token, r.id, r.job),
            Request::Stdin(r) => self.stdin_request(token, r),
            Request::JobSignal(r) => self.job_signal_request(token, r),
            Request::Cancel(c) => {
                let t = c.target;
                let ended =
                    self.control.conns.get_mut(&token).map_or(0, |conn| conn.end_where(|s| s.id == t, |s| s.id == t));
                if ended > 0 {
                    self.control.recount();
                    self.done(token, c.id, format!("stream {t} cancelled"));
                } else {
                    let msg = format!("no open stream with id {} on this connection", c.target);
                    self.control.error(token, c.id, ErrorCode::UnknownStream, msg);
                }
            }
        }
    }

    fn change(&mut self, token: Token, t: Target, ev: Event) {
        let Some(idx) = self.find(token, t.id, &t.service) else { return };
        let up = ev != Event::Stop;
        if up && self.shutdown.is_some() {
            self.control.error(token, t.id, ErrorCode::ShuttingDown, "tend is shutting down");
            return;
        }
        self.requestor = self.who(token);
        if ev != Event::Stop && !self.svcs[idx].m.state.is_active() {
            // Its dependencies first; it may have to wait for them.
            self.start_service(idx);
        } else {
            self.feed(idx, ev);
        }
        self.requestor = None;
        let name = &self.svcs[idx].cfg.name;
        if t.wait {
            self.waiters.push(Waiter { token, id: t.id, idx, up });
            self.check_waiters();
        } else {
            let msg = format!("{name}: {}", self.svcs[idx].m.state);
            self.done(token, t.id, msg);
        }
    }

    /// Answer the waiters whose service got where they wanted (or cannot get there).
    pub(super) fn check_waiters(&mut self) {
        if self.waiters.is_empty() {
            return;
        }
        let mut i = 0;
        while i < self.waiters.len() {
            let w = &self.waiters[i];
            if !self.control.conns.contains_key(&w.token) {
                self.waiters.swap_remove(i);
                continue;
            }
            let s = &self.svcs[w.idx];
            let (state, name) = (s.m.state, &s.cfg.name);
            let outcome = if w.up {
                match state {
                    State::Running | State::Exited => Ok(format!("{name}: {state}")),
                    State::Failed | State::Backoff | State::Stopped => {
                        Err((ErrorCode::Failed, format!("{name} did not start: {state}: {}", s.m.reason)))
                    }
                    _ if self.shutdown.is_some() => Err((ErrorCode::ShuttingDown, "tend is shutting down".into())),
                    _ => {
                        i += 1;
                        continue;
                    }
                }
            } else if !state.is_active() && s.m.pgid.is_none() {
                Ok(format!("{name}: {state}"))
            } else {
                i += 1;
                continue;
            };
            let w = self.waiters.swap_remove(i);
            match outcome {
                Ok(m) => self.done(w.token, w.id, m),
                Err((code, m)) => self.control.error(w.token, w.id, code, m),
            }
            self.dirty.push(w.token);
        }
    }

    fn signal_request(&mut self, token: Token, s: SignalReq) {
        let Some(idx) = self.find(token, s.id, &s.service) else { return };
        let signo = match signal_number(&s.signal) {
            Ok(n) => n,
            Err(msg) => {
                self.control.error(token, s.id, ErrorCode::BadSignal, msg);
                return;
            }
        };
        let svc = &self.svcs[idx];
        let target = match (s.group, svc.m.pgid, svc.m.pid) {
            (true, Some(pg), _) => -(pg as i32),
            (false, _, Some(pid)) => pid as i32,
            _ => {
                let msg = format!("{} is not running ({})", svc.cfg.name, svc.m.state);
                self.control.error(token, s.id, ErrorCode::Failed, msg);
                return;
            }
        };
        let name = svc.cfg.name.clone();
        let sig = signals::signal_name(signo);
        match signals::send(target, signo) {
            Ok(()) => {
                let what = if s.group { "process group" } else { "process" };
                let reason = format!("sent {sig} to {what} {}", target.abs());
                let line = format!("{name}: {reason}");
                let ev = EventInfo {
                    service: name,
                    kind: "signal".into(),
                    reason,
                    requestor: self.who(token),
                    ..Default::default()
                };
                self.announce(&line, ev);
                self.done(token, s.id, line);
            }
            Err(e) => {
                self.control.error(token, s.id, ErrorCode::Failed, format!("sending {sig} to {name}: {}", e.desc()))
            }
        }
    }

    fn events_request(&mut self, token: Token, e: EventsReq) {
        let from = match (e.from, e.follow) {
            // 0 is no event's number: "everything retained", with no loss marker.
            (Some(0), _) => self.events.oldest(),
            (Some(f), _) => f,
            (None, true) => self.events.next_seq(),
            (None, false) => self.events.oldest(),
        };
        let Some(c) = self.control.conns.get_mut(&token) else { return };
        let (history, evicted) = self.events.since(from);
        if !evicted.is_empty() {
            let m = EventsLost { id: e.id, from: evicted.start, to: evicted.end, reason: "evicted".into() };
            crate::proto::msg::encode(kind::EVENTS_LOST, &m, c.out_mut());
        }
        for ev in history {
            crate::proto::msg::encode(kind::EVENT, &EventMsg { id: e.id, event: ev.clone() }, c.out_mut());
        }
        if e.follow {
            c.events.push(EventSub { id: e.id, from, lost: None });
            self.control.recount();
        } else {
            self.control.reply(token, kind::END, &End { id: e.id });
        }
    }

    /// One service's status.
    pub(super) fn info(&mut self, idx: usize) -> ServiceInfo {
        let now = Instant::now();
        let s = &mut self.svcs[idx];
        // The open /proc/PID/stat follows the current process; what it says is sampled
        // at most every USAGE_TTL, so a client polling in a loop costs no procfs reads.
        if s.stat.as_ref().map(|st| st.pid) != s.m.pid {
            s.stat = s.m.pid.and_then(|pid| {
                let file = std::fs::File::open(format!("/proc/{pid}/stat")).ok()?;
                Some(StatFile { pid, file, sampled: None })
            });
        }
        let usage = match &mut s.stat {
            Some(st) => match st.sampled {
                Some((at, u)) if now.saturating_duration_since(at) < USAGE_TTL => u,
                _ => {
                    let u = usage(&st.file);
                    st.sampled = Some((now, u));
                    u
                }
            },
            None => None,
        };
        let s = &self.svcs[idx];
        let running = s.m.pid.is_some();
        let uptime = s.m.started_at.filter(|_| running).map(|t| now.saturating_duration_since(t));
        let started = uptime.and_then(|u| SystemTime::now().checked_sub(u)).map(crate::timefmt::rfc3339);
        let (rss, cpu) = match usage {
            Some((r, c)) => (Some(r), Some(c)),
            None => (None, None),
        };
        let mut info = ServiceInfo {
            name: s.cfg.name.clone(),
            state: s.m.state.as_str().into(),
            pid: s.m.pid,
            uptime_ms: uptime.map(|u| u.as_millis() as u64),
            started,
            restarts: s.m.restarts,
            last_exit: s.m.last_exit.map(exit_info),
            rss,
            cpu_ms: cpu,
            ready: s.m.state == State::Running && !s.ck.reloading,
            healthy: s.cfg.health.as_ref().and(s.ck.healthy),
            paused: s.m.paused,
            autostart: s.cfg.autostart,
            reason: s.m.reason.clone(),
            command: s.cfg.command.clone(),
            stdout_bytes: s.out.total,
            stderr_bytes: s.err.total,
            dropped_bytes: s.dropped,
            probe: s.ck.last_probe.clone(),
            status_text: s.ck.status_text.clone(),
            health: match (&s.cfg.health, s.ck.healthy) {
                (None, _) => String::new(),
                (Some(_), None) => "unknown".into(),
                (Some(_), Some(true)) => "healthy".into(),
                (Some(_), Some(false)) => "unhealthy".into(),
            },
            depends_on: s.cfg.depends_on.iter().map(|d| format!("{}={}", d.service, d.condition.as_str())).collect(),
            last_output: s.logs.last_output.clone(),
            log_file: s.logs.path().map(|p| p.display().to_string()),
            log_errors: s.logs.errors,
            log_error: s.logs.error.clone(),
            socket: String::new(),
            available: None,
            unavailable: String::new(),
            requests: 0,
            request_errors: 0,
            latency_p50_us: None,
            latency_p99_us: None,
        };
        self.forward_info(idx, &mut info);
        info
    }

    /// Record an event in the history and send it to subscribers.
    pub(super) fn record(&mut self, mut ev: EventInfo) {
        if ev.ts.is_empty() {
            ev.ts = crate::timefmt::rfc3339(SystemTime::now());
        }
        let stored = self.events.push(ev);
        if self.control.event_followers == 0 {
            return;
        }
        let q = self.control.client_queue();
        for (&token, c) in self.control.conns.iter_mut() {
            if c.events.is_empty() {
                continue;
            }
            for i in 0..c.events.len() {
                if stored.seq < c.events[i].from {
                    continue;
                }
                let id = c.events[i].id;
                if c.events[i].lost.is_none() || flush_event_loss(q, c, i) {
                    let m = EventMsg { id, event: stored.clone() };
                    let size = 256 + stored.output.iter().map(|l| l.line.len() + 48).sum::<usize>();
                    if c.try_stream(q, kind::EVENT, &m, size) {
                        continue;
                    }
                }
                let lost = &mut c.events[i].lost;
                *lost = Some(match *lost {
                    Some((from, _)) => (from, stored.seq + 1),
                    None => (stored.seq, stored.seq + 1),
                });
            }
            self.dirty.push(token);
        }
    }

    /// tend is exiting: every open stream gets END, so followers end cleanly.
    pub(super) fn end_all_streams(&mut self) {
        self.end_streams(|_| true, true);
    }

    /// A removed service's followers get END.
    pub(super) fn end_follows(&mut self, idx: usize) {
        self.end_streams(|s| s.svc == idx, false);
    }

    fn end_streams(&mut self, logs: impl Fn(&LogSub) -> bool, events: bool) {
        for (&token, c) in self.control.conns.iter_mut() {
            if c.end_where(&logs, |_| events) > 0 {
                self.dirty.push(token);
            }
        }
        self.control.recount();
    }
}

/// The signal a SIGNAL or JOB_SIGNAL names, or the BAD_SIGNAL message.
pub fn signal_number(spec: &SignalSpec) -> Result<i32, String> {
    let signo = match spec {
        SignalSpec::Name(n) => signals::parse_signal(n).ok(),
        SignalSpec::Number(n) => i32::try_from(*n).ok().filter(|n| (1..=libc::SIGRTMAX()).contains(n)),
    };
    signo.ok_or_else(|| {
        let shown = match spec {
            SignalSpec::Name(n) => format!("{n:?}"),
            SignalSpec::Number(n) => n.to_string(),
        };
        format!(
            "bad signal {shown}: expected a name such as TERM or SIGHUP, or a number from 1 to {}",
            libc::SIGRTMAX()
        )
    })
}

/// Tell event subscribers what they lost, now that there may be room. True if
/// anything was queued. (Log losses are reported by [`pump`].)
fn flush_losses(q: usize, c: &mut Conn) -> bool {
    let mut queued = false;
    for i in 0..c.events.len() {
        if c.events[i].lost.is_some() {
            queued |= flush_event_loss(q, c, i);
        }
    }
    queued
}

fn flush_event_loss(q: usize, c: &mut Conn, i: usize) -> bool {
    let Some((from, to)) = c.events[i].lost else { return true };
    let m = EventsLost { id: c.events[i].id, from, to, reason: "queue_full".into() };
    if c.try_stream(q, kind::EVENTS_LOST, &m, 64) {
        c.events[i].lost = None;
        true
    } else {
        false
    }
}

/// ` (by uid 0, pid 123 tend)` for event lines.
pub fn by_whom(r: &Requestor) -> String {
    format!(" (by uid {}, pid {} {})", r.uid, r.pid, r.name)
}
