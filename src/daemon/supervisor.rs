//! `tend run`: the supervisor loop.
//!
//! One thread runs a mio `Poll` over the signalfd, every service's stdout/stderr pipe
//! and a `Waker` (for the output writer threads), with the timer heap as its timeout.
//! Each service's behaviour is its [`Machine`]; this module only turns I/O into events
//! for it and performs the actions it returns. Nothing here blocks.
//!
//! Stop semantics: a service is stopped only when its whole process group is gone (the
//! leader reaped and `killpg(pgid, 0)` says ESRCH). tend is PID 1 or a child subreaper,
//! so every descendant that outlives its parent is re-parented to tend and reaped here;
//! at the end of a shutdown whatever is left (daemons that left their group with
//! setsid) is sent SIGTERM, then SIGKILL, and reaped before tend exits.

use crate::daemon::spawn::{Command, Stdio};
use std::collections::{HashMap, VecDeque};
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use mio::unix::pipe::Receiver;
use mio::{Events, Interest, Poll, Token, Waker};
use nix::errno::Errno;

use crate::config::{Config, OnMaxRss, Output, ServiceConfig};
use crate::daemon::cgroup::{self, Cgroups};
use crate::daemon::control::{self, Control, CONN_BASE, LISTENER};
use crate::daemon::events::EventLog;
use crate::daemon::logging::{Logs, SvcLog};
use crate::daemon::output::{grow_pipe, prefix, LineFramer, Ring, Sink, PIPE_DEFAULT, PIPE_FLOOD};
use crate::daemon::readiness::{self, Checks};
use crate::daemon::reap::{self, Status};
use crate::daemon::requests::{by_whom, exit_info, Waiter};
use crate::daemon::service::{describe, Action, Event, Machine, State};
use crate::daemon::signals::{self, Received, SignalSource};
use crate::daemon::spawn::{self, ChildSetup, Group, UserSwitch};
use crate::daemon::timers::{Timer, Timers};
use crate::error::{exit, Error, Result};
use crate::proto::msg::{EventInfo, Requestor};

const SIGNALS: Token = Token(0);
const WAKER: Token = Token(1);
const FIRST_PIPE: usize = 16;

/// Bytes read from one pipe per wake-up before the others get a turn.
const READ_BUDGET: usize = 256 * 1024;
/// Largest single read: twice what a pipe holds by default.
const READ_MAX: usize = 128 * 1024;
/// When NAP_AFTER turns of the loop in a row read less than NAP_BELOW bytes of output
/// each, less than NAP apart, it pauses NAP before the next poll, so that a service
/// writing small pieces as fast as it can costs a wake-up per NAP, not per write(2).
/// The pipe holds 64 KiB: at the rates that make reads this small, far more than
/// NAP's worth. (One small read in a flood of big writes is not enough: a pause while
/// the pipe is full would hold the writer up.)
const NAP: Duration = Duration::from_micros(100);
const NAP_BELOW: usize = 16 * 1024;
const NAP_AFTER: u32 = 4;
/// Bound of each passthrough queue (tend's stdout, tend's stderr).
const SINK_LIMIT: usize = 4 << 20;
/// How often leftover process groups are re-checked while a stop waits for them.
const GROUP_POLL: Duration = Duration::from_millis(50);
/// Event lines are handed to the stderr writer at most this often (or once 16 KiB are
/// pending), so a crash loop does not wake the writer thread for every line. Each line
/// carries the time it was made, not the time it was written.
const NOTES_DELAY: Duration = Duration::from_millis(10);
const NOTES_BATCH: usize = 16 * 1024;
/// How long orphans get between SIGTERM and SIGKILL at the end of a shutdown.
const ORPHAN_GRACE: Duration = Duration::from_secs(2);
/// Pause before accepting again after accept(2) failed (EMFILE and the like).
const ACCEPT_RETRY: Duration = Duration::from_millis(100);

/// One supervised service: its configuration, state machine and captured output.
pub struct Svc {
    pub cfg: ServiceConfig,
    /// A changed configuration from a reload, applied at the next spawn.
    pub next_cfg: Option<ServiceConfig>,
    pub m: Machine,
    pub out: Ring,
    pub err: Ring,
    /// Passthrough bytes dropped because tend's own output was not keeping up.
    pub dropped: u64,
    /// Dropped bytes not yet announced, per stream (0 stdout, 1 stderr): the notice
    /// goes to the stream that overflowed, once it has room again.
    dropped_unreported: [u64; 2],
    /// Removed by a reload; kept as a tombstone so indices stay valid.
    pub removed: bool,
    rss_over: bool,
    /// The service's cgroup directory, once created, and its `cgroup.procs` (open,
    /// close-on-exec; each child writes to it before exec).
    pub cg: Option<std::path::PathBuf>,
    cg_procs: Option<std::fs::File>,
    /// The cgroup directory itself, for clone3's CLONE_INTO_CGROUP.
    cg_dir: Option<std::fs::File>,
    cg_events: Option<std::fs::File>,
    /// /proc/PID/stat of the current process, opened at the first status request.
    pub stat: Option<crate::daemon::requests::StatFile>,
    /// Readiness, health, notify and watchdog state.
    pub ck: Checks,
    /// Its log file, and the lines before its last exit.
    pub logs: SvcLog,
    /// The job this slot runs (jobs.rs); None for a service.
    pub job: Option<u64>,
    /// A stop waiting for forwarded requests to finish (`drain`).
    pub drain: Option<crate::daemon::drain::Drain>,
}

/// One child pipe registered with the loop.
struct Pipe {
    svc: usize,
    is_err: bool,
    rx: Receiver,
    framer: LineFramer,
    passthrough: bool,
    backpressure: bool,
    /// A chunk waiting for room in the sink (backpressure).
    held: Option<Vec<u8>>,
    /// What the pipe holds, while it was not grown (None once it was, or once growing
    /// it failed: it is tried once).
    small: Option<usize>,
    /// A job's pipe not read because a client attached to the job has not been sent
    /// what the ring holds yet (jobs.rs, `attach_room`).
    attach_held: bool,
    /// Not watched by the poll while its service's log file queue is full (see
    /// read_pipe_until).
    parked: bool,
}

/// When to pause before the next poll (see `NAP`).
#[derive(Default)]
struct Nap {
    /// Bytes read from pipes in this turn of the loop.
    read: usize,
    /// When the last turn that read any began.
    last: Option<Instant>,
    /// How many turns in a row read only a little, close together.
    small: u32,
}

impl Nap {
    /// The turn that began at `woke` (after a pause if `napped`) is over.
    fn end_turn(&mut self, woke: Instant, napped: bool) {
        if self.read == 0 {
            return;
        }
        // A turn after a pause is never less than NAP after the one before: it counts
        // as close, or the pauses would stop after each one.
        let close = napped || self.last.is_some_and(|t| woke.saturating_duration_since(t) < NAP);
        self.small = if close && self.read < NAP_BELOW { self.small + 1 } else { 0 };
        self.last = Some(woke);
    }

    /// Whether to pause before the next poll: the last turn read a little, after
    /// enough such turns in a row.
    fn due(&self) -> bool {
        self.read > 0 && self.small >= NAP_AFTER
    }
}

pub(super) struct Shutdown {
    code: i32,
    orphans_signalled: bool,
}

