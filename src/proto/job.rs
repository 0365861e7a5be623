//! The wire types of one-shot jobs (API version 2, tend-protocol(7) JOBS): a job's
//! descriptor, the requests that create, inspect, wait for, attach to, feed, signal,
//! list and forget jobs, and the two replies that describe them.
//!
//! A job is named on the wire by its number (`job`); people see it as `%N` (see
//! [`job_name`]). Fields that are empty, zero or false are left out when encoding,
//! and default when absent.

use serde::{Deserialize, Serialize};

use super::msg::{kind, DecodeError, ExitInfo, Request, Requestor, SignalSpec};

fn is_zero32(n: &u32) -> bool {
    *n == 0
}

fn is_zero64(n: &u64) -> bool {
    *n == 0
}

/// `%N`: how a job number is shown and typed (a `%` cannot start a service name, so
/// `tend status %3` is never ambiguous).
pub fn job_name(n: u64) -> String {
    format!("%{n}")
}

/// A job number as typed: `%N`, or (`bare`) also `N`.
pub fn parse_job(s: &str, bare: bool) -> Option<u64> {
    let digits = match s.strip_prefix('%') {
        Some(d) => d,
        None if bare => s,
        None => return None,
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().filter(|&n| n > 0)
}

/// What a job runs: its descriptor, kept with the job and reused by RETRY.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct JobSpec {
    /// argv; the first element is looked up in `PATH` when it has no `/`.
    pub command: Vec<String>,
    /// Added to tend's environment, in order, as [name, value] pairs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<(String, String)>,
    /// Working directory (absolute); absent: tend's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    /// User (name or numeric id) to run as; absent: the requestor's uid when it is not
    /// root or tend's own uid, else tend's user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Each attempt is stopped (stop signal, then SIGKILL) after this many
    /// milliseconds and recorded as timed out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// Runs again after a failure, at most this many times.
    #[serde(default, skip_serializing_if = "is_zero32")]
    pub retries: u32,
    /// A label for listing (`JOB_LIST` filters on it); need not be unique.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// stdin is a pipe fed by STDIN frames (else /dev/null).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stdin: bool,
}

/// Body of SPAWN.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SpawnReq {
    pub id: u64,
    pub spec: JobSpec,
    /// Attach this connection to the new job, as ATTACH does, after the JOB reply.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub attach: bool,
}

/// Body of JOB_STATUS, WAIT, RETRY and JOB_RM.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct JobRef {
    pub id: u64,
    pub job: u64,
}

/// Body of ATTACH: stream the job's output (from its first byte still kept), then a
/// JOB reply with the same id once it has ended and its output is all sent.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AttachReq {
    pub id: u64,
    pub job: u64,
}

/// Body of STDIN: bytes for the job's stdin pipe, and/or its end. No reply unless it
/// fails.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct StdinReq {
    pub id: u64,
    pub job: u64,
    #[serde(default, with = "serde_bytes", skip_serializing_if = "Vec::is_empty")]
    pub data: Vec<u8>,
    /// Close the pipe after `data`: the job reads end of file.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub eof: bool,
}

/// Body of JOB_SIGNAL.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobSignalReq {
    pub id: u64,
    pub job: u64,
    pub signal: SignalSpec,
    /// Signal the job's whole process group instead of its main process.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub group: bool,
}

/// Body of JOB_LIST: every filter given must hold.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct JobListReq {
    pub id: u64,
    /// `running` (not ended yet), `exited` (ended with success) or `failed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// A pattern on the job's name: `*` any run of characters, `?` one character.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Only jobs created at or after this time (µs since the Unix epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since_us: Option<u64>,
}

