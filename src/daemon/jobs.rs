//! One-shot jobs: the job model and what the supervisor does with it.
//!
//! A job is a unit like a service, in a slot of `Supervisor::svcs`, with the same
//! state machine, output capture, events and spawn path. What makes it a job is its
//! configuration, made here from a descriptor ([`JobSpec`]): `restart = never`, or
//! `on-failure` with a start limit of `retries + 1` starts; its output captured (not
//! passed through); its process group killed with it. Beside the slot, [`Job`] keeps
//! what a service has no use for: who asked, when, which attempt, `retry_of`, the
//! timeout and how it ended.
//!
//! Jobs are numbered from 1 in order and never renumbered (`%N`). An ended job keeps
//! its slot, with its output cut down to its last [`KEEP_OUTPUT`] bytes per stream,
//! until it is one more than `job_history` ended jobs (the oldest goes) or removed;
//! its slot is then free for a new job. So memory is bounded by the running jobs plus
//! `job_history`, whatever the number of jobs run.
//!
//! [`Supervisor::spawn_job`] is the one way a job is created (SPAWN, RETRY, and a
//! scheduler); [`Supervisor::on_job_end`] is where everything that follows the end of
//! a job happens.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant, SystemTime};

use mio::Token;

use crate::config::{
    defaults, Backoff, LogOptions, OnDependencyFailure, OnMaxRss, Output, Ready, Restart, RunAs, ServiceConfig,
    StartLimit,
};
use crate::daemon::jobinput::JobInput;
use crate::daemon::requests::exit_info;
use crate::daemon::service::{describe, Event, Failure, State};
use crate::daemon::supervisor::{Supervisor, Svc};
use crate::daemon::timers::Timer;
use crate::proto::msg::{job_name, ErrorCode, JobInfo, JobSpec, Requestor};

/// Bytes of each stream kept with an ended job.
pub const KEEP_OUTPUT: usize = 16 * 1024;
/// Ring size per stream while a job runs.
pub const JOB_BUFFER: usize = 256 * 1024;
/// Limits on a descriptor.
pub const MAX_NAME: usize = 64;
pub const MAX_RETRIES: u32 = 1000;
pub const MAX_ARGS: usize = 4096;
pub const MAX_ENV: usize = 4096;

/// One job.
pub struct Job {
    pub num: u64,
    pub spec: JobSpec,
    /// Who asked for it (SO_PEERCRED of the SPAWN's or RETRY's connection).
    pub requestor: Requestor,
    pub retry_of: Option<u64>,
    pub created: SystemTime,
    pub started: Option<SystemTime>,
    pub ended: Option<SystemTime>,
    pub attempt: u32,
    pub timed_out: bool,
    /// The last attempt could not be started: (errno, message).
    pub spawn_error: Option<(Option<i32>, String)>,
    /// Once ended: the shell status and why.
    pub status: Option<i32>,
    pub end_reason: String,
    /// Its slot in `Supervisor::svcs`.
    pub slot: usize,
    /// Its stdin pipe, with `spec.stdin`, while the first attempt may read it.
    pub input: Option<JobInput>,
}

/// A WAIT or an ATTACH waiting for a job's end.
pub struct JobWait {
    pub token: Token,
    pub id: u64,
    pub job: u64,
    /// An ATTACH: its output subscription (same id) must be drained first.
    pub attach: bool,
}

/// Every job tend knows of, and the slots ended jobs left.
pub struct Jobs {
    /// By number, ascending: jobs are made in that order and only ever removed.
    list: VecDeque<Job>,
    next: u64,
    /// Ended jobs kept (`job_history`).
    pub history: usize,
    /// How many of `list` have ended.
    ended: usize,
    /// Slots of removed jobs, for the next ones.
    free: Vec<usize>,
    pub waits: Vec<JobWait>,
    /// Stdin pipes by their poll token.
    pub inputs: HashMap<Token, u64>,
}

