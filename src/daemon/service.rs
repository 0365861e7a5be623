//! The per-service state machine: plain data and one function, [`Machine::step`],
//! that takes an event and returns the actions for the loop to perform. No I/O, no
//! clock reads (the time comes in with the event), no randomness of its own (a seeded
//! xorshift for jitter), so every transition is unit-tested without processes.
//!
//! States (DESIGN.md): `stopped` (not started, or stopped by request), `waiting` (for
//! its dependencies: the loop decides when they are met), `starting` (being spawned,
//! or spawned and not ready yet), `running` (and ready), `backoff` (waiting to restart), `stopping` (stop signal
//! sent, waiting for every process of the group to go), `exited` (ended and will not be
//! restarted), `failed` (ended badly, or the start limit was hit; left alone until
//! started by hand). The kernel's stop/continue is a flag, `paused`, on top.

use std::collections::VecDeque;
use std::fmt;
use std::time::{Duration, Instant};

use crate::config::{Restart, ServiceConfig};
use crate::daemon::reap::Status;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Stopped,
    Waiting,
    Starting,
    Running,
    Backoff,
    Stopping,
    Exited,
    Failed,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Stopped => "stopped",
            State::Waiting => "waiting",
            State::Starting => "starting",
            State::Running => "running",
            State::Backoff => "backoff",
            State::Stopping => "stopping",
            State::Exited => "exited",
            State::Failed => "failed",
        }
    }

    /// A process may exist or a restart is pending.
    pub fn is_active(self) -> bool {
        matches!(self, State::Starting | State::Running | State::Backoff | State::Stopping)
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What happens to a service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// Start it (autostart or by request).
    Start,
    /// Stop it and leave it stopped.
    Stop,
    /// Stop it (if running), then start it.
    Restart,
    /// tend is shutting down: stop it and never restart it.
    Shutdown,
    /// The spawn the machine asked for succeeded.
    Spawned { pid: u32 },
    /// The spawn failed (missing binary, exec error, setuid failure...).
    SpawnFailed,
    /// The leader was reaped. `group_empty`: no other process of its group is left.
    Exited { status: Status, group_empty: bool },
    /// The last process of the group (leader already gone) was reaped.
    GroupEmpty,
    /// A timer the machine armed fired; stale generations are ignored.
    Timer { gen: u64 },
    /// The kernel stopped the leader (SIGSTOP/SIGTSTP...).
    KernelStopped(i32),
    /// The kernel continued the leader.
    KernelContinued,
    /// Dependencies are not met: wait (the reason is in `Machine::waiting`).
    Wait,
    /// A dependency failed and the service fails with it (`Machine::waiting` says which).
    DependencyFailed,
    /// The readiness signal arrived (notify, fd or probe).
    Ready,
    /// The running service has failed although its process lives: stop it, then
    /// handle it as a failed run.
    Fail(Failure),
}

/// Why a live service is failed by tend.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// Not ready within `ready_timeout`.
    ReadyTimeout,
    /// Its health check failed `retries` times with `restart_on_unhealthy`: restarted
    /// whatever the restart policy says.
    Unhealthy,
    /// No `WATCHDOG=1` within `watchdog`.
    Watchdog,
    /// A job ran longer than its timeout.
    Timeout,
}

impl Failure {
    fn describe(self) -> &'static str {
        match self {
            Failure::ReadyTimeout => "not ready within ready_timeout",
            Failure::Unhealthy => "unhealthy",
            Failure::Watchdog => "watchdog timeout (no WATCHDOG=1 in time)",
            Failure::Timeout => "timed out",
        }
    }
}

/// What the loop must do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Spawn the service's command, then feed `Spawned` or `SpawnFailed`.
    Spawn,
    /// Send a signal to the leader, or to its whole process group.
    Signal { signo: i32, group: bool },
    /// Call back with `Timer { gen }` after this long.
    ArmTimer { after: Duration, gen: u64 },
    /// The leader is gone but its group is not: feed `GroupEmpty` once it is.
    WatchGroup,
}

/// What to do once a stop completes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AfterStop {
    Stay,
    Start,
    /// tend failed it: once it is gone, the restart policy decides.
    Fail(Failure),
}

/// One service's runtime state.
#[derive(Clone, Debug)]
pub struct Machine {
    pub state: State,
    /// The leader's pid while it lives.
    pub pid: Option<u32>,
    /// The process group (== leader pid, as each service runs in its own session),
    /// kept until the group is empty.
    pub pgid: Option<u32>,
    pub started_at: Option<Instant>,
    /// Automatic restarts since tend started (or the service was added).
    pub restarts: u32,
    /// Backoff exponent: restarts since the last run that lasted `reset_after`.
    pub attempt: u32,
    /// Start times within the start-limit window.
    pub starts: VecDeque<Instant>,
    pub last_exit: Option<Status>,
    /// The delay chosen for the pending restart.
    pub delay: Option<Duration>,
    /// Stopped by the kernel (SIGSTOP/SIGTSTP) and not continued yet.
    pub paused: bool,
    /// SIGKILL was sent during this stop.
    pub killed: bool,
    /// tend is shutting down: nothing restarts.
    pub shutting_down: bool,
    /// Why the service is in its state (for events and status).
    pub reason: String,
    /// What a waiting service waits for, or which dependency failed (set by the loop
    /// before it feeds `Wait` or `DependencyFailed`).
    pub waiting: String,
    timer_gen: u64,
    after_stop: AfterStop,
    rng: u64,
}

