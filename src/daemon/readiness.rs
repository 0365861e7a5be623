//! The loop's side of readiness, health checks, the notify socket, the watchdog and
//! dependency ordering: it turns probe results, notify datagrams and readiness pipes
//! into events for the state machines, and decides from [`deps`] when a waiting
//! service starts and in which order services stop at shutdown. Nothing here blocks:
//! connect probes are non-blocking sockets in the loop ([`probe`]), exec probes are
//! children reaped by the same reaper, with their output in the service's log.

use std::io::Read;
use std::time::Instant;

use mio::unix::pipe::Receiver;
use mio::{Interest, Token};

use crate::config::{OnDependencyFailure, Probe, ProbeTiming, Ready};
use crate::daemon::deps::{self, Verdict, View};
use crate::daemon::notify::{self, Msg, NotifySocket};
use crate::daemon::probe::{Attempt, Outcome};
use crate::daemon::reap::Status;
use crate::daemon::service::{describe, Event, Failure, State};
use crate::daemon::supervisor::{read_stat, Supervisor};
use crate::daemon::timers::Timer;
use crate::proto::msg::EventInfo;

/// Tokens: a service's notify socket, readiness pipe and connect probe, by index.
pub const NOTIFY_BASE: usize = 1 << 29;
pub const READY_FD_BASE: usize = 1 << 30;
pub const PROBE_BASE: usize = 1 << 31;

/// A probe attempt in flight.
pub enum InFlight {
    Connect(Attempt),
    /// An exec probe's pid (also its process group).
    Exec(u32),
}

/// Per-service readiness and health state (runtime, outside the state machine).
#[derive(Default)]
pub struct Checks {
    pub notify: Option<NotifySocket>,
    /// The read end of `ready = { fd = N }` for the current run.
    pub ready_fd: Option<Receiver>,
    pub probe: Option<InFlight>,
    /// Generation of the one probe timer that counts (bumped at every arm and cancel).
    pub probe_gen: u64,
    /// Consecutive health-check failures.
    pub fails: u32,
    /// The health verdict of this run; None before the first one or without a check.
    pub healthy: Option<bool>,
    /// "passed (tcp 127.0.0.1:80: connected)", "failed (...)", for status.
    pub last_probe: String,
    /// The last `STATUS=` text.
    pub status_text: String,
    pub main_pid: Option<u32>,
    /// `RELOADING=1` seen and no `READY=1` since.
    pub reloading: bool,
    pub wd_deadline: Option<Instant>,
    pub wd_gen: u64,
    /// Notify datagrams refused (sender not one of the service's processes).
    pub rejected: u64,
    /// At shutdown: the stop has been asked for (once its dependents are down).
    pub shutdown_sent: bool,
}

impl Supervisor {
    // --- dependencies ---------------------------------------------------------------------

    /// Start service `idx` (autostart, request or reload): its stopped or failed
    /// dependencies first, then itself once they are met; until then it waits.
    pub(super) fn start_service(&mut self, idx: usize) {
        let mut seen = vec![false; self.svcs.len()];
        self.start_with_deps(idx, &mut seen);
    }

    fn start_with_deps(&mut self, idx: usize, seen: &mut [bool]) {
        if seen[idx] {
            return;
        }
        seen[idx] = true;
        let deps = self.svcs[idx].cfg.depends_on.clone();
        for d in &deps {
            for j in self.instances(&d.service) {
                if matches!(self.svcs[j].m.state, State::Stopped | State::Failed) {
                    self.start_with_deps(j, seen);
                }
            }
        }
        if self.svcs[idx].m.state.is_active() {
            self.feed(idx, Event::Start);
        } else {
            self.gate(idx);
        }
    }

    /// Indices of the live instances of `[service.NAME]`.
    fn instances(&self, base: &str) -> Vec<usize> {
        (0..self.svcs.len()).filter(|&i| !self.svcs[i].removed && self.svcs[i].cfg.base == base).collect()
    }

    fn verdict(&self, idx: usize) -> Verdict {
        deps::evaluate(&self.svcs[idx].cfg.depends_on, |base| {
            self.instances(base)
                .into_iter()
                .map(|i| {
                    let s = &self.svcs[i];
                    let view = View {
                        state: s.m.state,
                        spawned: s.m.pid.is_some(),
                        healthy: s.ck.healthy,
                        has_health: s.cfg.health.is_some(),
                    };
                    (s.cfg.name.as_str(), view, s.m.reason.as_str())
                })
                .collect()
        })
    }