impl Jobs {
    pub fn new(history: usize) -> Jobs {
        Jobs {
            list: VecDeque::new(),
            next: 1,
            history,
            ended: 0,
            free: Vec::new(),
            waits: Vec::new(),
            inputs: HashMap::new(),
        }
    }

    fn pos(&self, num: u64) -> Option<usize> {
        self.list.binary_search_by_key(&num, |j| j.num).ok()
    }

    pub fn get(&self, num: u64) -> Option<&Job> {
        self.pos(num).and_then(|i| self.list.get(i))
    }

    pub fn get_mut(&mut self, num: u64) -> Option<&mut Job> {
        self.pos(num).and_then(|i| self.list.get_mut(i))
    }

    /// Every job, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &Job> {
        self.list.iter()
    }

    /// The oldest job's number.
    pub fn first(&self) -> Option<u64> {
        self.list.front().map(|j| j.num)
    }

    /// The oldest ended job's number.
    fn oldest_ended(&self) -> Option<u64> {
        self.list.iter().find(|j| j.status.is_some()).map(|j| j.num)
    }

    fn remove(&mut self, num: u64) -> Option<Job> {
        let job = self.pos(num).and_then(|i| self.list.remove(i))?;
        if job.status.is_some() {
            self.ended -= 1;
        }
        Some(job)
    }
}

/// How many more bytes of stream `is_err` the job in slot `idx` may read: as many as
/// the ring can take without overwriting bytes an attached client has not been sent
/// yet (`usize::MAX` without one).
pub fn attach_room(
    jobs: &Jobs,
    control: &crate::daemon::control::Control,
    idx: usize,
    svc: &Svc,
    is_err: bool,
) -> usize {
    let s = usize::from(is_err);
    let ring = if is_err { &svc.err } else { &svc.out };
    let mut room = usize::MAX;
    for w in jobs.waits.iter().filter(|w| w.attach) {
        let Some(sub) = control.conns.get(&w.token).and_then(|c| c.logs.iter().find(|l| l.id == w.id && l.svc == idx))
        else {
            continue;
        };
        let unsent = ring.total.saturating_sub(sub.next[s]) as usize;
        room = room.min(ring.capacity().saturating_sub(unsent));
    }
    room
}

/// Why a SPAWN cannot be done: the error code and message for the client.
pub type Refusal = (ErrorCode, String);

fn bad(msg: impl Into<String>) -> Refusal {
    (ErrorCode::BadRequest, msg.into())
}

/// Check a descriptor; pure.
pub fn validate(spec: &JobSpec) -> Result<(), Refusal> {
    if spec.command.is_empty() || spec.command[0].is_empty() {
        return Err(bad("the job has no command"));
    }
    if spec.command.len() > MAX_ARGS {
        return Err(bad(format!("too many arguments: {} (at most {MAX_ARGS})", spec.command.len())));
    }
    if spec.command.iter().any(|a| a.contains('\0')) {
        return Err(bad("an argument contains a NUL byte"));
    }
    if spec.env.len() > MAX_ENV {
        return Err(bad(format!("too many environment variables: {} (at most {MAX_ENV})", spec.env.len())));
    }
    for (k, v) in &spec.env {
        if k.is_empty() || k.contains(['=', '\0']) || v.contains('\0') {
            return Err(bad(format!(
                "invalid environment variable name {k:?}: expected a non-empty name without = or NUL"
            )));
        }
    }
    if let Some(d) = &spec.cwd {
        if !d.starts_with('/') || d.contains('\0') {
            return Err(bad(format!("the working directory must be an absolute path: {d:?}")));
        }
    }
    if spec.name.len() > MAX_NAME || spec.name.chars().any(char::is_control) {
        return Err(bad(format!("invalid job name {:?}: at most {MAX_NAME} bytes, no control characters", spec.name)));
    }
    if spec.retries > MAX_RETRIES {
        return Err(bad(format!("retries {} is out of range: at most {MAX_RETRIES}", spec.retries)));
    }
    if spec.timeout_ms == Some(0) {
        return Err(bad("the timeout must be more than 0"));
    }
    Ok(())
}