impl Machine {
    pub fn new(seed: u64) -> Self {
        Machine {
            state: State::Stopped,
            pid: None,
            pgid: None,
            started_at: None,
            restarts: 0,
            attempt: 0,
            starts: VecDeque::new(),
            last_exit: None,
            delay: None,
            paused: false,
            killed: false,
            shutting_down: false,
            reason: String::new(),
            waiting: String::new(),
            timer_gen: 0,
            after_stop: AfterStop::Stay,
            rng: seed | 1,
        }
    }

    /// A fresh machine for a new unit in the slot this one had (a job's): its timer
    /// generations continue after this one's, so a timer this one armed that is still
    /// in the heap can never match the new one's.
    pub fn successor(&self, seed: u64) -> Machine {
        let mut m = Machine::new(seed);
        m.timer_gen = self.timer_gen + 1;
        m
    }

    fn arm(&mut self, after: Duration) -> Action {
        self.timer_gen += 1;
        Action::ArmTimer { after, gen: self.timer_gen }
    }

    fn disarm(&mut self) {
        self.timer_gen += 1;
    }

    fn random_unit(&mut self) -> f64 {
        // xorshift64: enough for jitter, and deterministic under test.
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        (x >> 11) as f64 / (1u64 << 53) as f64
    }

    /// The next restart delay: initial * factor^attempt, capped, jittered.
    fn next_delay(&mut self, cfg: &ServiceConfig) -> Duration {
        let b = &cfg.backoff;
        let exp = i32::try_from(self.attempt.min(64)).unwrap_or(64);
        let base = b.initial.as_secs_f64() * b.factor.powi(exp);
        let mut secs = base.min(b.max.as_secs_f64());
        if b.jitter > 0.0 {
            let r = self.random_unit();
            secs *= 1.0 - b.jitter + 2.0 * b.jitter * r;
        }
        Duration::try_from_secs_f64(secs.max(0.0)).unwrap_or(b.max)
    }

    /// True if one more start would exceed the start limit.
    fn limit_reached(&mut self, cfg: &ServiceConfig, now: Instant) -> bool {
        let lim = cfg.start_limit;
        while let Some(&t) = self.starts.front() {
            if now.saturating_duration_since(t) >= lim.interval {
                self.starts.pop_front();
            } else {
                break;
            }
        }
        lim.burst > 0 && self.starts.len() >= lim.burst as usize
    }

    /// A start by request: the start-limit window and backoff start afresh.
    fn start_fresh(&mut self) -> Vec<Action> {
        self.starts.clear();
        self.attempt = 0;
        self.delay = None;
        self.killed = false;
        self.state = State::Starting;
        self.reason = "start requested".into();
        vec![Action::Spawn]
    }

    fn stop(&mut self, cfg: &ServiceConfig, after: AfterStop, reason: &str) -> Vec<Action> {
        self.state = State::Stopping;
        self.after_stop = after;
        self.killed = false;
        self.reason = reason.into();
        let mut acts = vec![Action::Signal { signo: cfg.stop_signal, group: cfg.kill_group }];
        if self.paused {
            // A stopped process cannot act on the stop signal until continued.
            acts.push(Action::Signal { signo: libc::SIGCONT, group: cfg.kill_group });
        }
        acts.push(self.arm(cfg.stop_timeout));
        acts
    }

    fn finish_stop(&mut self, cfg: &ServiceConfig, now: Instant) -> Vec<Action> {
        self.pgid = None;
        self.disarm();
        self.paused = false;
        let after = std::mem::replace(&mut self.after_stop, AfterStop::Stay);
        match after {
            AfterStop::Start if !self.shutting_down => return self.start_fresh(),
            AfterStop::Fail(f) if !self.shutting_down => {
                let ran = self.started_at.map(|t| now.saturating_duration_since(t));
                let what = format!("{}, stopped", f.describe());
                return self.settle_or_restart(cfg, false, now, ran, what, f == Failure::Unhealthy);
            }
            _ => {}
        }
        self.state = State::Stopped;
        self.reason = if self.killed { "stopped (killed after stop_timeout)".into() } else { "stopped".into() };
        vec![]
    }

    /// The leader ended on its own (not during a stop): restart, or settle.
    fn ended(&mut self, cfg: &ServiceConfig, status: Status, now: Instant, ran: Option<Duration>) -> Vec<Action> {
        let success = cfg.is_success(status);
        self.disarm();
        self.settle_or_restart(cfg, success, now, ran, describe(status), false)
    }

