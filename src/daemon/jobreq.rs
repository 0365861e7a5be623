//! What each job request does (SPAWN, JOB_STATUS, WAIT, RETRY, JOB_LIST, JOB_RM,
//! ATTACH, STDIN, JOB_SIGNAL), and the job's stdin pipe as the loop drives it. The
//! job model is jobs.rs's.

use std::os::fd::OwnedFd;

use mio::Token;

use crate::daemon::control::LogSub;
use crate::daemon::jobinput::{Flow, JobInput, INPUT_LIMIT};
use crate::daemon::jobs::{glob_match, state_matches, JobWait};
use crate::daemon::logserve::pump;
use crate::daemon::requests::signal_number;
use crate::daemon::signals;
use crate::daemon::supervisor::Supervisor;
use crate::proto::msg::{
    job_name, kind, parse_job, ErrorCode, EventInfo, JobListReq, JobRef, JobReply, JobSignalReq, SpawnReq, StdinReq,
};

/// Longest JOB_LIST name pattern.
const MAX_PATTERN: usize = 256;

impl Supervisor {
    /// A service by name, or a job by `%N` (`tend logs %3`).
    pub(super) fn find_unit(&mut self, token: Token, id: u64, name: &str) -> Option<usize> {
        match parse_job(name, false) {
            Some(num) => self.find_job(token, id, num),
            None => self.find(token, id, name),
        }
    }

    /// Job `num`'s slot, or an `unknown_job` error to the client.
    pub(super) fn find_job(&mut self, token: Token, id: u64, num: u64) -> Option<usize> {
        match self.jobs.get(num) {
            Some(j) => Some(j.slot),
            None => {
                let msg = match self.jobs.first() {
                    Some(first) if num < first => format!(
                        "no job {}: removed or evicted from the history (job_history = {})",
                        job_name(num),
                        self.jobs.history
                    ),
                    _ => format!("no job {}", job_name(num)),
                };
                self.control.error(token, id, ErrorCode::UnknownJob, msg);
                None
            }
        }
    }

    fn job_reply(&mut self, token: Token, id: u64, num: u64) {
        if let Some(job) = self.job_info(num) {
            self.control.reply(token, kind::JOB, &JobReply { id, job });
        }
    }

    pub(super) fn spawn_request(&mut self, token: Token, r: SpawnReq) {
        let Some(by) = self.who(token) else { return };
        match self.spawn_job(r.spec, by, None) {
            Ok(num) => {
                self.job_reply(token, r.id, num);
                if r.attach {
                    self.attach_request(token, r.id, num);
                }
            }
            Err((code, msg)) => self.control.error(token, r.id, code, msg),
        }
    }

    pub(super) fn job_status_request(&mut self, token: Token, r: JobRef) {
        if self.find_job(token, r.id, r.job).is_some() {
            self.job_reply(token, r.id, r.job);
        }
    }

    pub(super) fn wait_request(&mut self, token: Token, r: JobRef) {
        if self.find_job(token, r.id, r.job).is_none() {
            return;
        }
        self.jobs.waits.push(JobWait { token, id: r.id, job: r.job, attach: false });
        self.check_job_waits();
    }

    pub(super) fn retry_request(&mut self, token: Token, r: JobRef) {
        if self.find_job(token, r.id, r.job).is_none() {
            return;
        }
        let Some(orig) = self.jobs.get(r.job) else { return };
        if orig.status.is_none() {
            let msg = format!("job {} is still running: retry it once it has ended", job_name(r.job));
            self.control.error(token, r.id, ErrorCode::JobRunning, msg);
            return;
        }
        let spec = orig.spec.clone();
        let Some(by) = self.who(token) else { return };
        match self.spawn_job(spec, by, Some(r.job)) {
            Ok(num) => self.job_reply(token, r.id, num),
            Err((code, msg)) => self.control.error(token, r.id, code, msg),
        }
    }