    /// Start a service that is not running if its dependencies are met; else make it
    /// wait (or fail, per `on_dependency_failure`).
    fn gate(&mut self, idx: usize) {
        let waiting = |s: &mut Self, why: String| {
            let svc = &mut s.svcs[idx];
            if svc.m.state != State::Waiting || svc.m.waiting != why {
                svc.m.waiting = why;
                s.feed(idx, Event::Wait);
                // Its cgroup now, while it waits, not when its dependencies are met.
                s.prepare_cgroup(idx);
            }
        };
        match self.verdict(idx) {
            Verdict::Met => self.feed(idx, Event::Start),
            Verdict::Wait(why) => waiting(self, why),
            Verdict::Failed(why) => match self.svcs[idx].cfg.on_dependency_failure {
                OnDependencyFailure::Fail => {
                    self.svcs[idx].m.waiting = why;
                    self.feed(idx, Event::DependencyFailed);
                }
                OnDependencyFailure::Wait => waiting(self, format!("{why}, which failed")),
            },
        }
    }

    /// After anything changed: waiting services whose dependencies are now met start.
    pub(super) fn check_waiting(&mut self) {
        while self.deps_dirty {
            self.deps_dirty = false;
            if self.shutdown.is_some() {
                return;
            }
            for idx in 0..self.svcs.len() {
                if !self.svcs[idx].removed && self.svcs[idx].m.state == State::Waiting {
                    self.gate(idx);
                }
            }
        }
    }

    /// During a shutdown: ask each service to stop once no service that depends on it
    /// is still active, so dependents stop before their dependencies.
    pub(super) fn advance_shutdown(&mut self) {
        loop {
            let mut progressed = false;
            for idx in 0..self.svcs.len() {
                if self.svcs[idx].ck.shutdown_sent {
                    continue;
                }
                let base = &self.svcs[idx].cfg.base;
                let blocked =
                    self.svcs.iter().any(|o| !o.removed && o.m.state.is_active() && deps::depends(&o.cfg, base));
                if !blocked {
                    self.svcs[idx].ck.shutdown_sent = true;
                    self.stop_after_drain(idx, Event::Shutdown);
                    progressed = true;
                }
            }
            if !progressed {
                return;
            }
        }
    }

    // --- runs: what starts and ends with each process -----------------------------------------

    /// Just spawned: a readiness probe, or the watchdog, starts counting.
    pub(super) fn after_spawn(&mut self, idx: usize) {
        self.cancel_probe(idx);
        let svc = &mut self.svcs[idx];
        svc.ck.fails = 0;
        svc.ck.healthy = None;
        svc.ck.main_pid = None;
        svc.ck.reloading = false;
        svc.ck.status_text.clear();
        svc.ck.last_probe.clear();
        if let Ready::Probe(_, t) = &svc.cfg.ready {
            let after = t.initial_delay;
            self.arm_probe(idx, after);
        }
        if let Some(w) = self.svcs[idx].cfg.watchdog {
            let now = Instant::now();
            let ck = &mut self.svcs[idx].ck;
            ck.wd_gen += 1;
            ck.wd_deadline = Some(now + w);
            let gen = ck.wd_gen;
            self.timers.add(now + w, Timer::Watchdog { idx, gen });
        }
    }

    /// Became ready (starting -> running): the health check starts.
    pub(super) fn on_ready(&mut self, idx: usize) {
        self.cancel_probe(idx);
        self.svcs[idx].ck.ready_fd = None;
        if let Some(h) = &self.svcs[idx].cfg.health {
            let after = h.timing.initial_delay;
            self.arm_probe(idx, after);
        }
    }

    /// The process is gone or being stopped: no more probes, no watchdog.
    pub(super) fn end_checks(&mut self, idx: usize) {
        self.cancel_probe(idx);
        let ck = &mut self.svcs[idx].ck;
        if let Some(mut rx) = ck.ready_fd.take() {
            let _ = self.poll.registry().deregister(&mut rx);
        }
        ck.wd_deadline = None;
        ck.wd_gen += 1;
    }

    // --- probes -------------------------------------------------------------------------------

    fn arm_probe(&mut self, idx: usize, after: std::time::Duration) {
        let ck = &mut self.svcs[idx].ck;
        ck.probe_gen += 1;
        let gen = ck.probe_gen;
        self.timers.add(Instant::now() + after, Timer::Probe { idx, gen });
    }