    fn settle_or_restart(
        &mut self,
        cfg: &ServiceConfig,
        success: bool,
        now: Instant,
        ran: Option<Duration>,
        what: String,
        force_restart: bool,
    ) -> Vec<Action> {
        if ran.is_some_and(|d| d >= cfg.backoff.reset_after) {
            self.attempt = 0;
        }
        let restart = !self.shutting_down
            && (force_restart
                || match cfg.restart {
                    Restart::Always => true,
                    Restart::OnFailure => !success,
                    Restart::Never => false,
                });
        self.delay = None;
        if !restart {
            self.state = if success { State::Exited } else { State::Failed };
            self.reason = what;
            return vec![];
        }
        if self.limit_reached(cfg, now) {
            self.state = State::Failed;
            self.reason = format!(
                "{what}; start limit reached ({} starts within {:?}), not restarting",
                cfg.start_limit.burst, cfg.start_limit.interval
            );
            return vec![];
        }
        let delay = self.next_delay(cfg);
        self.attempt = self.attempt.saturating_add(1);
        self.restarts = self.restarts.saturating_add(1);
        self.delay = Some(delay);
        if delay.is_zero() {
            self.state = State::Starting;
            self.reason = format!("{what}; restarting");
            vec![Action::Spawn]
        } else {
            self.state = State::Backoff;
            self.reason = format!("{what}; restarting in {delay:?}");
            vec![self.arm(delay)]
        }
    }

