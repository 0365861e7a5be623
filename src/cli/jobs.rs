//! The job commands: `tend spawn | wait | retry | rm`, `tend status %N` and
//! `tend ls --jobs`. `spawn --attach` is a small poll loop over the control socket,
//! its own stdin (with `-i`) and a signalfd for the signals it forwards to the job.

use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::path::Path;
use std::time::{Duration, Instant};

use argh::FromArgs;

use super::client::{code, Client, ClientError};
use super::commands::{done, duration};
use crate::daemon::control::socket_path;
use crate::proto::msg::{
    job_name, parse_job, Done, JobInfo, JobListReq, JobRef, JobReply, JobSignalReq, JobSpec, Reply, SignalSpec,
    SpawnReq, StdinReq, Stream,
};
use crate::proto::Request;

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "spawn")]
/// Run a one-shot job and print its id (%N); with --attach, stream its output, forward
/// Ctrl-C to it and exit with its status.
pub struct SpawnCmd {
    /// a name for the job (listed; need not be unique)
    #[argh(option)]
    name: Option<String>,
    /// set an environment variable of the job, as K=V (repeatable)
    #[argh(option)]
    env: Vec<String>,
    /// the job's working directory (default: tend's)
    #[argh(option)]
    cwd: Option<String>,
    /// the user to run the job as (a name or a uid)
    #[argh(option)]
    user: Option<String>,
    /// stop each attempt after this long (as "30s", "10m")
    #[argh(option)]
    timeout: Option<String>,
    /// run it again, at most this many times, when it fails
    #[argh(option)]
    retries: Option<u32>,
    /// stream the job's stdout and stderr here, forward SIGINT and SIGTERM to it,
    /// and exit with its status
    #[argh(switch, short = 'a')]
    attach: bool,
    /// pipe this command's stdin to the job's stdin (with --attach)
    #[argh(switch, short = 'i')]
    interactive: bool,
    /// run the job on a pseudo-terminal; with --attach, this terminal is its
    /// keyboard and screen (detach with Ctrl-P Ctrl-Q, come back with tend attach)
    #[argh(switch, short = 't')]
    tty: bool,
    /// the control socket
    #[argh(option)]
    socket: Option<String>,
    /// print JSON: the job as created (and, with --attach, as ended)
    #[argh(switch)]
    json: bool,
    /// the command and its arguments, after --
    #[argh(positional, greedy)]
    command: Vec<String>,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "wait")]
/// Wait until a job has ended and exit with its status.
pub struct WaitCmd {
    /// the job (%N or N)
    #[argh(positional)]
    job: String,
    /// give up after this long (exit 8)
    #[argh(option)]
    timeout: Option<String>,
    /// the control socket
    #[argh(option)]
    socket: Option<String>,
    /// print JSON: the ended job
    #[argh(switch)]
    json: bool,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "retry")]
/// Run an ended job again (same descriptor, new id) and print the new id.
pub struct RetryCmd {
    /// the job (%N or N)
    #[argh(positional)]
    job: String,
    /// the control socket
    #[argh(option)]
    socket: Option<String>,
    /// print JSON: the new job
    #[argh(switch)]
    json: bool,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "rm")]
/// Forget an ended job (its record and kept output).
pub struct RmCmd {
    /// the job (%N or N)
    #[argh(positional)]
    job: String,
    /// the control socket
    #[argh(option)]
    socket: Option<String>,
    /// print JSON
    #[argh(switch)]
    json: bool,
}

/// The `tend ls --jobs` filters.
pub struct ListFilters {
    pub state: Option<String>,
    pub name: Option<String>,
    pub since: Option<String>,
}

fn connect(socket: &Option<String>) -> Result<Client, ClientError> {
    Client::connect(&socket_path(socket.as_deref().map(Path::new), None))
}

fn usage(m: impl Into<String>) -> ClientError {
    ClientError::new(code::USAGE, m)
}

fn out(s: &[u8]) -> Result<(), ClientError> {
    let mut o = std::io::stdout().lock();
    o.write_all(s).and_then(|_| o.flush()).map_err(|_| ClientError::new(0, ""))
}

fn json_line<T: serde::Serialize>(v: &T) -> Result<(), ClientError> {
    let mut s = serde_json::to_vec(v).map_err(|e| ClientError::new(code::FAILED, e.to_string()))?;
    s.push(b'\n');
    out(&s)
}