    /// Stop the attempt in flight, if any: a socket is closed, an exec probe's group
    /// killed (its pid stays known so that its reaping is not taken for an orphan's).
    fn cancel_probe(&mut self, idx: usize) {
        let ck = &mut self.svcs[idx].ck;
        ck.probe_gen += 1;
        match ck.probe.take() {
            Some(InFlight::Connect(mut a)) => {
                let _ = self.poll.registry().deregister(a.source());
            }
            Some(InFlight::Exec(pid)) => {
                let _ = crate::daemon::signals::send(-(pid as i32), libc::SIGKILL);
            }
            None => {}
        }
    }

    /// The probe that applies now: the readiness probe while starting, the health
    /// check while running.
    fn current_probe(&self, idx: usize) -> Option<(Probe, ProbeTiming)> {
        let s = &self.svcs[idx];
        match (s.m.state, &s.cfg.ready, &s.cfg.health) {
            (State::Starting, Ready::Probe(p, t), _) if s.m.pid.is_some() => Some((p.clone(), *t)),
            (State::Running, _, Some(h)) => Some((h.probe.clone(), h.timing)),
            _ => None,
        }
    }

    pub(super) fn on_probe_timer(&mut self, idx: usize, gen: u64) {
        if idx >= self.svcs.len() || gen != self.svcs[idx].ck.probe_gen {
            return;
        }
        let Some((probe, timing)) = self.current_probe(idx) else { return };
        if self.svcs[idx].ck.probe.is_some() {
            self.cancel_probe(idx);
            self.probe_done(idx, Outcome::Fail(format!("timed out after {:?}", timing.timeout)));
            return;
        }
        let started = match &probe {
            Probe::Exec(argv) => match self.spawn(idx, Some(argv)) {
                Ok(pid) => Ok(InFlight::Exec(pid)),
                Err(e) => Err(format!("cannot run it: {e}")),
            },
            p => Attempt::start(p).and_then(|mut a| {
                self.poll
                    .registry()
                    .register(a.source(), Token(PROBE_BASE + idx), Interest::READABLE | Interest::WRITABLE)
                    .map_err(|e| format!("cannot watch its socket: {e}"))?;
                Ok(InFlight::Connect(a))
            }),
        };
        match started {
            Ok(f) => {
                self.svcs[idx].ck.probe = Some(f);
                self.arm_probe(idx, timing.timeout);
            }
            Err(why) => self.probe_done(idx, Outcome::Fail(why)),
        }
    }

    pub(super) fn on_probe_event(&mut self, idx: usize) {
        let Some(svc) = self.svcs.get_mut(idx) else { return };
        let Some(InFlight::Connect(a)) = &mut svc.ck.probe else { return };
        if let Some(outcome) = a.advance() {
            self.cancel_probe(idx);
            self.probe_done(idx, outcome);
        }
    }

    /// An exec probe was reaped.
    pub(super) fn probe_exited(&mut self, idx: usize, pid: u32, status: Status) {
        let Some(svc) = self.svcs.get_mut(idx) else { return };
        if !matches!(svc.ck.probe, Some(InFlight::Exec(p)) if p == pid) {
            return; // cancelled or timed out already
        }
        svc.ck.probe = None;
        svc.ck.probe_gen += 1;
        let outcome = match status {
            Status::Exited(0) => Outcome::Pass("exit 0".into()),
            st => Outcome::Fail(describe(st)),
        };
        self.probe_done(idx, outcome);
    }

    fn probe_done(&mut self, idx: usize, outcome: Outcome) {
        let Some((probe, timing)) = self.current_probe(idx) else { return };
        let readiness = self.svcs[idx].m.state == State::Starting;
        let ts = crate::timefmt::rfc3339(std::time::SystemTime::now());
        let (passed, what) = match &outcome {
            Outcome::Pass(m) => (true, format!("passed ({}: {m}) at {ts}", probe.describe())),
            Outcome::Fail(m) => (false, format!("failed ({}: {m}) at {ts}", probe.describe())),
        };
        self.svcs[idx].ck.last_probe = what;
        if readiness {
            if passed {
                self.feed(idx, Event::Ready);
            } else {
                self.arm_probe(idx, timing.interval);
            }
            return;
        }
        let Some(retries) = self.svcs[idx].cfg.health.as_ref().map(|h| h.retries) else { return };
        let ck = &mut self.svcs[idx].ck;
        if passed {
            ck.fails = 0;
            if ck.healthy != Some(true) {
                let from = ck.healthy;
                ck.healthy = Some(true);
                self.health_event(idx, from, true, "health check passed");
            }
        } else {
            ck.fails = ck.fails.saturating_add(1);
            if ck.fails >= retries && ck.healthy != Some(false) {
                let from = ck.healthy;
                ck.healthy = Some(false);
                let why = format!("health check failed {retries} time(s) in a row: {}", ck.last_probe);
                self.health_event(idx, from, false, &why);
                if self.svcs[idx].cfg.restart_on_unhealthy {
                    self.feed(idx, Event::Fail(Failure::Unhealthy));
                    return;
                }
            }
        }
        self.arm_probe(idx, timing.interval);
    }