    /// Feed one event; returns what the loop must do. Every (state, event) pair is
    /// spelled out.
    pub fn step(&mut self, cfg: &ServiceConfig, ev: Event, now: Instant) -> Vec<Action> {
        use Event as E;
        use State as S;
        match (self.state, ev) {
            // --- not running ---------------------------------------------------------
            (S::Stopped | S::Exited | S::Failed, E::Start | E::Restart) => {
                if self.shutting_down {
                    return vec![];
                }
                self.start_fresh()
            }
            (S::Stopped | S::Exited | S::Failed | S::Waiting, E::Wait) => {
                self.state = State::Waiting;
                self.reason = format!("waiting for {}", self.waiting);
                vec![]
            }
            (S::Stopped | S::Exited | S::Failed | S::Waiting, E::DependencyFailed) => {
                self.state = State::Failed;
                self.reason = format!("dependency failed: {}", self.waiting);
                vec![]
            }
            (S::Stopped | S::Exited | S::Failed, E::Ready | E::Fail(_)) => vec![],
            (S::Stopped | S::Exited | S::Failed, E::Stop) => vec![],
            (S::Stopped | S::Exited | S::Failed, E::Shutdown) => {
                self.shutting_down = true;
                vec![]
            }
            (S::Stopped | S::Exited | S::Failed, E::GroupEmpty) => {
                self.pgid = None;
                vec![]
            }
            (
                S::Stopped | S::Exited | S::Failed,
                E::Spawned { .. } | E::SpawnFailed | E::Exited { .. } | E::Timer { .. },
            )
            | (S::Stopped | S::Exited | S::Failed, E::KernelStopped(_) | E::KernelContinued) => vec![],

            // --- waiting for dependencies --------------------------------------------
            (S::Waiting, E::Start | E::Restart) => {
                if self.shutting_down {
                    return vec![];
                }
                self.start_fresh()
            }
            (S::Waiting, E::Stop | E::Shutdown) => {
                if ev == E::Shutdown {
                    self.shutting_down = true;
                }
                self.state = State::Stopped;
                self.reason = "stopped while waiting for dependencies".into();
                vec![]
            }
            (S::Waiting, E::GroupEmpty) => {
                self.pgid = None;
                vec![]
            }
            (
                S::Waiting,
                E::Spawned { .. }
                | E::SpawnFailed
                | E::Exited { .. }
                | E::Timer { .. }
                | E::KernelStopped(_)
                | E::KernelContinued
                | E::Ready
                | E::Fail(_),
            ) => vec![],

            // --- starting: spawned, not ready yet --------------------------------------
            (S::Starting, E::Spawned { pid }) => {
                self.pid = Some(pid);
                self.pgid = Some(pid);
                self.started_at = Some(now);
                self.starts.push_back(now);
                self.paused = false;
                if self.shutting_down {
                    return self.stop(cfg, AfterStop::Stay, "shutting down");
                }
                if cfg.ready.waits() {
                    self.reason = format!("started (pid {pid}), waiting until it is ready");
                    return match cfg.ready_timeout {
                        Some(t) => vec![self.arm(t)],
                        None => vec![],
                    };
                }
                self.state = State::Running;
                self.reason = format!("started (pid {pid})");
                vec![]
            }
            (S::Starting, E::Ready) if self.pid.is_some() => {
                self.disarm();
                self.state = State::Running;
                self.reason = "ready".into();
                vec![]
            }
            (S::Starting, E::Timer { gen }) if gen == self.timer_gen && self.pid.is_some() => {
                let why =
                    format!("not ready within ready_timeout ({:?}); stopping", cfg.ready_timeout.unwrap_or_default());
                self.stop(cfg, AfterStop::Fail(Failure::ReadyTimeout), &why)
            }
            (S::Starting, E::Fail(f)) if self.pid.is_some() => {
                self.stop(cfg, AfterStop::Fail(f), &format!("{}; stopping", f.describe()))
            }
            (S::Starting, E::Ready | E::Fail(_) | E::Wait | E::DependencyFailed) => vec![],
            (S::Starting, E::SpawnFailed) => {
                self.starts.push_back(now);
                self.settle_or_restart(cfg, false, now, None, "spawn failed".into(), false)
            }
            (S::Starting, E::Exited { status, group_empty }) => {
                // Exited before it was up (with readiness, `starting` lasts).
                let ran = self.started_at.map(|t| now.saturating_duration_since(t));
                self.pid = None;
                if group_empty {
                    self.pgid = None;
                }
                self.last_exit = Some(status);
                self.ended(cfg, status, now, ran)
            }
            (S::Starting, E::Stop | E::Shutdown) => {
                if ev == E::Shutdown {
                    self.shutting_down = true;
                }
                match self.pid {
                    Some(_) => self.stop(cfg, AfterStop::Stay, "stop requested"),
                    None => {
                        self.state = State::Stopped;
                        self.reason = "stopped".into();
                        vec![]
                    }
                }
            }
            (S::Starting, E::Start | E::Restart | E::Timer { .. } | E::GroupEmpty) => vec![],
            (S::Starting, E::KernelStopped(_)) => {
                self.paused = true;
                vec![]
            }
            (S::Starting, E::KernelContinued) => {
                self.paused = false;
                vec![]
            }

            // --- running ------------------------------------------------------------
            (S::Running, E::Exited { status, group_empty }) => {
                let ran = self.started_at.map(|t| now.saturating_duration_since(t));
                self.pid = None;
                self.paused = false;
                self.last_exit = Some(status);
                let mut acts = Vec::new();
                if group_empty {
                    self.pgid = None;
                } else if cfg.kill_group {
                    // Leftovers of a run that ended on its own go with it.
                    acts.push(Action::Signal { signo: libc::SIGKILL, group: true });
                }
                acts.extend(self.ended(cfg, status, now, ran));
                acts
            }
            (S::Running, E::Fail(f)) => self.stop(cfg, AfterStop::Fail(f), &format!("{}; stopping", f.describe())),
            (S::Running, E::Ready | E::Wait | E::DependencyFailed) => vec![],
            (S::Running, E::Stop) => self.stop(cfg, AfterStop::Stay, "stop requested"),
            (S::Running, E::Restart) => self.stop(cfg, AfterStop::Start, "restart requested"),
            (S::Running, E::Shutdown) => {
                self.shutting_down = true;
                self.stop(cfg, AfterStop::Stay, "shutting down")
            }
            (S::Running, E::KernelStopped(_)) => {
                self.paused = true;
                vec![]
            }
            (S::Running, E::KernelContinued) => {
                self.paused = false;
                vec![]
            }
            (S::Running, E::Start | E::Spawned { .. } | E::SpawnFailed | E::Timer { .. } | E::GroupEmpty) => vec![],

            // --- backoff: waiting to restart ------------------------------------------
            (S::Backoff, E::Timer { gen }) if gen == self.timer_gen => {
                self.state = State::Starting;
                self.reason = "restarting after backoff".into();
                vec![Action::Spawn]
            }
            (S::Backoff, E::Timer { .. }) => vec![],
            (S::Backoff, E::Start | E::Restart) => {
                self.disarm();
                self.state = State::Starting;
                self.reason = "start requested during backoff".into();
                vec![Action::Spawn]
            }
            (S::Backoff, E::Stop | E::Shutdown) => {
                if ev == E::Shutdown {
                    self.shutting_down = true;
                }
                self.disarm();
                self.delay = None;
                self.state = State::Stopped;
                self.reason = "stopped during backoff".into();
                vec![]
            }
            (S::Backoff, E::GroupEmpty) => {
                self.pgid = None;
                vec![]
            }
            (
                S::Backoff,
                E::Spawned { .. }
                | E::SpawnFailed
                | E::Exited { .. }
                | E::KernelStopped(_)
                | E::KernelContinued
                | E::Ready
                | E::Fail(_)
                | E::Wait
                | E::DependencyFailed,
            ) => vec![],

            // --- stopping: waiting for the whole group to go ---------------------------
            (S::Stopping, E::Exited { status, group_empty }) => {
                self.pid = None;
                self.last_exit = Some(status);
                if group_empty {
                    self.finish_stop(cfg, now)
                } else {
                    vec![Action::WatchGroup]
                }
            }
            (S::Stopping, E::GroupEmpty) => {
                if self.pid.is_none() {
                    self.finish_stop(cfg, now)
                } else {
                    vec![]
                }
            }
            (S::Stopping, E::Timer { gen }) if gen == self.timer_gen => {
                // stop_timeout elapsed: SIGKILL the whole group, and again each
                // stop_timeout until it is gone (it may have forked meanwhile).
                self.killed = true;
                self.reason = "stop_timeout elapsed, sent SIGKILL".into();
                vec![Action::Signal { signo: libc::SIGKILL, group: true }, self.arm(cfg.stop_timeout)]
            }
            (S::Stopping, E::Timer { .. }) => vec![],
            (S::Stopping, E::Restart | E::Start) => {
                self.after_stop = AfterStop::Start;
                vec![]
            }
            (S::Stopping, E::Stop) => {
                self.after_stop = AfterStop::Stay;
                vec![]
            }
            (S::Stopping, E::Shutdown) => {
                self.shutting_down = true;
                self.after_stop = AfterStop::Stay;
                vec![]
            }
            (S::Stopping, E::KernelStopped(_)) => {
                self.paused = true;
                vec![Action::Signal { signo: libc::SIGCONT, group: cfg.kill_group }]
            }
            (S::Stopping, E::KernelContinued) => {
                self.paused = false;
                vec![]
            }
            (
                S::Stopping,
                E::Spawned { .. } | E::SpawnFailed | E::Ready | E::Fail(_) | E::Wait | E::DependencyFailed,
            ) => vec![],
        }
    }
}