/// One job, as JOB carries it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct JobInfo {
    /// Its number (`%N`): assigned in order from 1, never reused while tend runs.
    pub job: u64,
    pub spec: JobSpec,
    /// The service states (`starting`, `running`, `backoff`, `stopping`, `exited`,
    /// `failed`).
    pub state: String,
    /// Why it is in its state.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// RFC 3339 times: created, first started, ended (absent while not ended).
    pub created: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended: Option<String>,
    /// How the last attempt's process ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit: Option<ExitInfo>,
    /// Once ended: the status a shell would report (the exit code, 128+N for signal
    /// N, 127 or 126 when the command could not be started).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<i32>,
    /// The last attempt was stopped by the timeout.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub timed_out: bool,
    /// Who sent the SPAWN or RETRY (SO_PEERCRED).
    pub requestor: Requestor,
    /// Attempts so far (1 for the first run; `retries` adds more).
    #[serde(default, skip_serializing_if = "is_zero32")]
    pub attempt: u32,
    /// The job this one was made from by RETRY.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_of: Option<u64>,
    /// Bytes written to stdout / stderr (the last ones are kept: `tend logs %N`).
    #[serde(default, skip_serializing_if = "is_zero64")]
    pub stdout_bytes: u64,
    #[serde(default, skip_serializing_if = "is_zero64")]
    pub stderr_bytes: u64,
}

impl JobInfo {
    /// Ended for good: no process left and no attempt pending.
    pub fn ended(&self) -> bool {
        self.status.is_some()
    }
}

/// Body of JOB: one job (the answer to SPAWN, JOB_STATUS, WAIT, RETRY; one per job
/// listed by JOB_LIST; the end of an ATTACH stream).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct JobReply {
    pub id: u64,
    pub job: JobInfo,
}

/// The fields of every job request, decoded in one pass and then sorted into the
/// request's own type. One decoder for the nine job requests instead of nine: each
/// struct decoded by rmp-serde instantiates its generic decoder, about 10 KB of code
/// apiece in the static binary. The price (tend-protocol(7) says it): in a job
/// request, a field named like another job request's field must have that field's
/// type even where it is not used.
#[derive(Deserialize)]
struct JobWire {
    id: u64,
    #[serde(default)]
    job: Option<u64>,
    #[serde(default)]
    spec: Option<JobSpec>,
    #[serde(default)]
    attach: bool,
    #[serde(default, with = "serde_bytes")]
    data: Vec<u8>,
    #[serde(default)]
    eof: bool,
    #[serde(default)]
    signal: Option<SignalSpec>,
    #[serde(default)]
    group: bool,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    since_us: Option<u64>,
}

/// Decode the body of job request type `k` (0x30..=0x38).
pub(super) fn decode_job(k: u8, b: &[u8]) -> Result<Request, DecodeError> {
    let w: JobWire = super::msg::body(k, b)?;
    let id = w.id;
    let missing = |f: &str| DecodeError::BadBody { kind: k, id, reason: format!("missing field `{f}`") };
    let job = w.job.ok_or_else(|| missing("job"));
    Ok(match k {
        kind::SPAWN => Request::Spawn(SpawnReq { id, spec: w.spec.ok_or_else(|| missing("spec"))?, attach: w.attach }),
        kind::JOB_STATUS => Request::JobStatus(JobRef { id, job: job? }),
        kind::WAIT => Request::Wait(JobRef { id, job: job? }),
        kind::RETRY => Request::Retry(JobRef { id, job: job? }),
        kind::JOB_RM => Request::JobRm(JobRef { id, job: job? }),
        kind::JOB_LIST => Request::JobList(JobListReq { id, state: w.state, name: w.name, since_us: w.since_us }),
        kind::ATTACH => Request::Attach(AttachReq { id, job: job? }),
        kind::STDIN => Request::Stdin(StdinReq { id, job: job?, data: w.data, eof: w.eof }),
        kind::JOB_SIGNAL => Request::JobSignal(JobSignalReq {
            id,
            job: job?,
            signal: w.signal.ok_or_else(|| missing("signal"))?,
            group: w.group,
        }),
        other => return Err(DecodeError::UnknownType(other)),
    })
}