/// Who a job runs as. A requestor that is root or tend's own user may name any user
/// (none: tend's own); any other user (let in by `allow_uids`/`allow_gids`) runs
/// jobs as itself only, so the socket never hands out more than the client has.
pub fn run_as(spec: &JobSpec, by: &Requestor, own_uid: u32) -> Result<Option<RunAs>, Refusal> {
    let privileged = by.uid == 0 || by.uid == own_uid;
    let resolve = |u: &str| crate::config::resolve_user(u).map_err(|m| bad(format!("user: {m}")));
    match (&spec.user, privileged) {
        (None, true) => Ok(None),
        (Some(u), true) => resolve(u).map(Some),
        (None, false) => resolve(&by.uid.to_string()).map(Some),
        (Some(u), false) => {
            let r = resolve(u)?;
            if r.uid != by.uid {
                return Err((
                    ErrorCode::PermissionDenied,
                    format!("uid {} may run jobs only as itself, not as {u:?} (uid {})", by.uid, r.uid),
                ));
            }
            Ok(Some(r))
        }
    }
}

/// The unit configuration of job `num`; pure.
pub fn job_config(num: u64, spec: &JobSpec, run_as: Option<RunAs>) -> ServiceConfig {
    let name = job_name(num);
    let mut env = spec.env.clone();
    env.push(("TEND_JOB".into(), name.clone()));
    ServiceConfig {
        name: name.clone(),
        base: name,
        instance: None,
        command: spec.command.clone(),
        env,
        clear_env: false,
        cwd: spec.cwd.as_ref().map(Into::into),
        run_as,
        umask: None,
        rlimits: Vec::new(),
        restart: if spec.retries > 0 { Restart::OnFailure } else { Restart::Never },
        backoff: Backoff {
            initial: defaults::BACKOFF_INITIAL,
            max: defaults::BACKOFF_MAX,
            factor: defaults::BACKOFF_FACTOR,
            jitter: 0.0,
            reset_after: Duration::MAX,
        },
        // One start plus `retries` restarts, however long they take.
        start_limit: StartLimit { burst: spec.retries.saturating_add(1), interval: Duration::MAX },
        stop_signal: libc::SIGTERM,
        stop_timeout: defaults::STOP_TIMEOUT,
        kill_group: true,
        stdout: Output::Capture,
        stderr: Output::Capture,
        log: LogOptions { buffer: JOB_BUFFER, prefix: false, exit_lines: 0, ..LogOptions::default() },
        autostart: false,
        success_exit_codes: vec![0],
        max_rss: None,
        on_max_rss: OnMaxRss::Log,
        essential: false,
        ready: Ready::Spawned,
        ready_timeout: None,
        health: None,
        restart_on_unhealthy: false,
        watchdog: None,
        depends_on: Vec::new(),
        on_dependency_failure: OnDependencyFailure::Wait,
        socket: None,
        request_timeout: None,
    }
}

/// The shell status of an ended job: the last attempt's exit (128+N for signal N),
/// or 127/126 when its command could not be started (not found / anything else), as
/// a shell and `docker run` report them.
pub fn shell_status(spawn_error: Option<Option<i32>>, last_exit: Option<crate::daemon::reap::Status>) -> i32 {
    match (spawn_error, last_exit) {
        (Some(Some(libc::ENOENT)), _) => 127,
        (Some(_), _) => 126,
        (None, Some(st)) => st.shell_code().unwrap_or(1),
        (None, None) => 1,
    }
}

/// `*` (any run) and `?` (one character) against `name`, in time linear in their
/// product (no backtracking blow-up on patterns like `*a*a*a*b`).
pub fn glob_match(pat: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pat.chars().collect(), name.chars().collect());
    let (mut i, mut j) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while j < n.len() {
        if i < p.len() && (p[i] == '?' || p[i] == n[j]) {
            i += 1;
            j += 1;
        } else if i < p.len() && p[i] == '*' {
            star = Some((i, j));
            i += 1;
        } else if let Some((si, sj)) = star {
            i = si + 1;
            j = sj + 1;
            star = Some((si, sj + 1));
        } else {
            return false;
        }
    }
    p[i..].iter().all(|&c| c == '*')
}