pub struct Supervisor {
    pub(super) cfg: Config,
    pub(super) svcs: Vec<Svc>,
    by_pid: HashMap<u32, usize>,
    pipes: HashMap<Token, Pipe>,
    next_token: usize,
    pub(super) poll: Poll,
    sig: SignalSource,
    pub(super) waker: Arc<Waker>,
    pub(super) timers: Timers,
    stdout: Sink,
    stderr: Sink,
    pending_reads: VecDeque<Token>,
    /// Whether to pause before the next poll (see `NAP`).
    nap: Nap,
    pub(super) shutdown: Option<Shutdown>,
    group_poll_armed: bool,
    children_remain: bool,
    is_pid1: bool,
    name_width: usize,
    exit: Option<i32>,
    seed: u64,
    /// Event lines that could not be queued (stderr not keeping up).
    pub events_dropped: u64,
    /// Event lines not yet queued to stderr, and when they are due.
    notes: Vec<u8>,
    notes_due: Option<Instant>,
    /// /dev/null, opened once and duplicated for every null stdio of a service.
    devnull: std::fs::File,
    /// Signals ignored when tend started, reset to SIG_DFL in every child.
    ignored: Vec<i32>,
    /// `tend | ` padded to the current name width (recomputed with it).
    tend_prefix: Vec<u8>,
    pub(super) control: Control,
    pub(super) events: EventLog,
    /// Who asked for the change being made (set while a request is handled).
    pub(super) requestor: Option<Requestor>,
    pub(super) waiters: Vec<Waiter>,
    /// Connections with stream data queued since the last flush.
    pub(super) dirty: Vec<Token>,
    pub(super) started: Instant,
    accept_retry_armed: bool,
    cgroups: Option<Cgroups>,
    /// Exec probes running, by pid.
    pub(super) probe_pids: HashMap<u32, usize>,
    /// A state, readiness or health changed: waiting services look again.
    pub(super) deps_dirty: bool,
    /// Makes notify socket names unique to this tend (see notify.rs).
    pub(super) nonce: u64,
    /// Log files (log_dir): the writer thread, tend.log, batching.
    pub(super) logs: Logs,
    /// Request forwarding and the HTTP ingress (gateway.rs, ingress.rs).
    pub(super) gw: crate::daemon::gateway::Gateway,
    /// One-shot jobs (jobs.rs).
    pub(super) jobs: crate::daemon::jobs::Jobs,
    /// The sockets of the services' `listen` entries (socket activation).
    listeners: crate::daemon::activation::Listeners,
    /// Generation of the latest drain timer.
    pub(super) drain_gen: u64,
    /// `[job.NAME]` schedules (jobsched.rs).
    pub(super) sched: crate::daemon::jobsched::Schedules,
    /// Terminals of the jobs spawned with `tty` (jobtty.rs).
    pub(super) ttys: crate::daemon::jobtty::Ttys,
}

fn io_err(what: &str, e: std::io::Error) -> Error {
    Error::Io(what.to_string(), e)
}

/// Mark every inherited fd above 2 close-on-exec so no child inherits what tend was
/// given (PITFALLS §8).
fn cloexec_inherited() {
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC only changes fd flags.
    let r = unsafe { libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, libc::CLOSE_RANGE_CLOEXEC) };
    if r == 0 {
        return;
    }
    if let Ok(dir) = std::fs::read_dir("/proc/self/fd") {
        let fds: Vec<i32> = dir.flatten().filter_map(|e| e.file_name().to_str()?.parse().ok()).collect();
        for fd in fds.into_iter().filter(|&fd| fd > 2) {
            // SAFETY: F_SETFD on a possibly stale fd fails harmlessly with EBADF.
            unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
        }
    }
}

/// `NAME | [tend: dropped N bytes of output: tend's stdout was not keeping up]`.
fn drop_notice(name: &str, width: usize, is_err: bool, n: u64) -> Vec<u8> {
    let mut v = prefix(name, width, false);
    v.extend_from_slice(
        format!(
            "[tend: dropped {n} bytes of output: tend's {} was not keeping up]\n",
            if is_err { "stderr" } else { "stdout" }
        )
        .as_bytes(),
    );
    v
}

/// Children of tend still alive (or zombies), from /proc.
fn list_children() -> Vec<i32> {
    let me = std::process::id();
    if let Ok(s) = std::fs::read_to_string(format!("/proc/self/task/{me}/children")) {
        return s.split_whitespace().filter_map(|p| p.parse().ok()).collect();
    }
    let mut out = Vec::new();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for e in dir.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else { continue };
            if let Some((_, ppid, _, _)) = read_stat(pid) {
                if ppid == me as i32 {
                    out.push(pid);
                }
            }
        }
    }
    out
}

/// (state, ppid, pgrp, rss pages) from /proc/PID/stat.
pub(super) fn read_stat(pid: i32) -> Option<(char, i32, i32, u64)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = after.split(' ').collect();
    let state = f.first()?.chars().next()?;
    Some((state, f.get(1)?.parse().ok()?, f.get(2)?.parse().ok()?, f.get(21)?.parse().ok()?))
}

/// True if no process of group `pgid` exists (zombies count as existing).
fn group_empty(pgid: u32) -> bool {
    signals::send(-(pgid as i32), 0) == Err(Errno::ESRCH)
}

impl Svc {
    pub(super) fn new(cfg: ServiceConfig, seed: u64) -> Svc {
        let cap = cfg.log.buffer;
        Svc {
            cfg,
            next_cfg: None,
            m: Machine::new(seed),
            out: Ring::new(cap),
            err: Ring::new(cap),
            dropped: 0,
            dropped_unreported: [0; 2],
            removed: false,
            rss_over: false,
            cg: None,
            cg_procs: None,
            cg_dir: None,
            cg_events: None,
            stat: None,
            ck: Checks::default(),
            logs: SvcLog::default(),
            job: None,
            drain: None,
        }
    }
}