    pub(super) fn job_list_request(&mut self, token: Token, r: JobListReq) {
        if let Some(s) = &r.state {
            if !matches!(s.as_str(), "running" | "exited" | "failed") {
                let msg = format!("unknown job state {s:?}: expected running, exited or failed");
                self.control.error(token, r.id, ErrorCode::BadRequest, msg);
                return;
            }
        }
        if r.name.as_ref().is_some_and(|p| p.len() > MAX_PATTERN) {
            let msg = format!("the name pattern is longer than {MAX_PATTERN} bytes");
            self.control.error(token, r.id, ErrorCode::BadRequest, msg);
            return;
        }
        let since = r.since_us.map(|us| std::time::UNIX_EPOCH + std::time::Duration::from_micros(us));
        let nums: Vec<u64> = self
            .jobs
            .iter()
            .filter(|j| since.is_none_or(|t| j.created >= t))
            .filter(|j| r.name.as_ref().is_none_or(|p| glob_match(p, &j.spec.name)))
            .map(|j| j.num)
            .collect();
        // One JOB frame per job, then END: a list of any length, each frame small.
        for n in nums {
            let Some(job) = self.job_info(n) else { continue };
            if r.state.as_ref().is_none_or(|s| state_matches(s, &job)) {
                self.control.reply(token, kind::JOB, &JobReply { id: r.id, job });
            }
        }
        self.control.reply(token, kind::END, &crate::proto::msg::End { id: r.id });
    }

    pub(super) fn job_rm_request(&mut self, token: Token, r: JobRef) {
        if self.find_job(token, r.id, r.job).is_none() {
            return;
        }
        if self.jobs.get(r.job).is_some_and(|j| j.status.is_none()) {
            let msg = format!("job {} is still running: signal it first", job_name(r.job));
            self.control.error(token, r.id, ErrorCode::JobRunning, msg);
            return;
        }
        self.forget_job(r.job);
        self.done(token, r.id, format!("removed job {}", job_name(r.job)));
    }

    /// Stream job `num`'s output to the connection (from the first byte kept), then
    /// end with a JOB reply once it has ended.
    pub(super) fn attach_request(&mut self, token: Token, id: u64, num: u64) {
        let Some(idx) = self.find_job(token, id, num) else { return };
        let svc = &self.svcs[idx];
        let sub = LogSub {
            id,
            svc: idx,
            wants: [true, true],
            follow: true,
            next: [svc.out.start(), svc.err.start()],
            end: [0, 0],
            lost: [0, 0],
        };
        let q = self.control.client_queue();
        let Some(c) = self.control.conns.get_mut(&token) else { return };
        c.logs.push(sub);
        let i = c.logs.len() - 1;
        pump(q, c, i, [&svc.out, &svc.err]);
        self.control.recount();
        self.jobs.waits.push(JobWait { token, id, job: num, attach: true });
        self.check_job_waits();
    }

    pub(super) fn stdin_request(&mut self, token: Token, r: StdinReq) {
        if self.find_job(token, r.id, r.job).is_none() {
            return;
        }
        let Some(job) = self.jobs.get_mut(r.job) else { return };
        let Some(input) = job.input.as_mut().filter(|i| i.is_open()) else {
            let name = job_name(r.job);
            let msg = if job.spec.stdin {
                format!("the stdin of job {name} is closed")
            } else {
                format!("job {name} has no stdin pipe (spawn it with stdin, tend spawn -i)")
            };
            self.control.error(token, r.id, ErrorCode::Failed, msg);
            return;
        };
        input.push(&r.data, r.eof);
        let t = input.token;
        if input.full() && !input.held.contains(&token) {
            input.held.push(token);
            if let Some(c) = self.control.conns.get_mut(&token) {
                c.held = true;
            }
        }
        self.on_job_input(t);
    }