/// `running` (not ended), `exited` (ended with status 0) or `failed`, for JOB_LIST.
pub fn state_matches(filter: &str, info: &JobInfo) -> bool {
    match filter {
        "running" => info.status.is_none(),
        "exited" => info.status == Some(0),
        "failed" => info.status.is_some_and(|s| s != 0),
        _ => false,
    }
}

impl Supervisor {
    /// Create job from `spec` for `by` and start it; returns its number. RETRY gives
    /// `retry_of`. The one way a job is made: a scheduler calls this too.
    pub fn spawn_job(&mut self, spec: JobSpec, by: Requestor, retry_of: Option<u64>) -> Result<u64, Refusal> {
        if self.shutdown.is_some() {
            return Err((ErrorCode::ShuttingDown, "tend is shutting down: not starting jobs".into()));
        }
        validate(&spec)?;
        // SAFETY: geteuid has no failure mode.
        let own = unsafe { libc::geteuid() };
        let run_as = run_as(&spec, &by, own)?;
        let num = self.jobs.next;
        self.jobs.next += 1;
        let cfg = job_config(num, &spec, run_as);
        let slot = self.job_slot(cfg);
        self.svcs[slot].job = Some(num);
        let job = Job {
            num,
            spec,
            requestor: by.clone(),
            retry_of,
            created: SystemTime::now(),
            started: None,
            ended: None,
            attempt: 0,
            timed_out: false,
            spawn_error: None,
            status: None,
            end_reason: String::new(),
            slot,
            input: None,
        };
        // Numbers only grow: pushed at the back, the list stays sorted.
        self.jobs.list.push_back(job);
        self.requestor = Some(by);
        self.feed(slot, Event::Start);
        self.requestor = None;
        Ok(num)
    }

    /// A slot for a new job: a free one nothing refers to any more (no pipe still
    /// open from its last process, nothing left of its process group), else a new one.
    fn job_slot(&mut self, cfg: ServiceConfig) -> usize {
        let seed = self.next_seed();
        let reusable = self.jobs.free.iter().position(|&i| {
            let s = &self.svcs[i];
            s.m.pid.is_none() && s.m.pgid.is_none() && !self.slot_has_pipes(i)
        });
        match reusable {
            Some(k) => {
                let idx = self.jobs.free.swap_remove(k);
                let m = self.svcs[idx].m.successor(seed);
                let mut svc = Svc::new(cfg, seed);
                svc.m = m;
                self.svcs[idx] = svc;
                idx
            }
            None => {
                self.svcs.push(Svc::new(cfg, seed));
                self.svcs.len() - 1
            }
        }
    }

    /// Just before an attempt's spawn.
    pub(super) fn job_attempt(&mut self, idx: usize) {
        let Some(num) = self.svcs[idx].job else { return };
        let Some(job) = self.jobs.get_mut(num) else { return };
        job.attempt += 1;
        job.timed_out = false;
        job.spawn_error = None;
        if job.started.is_none() {
            job.started = Some(SystemTime::now());
        }
    }

    /// The attempt's spawn succeeded: arm its timeout.
    pub(super) fn job_spawned(&mut self, idx: usize) {
        let Some(num) = self.svcs[idx].job else { return };
        let Some(job) = self.jobs.get(num) else { return };
        if let Some(ms) = job.spec.timeout_ms {
            let t = Timer::JobTimeout { job: num, attempt: job.attempt };
            self.timers.add(Instant::now() + Duration::from_millis(ms), t);
        }
    }

    /// The attempt's spawn failed.
    pub(super) fn job_spawn_failed(&mut self, idx: usize, errno: Option<i32>, message: String) {
        let Some(num) = self.svcs[idx].job else { return };
        if let Some(job) = self.jobs.get_mut(num) {
            job.spawn_error = Some((errno, message));
        }
    }