fn unexpected(r: Reply) -> ClientError {
    ClientError::new(code::PROTOCOL, format!("unexpected reply {r:?}"))
}

/// `%N` or `N`.
fn job_arg(s: &str) -> Result<u64, ClientError> {
    parse_job(s, true).ok_or_else(|| usage(format!("bad job id {s:?}: expected %N or N, such as %3")))
}

/// What `spawn` sends.
fn spec_of(c: &SpawnCmd) -> Result<JobSpec, ClientError> {
    if c.command.is_empty() {
        return Err(usage("no command: tend spawn [OPTIONS] -- CMD ARGS..."));
    }
    if c.interactive && !c.attach {
        return Err(usage("-i needs --attach: only an attached client can feed the job's stdin"));
    }
    let mut env = Vec::new();
    for e in &c.env {
        match e.split_once('=') {
            Some((k, v)) if !k.is_empty() => env.push((k.to_string(), v.to_string())),
            _ => return Err(usage(format!("--env {e:?}: expected K=V"))),
        }
    }
    let cwd = match &c.cwd {
        Some(d) if Path::new(d).is_absolute() => Some(d.clone()),
        Some(d) => {
            let here = std::env::current_dir().map_err(|e| usage(format!("--cwd {d:?}: {e}")))?;
            Some(here.join(d).display().to_string())
        }
        None => None,
    };
    let timeout_ms = match &c.timeout {
        Some(t) => {
            let d = crate::config::units::parse_duration(t).map_err(|m| usage(format!("--timeout: {m}")))?;
            if d.is_zero() {
                return Err(usage("--timeout: must be more than 0"));
            }
            Some(d.as_millis().max(1) as u64)
        }
        None => None,
    };
    // A terminal job starts with this terminal's size, when there is one.
    let size = if c.tty { super::tty::window_size() } else { None };
    Ok(JobSpec {
        command: c.command.clone(),
        env,
        cwd,
        user: c.user.clone(),
        timeout_ms,
        retries: c.retries.unwrap_or(0),
        name: c.name.clone().unwrap_or_default(),
        stdin: c.interactive && !c.tty,
        tty: c.tty,
        rows: size.map_or(0, |s| s.rows),
        cols: size.map_or(0, |s| s.cols),
    })
}

/// The exit code of a command that reports an ended job: its status.
fn status_code(j: &JobInfo) -> Result<(), ClientError> {
    match j.status {
        Some(0) => Ok(()),
        Some(s) => Err(ClientError::new(s, "")),
        None => Err(ClientError::new(code::PROTOCOL, format!("job {} has not ended", job_name(j.job)))),
    }
}

pub fn spawn(c: SpawnCmd) -> Result<(), ClientError> {
    let spec = spec_of(&c)?;
    let mut cl = connect(&c.socket)?;
    let id = cl.next_id();
    let job = cl.call_as::<JobReply>(Request::Spawn(SpawnReq { id, spec, attach: c.attach }))?.job;
    if c.json {
        json_line(&job)?;
    } else if !c.attach {
        out(format!("{}\n", job_name(job.job)).as_bytes())?;
    }
    if !c.attach {
        return Ok(());
    }
    if c.tty {
        return match super::ttyattach::session(&mut cl, id, job.job, Vec::new())? {
            super::ttyattach::Outcome::Ended(end) => {
                if c.json {
                    json_line(&end)?;
                }
                status_code(&end)
            }
            super::ttyattach::Outcome::Detached => Ok(()),
        };
    }
    let end = attach(&mut cl, id, job.job, c.interactive)?;
    if c.json {
        json_line(&end)?;
    }
    status_code(&end)
}