    /// A change of health: an event, and waiting services look again. Only on a
    /// change, so a steady probe costs no allocation beyond its result text.
    fn health_event(&mut self, idx: usize, from: Option<bool>, to: bool, why: &str) {
        self.deps_dirty = true;
        let word = |h: Option<bool>| match h {
            None => "unknown",
            Some(true) => "healthy",
            Some(false) => "unhealthy",
        };
        let name = &self.svcs[idx].cfg.name;
        let line = format!("{name} {}->{}: {why}", word(from), word(Some(to)));
        let ev = EventInfo {
            service: name.clone(),
            kind: "health".into(),
            from: word(from).into(),
            to: word(Some(to)).into(),
            reason: why.into(),
            ..Default::default()
        };
        self.announce(&line, ev);
    }

    // --- s6-style readiness pipe -----------------------------------------------------------

    pub(super) fn watch_ready_fd(&mut self, idx: usize, r: std::io::PipeReader) {
        let mut rx = Receiver::from(std::os::fd::OwnedFd::from(r));
        let name = &self.svcs[idx].cfg.name;
        let ok = rx.set_nonblocking(true).is_ok()
            && self.poll.registry().register(&mut rx, Token(READY_FD_BASE + idx), Interest::READABLE).is_ok();
        if !ok {
            let msg = format!("{name}: cannot watch its readiness pipe");
            self.note(&msg);
            return;
        }
        if let Some(mut old) = self.svcs[idx].ck.ready_fd.replace(rx) {
            let _ = self.poll.registry().deregister(&mut old);
        }
    }