    pub(super) fn on_job_timeout(&mut self, num: u64, attempt: u32) {
        let Some(job) = self.jobs.get_mut(num) else { return };
        let idx = job.slot;
        let live = matches!(self.svcs[idx].m.state, State::Starting | State::Running) && self.svcs[idx].m.pid.is_some();
        if job.attempt != attempt || job.status.is_some() || !live {
            return;
        }
        job.timed_out = true;
        let ms = job.spec.timeout_ms.unwrap_or(0);
        self.note(&format!("{}: timeout ({}) reached: stopping it", job_name(num), show_ms(ms)));
        self.feed(idx, Event::Fail(Failure::Timeout));
    }

    /// After each step of a job's machine: has it ended?
    pub(super) fn job_check(&mut self, idx: usize) {
        let Some(num) = self.svcs[idx].job else { return };
        let m = &self.svcs[idx].m;
        if !matches!(m.state, State::Exited | State::Failed | State::Stopped) {
            return;
        }
        let last_exit = m.last_exit;
        let Some(job) = self.jobs.get_mut(num) else { return };
        if job.status.is_some() {
            return;
        }
        let status = shell_status(job.spawn_error.as_ref().map(|e| e.0), last_exit);
        let mut why = match (&job.spawn_error, last_exit) {
            (Some((_, msg)), _) => msg.clone(),
            (None, Some(st)) => describe(st),
            (None, None) => self.svcs[idx].m.reason.clone(),
        };
        if job.timed_out {
            why.push_str(&format!(" (timed out after {})", show_ms(job.spec.timeout_ms.unwrap_or(0))));
        }
        if job.spec.retries > 0 {
            why.push_str(&format!(" (attempt {} of {})", job.attempt, job.spec.retries + 1));
        }
        job.status = Some(status);
        job.end_reason = why;
        job.ended = Some(SystemTime::now());
        self.on_job_end(num);
    }

    /// Job `num` has ended: keep only its last output, answer its waiters, and keep
    /// the history within `job_history`. (A scheduler's hook goes here too.)
    pub fn on_job_end(&mut self, num: u64) {
        let Some(job) = self.jobs.get(num) else { return };
        let idx = job.slot;
        self.close_job_input(num);
        self.pump_job_attaches(idx);
        self.jobs.ended += 1;
        self.check_job_waits();
        // The attached clients get everything it wrote before the ring shrinks.
        if !self.jobs.waits.iter().any(|w| w.attach && w.job == num) {
            self.keep_last_output(idx);
        }
        self.trim_job_history();
    }

    /// Forget the oldest ended jobs beyond `job_history`.
    pub(super) fn trim_job_history(&mut self) {
        while self.jobs.ended > self.jobs.history {
            let Some(oldest) = self.jobs.oldest_ended() else { break };
            self.forget_job(oldest);
        }
    }

    /// An ended job keeps only its last output.
    fn keep_last_output(&mut self, idx: usize) {
        let svc = &mut self.svcs[idx];
        svc.out.shrink_to(KEEP_OUTPUT);
        svc.err.shrink_to(KEEP_OUTPUT);
    }

    /// Remove an ended job: its slot is free for another.
    pub(super) fn forget_job(&mut self, num: u64) {
        let Some(job) = self.jobs.remove(num) else { return };
        let idx = job.slot;
        self.end_follows(idx);
        self.jobs.waits.retain(|w| w.job != num);
        // Output held in a pipe for an attached client is read (and dropped) now.
        self.resume_attach_held(idx);
        let svc = &mut self.svcs[idx];
        svc.job = None;
        svc.removed = true;
        // The bytes go now; the slot's machine stays until the slot is reused.
        svc.out = crate::daemon::output::Ring::new(1);
        svc.err = crate::daemon::output::Ring::new(1);
        svc.logs.last_output = Vec::new();
        self.jobs.free.push(idx);
    }