/// "exited with status 1", "killed by SIGKILL".
pub fn describe(status: Status) -> String {
    match status {
        Status::Exited(c) => format!("exited with status {c}"),
        Status::Signaled { signo, core_dumped } => format!(
            "killed by {}{}",
            crate::daemon::signals::signal_name(signo),
            if core_dumped { " (core dumped)" } else { "" }
        ),
        Status::Stopped(s) => format!("stopped by {}", crate::daemon::signals::signal_name(s)),
        Status::Continued => "continued".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::*;

    fn cfg(restart: Restart) -> ServiceConfig {
        ServiceConfig {
            name: "svc".into(),
            base: "svc".into(),
            instance: None,
            command: vec!["true".into()],
            env: vec![],
            clear_env: false,
            cwd: None,
            run_as: None,
            umask: None,
            rlimits: vec![],
            restart,
            backoff: Backoff {
                initial: Duration::from_millis(100),
                max: Duration::from_millis(1000),
                factor: 2.0,
                jitter: 0.0,
                reset_after: Duration::from_secs(10),
            },
            start_limit: StartLimit { burst: 3, interval: Duration::from_secs(10) },
            stop_signal: libc::SIGTERM,
            stop_timeout: Duration::from_secs(5),
            kill_group: false,
            stdout: Output::Capture,
            stderr: Output::Capture,
            log: LogOptions { buffer: 4096, ..LogOptions::default() },
            autostart: true,
            success_exit_codes: vec![0],
            max_rss: None,
            on_max_rss: OnMaxRss::Log,
            essential: false,
            ready: crate::config::Ready::Spawned,
            ready_timeout: None,
            health: None,
            restart_on_unhealthy: false,
            watchdog: None,
            depends_on: Vec::new(),
            on_dependency_failure: crate::config::OnDependencyFailure::Wait,
            socket: None,
            request_timeout: None,
        }
    }

    const FAIL: Status = Status::Exited(1);
    const OK: Status = Status::Exited(0);

    fn exited(status: Status) -> Event {
        Event::Exited { status, group_empty: true }
    }

    /// A machine that has been started and is running as pid 100 at `t`.
    fn running(c: &ServiceConfig, t: Instant) -> Machine {
        let mut m = Machine::new(7);
        assert_eq!(m.step(c, Event::Start, t), vec![Action::Spawn]);
        assert_eq!(m.step(c, Event::Spawned { pid: 100 }, t), vec![]);
        assert_eq!(m.state, State::Running);
        m
    }

    fn timer_gen(acts: &[Action]) -> u64 {
        match acts.iter().find_map(|a| match a {
            Action::ArmTimer { gen, .. } => Some(*gen),
            _ => None,
        }) {
            Some(g) => g,
            None => panic!("no timer in {acts:?}"),
        }
    }

    #[test]
    fn restart_policies() {
        let t = Instant::now();
        for (policy, status, want) in [
            (Restart::Always, OK, State::Backoff),
            (Restart::Always, FAIL, State::Backoff),
            (Restart::OnFailure, OK, State::Exited),
            (Restart::OnFailure, FAIL, State::Backoff),
            (Restart::OnFailure, Status::Signaled { signo: 9, core_dumped: false }, State::Backoff),
            (Restart::Never, OK, State::Exited),
            (Restart::Never, FAIL, State::Failed),
        ] {
            let c = cfg(policy);
            let mut m = running(&c, t);
            m.step(&c, exited(status), t);
            assert_eq!(m.state, want, "{policy:?} {status:?}");
            assert_eq!(m.pid, None);
            assert_eq!(m.last_exit, Some(status));
        }
    }

    #[test]
    fn success_exit_codes_count_as_success() {
        let mut c = cfg(Restart::OnFailure);
        c.success_exit_codes = vec![0, 3];
        let t = Instant::now();
        let mut m = running(&c, t);
        m.step(&c, exited(Status::Exited(3)), t);
        assert_eq!(m.state, State::Exited);
    }

    #[test]
    fn backoff_grows_caps_and_resets() {
        let c = cfg(Restart::Always);
        let mut c = c;
        c.start_limit.burst = 0;
        let t0 = Instant::now();
        let mut m = running(&c, t0);
        let mut delays = vec![];
        let mut t = t0;
        for _ in 0..6 {
            let acts = m.step(&c, exited(FAIL), t);
            let gen = timer_gen(&acts);
            delays.push(m.delay.map(|d| d.as_millis()));
            assert_eq!(m.step(&c, Event::Timer { gen }, t), vec![Action::Spawn]);
            m.step(&c, Event::Spawned { pid: 100 }, t);
            t += Duration::from_secs(1);
        }
        assert_eq!(delays, [100, 200, 400, 800, 1000, 1000].map(Some).to_vec());
        // A run that lasts reset_after resets the delay.
        t += Duration::from_secs(11);
        m.step(&c, exited(FAIL), t);
        assert_eq!(m.delay, Some(Duration::from_millis(100)));
        assert_eq!(m.restarts, 7);
    }

    #[test]
    fn jitter_stays_within_bounds() {
        let mut c = cfg(Restart::Always);
        c.backoff.jitter = 0.5;
        c.start_limit.burst = 0;
        let t = Instant::now();
        let mut m = running(&c, t);
        for _ in 0..50 {
            m.attempt = 0;
            m.step(&c, exited(FAIL), t);
            let d = m.delay.map(|d| d.as_secs_f64()).unwrap_or(-1.0);
            assert!((0.05..=0.15).contains(&d), "{d}");
            m.state = State::Running;
        }
    }

    #[test]
    fn zero_backoff_restarts_at_once() {
        let mut c = cfg(Restart::Always);
        c.backoff.initial = Duration::ZERO;
        let t = Instant::now();
        let mut m = running(&c, t);
        assert_eq!(m.step(&c, exited(FAIL), t), vec![Action::Spawn]);
        assert_eq!(m.state, State::Starting);
    }

    #[test]
    fn start_limit_exhaustion_fails() {
        let mut c = cfg(Restart::Always);
        c.backoff.initial = Duration::ZERO;
        let t = Instant::now();
        let mut m = running(&c, t); // start 1
        m.step(&c, exited(FAIL), t);
        m.step(&c, Event::Spawned { pid: 101 }, t); // start 2
        m.step(&c, exited(FAIL), t);
        m.step(&c, Event::Spawned { pid: 102 }, t); // start 3 = burst
        assert_eq!(m.step(&c, exited(FAIL), t), vec![]);
        assert_eq!(m.state, State::Failed);
        assert!(m.reason.contains("start limit"), "{}", m.reason);
        // Left alone: timers and exits do nothing; a start by hand works again.
        assert_eq!(m.step(&c, Event::Timer { gen: 99 }, t), vec![]);
        assert_eq!(m.step(&c, Event::Start, t), vec![Action::Spawn]);
        assert!(m.starts.is_empty());
    }

    #[test]
    fn start_limit_window_slides() {
        let mut c = cfg(Restart::Always);
        c.backoff.initial = Duration::ZERO;
        let mut t = Instant::now();
        let mut m = running(&c, t);
        for pid in 0..10 {
            t += Duration::from_secs(4); // 3 starts never fit in 10 s
            m.step(&c, exited(FAIL), t);
            assert_eq!(m.state, State::Starting, "round {pid}");
            m.step(&c, Event::Spawned { pid: 200 + pid }, t);
        }
    }

    #[test]
    fn spawn_failure_counts_toward_the_limit() {
        let mut c = cfg(Restart::Always);
        c.backoff.initial = Duration::ZERO;
        let t = Instant::now();
        let mut m = Machine::new(1);
        m.step(&c, Event::Start, t);
        assert_eq!(m.step(&c, Event::SpawnFailed, t), vec![Action::Spawn]);
        assert_eq!(m.step(&c, Event::SpawnFailed, t), vec![Action::Spawn]);
        assert_eq!(m.step(&c, Event::SpawnFailed, t), vec![]);
        assert_eq!(m.state, State::Failed);
        let c = cfg(Restart::Never);
        let mut m = Machine::new(1);
        m.step(&c, Event::Start, t);
        m.step(&c, Event::SpawnFailed, t);
        assert_eq!(m.state, State::Failed);
    }

    #[test]
    fn stop_signals_then_kills_after_timeout() {
        let c = cfg(Restart::Always);
        let t = Instant::now();
        let mut m = running(&c, t);
        let acts = m.step(&c, Event::Stop, t);
        assert_eq!(acts[0], Action::Signal { signo: libc::SIGTERM, group: false });
        assert_eq!(m.state, State::Stopping);
        let gen = timer_gen(&acts);
        let acts = m.step(&c, Event::Timer { gen }, t);
        assert_eq!(acts[0], Action::Signal { signo: libc::SIGKILL, group: true });
        // A stale timer does nothing.
        assert_eq!(m.step(&c, Event::Timer { gen }, t), vec![]);
        m.step(&c, Event::Exited { status: Status::Signaled { signo: 9, core_dumped: false }, group_empty: true }, t);
        assert_eq!(m.state, State::Stopped);
        assert!(m.killed);
    }

    #[test]
    fn kill_group_signals_the_group() {
        let mut c = cfg(Restart::Always);
        c.kill_group = true;
        c.stop_signal = libc::SIGINT;
        let t = Instant::now();
        let mut m = running(&c, t);
        assert_eq!(m.step(&c, Event::Stop, t)[0], Action::Signal { signo: libc::SIGINT, group: true });
    }

    #[test]
    fn stop_waits_for_the_whole_group() {
        let c = cfg(Restart::Always);
        let t = Instant::now();
        let mut m = running(&c, t);
        m.step(&c, Event::Stop, t);
        let acts = m.step(&c, Event::Exited { status: OK, group_empty: false }, t);
        assert_eq!(acts, vec![Action::WatchGroup]);
        assert_eq!(m.state, State::Stopping);
        assert_eq!(m.pgid, Some(100));
        m.step(&c, Event::GroupEmpty, t);
        assert_eq!(m.state, State::Stopped);
        assert_eq!(m.pgid, None);
    }

    #[test]
    fn stop_during_backoff() {
        let c = cfg(Restart::Always);
        let t = Instant::now();
        let mut m = running(&c, t);
        let gen = timer_gen(&m.step(&c, exited(FAIL), t));
        assert_eq!(m.state, State::Backoff);
        assert_eq!(m.step(&c, Event::Stop, t), vec![]);
        assert_eq!(m.state, State::Stopped);
        // The backoff timer firing later must not start it.
        assert_eq!(m.step(&c, Event::Timer { gen }, t), vec![]);
        assert_eq!(m.state, State::Stopped);
    }

    #[test]
    fn restart_during_stopping_starts_after_the_stop() {
        let c = cfg(Restart::Never);
        let t = Instant::now();
        let mut m = running(&c, t);
        m.step(&c, Event::Stop, t);
        assert_eq!(m.step(&c, Event::Restart, t), vec![]);
        let acts = m.step(&c, exited(Status::Signaled { signo: 15, core_dumped: false }), t);
        assert_eq!(acts, vec![Action::Spawn]);
        assert_eq!(m.state, State::Starting);
    }

    #[test]
    fn restart_of_a_running_service() {
        let c = cfg(Restart::Never);
        let t = Instant::now();
        let mut m = running(&c, t);
        assert_eq!(m.step(&c, Event::Restart, t)[0], Action::Signal { signo: libc::SIGTERM, group: false });
        assert_eq!(m.step(&c, exited(OK), t), vec![Action::Spawn]);
        assert_eq!(m.restarts, 0, "a requested restart is not an automatic one");
    }

    #[test]
    fn exit_during_starting_follows_the_policy() {
        let c = cfg(Restart::OnFailure);
        let t = Instant::now();
        let mut m = Machine::new(3);
        m.step(&c, Event::Start, t);
        m.pid = Some(5);
        m.started_at = Some(t);
        m.step(&c, exited(FAIL), t);
        assert_eq!(m.state, State::Backoff);
        let mut m = Machine::new(3);
        m.step(&c, Event::Start, t);
        m.step(&c, exited(OK), t);
        assert_eq!(m.state, State::Exited);
    }

    #[test]
    fn shutdown_never_restarts() {
        let c = cfg(Restart::Always);
        let t = Instant::now();
        let mut m = running(&c, t);
        m.step(&c, Event::Shutdown, t);
        assert_eq!(m.state, State::Stopping);
        m.step(&c, Event::Restart, t);
        assert_eq!(m.step(&c, exited(OK), t), vec![]);
        assert_eq!(m.state, State::Stopped);
        assert_eq!(m.step(&c, Event::Start, t), vec![]);
        // An exit noticed during shutdown (main ended) does not restart either.
        let mut m = running(&c, t);
        m.shutting_down = true;
        assert_eq!(m.step(&c, exited(FAIL), t), vec![]);
        assert_eq!(m.state, State::Failed);
    }

    #[test]
    fn stop_of_a_paused_service_continues_it() {
        let c = cfg(Restart::Always);
        let t = Instant::now();
        let mut m = running(&c, t);
        m.step(&c, Event::KernelStopped(libc::SIGSTOP), t);
        assert!(m.paused);
        let acts = m.step(&c, Event::Stop, t);
        assert!(acts.contains(&Action::Signal { signo: libc::SIGCONT, group: false }));
        m.step(&c, Event::KernelContinued, t);
        assert!(!m.paused);
    }

    #[test]
    fn leftovers_of_an_ended_run_are_killed_with_kill_group() {
        let mut c = cfg(Restart::Never);
        c.kill_group = true;
        let t = Instant::now();
        let mut m = running(&c, t);
        let acts = m.step(&c, Event::Exited { status: OK, group_empty: false }, t);
        assert_eq!(acts, vec![Action::Signal { signo: libc::SIGKILL, group: true }]);
        assert_eq!(m.state, State::Exited);
        assert_eq!(m.pgid, Some(100));
        m.step(&c, Event::GroupEmpty, t);
        assert_eq!(m.pgid, None);
    }

    #[test]
    fn shutdown_during_starting_stops_the_new_process() {
        let c = cfg(Restart::Always);
        let t = Instant::now();
        let mut m = Machine::new(3);
        m.step(&c, Event::Start, t);
        m.step(&c, Event::Shutdown, t);
        assert_eq!(m.state, State::Stopped);
        let mut m = Machine::new(3);
        m.step(&c, Event::Start, t);
        m.shutting_down = true;
        let acts = m.step(&c, Event::Spawned { pid: 9 }, t);
        assert_eq!(acts[0], Action::Signal { signo: libc::SIGTERM, group: false });
        assert_eq!(m.state, State::Stopping);
    }

    fn with_notify(timeout: Option<Duration>) -> ServiceConfig {
        ServiceConfig { ready: Ready::Notify, ready_timeout: timeout, ..cfg(Restart::OnFailure) }
    }

    #[test]
    fn starting_lasts_until_ready() {
        let t = Instant::now();
        let c = with_notify(None);
        let mut m = Machine::new(1);
        m.step(&c, Event::Start, t);
        assert_eq!(m.step(&c, Event::Spawned { pid: 5 }, t), vec![]);
        assert_eq!((m.state, m.pid), (State::Starting, Some(5)));
        assert_eq!(m.step(&c, Event::Ready, t), vec![]);
        assert_eq!((m.state, m.reason.as_str()), (State::Running, "ready"));
        // A second READY=1 changes nothing.
        m.reason.clear();
        assert_eq!(m.step(&c, Event::Ready, t), vec![]);
        assert_eq!((m.state, m.reason.as_str()), (State::Running, ""));
    }

    #[test]
    fn ready_timeout_stops_then_follows_the_restart_policy() {
        let t = Instant::now();
        let c = with_notify(Some(Duration::from_secs(2)));
        let mut m = Machine::new(1);
        m.step(&c, Event::Start, t);
        let acts = m.step(&c, Event::Spawned { pid: 5 }, t);
        let gen = timer_gen(&acts);
        let acts = m.step(&c, Event::Timer { gen }, t + Duration::from_secs(2));
        assert_eq!(m.state, State::Stopping);
        assert!(acts.contains(&Action::Signal { signo: libc::SIGTERM, group: false }), "{acts:?}");
        m.step(&c, exited(Status::Signaled { signo: libc::SIGTERM, core_dumped: false }), t);
        assert_eq!(m.state, State::Backoff, "on-failure restarts it: {}", m.reason);
        assert!(m.reason.contains("not ready within ready_timeout"), "{}", m.reason);
        let never = ServiceConfig { restart: Restart::Never, ..c.clone() };
        let mut m = Machine::new(1);
        m.step(&never, Event::Start, t);
        let gen = timer_gen(&m.step(&never, Event::Spawned { pid: 5 }, t));
        m.step(&never, Event::Timer { gen }, t);
        m.step(&never, exited(Status::Signaled { signo: libc::SIGTERM, core_dumped: false }), t);
        assert_eq!(m.state, State::Failed);
    }

    #[test]
    fn a_ready_timer_never_fires_into_a_later_run() {
        let t = Instant::now();
        let c = ServiceConfig {
            backoff: Backoff { initial: Duration::ZERO, ..cfg(Restart::Always).backoff },
            ..with_notify(Some(Duration::from_secs(2)))
        };
        let c = ServiceConfig { restart: Restart::Always, ..c };
        let mut m = Machine::new(1);
        m.step(&c, Event::Start, t);
        let old = timer_gen(&m.step(&c, Event::Spawned { pid: 5 }, t));
        // Exits at once, restarted with no delay, spawned again.
        assert_eq!(m.step(&c, exited(FAIL), t), vec![Action::Spawn]);
        let new = timer_gen(&m.step(&c, Event::Spawned { pid: 6 }, t));
        assert_ne!(old, new);
        assert_eq!(m.step(&c, Event::Timer { gen: old }, t), vec![]);
        assert_eq!(m.state, State::Starting);
    }

    #[test]
    fn unhealthy_restarts_whatever_the_policy_and_watchdog_follows_it() {
        let t = Instant::now();
        let c = cfg(Restart::Never);
        let mut m = running(&c, t);
        m.step(&c, Event::Fail(Failure::Unhealthy), t);
        assert_eq!(m.state, State::Stopping);
        m.step(&c, exited(Status::Signaled { signo: libc::SIGTERM, core_dumped: false }), t);
        assert_eq!(m.state, State::Backoff, "{}", m.reason);
        assert_eq!(m.restarts, 1);
        let mut m = running(&c, t);
        m.step(&c, Event::Fail(Failure::Watchdog), t);
        m.step(&c, exited(Status::Signaled { signo: libc::SIGTERM, core_dumped: false }), t);
        assert_eq!(m.state, State::Failed);
        assert!(m.reason.contains("watchdog"), "{}", m.reason);
        // A stop request during that stop wins: it stays stopped.
        let mut m = running(&c, t);
        m.step(&c, Event::Fail(Failure::Unhealthy), t);
        m.step(&c, Event::Stop, t);
        m.step(&c, exited(OK), t);
        assert_eq!(m.state, State::Stopped);
    }

    #[test]
    fn waiting_for_dependencies() {
        let t = Instant::now();
        let c = cfg(Restart::OnFailure);
        let mut m = Machine::new(1);
        m.waiting = "db (ready)".into();
        assert_eq!(m.step(&c, Event::Wait, t), vec![]);
        assert_eq!((m.state, m.reason.as_str()), (State::Waiting, "waiting for db (ready)"));
        assert!(!m.state.is_active());
        assert_eq!(m.step(&c, Event::Start, t), vec![Action::Spawn]);
        assert_eq!(m.state, State::Starting);
        let mut m = Machine::new(1);
        m.step(&c, Event::Wait, t);
        m.waiting = "db (ready: exited with status 1)".into();
        m.step(&c, Event::DependencyFailed, t);
        assert_eq!(m.state, State::Failed);
        assert!(m.reason.starts_with("dependency failed: db"), "{}", m.reason);
        let mut m = Machine::new(1);
        m.step(&c, Event::Wait, t);
        m.step(&c, Event::Shutdown, t);
        assert_eq!(m.state, State::Stopped);
        assert_eq!(m.step(&c, Event::Start, t), vec![], "no start while shutting down");
    }
}