/// Signals `spawn --attach` forwards to the job.
const FORWARDED: [i32; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

/// The `--attach` loop: output to stdout/stderr, stdin (with `-i`) to the job,
/// forwarded signals, until the JOB frame that ends the stream; returns it.
fn attach(cl: &mut Client, id: u64, num: u64, interactive: bool) -> Result<JobInfo, ClientError> {
    use nix::sys::signal::{SigSet, SigmaskHow, Signal};
    use nix::sys::signalfd::{SfdFlags, SignalFd};
    let fail = |what: &str, e: nix::Error| ClientError::new(code::FAILED, format!("{what}: {}", e.desc()));
    let mut set = SigSet::empty();
    for s in FORWARDED {
        if let Ok(sig) = Signal::try_from(s) {
            set.add(sig);
        }
    }
    nix::sys::signal::pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&set), None).map_err(|e| fail("sigprocmask", e))?;
    let sfd =
        SignalFd::with_flags(&set, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC).map_err(|e| fail("signalfd", e))?;
    // EPIPE rather than death by SIGPIPE when stdout is closed (see above). This
    // process execs nothing, so the disposition goes nowhere else.
    // SAFETY: setting a signal's disposition to SIG_IGN has no memory effects.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    cl.set_nonblocking(true)?;
    let stdin = std::io::stdin();
    let mut stdin_open = interactive;
    let mut pending: Vec<u8> = Vec::new();
    let mut sent = 0usize;
    let mut inbuf = vec![0u8; 32 * 1024];
    let mut stdout = std::io::stdout().lock();
    let mut stderr = std::io::stderr().lock();
    loop {
        // Frames already read first.
        while let Some(r) = cl.next_reply()? {
            match r {
                Reply::LogData(d) if d.id == id => {
                    let r = match d.stream {
                        Stream::Stderr => stderr.write_all(&d.data).and_then(|_| stderr.flush()),
                        _ => stdout.write_all(&d.data).and_then(|_| stdout.flush()),
                    };
                    // A closed stdout (| head) ends the command quietly, as for the
                    // other commands; the job goes on.
                    if r.is_err() {
                        return Err(ClientError::new(0, ""));
                    }
                }
                Reply::LogLost(l) if l.id == id => {
                    let what = if l.stream == Stream::Stderr { "stderr" } else { "stdout" };
                    crate::diag::err(&format!(
                        "tend: {} bytes of the job's {what} were lost (this client was not keeping up)\n",
                        l.bytes
                    ));
                }
                Reply::Job(j) if j.id == id => return Ok(j.job),
                Reply::End(e) if e.id == id => {
                    return Err(ClientError::new(
                        code::FAILED,
                        format!("job {} was removed before it ended", job_name(num)),
                    ))
                }
                Reply::Error(e) if e.id == id => return Err(ClientError::from_reply(&e)),
                Reply::Error(e) => crate::diag::err(&format!("tend: {}\n", e.message)),
                // Answers to the signals forwarded.
                Reply::Done(_) => {}
                r => return Err(unexpected(r)),
            }
        }
        let want_out = sent < pending.len();
        // Read stdin only while what was read before is sent (the daemon holds this
        // connection while the job is not reading).
        let read_stdin = stdin_open && !want_out;
        let ready = match poll_session(cl, want_out, sfd.as_fd(), read_stdin.then(|| stdin.as_fd())) {
            Ok(Some(r)) => r,
            Ok(None) => continue,
            Err(e) => return Err(ClientError::new(code::FAILED, format!("poll: {e}"))),
        };
        if ready.signals {
            while let Ok(Some(si)) = sfd.read_signal() {
                let sig = crate::daemon::signals::signal_name(si.ssi_signo as i32);
                let r = Request::JobSignal(JobSignalReq {
                    id: cl.next_id(),
                    job: num,
                    signal: SignalSpec::Name(sig),
                    group: false,
                });
                r.encode(&mut pending);
            }
        }
        if ready.stdin {
            let got = match stdin.lock().read(&mut inbuf) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => 0,
            };
            let r = Request::Stdin(StdinReq { id: cl.next_id(), job: num, data: inbuf[..got].to_vec(), eof: got == 0 });
            r.encode(&mut pending);
            if got == 0 {
                stdin_open = false;
            }
        }
        if sent < pending.len() {
            sent += cl.write_some(&pending[sent..])?;
            if sent == pending.len() {
                pending.clear();
                sent = 0;
            }
        }
        if ready.conn && !cl.read_some()? {
            // Frames read before the end still count.
            while let Some(r) = cl.next_reply()? {
                if let Reply::Job(j) = r {
                    if j.id == id {
                        return Ok(j.job);
                    }
                }
            }
            return Err(ClientError::new(code::PROTOCOL, "the daemon closed the connection"));
        }
    }
}