impl Supervisor {
    /// Set up everything: call with signals already taken over (before any thread).
    pub fn new(cfg: Config, socket: std::path::PathBuf) -> Result<Supervisor> {
        cloexec_inherited();
        let is_pid1 = std::process::id() == 1;
        if !is_pid1 {
            nix::sys::prctl::set_child_subreaper(true).map_err(|e| Error::Sys("registering as child subreaper", e))?;
        }
        let poll = Poll::new().map_err(|e| io_err("creating the poll instance", e))?;
        let sig = SignalSource::new()?;
        sig.register(poll.registry(), SIGNALS)?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER).map_err(|e| io_err("creating the waker", e))?);
        let w1 = Arc::clone(&waker);
        let wake: Arc<dyn Fn() + Send + Sync> = Arc::new(move || {
            let _ = w1.wake();
        });
        let stdout = Sink::spawn(1, SINK_LIMIT, Arc::clone(&wake)).map_err(|e| io_err("starting a writer", e))?;
        let stderr = Sink::spawn(2, SINK_LIMIT, Arc::clone(&wake)).map_err(|e| io_err("starting a writer", e))?;
        let logs = Logs::new(cfg.log_dir.clone(), wake);
        let devnull = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/null")
            .map_err(|e| io_err("opening /dev/null", e))?;
        let seed = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1);
        let control = Control::bind(&cfg.control, socket, poll.registry()).map_err(Error::Usage)?;
        let mut s = Supervisor {
            cfg: cfg.clone(),
            svcs: Vec::new(),
            by_pid: HashMap::new(),
            pipes: HashMap::new(),
            next_token: FIRST_PIPE,
            poll,
            sig,
            waker,
            timers: Timers::default(),
            stdout,
            stderr,
            pending_reads: VecDeque::new(),
            nap: Nap::default(),
            shutdown: None,
            group_poll_armed: false,
            children_remain: false,
            is_pid1,
            name_width: 0,
            exit: None,
            seed,
            events_dropped: 0,
            notes: Vec::new(),
            notes_due: None,
            devnull,
            ignored: signals::ignored_now(),
            tend_prefix: Vec::new(),
            control,
            events: EventLog::new(cfg.control.events_history),
            requestor: None,
            waiters: Vec::new(),
            dirty: Vec::new(),
            started: Instant::now(),
            accept_retry_armed: false,
            cgroups: if cfg.cgroups { Cgroups::create() } else { None },
            probe_pids: HashMap::new(),
            deps_dirty: false,
            nonce: seed,
            logs,
            gw: Default::default(),
            jobs: crate::daemon::jobs::Jobs::new(cfg.job_history),
            listeners: Default::default(),
            drain_gen: 0,
            sched: Default::default(),
            ttys: Default::default(),
        };
        s.start_ingress()?;
        for c in &cfg.services {
            s.listeners
                .bind_missing(c.listen.iter().map(|l| &l.addr))
                .map_err(|e| Error::Usage(format!("service {}: {e}", c.name)))?;
        }
        for c in cfg.services {
            let seed = s.next_seed();
            s.svcs.push(Svc::new(c, seed));
        }
        s.start_schedules(cfg.jobs);
        s.update_width();
        Ok(s)
    }

    pub(super) fn next_seed(&mut self) -> u64 {
        self.seed = self.seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.seed
    }

    fn update_width(&mut self) {
        self.name_width = self
            .svcs
            .iter()
            .filter(|s| !s.removed && s.job.is_none())
            .map(|s| s.cfg.name.len())
            .max()
            .unwrap_or(0)
            .max(4);
        self.tend_prefix = prefix("tend", self.name_width, self.stderr.is_tty);
    }

    /// One line of tend's own events on stderr: `tend | TIME message`. Lines are
    /// batched and queued once per loop iteration ([`Supervisor::flush_notes`]).
    pub(super) fn note(&mut self, msg: &str) {
        let ts = crate::timefmt::rfc3339(SystemTime::now());
        self.note_at(&ts, msg, None);
    }

    fn note_at(&mut self, ts: &str, msg: &str, by: Option<&Requestor>) {
        use std::io::Write;
        if self.notes_due.is_none() {
            self.notes_due = Some(Instant::now() + NOTES_DELAY);
        }
        self.notes.extend_from_slice(&self.tend_prefix);
        let start = self.notes.len();
        let _ = write!(self.notes, "{ts} {msg}");
        if let Some(r) = by {
            let _ = write!(self.notes, "{}", by_whom(r));
        }
        // The same line, without the prefix, in tend.log.
        self.logs.tend_line(&String::from_utf8_lossy(&self.notes[start..]));
        self.notes.push(b'\n');
    }

    /// An event: one line on tend's stderr (naming who asked, if a client did) and one
    /// entry in the history, with the same time stamp.
    pub(super) fn announce(&mut self, line: &str, mut ev: EventInfo) {
        ev.ts = crate::timefmt::rfc3339(SystemTime::now());
        self.note_at(&ev.ts, line, ev.requestor.as_ref());
        for l in &ev.output {
            let stream = if l.stream == crate::proto::msg::Stream::Stderr { "stderr" } else { "stdout" };
            self.logs.tend_line(&format!("    {stream} | {}", l.line));
        }
        self.record(ev);
    }

    fn flush_notes(&mut self) {
        self.notes_due = None;
        if self.notes.is_empty() {
            return;
        }
        let batch = std::mem::take(&mut self.notes);
        if self.stderr.try_send(batch).is_err() {
            self.events_dropped += 1;
        }
    }

    /// Run until tend should exit; returns the exit code.
    pub fn run(mut self) -> i32 {
        let line = format!(
            "tend {} supervising {} service(s) from {}, control socket {} (pid {})",
            crate::VERSION,
            self.svcs.len(),
            self.cfg.path.display(),
            self.control.path.display(),
            std::process::id()
        );
        self.logs_start();
        self.announce(&line, EventInfo { kind: "daemon".into(), reason: line.clone(), ..Default::default() });
        for idx in 0..self.svcs.len() {
            if self.svcs[idx].cfg.autostart && !self.svcs[idx].m.state.is_active() {
                self.start_service(idx);
            }
        }
        self.timers.add(Instant::now() + control::INPUT_TIMEOUT / 2, Timer::ControlSweep);
        if self.svcs.iter().any(|s| s.cfg.max_rss.is_some()) {
            self.timers.add(Instant::now() + Duration::from_secs(1), Timer::RssTick);
        }
        if self.ingress_active() {
            self.timers.add(Instant::now() + Duration::from_secs(1), Timer::IngressSweep);
        }
        let mut events = Events::with_capacity(256);
        let mut received: Vec<Received> = Vec::new();
        // When the last turn began: the clock is read once per turn (deadlines seen from
        // it are late by at most the time a turn takes).
        let mut now = Instant::now();
        loop {
            self.check_finished();
            if let Some(code) = self.exit {
                self.drain_for_exit();
                let line = format!("exiting with status {code}");
                self.announce(&line, EventInfo { kind: "daemon".into(), reason: line.clone(), ..Default::default() });
                self.end_all_streams();
                self.flush_dirty();
                self.control.remove_files();
                // The `listen` sockets' files go too (every service has ended).
                self.listeners.close_unlisted(std::iter::empty());
                if let Some(cgs) = &self.cgroups {
                    cgs.remove_all();
                }
                self.flush_notes();
                self.finish_logs();
                self.stdout.finish(Duration::from_secs(1));
                self.stderr.finish(Duration::from_secs(1));
                return code;
            }
            if self.notes.len() >= NOTES_BATCH || self.notes_due.is_some_and(|t| t <= now) {
                self.flush_notes();
            }
            let logs_due = self.flush_logs(now, false);
            let timeout = if self.pending_reads.is_empty() {
                let notes = match (self.notes_due, logs_due) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                let notes = notes.map(|t| t.saturating_duration_since(now));
                match (self.timers.timeout(now), notes) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                }
            } else {
                Some(Duration::ZERO)
            };
            let napped = self.nap.due() && timeout != Some(Duration::ZERO);
            if napped {
                std::thread::sleep(NAP);
            }
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() != std::io::ErrorKind::Interrupted {
                    self.note(&format!("poll failed: {e}"));
                    std::thread::sleep(Duration::from_millis(10));
                }
                continue;
            }
            let woke = Instant::now();
            now = woke;
            self.logs.woke(woke);
            self.nap.read = 0;
            let mut sig_ready = false;
            let mut woken = false;
            for ev in events.iter() {
                match ev.token() {
                    SIGNALS => sig_ready = true,
                    WAKER => woken = true,
                    LISTENER => self.on_control(LISTENER),
                    t if t.0 >= crate::daemon::fastpath::UPSTREAM_BASE => self.on_upstream(t),
                    t if Supervisor::is_ingress_token(t) => self.on_ingress(t),
                    t if t.0 >= CONN_BASE => self.on_control(t),
                    t if t.0 >= readiness::PROBE_BASE => self.on_probe_event(t.0 - readiness::PROBE_BASE),
                    t if t.0 >= readiness::READY_FD_BASE => self.on_ready_fd(t.0 - readiness::READY_FD_BASE),
                    t if t.0 >= readiness::NOTIFY_BASE => self.on_notify(t.0 - readiness::NOTIFY_BASE),
                    t if self.jobs.inputs.contains_key(&t) => self.on_job_input(t),
                    // A pipe whose writers are all gone is read to its EOF; otherwise a
                    // short read means it is empty (see read_pipe).
                    t => self.read_pipe_until(t, ev.is_read_closed() || ev.is_error()),
                }
            }
            for _ in 0..self.pending_reads.len() {
                if let Some(t) = self.pending_reads.pop_front() {
                    self.read_pipe(t);
                }
            }
            if woken {
                self.on_forward_results();
                self.unblock_pipes();
                self.report_drops();
                for idx in self.on_log_wake() {
                    self.read_service(idx);
                }
            }
            if sig_ready {
                received.clear();
                if let Err(e) = self.sig.drain(&mut received) {
                    self.note(&format!("reading signals failed: {e}"));
                }
                let mut chld = false;
                for r in &received {
                    if r.signo == libc::SIGCHLD {
                        chld = true;
                    } else {
                        self.on_signal(r.signo);
                    }
                }
                if chld {
                    self.reap();
                }
            }
            for t in self.timers.expired(woke) {
                self.on_timer(t);
            }
            self.check_waiting();
            self.serve_pending();
            self.check_waiters();
            if !self.jobs.waits.is_empty() {
                self.check_job_waits();
            }
            self.flush_dirty();
            // A stream of small pieces (a service writing small pieces flat out): let
            // them gather in the pipe for a moment rather than wake for each one.
            self.nap.end_turn(woke, napped);
        }
    }

    pub(super) fn arm_accept_retry(&mut self) {
        if !self.accept_retry_armed {
            self.accept_retry_armed = true;
            self.note("accepting control connections failed (out of file descriptors?): retrying in 100ms");
            self.timers.add(Instant::now() + ACCEPT_RETRY, Timer::AcceptRetry);
        }
    }

    // --- events into machines, actions out --------------------------------------------

    /// Feed an event to service `idx` and perform the actions, until none are left.
    pub(super) fn feed(&mut self, idx: usize, ev: Event) {
        let mut queue = VecDeque::from([ev]);
        while let Some(ev) = queue.pop_front() {
            let now = Instant::now();
            let svc = &mut self.svcs[idx];
            let old = svc.m.state;
            // Taken, not cloned: a step that changes nothing leaves `reason` empty and
            // gets the old one back; a step that says why is worth an event line.
            let old_reason = std::mem::take(&mut svc.m.reason);
            let acts = svc.m.step(&svc.cfg, ev, now);
            let new = svc.m.state;
            let said = !svc.m.reason.is_empty();
            if !said {
                svc.m.reason = old_reason;
            }
            if new != old || said {
                let exit = match ev {
                    Event::Exited { status, .. } => Some(exit_info(status)),
                    _ => None,
                };
                // An exit carries the last lines the service wrote (read to the end of
                // its pipes by on_exit).
                let output = match exit {
                    Some(_) => {
                        crate::daemon::logview::last_lines([&svc.out, &svc.err], svc.cfg.log.exit_lines as usize)
                    }
                    None => Vec::new(),
                };
                if exit.is_some() {
                    svc.logs.last_output = output.clone();
                }
                let line = format!("{} {old}->{new}: {}", svc.cfg.name, svc.m.reason);
                let event = EventInfo {
                    service: if svc.job.is_some() { String::new() } else { svc.cfg.name.clone() },
                    job: svc.job,
                    kind: "state".into(),
                    from: old.as_str().into(),
                    to: new.as_str().into(),
                    reason: svc.m.reason.clone(),
                    exit,
                    requestor: self.requestor.clone(),
                    output,
                    ..Default::default()
                };
                self.announce(&line, event);
            }
            if new != old {
                self.deps_dirty = true;
                let live = |s: State| matches!(s, State::Starting | State::Running);
                if live(old) && !live(new) {
                    self.end_checks(idx);
                } else if old == State::Starting && new == State::Running {
                    self.on_ready(idx);
                }
            }
            for a in acts {
                match a {
                    Action::Spawn => {
                        if let Some(n) = self.svcs[idx].next_cfg.take() {
                            self.svcs[idx].cfg = n;
                        }
                        self.log_configure(idx);
                        self.job_attempt(idx);
                        match self.spawn(idx, None) {
                            Ok(pid) => {
                                self.after_spawn(idx);
                                self.job_spawned(idx);
                                queue.push_back(Event::Spawned { pid });
                            }
                            Err(e) => {
                                let c = &self.svcs[idx].cfg;
                                let line = format!(
                                    "{}: spawn failed: {} {}: {}",
                                    c.name,
                                    e.step_name(),
                                    match e.step {
                                        spawn::Step::Chdir => c.cwd.as_ref().map(|d| d.display().to_string()),
                                        _ => c.command.first().cloned(),
                                    }
                                    .unwrap_or_default(),
                                    e.reason()
                                );
                                let (name, job) = (self.svcs[idx].cfg.name.clone(), self.svcs[idx].job);
                                let ev = EventInfo {
                                    service: if job.is_some() { String::new() } else { name },
                                    job,
                                    kind: "spawn_failed".into(),
                                    reason: line.clone(),
                                    ..Default::default()
                                };
                                self.announce(&line, ev);
                                let spawn_msg = format!(
                                    "spawn failed: {} {}: {}",
                                    e.step_name(),
                                    match e.step {
                                        spawn::Step::Chdir =>
                                            self.svcs[idx].cfg.cwd.as_ref().map(|d| d.display().to_string()),
                                        _ => self.svcs[idx].cfg.command.first().cloned(),
                                    }
                                    .unwrap_or_default(),
                                    e.reason()
                                );
                                self.job_spawn_failed(idx, e.errno.map(|n| n as i32), spawn_msg);
                                queue.push_back(Event::SpawnFailed);
                            }
                        }
                    }
                    Action::Signal { signo, group } => self.signal_service(idx, signo, group),
                    Action::ArmTimer { after, gen } => self.timers.add(now + after, Timer::Service { idx, gen }),
                    Action::WatchGroup => self.arm_group_poll(),
                }
            }
        }
        if self.svcs[idx].job.is_some() {
            self.job_check(idx);
        }
    }

    /// True when no process of the service is left: its process group is empty and,
    /// with a cgroup, the cgroup is not populated.
    fn svc_empty(&mut self, idx: usize, pgid: u32) -> bool {
        if !group_empty(pgid) {
            return false;
        }
        let svc = &mut self.svcs[idx];
        let Some(dir) = &svc.cg else { return true };
        if svc.cg_events.is_none() {
            svc.cg_events = cgroup::events_file(dir).ok();
        }
        match svc.cg_events.as_ref().and_then(cgroup::populated_in) {
            Some(p) => !p,
            None => !cgroup::populated(dir),
        }
    }

    fn signal_service(&mut self, idx: usize, signo: i32, group: bool) {
        if group {
            if let (Some(cgs), Some(dir)) = (&self.cgroups, &self.svcs[idx].cg) {
                if signo == libc::SIGKILL {
                    cgs.kill(dir);
                } else {
                    cgroup::signal(dir, signo);
                }
            }
        }
        let m = &self.svcs[idx].m;
        let target = match (group, m.pgid, m.pid) {
            (true, Some(pg), _) => -(pg as i32),
            (_, _, Some(pid)) => pid as i32,
            _ => return,
        };
        match signals::send(target, signo) {
            Ok(()) | Err(Errno::ESRCH) => {}
            Err(e) => {
                let name = self.svcs[idx].cfg.name.clone();
                self.note(&format!("{name}: sending {} failed: {}", signals::signal_name(signo), e.desc()));
            }
        }
    }

    fn arm_group_poll(&mut self) {
        if !self.group_poll_armed {
            self.group_poll_armed = true;
            self.timers.add(Instant::now() + GROUP_POLL, Timer::GroupPoll);
        }
    }

    /// Feed `GroupEmpty` to every service whose leftover group has gone.
    fn check_groups(&mut self) -> bool {
        let mut waiting = false;
        for idx in 0..self.svcs.len() {
            let m = &self.svcs[idx].m;
            if let (None, Some(pg)) = (m.pid, m.pgid) {
                if self.svc_empty(idx, pg) {
                    self.feed(idx, Event::GroupEmpty);
                } else {
                    waiting = true;
                }
            }
        }
        waiting
    }

    // --- spawning -----------------------------------------------------------------------

    /// The service's `cgroup.procs`, for the child to join; None without cgroups (or
    /// if creating this one failed: the service then runs in its process group only).
    /// Create the service's cgroup ahead of its first spawn.
    pub(super) fn prepare_cgroup(&mut self, idx: usize) {
        let _ = self.service_cgroup(idx);
    }

    fn service_cgroup(&mut self, idx: usize) -> Option<(std::os::fd::RawFd, Option<std::os::fd::RawFd>)> {
        let cgs = self.cgroups.as_ref()?;
        let svc = &mut self.svcs[idx];
        if svc.job.is_some() {
            // A job runs in its own session and process group, not in a cgroup: one
            // directory per job would outlive it.
            return None;
        }
        if let Some(f) = &svc.cg_procs {
            return Some((f.as_raw_fd(), svc.cg_dir.as_ref().map(|d| d.as_raw_fd())));
        }
        let res = match &svc.cg {
            Some(dir) => Cgroups::procs_file(dir),
            None => cgs.service(&svc.cfg.name).and_then(|dir| {
                let f = Cgroups::procs_file(&dir);
                svc.cg = Some(dir);
                f
            }),
        };
        match res {
            Ok(f) => {
                // Kept open for the next spawns: opening a kernfs file for every
                // restart of a crash loop is measurable.
                let fd = f.as_raw_fd();
                svc.cg_procs = Some(f);
                svc.cg_dir = svc.cg.as_ref().and_then(|d| cgroup::dir_file(d).ok());
                Some((fd, svc.cg_dir.as_ref().map(|d| d.as_raw_fd())))
            }
            Err(e) => {
                let name = svc.cfg.name.clone();
                self.note(&format!("{name}: cannot use a cgroup ({e}); using its process group only"));
                None
            }
        }
    }

    /// Spawn the service's command, or (`probe`) an exec probe's command with the
    /// service's user, environment, directory and output, outside its cgroup.
    pub(super) fn spawn(
        &mut self,
        idx: usize,
        probe: Option<&[String]>,
    ) -> std::result::Result<u32, spawn::SpawnError> {
        let procs = if probe.is_some() { None } else { self.service_cgroup(idx) };
        let notify = if probe.is_none() { self.notify_name(idx) } else { None };
        let tty = if probe.is_none() { self.job_pty(idx)? } else { None };
        let c = &self.svcs[idx].cfg;
        let argv = probe.unwrap_or(&c.command);
        let Some(program) = argv.first() else {
            return Err(spawn::SpawnError::parent(std::io::Error::from(std::io::ErrorKind::InvalidInput)));
        };
        let mut cmd = Command::new(program);
        cmd.args(&argv[1..]);
        if c.clear_env {
            cmd.env_clear();
        }
        if let Some(ra) = &c.run_as {
            if !ra.user.bytes().all(|b| b.is_ascii_digit()) {
                cmd.env("USER", &ra.user).env("LOGNAME", &ra.user);
            }
            if let Some(h) = &ra.home {
                cmd.env("HOME", h);
            }
        }
        cmd.env("TEND_SOCKET", &self.control.path);
        for (k, v) in &c.env {
            cmd.env(k, v);
        }
        if let Some(n) = &notify {
            cmd.env("NOTIFY_SOCKET", n);
            if let Some(w) = c.watchdog {
                cmd.env("WATCHDOG_USEC", w.as_micros().to_string());
            }
        }
        // Socket activation for the service itself; an exec probe gets none of it.
        let listen: &[crate::config::Listen] = if probe.is_none() { &c.listen } else { &[] };
        self.listeners.prepare(listen, &mut cmd).map_err(spawn::SpawnError::parent)?;
        let mut ready_rx = None;
        if let (crate::config::Ready::Fd(n), None) = (&c.ready, probe) {
            let (r, w) = std::io::pipe().map_err(spawn::SpawnError::parent)?;
            cmd.extra_fd(*n, w.into());
            ready_rx = Some(r);
        }
        // chdir happens in the child after the user switch (ChildSetup::cwd), so a
        // failure is reported as chdir's, not as the exec's (std's current_dir would be).
        let cwd = match &c.cwd {
            Some(d) => Some(
                std::ffi::CString::new(d.as_os_str().as_encoded_bytes())
                    .map_err(|_| spawn::SpawnError::parent(std::io::Error::from(std::io::ErrorKind::InvalidInput)))?,
            ),
            None => None,
        };
        // One /dev/null, duplicated (F_DUPFD_CLOEXEC), instead of std opening it anew
        // for every null stream of every spawn.
        let null = |f: &std::fs::File| f.try_clone().map(Stdio::from).map_err(spawn::SpawnError::parent);
        let mut stdin_writer: Option<OwnedFd> = None;
        let mut readers: Vec<(OwnedFd, bool, bool)> = Vec::new(); // (fd, is_err, passthrough)
        let pipe_err = spawn::SpawnError::parent;
        let mut stdout_writer = None;
        let controlling_tty = tty.is_some();
        if let Some(pty) = tty {
            // The job's terminal on 0, 1 and 2; tend reads the master as its stdout
            // and writes keystrokes to it through the job's input queue (jobtty.rs).
            cmd.stdin(pty.slave.try_clone().map_err(pipe_err)?);
            cmd.stdout(pty.slave.try_clone().map_err(pipe_err)?);
            cmd.stderr(pty.slave);
            stdin_writer = Some(pty.master.try_clone().map_err(pipe_err)?);
            readers.push((pty.master, false, false));
        } else {
            if probe.is_none() && self.job_wants_stdin(idx) {
                let (r, w) = std::io::pipe().map_err(spawn::SpawnError::parent)?;
                cmd.stdin(r);
                stdin_writer = Some(w.into());
            } else {
                cmd.stdin(null(&self.devnull)?);
            }
            match c.stdout {
                Output::Passthrough | Output::Capture | Output::Stdout => {
                    let (r, w) = std::io::pipe().map_err(pipe_err)?;
                    readers.push((r.into(), false, c.stdout != Output::Capture));
                    stdout_writer = Some(w.try_clone().map_err(pipe_err)?);
                    cmd.stdout(w);
                }
                Output::Inherit => {
                    cmd.stdout(Stdio::inherit());
                }
                Output::Null => {
                    cmd.stdout(null(&self.devnull)?);
                }
            }
            match c.stderr {
                Output::Passthrough | Output::Capture => {
                    let (r, w) = std::io::pipe().map_err(pipe_err)?;
                    readers.push((r.into(), true, c.stderr == Output::Passthrough));
                    cmd.stderr(w);
                }
                Output::Stdout => match stdout_writer.take() {
                    Some(w) => {
                        cmd.stderr(w);
                    }
                    None if c.stdout == Output::Inherit => {
                        let fd = std::io::stdout().as_fd().try_clone_to_owned().map_err(pipe_err)?;
                        cmd.stderr(Stdio::from(fd));
                    }
                    None => {
                        cmd.stderr(null(&self.devnull)?);
                    }
                },
                Output::Inherit => {
                    cmd.stderr(Stdio::inherit());
                }
                Output::Null => {
                    cmd.stderr(null(&self.devnull)?);
                }
            }
        }
        drop(stdout_writer);
        let setup = ChildSetup {
            group: Group::NewSession,
            pdeathsig: if self.is_pid1 { None } else { Some(libc::SIGKILL) },
            rlimits: c.rlimits.iter().map(|r| (r.resource, r.soft as libc::rlim_t, r.hard as libc::rlim_t)).collect(),
            umask: c.umask.map(|m| m as libc::mode_t),
            user: c.run_as.as_ref().map(|ra| UserSwitch { uid: ra.uid, gid: ra.gid, groups: ra.groups.clone() }),
            cwd,
            cgroup_procs: procs.map(|p| p.0),
            cgroup_dir: procs.and_then(|p| p.1),
            controlling_tty,
            ..ChildSetup::new(self.ignored.clone())
        };
        let pid = spawn::spawn(&mut cmd, setup)?;
        drop(cmd); // closes the parent's copies of the write ends (PITFALLS §7)
        if let Some(w) = stdin_writer {
            self.job_stdin_opened(idx, w);
        }
        self.children_remain = true;
        if probe.is_some() {
            self.probe_pids.insert(pid, idx);
        } else {
            self.by_pid.insert(pid, idx);
        }
        if let Some(r) = ready_rx {
            self.watch_ready_fd(idx, r);
        }
        for (fd, is_err, passthrough) in readers {
            self.watch_output(idx, fd, is_err, passthrough);
        }
        Ok(pid)
    }

    /// Read `fd` (the read end of a child's stdout or stderr pipe; a pseudo-terminal's
    /// master works too) into slot `idx`'s ring for `is_err`, as the spawn does for the
    /// pipes it makes: log file, passthrough (`passthrough`), followers, attached
    /// clients. The fd is made non-blocking and watched until its end of file.
    pub(super) fn watch_output(&mut self, idx: usize, fd: OwnedFd, is_err: bool, passthrough: bool) {
        let name = self.svcs[idx].cfg.name.clone();
        let (log, color_cfg) = (self.svcs[idx].cfg.log, self.svcs[idx].cfg.log.color);
        let token = self.new_token();
        let mut rx = Receiver::from(fd);
        if let Err(e) = rx.set_nonblocking(true) {
            self.note(&format!("{name}: cannot make its pipe non-blocking: {e}"));
            return;
        }
        if let Err(e) = self.poll.registry().register(&mut rx, token, Interest::READABLE) {
            self.note(&format!("{name}: cannot watch its pipe: {e}"));
            return;
        }
        let sink_tty = if is_err { self.stderr.is_tty } else { self.stdout.is_tty };
        let pfx = if log.prefix { prefix(&name, self.name_width, color_cfg.unwrap_or(sink_tty)) } else { vec![] };
        self.pipes.insert(
            token,
            Pipe {
                svc: idx,
                is_err,
                rx,
                framer: LineFramer::new(pfx),
                passthrough,
                backpressure: log.backpressure,
                held: None,
                small: Some(PIPE_DEFAULT),
                attach_held: false,
                parked: false,
            },
        );
    }

    /// A poll token of the pipe range, never used before.
    pub(super) fn new_token(&mut self) -> Token {
        let t = Token(self.next_token);
        self.next_token += 1;
        t
    }

    /// Whether a pipe of slot `idx` is still open (a job slot is reused only after).
    pub(super) fn slot_has_pipes(&self, idx: usize) -> bool {
        self.pipes.values().any(|p| p.svc == idx)
    }

    /// Whether a pipe of slot `idx` holds output not read for an attached client.
    pub(super) fn slot_attach_held(&self, idx: usize) -> bool {
        self.pipes.values().any(|p| p.svc == idx && p.attach_held)
    }

    /// An attached client of slot `idx` was sent more: read its held pipes again.
    pub(super) fn resume_attach_held(&mut self, idx: usize) {
        for (&t, p) in self.pipes.iter_mut() {
            if p.svc == idx && p.attach_held {
                p.attach_held = false;
                self.pending_reads.push_back(t);
            }
        }
    }

    // --- output ---------------------------------------------------------------------------

    fn read_pipe(&mut self, token: Token) {
        self.read_pipe_until(token, true);
    }

    /// Read a pipe into its service's ring until it would block, or, unless `to_end`,
    /// until a read returns less than asked: a pipe read returns all the pipe holds up
    /// to the size asked, so the pipe is then empty, and data written after it brings
    /// a new edge-triggered event. That saves a read(2) that would fail with EAGAIN on
    /// every wake-up. Not when the event said the writers are gone (EPOLLHUP): the end
    /// of file would bring no new event.
    fn read_pipe_until(&mut self, token: Token, to_end: bool) {
        let mut budget = READ_BUDGET;
        let mut eof = false;
        // Why the reads stopped: the log file's queue is full, or the read budget is
        // spent (the pipe is read again from pending_reads).
        let mut log_full = false;
        let mut requeued = false;
        while let Some(p) = self.pipes.get_mut(&token) {
            if p.held.is_some() {
                break;
            }
            let sink = if p.is_err { &self.stderr } else { &self.stdout };
            if p.passthrough && p.backpressure && !sink.has_room(READ_MAX) && !sink.want_wake(READ_MAX) {
                break;
            }
            let svc = &mut self.svcs[p.svc];
            // The log file's queue is full: the writer wakes the loop when it is not.
            let ring = if p.is_err { &mut svc.err } else { &mut svc.out };
            let Some(max) = svc.logs.room(self.logs.writer_ref(), p.svc, READ_MAX, ring) else {
                log_full = true;
                break;
            };
            // A job with a client attached: no more than that client can still be
            // sent without the ring overwriting what it has not had (the job waits on
            // its pipe instead, as under `docker run`).
            let max = match svc.job {
                Some(_) => {
                    let room = crate::daemon::jobs::attach_room(&self.jobs, &self.control, p.svc, svc, p.is_err);
                    p.attach_held = room < max;
                    max.min(room)
                }
                None => max,
            };
            if max == 0 {
                break;
            }
            // Straight into the ring: the only copy of the bytes tend makes for them
            // (the log file is written from the ring, see logging.rs).
            let ring = if p.is_err { &mut svc.err } else { &mut svc.out };
            let slot = ring.slot(max);
            let asked = slot.len();
            if asked == 0 {
                // Not a state room() returns; an empty read would look like the end of file.
                break;
            }
            match p.rx.read(slot) {
                Ok(0) => {
                    eof = true;
                    break;
                }
                Ok(n) => {
                    if p.small.is_some_and(|cap| n >= cap) {
                        // The pipe was full: the child writes flat out (see output.rs). Past
                        // the user's pipe limits it stays as it is, which only costs
                        // more reads.
                        p.small = None;
                        let _ = grow_pipe(p.rx.as_fd(), PIPE_FLOOD);
                    }
                    let t = self.logs.next_time();
                    ring.commit(n, t);
                    self.nap.read += n;
                    self.capture(token, n, t);
                    budget = budget.saturating_sub(n);
                    if budget == 0 {
                        self.pending_reads.push_back(token);
                        requeued = true;
                        break;
                    }
                    if n < asked && !to_end {
                        break;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => {
                    eof = true;
                    break;
                }
            }
        }
        if eof {
            if let Some(mut p) = self.pipes.remove(&token) {
                self.log_stream_end(p.svc, u8::from(p.is_err));
                let mut tail = Vec::new();
                p.framer.flush(&mut tail);
                if p.passthrough && !tail.is_empty() {
                    let sink = if p.is_err { &self.stderr } else { &self.stdout };
                    if let Err(tail) = sink.try_send(tail) {
                        let svc = &mut self.svcs[p.svc];
                        svc.dropped += tail.len() as u64;
                        svc.dropped_unreported[usize::from(p.is_err)] += tail.len() as u64;
                    }
                }
                let _ = self.poll.registry().deregister(&mut p.rx);
            }
        } else if let Some(p) = self.pipes.get_mut(&token) {
            // While the log file's queue is full the pipe is not watched: the service
            // goes on writing into it until it is full, and with epoll every write(2)
            // to a pipe is an event, each a wake-up that could read nothing. The writer
            // thread's wake-up reads the pipe again (on_log_wake); the pipe is watched
            // again once a read stops for another reason (it was emptied, say), and
            // registering reports it at once if it holds bytes then.
            if log_full && !p.parked {
                p.parked = self.poll.registry().deregister(&mut p.rx).is_ok();
            } else if p.parked && !log_full && !requeued {
                match self.poll.registry().register(&mut p.rx, token, Interest::READABLE) {
                    Ok(()) => p.parked = false,
                    // Not watched: read it again at the next turn until it is.
                    Err(_) => self.pending_reads.push_back(token),
                }
            }
        }
    }

    /// The `n` bytes just read into the ring (at `t`): to the log file's batch, the
    /// passthrough queue and the followers.
    fn capture(&mut self, token: Token, n: usize, t: u64) {
        let Some(p) = self.pipes.get_mut(&token) else { return };
        let (idx, is_err) = (p.svc, p.is_err);
        let svc = &mut self.svcs[idx];
        let ring = if is_err { &mut svc.err } else { &mut svc.out };
        svc.logs.capture(&mut self.logs, idx, u8::from(is_err), t, ring, n);
        let data = ring.recent(n);
        let mut dropped_event = None;
        if p.passthrough {
            let mut chunk = Vec::with_capacity(data.len() + 64);
            p.framer.feed(data, &mut chunk);
            let sink = if is_err { &self.stderr } else { &self.stdout };
            let stream = usize::from(is_err);
            if svc.dropped_unreported[stream] > 0 && sink.has_room(chunk.len() + 256) {
                let note = drop_notice(&svc.cfg.name, self.name_width, is_err, svc.dropped_unreported[stream]);
                if sink.try_send(note).is_ok() {
                    svc.dropped_unreported[stream] = 0;
                }
            }
            if let Err(chunk) = sink.try_send(chunk) {
                if p.backpressure {
                    // try_send asked the writer for a wake-up.
                    p.held = Some(chunk);
                } else {
                    svc.dropped += chunk.len() as u64;
                    svc.dropped_unreported[stream] += chunk.len() as u64;
                    if svc.logs.drop_event_due(Instant::now()) {
                        let reason = format!(
                            "passthrough output dropped ({} bytes so far): tend's {} is not keeping up",
                            svc.dropped,
                            if is_err { "stderr" } else { "stdout" }
                        );
                        dropped_event = Some((svc.cfg.name.clone(), reason));
                    }
                }
            }
        }
        if let Some((name, reason)) = dropped_event {
            let line = format!("{name}: {reason}");
            let ev = EventInfo { service: name, kind: "output_dropped".into(), reason, ..Default::default() };
            self.announce(&line, ev);
        }
        if self.control.log_followers > 0 {
            self.pump_followers(idx, usize::from(is_err));
        }
    }

    /// Read again (at the next turn) service `idx`'s pipes left unwatched while its log
    /// file's queue was full.
    pub(super) fn reread_parked(&mut self, idx: usize) {
        for (&t, p) in &self.pipes {
            if p.svc == idx && p.parked {
                self.pending_reads.push_back(t);
            }
        }
    }

    /// Read every pipe of service `idx` as far as it goes now.
    fn read_service(&mut self, idx: usize) {
        let tokens: Vec<Token> = self.pipes.iter().filter(|(_, p)| p.svc == idx).map(|(&t, _)| t).collect();
        for t in tokens {
            self.read_pipe(t);
        }
    }

    /// Before exiting: read what the pipes still hold and hand it to the log files,
    /// waiting (for a bounded time) while a file's queue is full.
    fn drain_for_exit(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let tokens: Vec<Token> = self.pipes.keys().copied().collect();
            for t in tokens {
                self.read_pipe(t);
            }
            self.pending_reads.clear();
            self.flush_logs(Instant::now(), true);
            if !self.logs_blocked() || Instant::now() >= deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
            self.on_log_wake();
        }
    }

    /// Announce drops that are still unreported (the service may have gone quiet or
    /// exited since) on the stream that overflowed, if it has room now; otherwise ask
    /// the writer to wake the loop when it has.
    fn report_drops(&mut self) {
        for svc in &mut self.svcs {
            for (stream, is_err) in [(0, false), (1, true)] {
                let n = svc.dropped_unreported[stream];
                if n == 0 {
                    continue;
                }
                let sink = if is_err { &self.stderr } else { &self.stdout };
                if (sink.has_room(256) || sink.want_wake(256))
                    && sink.try_send(drop_notice(&svc.cfg.name, self.name_width, is_err, n)).is_ok()
                {
                    svc.dropped_unreported[stream] = 0;
                }
            }
        }
    }

    /// The writer made room: resend held chunks and resume reading.
    fn unblock_pipes(&mut self) {
        for (&t, p) in self.pipes.iter_mut() {
            if !(p.backpressure && p.passthrough) {
                continue;
            }
            let sink = if p.is_err { &self.stderr } else { &self.stdout };
            if let Some(chunk) = p.held.take() {
                if let Err(chunk) = sink.try_send(chunk) {
                    // try_send asked the writer for a wake-up.
                    p.held = Some(chunk);
                    continue;
                }
            }
            self.pending_reads.push_back(t);
        }
    }

    // --- reaping ----------------------------------------------------------------------------

    fn reap(&mut self) {
        let mut changes: Vec<(i32, Status)> = Vec::new();
        match reap::reap_all(true, |pid, st| changes.push((pid, st))) {
            Ok(remain) => self.children_remain = remain,
            Err(e) => self.note(&format!("waitpid failed: {}", e.desc())),
        }
        let mut orphan_reaped = false;
        for (pid, st) in changes {
            let Some(&idx) = self.by_pid.get(&(pid as u32)) else {
                if st.is_final() {
                    match self.probe_pids.remove(&(pid as u32)) {
                        Some(idx) => self.probe_exited(idx, pid as u32, st),
                        None => orphan_reaped = true,
                    }
                }
                continue;
            };
            match st {
                Status::Stopped(sig) => self.feed(idx, Event::KernelStopped(sig)),
                Status::Continued => self.feed(idx, Event::KernelContinued),
                Status::Exited(_) | Status::Signaled { .. } => {
                    self.by_pid.remove(&(pid as u32));
                    self.on_exit(idx, pid as u32, st);
                }
            }
        }
        if orphan_reaped {
            self.check_groups();
        }
    }

    fn on_exit(&mut self, idx: usize, pid: u32, status: Status) {
        // What it wrote before exiting is in its pipes: read it first, for the exit's
        // last lines.
        self.read_service(idx);
        let is_main = self.cfg.main.as_deref() == Some(self.svcs[idx].cfg.name.as_str());
        let deciding = self.shutdown.is_none() && self.svcs[idx].m.state != State::Stopping;
        if is_main && deciding {
            // main's exit ends tend: no restart, whatever its policy.
            self.svcs[idx].m.shutting_down = true;
        }
        let empty = self.svc_empty(idx, pid);
        self.feed(idx, Event::Exited { status, group_empty: empty });
        if !empty && self.svcs[idx].m.pgid.is_some() {
            self.arm_group_poll();
        }
        if !deciding {
            return;
        }
        let name = self.svcs[idx].cfg.name.clone();
        let code = status.shell_code().unwrap_or(exit::FAILURE);
        let why = if is_main {
            format!("main service {name} {}: shutting down", describe(status))
        } else if self.svcs[idx].cfg.essential && self.svcs[idx].m.state == State::Failed {
            format!("essential service {name} failed: shutting down")
        } else {
            return;
        };
        let ev = EventInfo {
            service: name,
            kind: "shutdown".into(),
            reason: why.clone(),
            exit: Some(exit_info(status)),
            ..Default::default()
        };
        self.announce(&why, ev);
        self.begin_shutdown(code);
    }

    // --- signals, timers, shutdown ------------------------------------------------------------

    fn on_signal(&mut self, signo: i32) {
        if signo == libc::SIGUSR1 {
            // Reopen the log files (after an outside rotation); still forwarded below.
            self.reopen_logs();
        }
        match signo {
            libc::SIGTERM | libc::SIGINT => {
                if self.shutdown.is_none() {
                    let why = format!("received {}: shutting down", signals::signal_name(signo));
                    self.announce(
                        &why,
                        EventInfo { kind: "shutdown".into(), reason: why.clone(), ..Default::default() },
                    );
                    self.begin_shutdown(exit::OK);
                } else {
                    self.note(&format!("received {} again: killing everything now", signals::signal_name(signo)));
                    self.kill_everything();
                    self.timers.add(Instant::now() + Duration::from_secs(1), Timer::ForceExit);
                }
            }
            libc::SIGHUP => {
                if let Err(e) = self.reload() {
                    self.note(&e);
                }
            }
            libc::SIGPIPE | libc::SIGTTIN | libc::SIGTTOU => {}
            _ => {
                let main = self.cfg.main.clone();
                let idx = main.and_then(|m| self.svcs.iter().position(|s| !s.removed && s.cfg.name == m));
                if let Some(idx) = idx {
                    let group = self.svcs[idx].cfg.kill_group;
                    self.signal_service(idx, signo, group);
                }
            }
        }
    }

    fn on_timer(&mut self, t: Timer) {
        match t {
            Timer::Probe { idx, gen } => self.on_probe_timer(idx, gen),
            Timer::Watchdog { idx, gen } => self.on_watchdog_timer(idx, gen),
            Timer::Drain { idx, gen } => self.drain_check(idx, Some(gen)),
            Timer::FastDeadline => self.on_fast_deadline(),
            Timer::Service { idx, gen } => {
                if idx < self.svcs.len() {
                    self.feed(idx, Event::Timer { gen });
                }
            }
            Timer::GroupPoll => {
                self.group_poll_armed = false;
                if self.check_groups() {
                    self.arm_group_poll();
                }
            }
            Timer::RssTick => {
                self.check_rss();
                self.timers.add(Instant::now() + Duration::from_secs(1), Timer::RssTick);
            }
            Timer::ShutdownDeadline => {
                if self.exit.is_none() {
                    self.note("shutdown_timeout reached: killing what is left");
                    self.kill_everything();
                    self.timers.add(Instant::now() + Duration::from_secs(1), Timer::ForceExit);
                }
            }
            Timer::OrphanKill => {
                if let Some(cgs) = &self.cgroups {
                    for s in &self.svcs {
                        if let Some(dir) = &s.cg {
                            cgs.kill(dir);
                        }
                    }
                }
                for pid in list_children() {
                    let _ = signals::send(pid, libc::SIGKILL);
                }
                self.timers.add(Instant::now() + Duration::from_secs(1), Timer::ForceExit);
            }
            Timer::ControlSweep => {
                self.control.sweep(self.poll.registry());
                self.timers.add(Instant::now() + control::INPUT_TIMEOUT / 2, Timer::ControlSweep);
            }
            Timer::AcceptRetry => {
                self.accept_retry_armed = false;
                if !self.control.accept(self.poll.registry()) {
                    self.arm_accept_retry();
                }
            }
            Timer::IngressSweep => {
                self.ingress_sweep();
                if self.ingress_active() {
                    self.timers.add(Instant::now() + Duration::from_secs(1), Timer::IngressSweep);
                }
            }
            Timer::JobTimeout { job, attempt } => self.on_job_timeout(job, attempt),
            Timer::Schedule { idx, gen } => self.on_schedule_timer(idx, gen),
            Timer::ForceExit => {
                let code = self.shutdown.as_ref().map(|s| s.code).unwrap_or(exit::FAILURE);
                self.exit = Some(code);
            }
        }
    }

    fn kill_everything(&mut self) {
        for s in &self.svcs {
            if let (Some(cgs), Some(dir)) = (&self.cgroups, &s.cg) {
                cgs.kill(dir);
            }
            if let Some(pg) = s.m.pgid {
                let _ = signals::send(-(pg as i32), libc::SIGKILL);
            }
        }
        for pid in list_children() {
            let _ = signals::send(pid, libc::SIGKILL);
        }
    }

    pub(super) fn begin_shutdown(&mut self, code: i32) {
        if self.shutdown.is_some() {
            return;
        }
        self.shutdown = Some(Shutdown { code, orphans_signalled: false });
        // The ingress stops accepting first; requests in flight finish.
        self.ingress_drain();
        self.timers.add(Instant::now() + self.cfg.shutdown_timeout, Timer::ShutdownDeadline);
        for s in &mut self.svcs {
            // Nothing restarts from now on, even a service whose stop waits for its
            // dependents to stop first.
            s.m.shutting_down = true;
            s.ck.shutdown_sent = false;
        }
        self.advance_shutdown();
    }

    /// Decide whether tend is done: after a shutdown once every service and orphan is
    /// gone; without `main`, once every autostarted service has finished.
    fn check_finished(&mut self) {
        if self.exit.is_some() {
            return;
        }
        // Leftovers of a service that ended on its own (its group or cgroup still has
        // processes, pgid still set) do not keep tend waiting: they are swept with the
        // orphans below.
        if self.shutdown.is_some() {
            self.advance_shutdown();
        }
        let all_idle = self.svcs.iter().all(|s| !s.m.state.is_active());
        if let Some(sd) = &mut self.shutdown {
            if !all_idle {
                return;
            }
            if !self.children_remain {
                self.exit = Some(sd.code);
                return;
            }
            if !sd.orphans_signalled {
                sd.orphans_signalled = true;
                let kids = list_children();
                if kids.is_empty() {
                    // Only zombies or nothing: one more reap decides.
                    self.reap();
                    if !self.children_remain {
                        return;
                    }
                }
                let mut all = kids.clone();
                for s in &self.svcs {
                    if let Some(dir) = &s.cg {
                        all.extend(cgroup::pids(dir));
                    }
                }
                all.sort_unstable();
                all.dedup();
                for pid in &all {
                    let _ = signals::send(*pid, libc::SIGTERM);
                    let _ = signals::send(*pid, libc::SIGCONT);
                }
                let n = all.len();
                self.note(&format!("{n} orphaned process(es) left: sent SIGTERM"));
                self.timers.add(Instant::now() + ORPHAN_GRACE, Timer::OrphanKill);
            }
            return;
        }
        if self.cfg.main.is_some() {
            return;
        }
        if !all_idle {
            return;
        }
        let mut live = self.svcs.iter().filter(|s| !s.removed && s.cfg.autostart).peekable();
        if live.peek().is_none() {
            return;
        }
        if live.all(|s| matches!(s.m.state, State::Exited | State::Failed)) {
            let failed = self.svcs.iter().any(|s| !s.removed && s.cfg.autostart && s.m.state == State::Failed);
            self.note(if failed { "all services finished, some failed" } else { "all services finished" });
            self.begin_shutdown(if failed { exit::SERVICE_FAILED } else { exit::OK });
            // Nothing is left to stop: decide now rather than after the next wake-up,
            // which may be the shutdown deadline.
            self.check_finished();
        }
    }

    // --- memory budgets ----------------------------------------------------------------------

    fn check_rss(&mut self) {
        let mut by_group: HashMap<i32, u64> = HashMap::new();
        // SAFETY: sysconf has no memory effects.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) as u64;
        if let Ok(dir) = std::fs::read_dir("/proc") {
            for e in dir.flatten() {
                let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else { continue };
                if let Some((_, _, pgrp, rss)) = read_stat(pid) {
                    *by_group.entry(pgrp).or_default() += rss * page;
                }
            }
        }
        for idx in 0..self.svcs.len() {
            let s = &self.svcs[idx];
            let (Some(max), Some(pg), State::Running) = (s.cfg.max_rss, s.m.pgid, s.m.state) else { continue };
            let rss = by_group.get(&(pg as i32)).copied().unwrap_or(0);
            if rss <= max {
                self.svcs[idx].rss_over = false;
                continue;
            }
            if s.rss_over {
                continue;
            }
            let name = s.cfg.name.clone();
            let action = s.cfg.on_max_rss;
            self.svcs[idx].rss_over = true;
            self.note(&format!("{name}: RSS {rss} bytes is over max_rss {max}"));
            match action {
                OnMaxRss::Restart => self.feed(idx, Event::Restart),
                OnMaxRss::Signal(sig) => {
                    let group = self.svcs[idx].cfg.kill_group;
                    self.signal_service(idx, sig, group);
                }
                OnMaxRss::Log => {}
            }
        }
    }

    // --- reload ------------------------------------------------------------------------------

    /// Re-read the config file and apply the differences. Returns a summary, or why
    /// nothing changed.
    pub(super) fn reload(&mut self) -> std::result::Result<String, String> {
        let path = self.cfg.path.clone();
        let new = match crate::config::load_trusted(&path) {
            Ok((c, warning)) => {
                if let Some(w) = warning {
                    self.note(&format!("warning: {w}"));
                }
                c
            }
            Err(e) => {
                let msg = format!("reload failed, keeping the running configuration: {e}");
                self.record(EventInfo {
                    kind: "reload".into(),
                    reason: msg.clone(),
                    requestor: self.requestor.clone(),
                    ..Default::default()
                });
                return Err(msg);
            }
        };
        if self.shutdown.is_some() {
            return Err("tend is shutting down: not reloading".into());
        }
        // New `listen` sockets first: if one cannot be bound, nothing changes.
        for c in &new.services {
            if let Err(e) = self.listeners.bind_missing(c.listen.iter().map(|l| &l.addr)) {
                self.listeners.close_unlisted(self.svcs.iter().flat_map(|s| s.cfg.listen.iter().map(|l| &l.addr)));
                let msg = format!("reload failed, keeping the running configuration: service {}: {e}", c.name);
                self.record(EventInfo {
                    kind: "reload".into(),
                    reason: msg.clone(),
                    requestor: self.requestor.clone(),
                    ..Default::default()
                });
                return Err(msg);
            }
        }
        let mut started = 0;
        let mut changed = 0;
        let mut removed = 0;
        for idx in 0..self.svcs.len() {
            if self.svcs[idx].removed || self.svcs[idx].job.is_some() {
                continue;
            }
            let name = self.svcs[idx].cfg.name.clone();
            match new.services.iter().find(|c| c.name == name) {
                None => {
                    removed += 1;
                    self.svcs[idx].removed = true;
                    self.stop_after_drain(idx, Event::Stop);
                    self.drop_notify(idx);
                    self.end_follows(idx);
                    self.log_close(idx);
                }
                Some(c) if *c != self.svcs[idx].cfg => {
                    changed += 1;
                    if self.svcs[idx].m.state.is_active() {
                        self.svcs[idx].next_cfg = Some(c.clone());
                        self.stop_after_drain(idx, Event::Restart);
                    } else {
                        self.svcs[idx].cfg = c.clone();
                        if c.autostart {
                            self.start_service(idx);
                        }
                    }
                }
                Some(_) => {}
            }
        }
        for c in &new.services {
            if self.svcs.iter().any(|s| !s.removed && s.job.is_none() && s.cfg.name == c.name) {
                continue;
            }
            started += 1;
            let seed = self.next_seed();
            self.svcs.push(Svc::new(c.clone(), seed));
            let idx = self.svcs.len() - 1;
            if c.autostart {
                self.start_service(idx);
            }
        }
        self.cfg.main = new.main.clone();
        self.cfg.shutdown_timeout = new.shutdown_timeout;
        self.cfg.log_dir = new.log_dir.clone();
        self.logs_reloaded(new.log_dir.clone());
        self.control.update(&new.control);
        self.reload_forward(&new);
        // Sockets no service lists any more (a running process keeps its own copies).
        for a in self.listeners.close_unlisted(new.services.iter().flat_map(|c| c.listen.iter().map(|l| &l.addr))) {
            self.note(&format!("closed the socket {a}: no service lists it any more"));
        }
        self.events.set_cap(new.control.events_history);
        self.set_job_history(new.job_history);
        let (jobs_added, jobs_changed, jobs_removed) = self.reload_schedules(&new.jobs);
        self.update_width();
        let mut summary = format!("reloaded {}: {started} added, {changed} changed, {removed} removed", path.display());
        if jobs_added + jobs_changed + jobs_removed > 0 {
            summary.push_str(&format!(
                "; scheduled jobs: {jobs_added} added, {jobs_changed} changed, {jobs_removed} removed"
            ));
        }
        let ev = EventInfo {
            kind: "reload".into(),
            reason: summary.clone(),
            requestor: self.requestor.clone(),
            ..Default::default()
        };
        self.announce(&summary, ev);
        Ok(summary)
    }
}