    pub(super) fn job_signal_request(&mut self, token: Token, r: JobSignalReq) {
        let Some(idx) = self.find_job(token, r.id, r.job) else { return };
        let signo = match signal_number(&r.signal) {
            Ok(n) => n,
            Err(msg) => {
                self.control.error(token, r.id, ErrorCode::BadSignal, msg);
                return;
            }
        };
        let m = &self.svcs[idx].m;
        let name = job_name(r.job);
        let target = match (r.group, m.pgid, m.pid) {
            (true, Some(pg), _) => -(pg as i32),
            (false, _, Some(pid)) => pid as i32,
            _ => {
                let msg = format!("job {name} is not running ({})", m.state);
                self.control.error(token, r.id, ErrorCode::Failed, msg);
                return;
            }
        };
        let sig = signals::signal_name(signo);
        match signals::send(target, signo) {
            Ok(()) => {
                let what = if r.group { "process group" } else { "process" };
                let reason = format!("sent {sig} to {what} {}", target.abs());
                let line = format!("{name}: {reason}");
                let ev = EventInfo {
                    job: Some(r.job),
                    kind: "signal".into(),
                    reason,
                    requestor: self.who(token),
                    ..Default::default()
                };
                self.announce(&line, ev);
                self.done(token, r.id, line);
            }
            Err(e) => {
                self.control.error(token, r.id, ErrorCode::Failed, format!("sending {sig} to {name}: {}", e.desc()))
            }
        }
    }

    // --- stdin --------------------------------------------------------------------------

    /// Whether the attempt about to be spawned in slot `idx` gets a stdin pipe: a job
    /// spawned with `stdin`, on its first attempt (a retry reads /dev/null: what was
    /// sent went to the first).
    pub(super) fn job_wants_stdin(&self, idx: usize) -> bool {
        let Some(num) = self.svcs[idx].job else { return false };
        self.jobs.get(num).is_some_and(|j| j.spec.stdin && j.attempt == 1)
    }

    /// The write end of the stdin pipe of the job in slot `idx`.
    pub(super) fn job_stdin_opened(&mut self, idx: usize, fd: OwnedFd) {
        let Some(num) = self.svcs[idx].job else { return };
        let token = self.new_token();
        match JobInput::new(fd, token, self.poll.registry()) {
            Ok(input) => {
                self.jobs.inputs.insert(token, num);
                if let Some(j) = self.jobs.get_mut(num) {
                    j.input = Some(input);
                }
            }
            Err(e) => self.note(&format!("{}: cannot watch its stdin pipe: {e}", job_name(num))),
        }
    }

    /// The stdin pipe behind `token` can take more (or has just been given more).
    pub(super) fn on_job_input(&mut self, token: Token) {
        let Some(&num) = self.jobs.inputs.get(&token) else { return };
        let Some(input) = self.jobs.get_mut(num).and_then(|j| j.input.as_mut()) else {
            self.jobs.inputs.remove(&token);
            return;
        };
        let flow = input.write(self.poll.registry());
        let release = match flow {
            Flow::Blocked => input.queued() < INPUT_LIMIT / 2,
            Flow::Drained | Flow::Closed => true,
        };
        let held = if release { std::mem::take(&mut input.held) } else { Vec::new() };
        if flow == Flow::Closed {
            self.jobs.inputs.remove(&token);
        }
        self.release_held(held);
    }

    /// Read the held connections again.
    pub(super) fn release_held(&mut self, held: Vec<Token>) {
        for t in held {
            if let Some(c) = self.control.conns.get_mut(&t) {
                c.held = false;
                self.control.pending.push(t);
            }
        }
    }

    /// Close the stdin pipe of an ended job.
    pub(super) fn close_job_input(&mut self, num: u64) {
        let Some(mut input) = self.jobs.get_mut(num).and_then(|j| j.input.take()) else { return };
        input.close(self.poll.registry());
        self.jobs.inputs.remove(&input.token);
        let held = std::mem::take(&mut input.held);
        self.release_held(held);
    }

    /// `job_history` changed (reload).
    pub(super) fn set_job_history(&mut self, n: usize) {
        self.jobs.history = n;
        self.trim_job_history();
    }
}