    /// Answer the WAITs and ATTACHes whose job has ended (an ATTACH once its output
    /// is all queued). Waits of closed connections go.
    pub(super) fn check_job_waits(&mut self) {
        let mut i = 0;
        while i < self.jobs.waits.len() {
            let w = &self.jobs.waits[i];
            let slot = self.jobs.get(w.job).map(|j| (j.slot, j.status.is_some()));
            let sub = self
                .control
                .conns
                .get(&w.token)
                .map(|c| slot.and_then(|(idx, _)| c.logs.iter().find(|s| s.id == w.id && s.svc == idx)));
            let (idx, ended) = match (slot, &sub) {
                // The connection closed, the job was removed, or (an attach) it was
                // cancelled: nothing more to say; output held for it flows again.
                (None, _) | (_, None) => {
                    let w = self.jobs.waits.swap_remove(i);
                    self.attach_gone(w.job);
                    continue;
                }
                (Some(_), Some(None)) if w.attach => {
                    let w = self.jobs.waits.swap_remove(i);
                    self.attach_gone(w.job);
                    continue;
                }
                (Some(s), _) => s,
            };
            if !ended {
                i += 1;
                continue;
            }
            if let Some(Some(s)) = sub {
                // An attach ends once it has had everything the job wrote, output
                // left in a pipe for it included.
                let svc = &self.svcs[idx];
                let sent = s.next[0] >= svc.out.total && s.next[1] >= svc.err.total && s.lost == [0, 0];
                if w.attach && (!sent || self.slot_attach_held(idx)) {
                    i += 1;
                    continue;
                }
            }
            let w = self.jobs.waits.swap_remove(i);
            if w.attach {
                if let Some(c) = self.control.conns.get_mut(&w.token) {
                    c.logs.retain(|s| s.id != w.id);
                }
                self.control.recount();
                self.attach_gone(w.job);
            }
            if let Some(job) = self.job_info(w.job) {
                let reply = crate::proto::msg::JobReply { id: w.id, job };
                self.control.reply(w.token, crate::proto::msg::kind::JOB, &reply);
            }
            self.dirty.push(w.token);
        }
    }

    /// An attachment of job `num` ended: with none left, its held output flows again,
    /// and an ended job keeps only its last output.
    fn attach_gone(&mut self, num: u64) {
        if self.jobs.waits.iter().any(|o| o.attach && o.job == num) {
            return;
        }
        let Some(job) = self.jobs.get(num) else { return };
        let (idx, ended) = (job.slot, job.status.is_some());
        self.resume_attach_held(idx);
        if ended {
            self.keep_last_output(idx);
        }
    }

    /// Send the attached connections of slot `idx` what they have not had yet.
    fn pump_job_attaches(&mut self, idx: usize) {
        for s in [0, 1] {
            self.pump_followers(idx, s);
        }
    }

    /// The wire view of job `num`.
    pub fn job_info(&self, num: u64) -> Option<JobInfo> {
        let job = self.jobs.get(num)?;
        let svc = &self.svcs[job.slot];
        let ended = job.status.is_some();
        let state = svc.m.state;
        Some(JobInfo {
            job: num,
            spec: job.spec.clone(),
            state: state.as_str().into(),
            reason: if ended { job.end_reason.clone() } else { svc.m.reason.clone() },
            pid: svc.m.pid,
            created: crate::timefmt::rfc3339(job.created),
            started: job.started.map(crate::timefmt::rfc3339),
            ended: job.ended.map(crate::timefmt::rfc3339),
            exit: if job.spawn_error.is_some() { None } else { svc.m.last_exit.map(exit_info) },
            status: job.status,
            timed_out: job.timed_out,
            requestor: job.requestor.clone(),
            attempt: job.attempt,
            retry_of: job.retry_of,
            stdout_bytes: svc.out.total,
            stderr_bytes: svc.err.total,
        })
    }
}