pub fn wait(c: WaitCmd) -> Result<(), ClientError> {
    let num = job_arg(&c.job)?;
    let deadline = match &c.timeout {
        Some(t) => {
            let d = crate::config::units::parse_duration(t).map_err(|m| usage(format!("--timeout: {m}")))?;
            Some(Instant::now() + d)
        }
        None => None,
    };
    let mut cl = connect(&c.socket)?;
    let id = cl.next_id();
    cl.send(&Request::Wait(JobRef { id, job: num }))?;
    if let Some(d) = deadline {
        // A zero timeout would mean "no timeout" to the socket.
        let left = d.saturating_duration_since(Instant::now()).max(Duration::from_millis(1));
        cl.set_read_timeout(Some(left))?;
    }
    let r = match cl.recv() {
        Ok(r) => r,
        Err(_) if deadline.is_some_and(|d| Instant::now() + Duration::from_millis(5) >= d) => {
            return Err(ClientError::new(
                code::TIMEOUT,
                format!("job {} has not ended within {}", job_name(num), c.timeout.unwrap_or_default()),
            ));
        }
        Err(e) => return Err(e),
    };
    let job = match r {
        Reply::Job(j) if j.id == id => j.job,
        Reply::Error(e) => return Err(ClientError::from_reply(&e)),
        r => return Err(unexpected(r)),
    };
    if c.json {
        json_line(&job)?;
    }
    status_code(&job)
}

pub fn retry(c: RetryCmd) -> Result<(), ClientError> {
    let num = job_arg(&c.job)?;
    let mut cl = connect(&c.socket)?;
    let id = cl.next_id();
    let job = cl.call_as::<JobReply>(Request::Retry(JobRef { id, job: num }))?.job;
    if c.json {
        return json_line(&job);
    }
    out(format!("{}\n", job_name(job.job)).as_bytes())
}

pub fn rm(c: RmCmd) -> Result<(), ClientError> {
    let num = job_arg(&c.job)?;
    let mut cl = connect(&c.socket)?;
    let id = cl.next_id();
    done(cl.call_as::<Done>(Request::JobRm(JobRef { id, job: num }))?, c.json)
}

/// `tend status %N`.
pub fn status(num: u64, socket: &Option<String>, json: bool) -> Result<(), ClientError> {
    let mut cl = connect(socket)?;
    let id = cl.next_id();
    let job = cl.call_as::<JobReply>(Request::JobStatus(JobRef { id, job: num }))?.job;
    if json {
        return json_line(&job);
    }
    out(status_text(&job).as_bytes())
}

fn opt(v: Option<impl ToString>) -> String {
    v.map(|v| v.to_string()).unwrap_or_else(|| "-".into())
}

/// `exited with status 3`, `killed by SIGKILL`, or the reason when there is no exit.
fn outcome(j: &JobInfo) -> String {
    match (&j.exit, j.status) {
        (_, None) => "-".into(),
        (Some(e), Some(_)) if !j.timed_out => e.text.clone(),
        _ => j.reason.clone(),
    }
}

fn status_text(j: &JobInfo) -> String {
    let mut t = String::new();
    let mut kv = |k: &str, v: String| super::commands::kv_line(&mut t, k, &v);
    kv("job", job_name(j.job));
    kv("name", if j.spec.name.is_empty() { "-".into() } else { j.spec.name.clone() });
    kv("state", j.state.clone());
    kv("reason", j.reason.clone());
    kv("status", opt(j.status));
    kv("exit", j.exit.as_ref().map(|e| e.text.clone()).unwrap_or_else(|| "-".into()));
    kv("timed out", j.timed_out.to_string());
    kv("pid", opt(j.pid));
    kv("created", j.created.clone());
    kv("started", opt(j.started.clone()));
    kv("ended", opt(j.ended.clone()));
    kv(
        "attempt",
        if j.spec.retries > 0 { format!("{} of {}", j.attempt, j.spec.retries + 1) } else { j.attempt.to_string() },
    );
    kv("retry of", opt(j.retry_of.map(job_name)));
    let r = &j.requestor;
    kv("requestor", format!("uid {}, gid {}, pid {} ({})", r.uid, r.gid, r.pid, r.name));
    kv("command", j.spec.command.join(" "));
    kv(
        "env",
        if j.spec.env.is_empty() {
            "-".into()
        } else {
            j.spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" ")
        },
    );
    kv("cwd", opt(j.spec.cwd.clone()));
    kv("user", opt(j.spec.user.clone()));
    kv("timeout", opt(j.spec.timeout_ms.map(crate::daemon::jobs::show_ms)));
    kv("retries", j.spec.retries.to_string());
    let stdin = match (j.spec.tty, j.spec.stdin) {
        (true, _) => "terminal (tend attach)",
        (false, true) => "pipe",
        (false, false) => "/dev/null",
    };
    kv("stdin", stdin.into());
    kv(
        "output",
        format!(
            "stdout {}, stderr {} (tend logs {})",
            super::commands::bytes(j.stdout_bytes),
            super::commands::bytes(j.stderr_bytes),
            job_name(j.job)
        ),
    );
    t
}

