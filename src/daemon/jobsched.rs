//! Scheduled jobs (`[job.NAME]`): each table's timer on the loop's heap, and each firing
//! turned into a one-shot job through [`Supervisor::spawn_job`], the one way a job is
//! made. When a schedule fires and what a firing does while a run goes on is decided by
//! the pure [`crate::daemon::schedule`]; this is the thin shell around it.

use std::time::{Instant, SystemTime};

use crate::config::JobConfig;
use crate::daemon::schedule::{deadline, Fire, Scheduled};
use crate::daemon::supervisor::Supervisor;
use crate::daemon::timers::Timer;
use crate::proto::msg::{job_name, EventInfo, JobSpec, Requestor};

/// One `[job.NAME]` table while tend runs.
pub struct Sched {
    pub cfg: JobConfig,
    pub state: Scheduled,
    /// Its runs not known to have ended yet (job numbers).
    running: Vec<u64>,
    /// Bumped at each arming: a timer of an older one is stale.
    gen: u64,
}

/// Every scheduled job, in file order.
#[derive(Default)]
pub struct Schedules {
    pub list: Vec<Sched>,
    gen: u64,
}

/// The descriptor of one run of `cfg`.
pub fn job_spec(cfg: &JobConfig) -> JobSpec {
    JobSpec {
        command: cfg.command.clone(),
        env: cfg.env.clone(),
        cwd: cfg.cwd.as_ref().map(|d| d.display().to_string()),
        user: cfg.run_as.as_ref().map(|r| r.user.clone()),
        timeout_ms: cfg.timeout.map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)),
        retries: cfg.retries,
        name: cfg.name.clone(),
        ..Default::default()
    }
}

impl Supervisor {
    /// Arm every schedule of `jobs` (at start).
    pub(super) fn start_schedules(&mut self, jobs: Vec<JobConfig>) {
        for cfg in jobs {
            self.add_schedule(cfg);
        }
    }

    fn add_schedule(&mut self, cfg: JobConfig) {
        let state = Scheduled::new(&cfg.schedule, SystemTime::now());
        self.sched.list.push(Sched { cfg, state, running: Vec::new(), gen: 0 });
        self.arm_schedule(self.sched.list.len() - 1);
    }

    /// Put schedule `i`'s next firing on the timer heap.
    fn arm_schedule(&mut self, i: usize) {
        self.sched.gen += 1;
        let gen = self.sched.gen;
        let s = &mut self.sched.list[i];
        s.gen = gen;
        let Some(at) = s.state.next else {
            let line = format!("job {}: {} has no further firing", s.cfg.name, s.cfg.schedule);
            self.note(&line);
            return;
        };
        let when = deadline(Instant::now(), SystemTime::now(), at);
        self.timers.add(when, Timer::Schedule { idx: i, gen });
    }

    /// Schedule `i`'s timer expired.
    pub(super) fn on_schedule_timer(&mut self, i: usize, gen: u64) {
        if self.sched.list.get(i).is_none_or(|s| s.gen != gen) || self.shutdown.is_some() {
            return;
        }
        let running = self.schedule_running(i);
        let s = &mut self.sched.list[i];
        let now = SystemTime::now();
        // The wall clock was set back since the timer was armed: not due yet.
        if s.state.next.is_some_and(|at| at > now) {
            self.arm_schedule(i);
            return;
        }
        let fire = s.state.fire(&s.cfg.schedule, s.cfg.overlap, running, now);
        self.arm_schedule(i);
        match fire {
            Fire::Start => self.start_scheduled(i),
            Fire::Skip => self.schedule_note(i, "skip", "skipped: the previous run is still going on"),
            Fire::Queue => self.schedule_note(i, "queue", "queued: starts when the previous run ends"),
            Fire::AlreadyQueued => {
                self.schedule_note(i, "skip", "skipped: a run is already queued behind the running one")
            }
        }
    }

    /// Runs of schedule `i` still going on.
    fn schedule_running(&mut self, i: usize) -> usize {
        let jobs = &self.jobs;
        let s = &mut self.sched.list[i];
        s.running.retain(|n| jobs.get(*n).is_some_and(|j| j.status.is_none()));
        s.running.len()
    }

    fn start_scheduled(&mut self, i: usize) {
        let s = &self.sched.list[i];
        let spec = job_spec(&s.cfg);
        let name = s.cfg.name.clone();
        // tend asked for it.
        let by = Requestor {
            // SAFETY: geteuid, getegid and getpid have no failure mode.
            uid: unsafe { libc::geteuid() },
            gid: unsafe { libc::getegid() },
            pid: std::process::id() as i32,
            name: "tend".into(),
        };
        match self.spawn_job(spec, by, None) {
            Ok(num) => {
                self.note(&format!("job {name}: started {} ({})", job_name(num), self.sched.list[i].cfg.schedule));
                self.sched.list[i].running.push(num);
            }
            Err((_, msg)) => self.note(&format!("job {name}: cannot start a run: {msg}")),
        }
    }

    /// A firing that started nothing: a line in tend's log and an event.
    fn schedule_note(&mut self, i: usize, kind: &str, what: &str) {
        let s = &self.sched.list[i];
        let last = s.running.last().copied();
        let running = s.running.iter().map(|n| job_name(*n)).collect::<Vec<_>>().join(", ");
        let reason = format!("job {}: {what} ({running})", s.cfg.name);
        let ev = EventInfo { job: last, kind: kind.into(), reason: reason.clone(), ..Default::default() };
        self.announce(&reason, ev);
    }

    /// Job `num` ended: a run queued behind it may start.
    pub(super) fn schedule_job_ended(&mut self, num: u64) {
        let Some(i) = self.sched.list.iter().position(|s| s.running.contains(&num)) else { return };
        let running = self.schedule_running(i);
        if self.sched.list[i].state.ended(running) && self.shutdown.is_none() {
            self.start_scheduled(i);
        }
    }

    /// A reload: keep the schedules whose table is unchanged, re-arm changed and new
    /// ones, drop removed ones (their runs go on). Returns (added, changed, removed).
    pub(super) fn reload_schedules(&mut self, new: &[JobConfig]) -> (usize, usize, usize) {
        let old = std::mem::take(&mut self.sched.list);
        let (mut added, mut changed) = (0, 0);
        let removed = old.iter().filter(|o| !new.iter().any(|c| c.name == o.cfg.name)).count();
        let mut old: Vec<Option<Sched>> = old.into_iter().map(Some).collect();
        for cfg in new {
            let prev =
                old.iter_mut().find(|o| o.as_ref().is_some_and(|o| o.cfg.name == cfg.name)).and_then(Option::take);
            match prev {
                Some(p) if p.cfg == *cfg => {
                    self.sched.list.push(p);
                    // Indexes moved: arm again at the same time (the old timer goes stale).
                    self.arm_schedule(self.sched.list.len() - 1);
                }
                Some(p) => {
                    changed += 1;
                    let state = Scheduled::new(&cfg.schedule, SystemTime::now());
                    self.sched.list.push(Sched { cfg: cfg.clone(), state, running: p.running, gen: 0 });
                    self.arm_schedule(self.sched.list.len() - 1);
                }
                None => {
                    added += 1;
                    self.add_schedule(cfg.clone());
                }
            }
        }
        (added, changed, removed)
    }
}