    pub(super) fn on_ready_fd(&mut self, idx: usize) {
        let Some(svc) = self.svcs.get_mut(idx) else { return };
        let Some(rx) = &mut svc.ck.ready_fd else { return };
        let mut buf = [0u8; 512];
        let mut ready = false;
        let mut closed = false;
        loop {
            match rx.read(&mut buf) {
                Ok(0) => {
                    closed = true;
                    break;
                }
                Ok(n) => {
                    if buf[..n].contains(&b'\n') {
                        ready = true;
                        break;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(_) => {
                    closed = true;
                    break;
                }
            }
        }
        if ready || closed {
            if let Some(mut rx) = svc.ck.ready_fd.take() {
                let _ = self.poll.registry().deregister(&mut rx);
            }
        }
        if ready {
            self.feed(idx, Event::Ready);
        } else if closed {
            if let Ready::Fd(n) = self.svcs[idx].cfg.ready {
                self.svcs[idx].ck.last_probe = format!("fd {n} was closed before a newline was written to it");
            }
        }
    }

    // --- sd_notify ----------------------------------------------------------------------------

    /// The service's `$NOTIFY_SOCKET` value, binding its socket the first time; None if
    /// it has no use for one (or binding failed, which is reported).
    pub(super) fn notify_name(&mut self, idx: usize) -> Option<String> {
        let svc = &self.svcs[idx];
        if svc.cfg.ready != Ready::Notify && svc.cfg.watchdog.is_none() {
            return None;
        }
        if let Some(n) = &svc.ck.notify {
            return Some(n.name.clone());
        }
        let name = format!("tend/{}.{:x}/{}", std::process::id(), self.nonce, svc.cfg.name);
        let bound = NotifySocket::bind(&name).and_then(|s| {
            let fd = s.raw_fd();
            self.poll.registry().register(
                &mut mio::unix::SourceFd(&fd),
                Token(NOTIFY_BASE + idx),
                Interest::READABLE,
            )?;
            Ok(s)
        });
        match bound {
            Ok(s) => {
                let n = s.name.clone();
                self.svcs[idx].ck.notify = Some(s);
                Some(n)
            }
            Err(e) => {
                let msg = format!("{}: cannot create its notify socket: {e}", self.svcs[idx].cfg.name);
                self.note(&msg);
                None
            }
        }
    }

    pub(super) fn drop_notify(&mut self, idx: usize) {
        if let Some(s) = self.svcs[idx].ck.notify.take() {
            let fd = s.raw_fd();
            let _ = self.poll.registry().deregister(&mut mio::unix::SourceFd(&fd));
        }
    }

    /// True if `pid` is one of the service's processes: its leader, its MAINPID=, a
    /// member of its process group, or of its cgroup.
    fn is_member(&self, idx: usize, pid: u32) -> bool {
        let s = &self.svcs[idx];
        if pid == 0 {
            return false;
        }
        if Some(pid) == s.m.pid || Some(pid) == s.ck.main_pid {
            return true;
        }
        if let (Some(pg), Some((_, _, pgrp, _))) = (s.m.pgid, read_stat(pid as i32)) {
            if pgrp == pg as i32 {
                return true;
            }
        }
        match &s.cg {
            Some(dir) => crate::daemon::cgroup::pids(dir).contains(&(pid as i32)),
            None => false,
        }
    }

    pub(super) fn on_notify(&mut self, idx: usize) {
        let mut buf = [0u8; 4096];
        // At most 256 datagrams per wake-up, so that a flood cannot starve the loop.
        for _ in 0..256 {
            let Some(svc) = self.svcs.get(idx) else { return };
            let Some(sock) = &svc.ck.notify else { return };
            let (n, pid) = match sock.recv(&mut buf) {
                Ok(Some(x)) => x,
                Ok(None) => return,
                Err(e) => {
                    let msg = format!("{}: reading its notify socket failed: {e}", svc.cfg.name);
                    self.note(&msg);
                    return;
                }
            };
            if !self.is_member(idx, pid) {
                let svc = &mut self.svcs[idx];
                svc.ck.rejected += 1;
                let n = svc.ck.rejected;
                if n == 1 || n.is_multiple_of(1000) {
                    let msg = format!(
                        "{}: ignored a notify message from pid {pid}, which is not one of its processes ({n} so far)",
                        svc.cfg.name
                    );
                    self.note(&msg);
                }
                continue;
            }
            for m in notify::parse(&buf[..n]) {
                self.apply_notify(idx, m);
            }
        }
        // More may be queued: look again on the next loop turn.
        self.arm_notify_retry(idx);
    }

    /// An edge-triggered socket with data left raises no new event; re-registering it
    /// (EPOLL_CTL_MOD) reports it ready again at the next poll.
    fn arm_notify_retry(&mut self, idx: usize) {
        if let Some(s) = &self.svcs[idx].ck.notify {
            let fd = s.raw_fd();
            let _ = self.poll.registry().reregister(
                &mut mio::unix::SourceFd(&fd),
                Token(NOTIFY_BASE + idx),
                Interest::READABLE,
            );
        }
    }

    fn apply_notify(&mut self, idx: usize, m: Msg) {
        let live = matches!(self.svcs[idx].m.state, State::Starting | State::Running);
        match m {
            Msg::Ready => {
                self.svcs[idx].ck.reloading = false;
                if self.svcs[idx].cfg.ready == Ready::Notify {
                    self.feed(idx, Event::Ready);
                }
            }
            Msg::Reloading => self.svcs[idx].ck.reloading = true,
            Msg::Stopping => {
                let name = self.svcs[idx].cfg.name.clone();
                self.note(&format!("{name}: STOPPING=1"));
            }
            Msg::Status(text) => self.svcs[idx].ck.status_text = text,
            Msg::MainPid(p) => self.svcs[idx].ck.main_pid = Some(p),
            Msg::Watchdog => {
                if let (Some(w), true) = (self.svcs[idx].cfg.watchdog, live) {
                    self.svcs[idx].ck.wd_deadline = Some(Instant::now() + w);
                }
            }
            Msg::WatchdogTrigger => {
                if live {
                    self.feed(idx, Event::Fail(Failure::Watchdog));
                }
            }
        }
    }

    pub(super) fn on_watchdog_timer(&mut self, idx: usize, gen: u64) {
        let Some(svc) = self.svcs.get(idx) else { return };
        if gen != svc.ck.wd_gen {
            return;
        }
        let Some(deadline) = svc.ck.wd_deadline else { return };
        let now = Instant::now();
        if now < deadline {
            // Kept alive since this timer was set: one timer, moved to the new deadline.
            self.timers.add(deadline, Timer::Watchdog { idx, gen });
            return;
        }
        self.svcs[idx].ck.wd_deadline = None;
        self.feed(idx, Event::Fail(Failure::Watchdog));
    }
}