/// `tend ls --jobs`.
pub fn list(f: ListFilters, socket: &Option<String>, json: bool) -> Result<(), ClientError> {
    let since_us = match &f.since {
        Some(s) => Some(super::logs::parse_time(s, crate::timefmt::now_us()).map_err(usage)?),
        None => None,
    };
    if let Some(s) = &f.state {
        if !matches!(s.as_str(), "running" | "exited" | "failed") {
            return Err(usage(format!("--state {s:?}: expected running, exited or failed")));
        }
    }
    let mut cl = connect(socket)?;
    let id = cl.next_id();
    cl.send(&Request::JobList(JobListReq { id, state: f.state, name: f.name, since_us }))?;
    let mut jobs = Vec::new();
    loop {
        match cl.recv()? {
            Reply::Job(j) if j.id == id => jobs.push(j.job),
            Reply::End(e) if e.id == id => break,
            Reply::Error(e) => return Err(ClientError::from_reply(&e)),
            r => return Err(unexpected(r)),
        }
    }
    if json {
        return json_line(&jobs);
    }
    let now = crate::timefmt::now_us();
    let mut rows = vec![["ID", "NAME", "STATE", "PID", "CREATED", "STATUS", "ATTEMPT", "COMMAND"].map(String::from)];
    for j in &jobs {
        let age = crate::timefmt::parse_rfc3339(&j.created)
            .map(|t| format!("{} ago", duration(now.saturating_sub(t) / 1000)))
            .unwrap_or_else(|| j.created.clone());
        rows.push([
            job_name(j.job),
            if j.spec.name.is_empty() { "-".into() } else { j.spec.name.clone() },
            j.state.clone(),
            opt(j.pid),
            age,
            match j.status {
                Some(_) => format!("{} ({})", opt(j.status), outcome(j)),
                None => "-".into(),
            },
            j.attempt.to_string(),
            j.spec.command.join(" "),
        ]);
    }
    let rows: Vec<&[String]> = rows.iter().map(|r| &r[..]).collect();
    out(super::commands::table_text(&rows, None).as_bytes())
}

/// What [`poll_session`] found ready.
pub(super) struct Ready {
    /// The connection: readable, hung up or in error.
    pub conn: bool,
    /// The signalfd.
    pub signals: bool,
    /// Standard input (only when it was polled).
    pub stdin: bool,
}

/// One poll(2) of an attached session: the connection (and its room to write while
/// `want_out`), the signalfd and, when given, standard input. None if a signal
/// interrupted it.
pub(super) fn poll_session(
    cl: &Client,
    want_out: bool,
    signals: BorrowedFd,
    stdin: Option<BorrowedFd>,
) -> std::io::Result<Option<Ready>> {
    let pfd = |fd: BorrowedFd, events| libc::pollfd { fd: fd.as_raw_fd(), events, revents: 0 };
    let mut fds = [
        pfd(cl.as_fd(), libc::POLLIN | if want_out { libc::POLLOUT } else { 0 }),
        pfd(signals, libc::POLLIN),
        pfd(stdin.unwrap_or(signals), libc::POLLIN),
    ];
    let nfds = if stdin.is_some() { 3 } else { 2 };
    // SAFETY: fds holds at least nfds valid pollfd structures.
    if unsafe { libc::poll(fds.as_mut_ptr(), nfds, -1) } < 0 {
        let e = std::io::Error::last_os_error();
        return if e.kind() == std::io::ErrorKind::Interrupted { Ok(None) } else { Err(e) };
    }
    Ok(Some(Ready {
        conn: fds[0].revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0,
        signals: fds[1].revents != 0,
        stdin: stdin.is_some() && fds[2].revents != 0,
    }))
}