/// `tend run`: load the config, take over signals, supervise. Returns the exit code.
pub fn run(config_path: &std::path::Path, socket: Option<&std::path::Path>) -> i32 {
    // Signals first: before the config is read (user lookups may start nothing, but
    // the writer threads below must inherit the blocked mask).
    if let Err(e) = signals::take_over() {
        crate::fatal!("{e}");
        return exit::FAILURE;
    }
    let cfg = match crate::config::load_trusted(config_path) {
        Ok((c, warning)) => {
            if let Some(w) = warning {
                crate::diag::err(&format!("tend: warning: {w}\n"));
            }
            c
        }
        Err(e) => {
            crate::diag::err(&format!("tend: {e}\n"));
            return exit::CONFIG;
        }
    };
    let socket = control::socket_path(socket, cfg.control.socket.as_deref());
    match Supervisor::new(cfg, socket) {
        Ok(s) => s.run(),
        Err(e) => {
            crate::fatal!("{e}");
            e.exit_code()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Turns that read `read` bytes each, `gap` apart, pausing when due: whether each
    /// turn's end left a pause due.
    fn turns(nap: &mut Nap, start: Instant, reads: &[usize], gap: Duration) -> Vec<bool> {
        let mut woke = start;
        reads
            .iter()
            .map(|&read| {
                let napped = nap.due();
                woke += if napped { gap + NAP } else { gap };
                nap.read = read;
                nap.end_turn(woke, napped);
                nap.due()
            })
            .collect()
    }

    #[test]
    fn nap_goes_on_while_small_reads_go_on() {
        let mut nap = Nap::default();
        let t = Instant::now();
        let gap = Duration::from_micros(10);
        let due = turns(&mut nap, t, &[100; 8], gap);
        // The first turn has none before it; four close ones after it make a pause due,
        // and the turns after a pause keep it due.
        assert_eq!(due, [false, false, false, false, true, true, true, true]);
        // A big read, or a turn that read nothing, ends it.
        assert_eq!(turns(&mut nap, t, &[NAP_BELOW, 100], gap), [false, false]);
        let mut nap = Nap::default();
        assert_eq!(turns(&mut nap, t, &[100, 100, 100, 100, 100, 0], gap).last(), Some(&false));
    }

    #[test]
    fn nap_not_due_for_reads_far_apart() {
        let mut nap = Nap::default();
        let due = turns(&mut nap, Instant::now(), &[100; 8], NAP * 2);
        assert!(due.iter().all(|d| !d));
    }
}