/// `1.5s`, `10m`: a timeout as given.
pub fn show_ms(ms: u64) -> String {
    if ms.is_multiple_of(60_000) && ms >= 60_000 {
        format!("{}m", ms / 60_000)
    } else if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::reap::Status;

    fn spec(cmd: &[&str]) -> JobSpec {
        JobSpec { command: cmd.iter().map(|s| s.to_string()).collect(), ..Default::default() }
    }

    #[test]
    fn descriptors_are_checked() {
        assert!(validate(&spec(&["true"])).is_ok());
        let bad_ones = [
            spec(&[]),
            spec(&[""]),
            spec(&["a\0b"]),
            JobSpec { env: vec![("A=B".into(), "x".into())], ..spec(&["true"]) },
            JobSpec { env: vec![("".into(), "x".into())], ..spec(&["true"]) },
            JobSpec { cwd: Some("relative".into()), ..spec(&["true"]) },
            JobSpec { name: "x".repeat(65), ..spec(&["true"]) },
            JobSpec { name: "a\nb".into(), ..spec(&["true"]) },
            JobSpec { retries: MAX_RETRIES + 1, ..spec(&["true"]) },
            JobSpec { timeout_ms: Some(0), ..spec(&["true"]) },
        ];
        for s in bad_ones {
            assert_eq!(validate(&s).map_err(|e| e.0), Err(ErrorCode::BadRequest), "{s:?}");
        }
    }

    #[test]
    fn config_of_a_job() {
        let c = job_config(7, &JobSpec { retries: 2, env: vec![("A".into(), "1".into())], ..spec(&["x"]) }, None);
        assert_eq!(c.name, "%7");
        assert_eq!(c.restart, Restart::OnFailure);
        assert_eq!(c.start_limit.burst, 3);
        assert!(c.kill_group);
        assert_eq!(c.env, vec![("A".into(), "1".into()), ("TEND_JOB".into(), "%7".into())]);
        assert_eq!(job_config(1, &spec(&["x"]), None).restart, Restart::Never);
    }

    #[test]
    fn shell_statuses() {
        assert_eq!(shell_status(None, Some(Status::Exited(3))), 3);
        assert_eq!(shell_status(None, Some(Status::Signaled { signo: 9, core_dumped: false })), 137);
        assert_eq!(shell_status(Some(Some(libc::ENOENT)), Some(Status::Exited(0))), 127);
        assert_eq!(shell_status(Some(Some(libc::EACCES)), None), 126);
        assert_eq!(shell_status(None, None), 1);
    }

    #[test]
    fn only_root_or_tend_itself_picks_the_user() {
        let me = Requestor { uid: 1234, gid: 1234, pid: 1, name: "x".into() };
        // An unprivileged requestor runs as itself.
        let r = run_as(&spec(&["true"]), &me, 99).unwrap().unwrap();
        assert_eq!(r.uid, 1234);
        let other = JobSpec { user: Some("0".into()), ..spec(&["true"]) };
        assert_eq!(run_as(&other, &me, 99).map_err(|e| e.0), Err(ErrorCode::PermissionDenied));
        // tend's own uid and root choose.
        assert_eq!(run_as(&spec(&["true"]), &me, 1234).unwrap(), None);
        assert_eq!(run_as(&other, &Requestor { uid: 0, ..me.clone() }, 99).unwrap().unwrap().uid, 0);
        let unknown = JobSpec { user: Some("no-such-user-here".into()), ..spec(&["true"]) };
        assert_eq!(run_as(&unknown, &Requestor { uid: 0, ..me }, 99).map_err(|e| e.0), Err(ErrorCode::BadRequest));
    }

    #[test]
    fn globs() {
        for (p, n, want) in [
            ("*", "", true),
            ("*", "backup", true),
            ("back*", "backup", true),
            ("b?ckup", "backup", true),
            ("*up", "backup", true),
            ("*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false),
            ("migrate", "migrate-1", false),
            ("", "", true),
            ("", "x", false),
            ("a*b*c", "axxbyyc", true),
        ] {
            assert_eq!(glob_match(p, n), want, "{p:?} {n:?}");
        }
    }

    #[test]
    fn timeouts_are_shown_as_given() {
        assert_eq!(show_ms(600_000), "10m");
        assert_eq!(show_ms(1000), "1s");
        assert_eq!(show_ms(1500), "1500ms");
    }
}
