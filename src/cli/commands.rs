//! The client commands: `tend ls | status | start | stop | restart | signal | events
//! | reload | shutdown | version` (`tend logs` is in logs.rs). Each talks to a running
//! `tend run` over the control socket. With `--json` stdout carries only JSON (one document, or one per
//! line for streams); everything else goes to stderr.

use std::io::Write;
use std::path::Path;

use argh::FromArgs;
use serde::Serialize;

use super::client::{code, Client, ClientError};
use crate::daemon::control::socket_path;
use crate::proto::msg::{
    Done, EventInfo, EventsReq, HttpReq, HttpResponse, ListReply, Plain, Reply, ServiceInfo, SignalReq, SignalSpec,
    StatusReply, Stream, Target, VersionReply,
};
use crate::proto::Request;

#[derive(FromArgs, Debug, Default)]
#[argh(subcommand, name = "ls")]
/// List the services and their state (or, with --jobs, the one-shot jobs).
pub struct LsCmd {
    /// list the jobs instead of the services
    #[argh(switch)]
    jobs: bool,
    /// with --jobs: only jobs in this state (running, exited or failed)
    #[argh(option)]
    state: Option<String>,
    /// with --jobs: only jobs whose name matches this pattern (* and ?)
    #[argh(option)]
    name: Option<String>,
    /// with --jobs: only jobs created since TIME (a duration ago such as "10m", or an
    /// RFC 3339 time)
    #[argh(option)]
    since: Option<String>,
    /// the control socket (default: $TEND_SOCKET, else /run/tend.sock for root, else
    /// $XDG_RUNTIME_DIR/tend.sock or /tmp/tend-UID/tend.sock)
    #[argh(option)]
    socket: Option<String>,
    /// print JSON
    #[argh(switch)]
    json: bool,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "status")]
/// Show one service (or one job, %N) in detail.
pub struct StatusCmd {
    /// the service, or a job as %N
    #[argh(positional)]
    service: String,
    /// the control socket
    #[argh(option)]
    socket: Option<String>,
    /// print JSON
    #[argh(switch)]
    json: bool,
}

macro_rules! change_cmd {
    ($name:ident, $cmd:literal, $doc:literal) => {
        #[derive(FromArgs, Debug)]
        #[argh(subcommand, name = $cmd)]
        #[doc = $doc]
        pub struct $name {
            /// the service
            #[argh(positional)]
            service: String,
            /// return as soon as the change is under way, without waiting for it
            #[argh(switch)]
            no_wait: bool,
            /// the control socket
            #[argh(option)]
            socket: Option<String>,
            /// print JSON
            #[argh(switch)]
            json: bool,
        }
    };
}

change_cmd!(StartCmd, "start", "Start a service and wait until it is running.");
change_cmd!(StopCmd, "stop", "Stop a service and wait until its whole process group is gone.");
change_cmd!(RestartCmd, "restart", "Restart a service and wait until it is running again.");

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "signal")]
/// Send a signal to a service's process (or its process group with --group); %N
/// names a job.
pub struct SignalCmd {
    /// the service, or a job as %N
    #[argh(positional)]
    service: String,
    /// the signal: a name (TERM, SIGTERM) or a number
    #[argh(positional)]
    signal: String,
    /// signal the whole process group
    #[argh(switch, short = 'g')]
    group: bool,
    /// the control socket
    #[argh(option)]
    socket: Option<String>,
    /// print JSON
    #[argh(switch)]
    json: bool,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "events")]
/// Print tend's event history (state changes, signals, reloads), and follow it with -f.
pub struct EventsCmd {
    /// keep printing new events until interrupted
    #[argh(switch, short = 'f')]
    follow: bool,
    /// start at this sequence number
    #[argh(option)]
    from: Option<u64>,
    /// the control socket
    #[argh(option)]
    socket: Option<String>,
    /// print JSON, one object per line
    #[argh(switch)]
    json: bool,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "wait-ready")]
/// Wait until services are ready: exit 0 when they are, 1 if one fails, 8 on timeout.
pub struct WaitReadyCmd {
    /// the services (a [service.NAME] with instances means all of them); default: every
    /// service expected to run
    #[argh(positional)]
    services: Vec<String>,
    /// give up after this long (as "30s", "2m"); default: wait forever
    #[argh(option)]
    timeout: Option<String>,
    /// the control socket
    #[argh(option)]
    socket: Option<String>,
    /// print JSON
    #[argh(switch)]
    json: bool,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "check")]
/// Exit 0 if every service expected to run is ready and healthy, else 1 (and say why).
pub struct CheckCmd {
    /// the control socket
    #[argh(option)]
    socket: Option<String>,
    /// print JSON
    #[argh(switch)]
    json: bool,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "request")]
/// Forward an HTTP request to a service's socket and print the response body: exit 0
/// for a status below 400, 9 for 400 and above, 10 if the service is not available.
pub struct RequestCmd {
    /// the service
    #[argh(positional)]
    service: String,
    /// the path, with an optional ?query
    #[argh(positional)]
    path: String,
    /// the method (default: GET, or POST with -d)
    #[argh(option, short = 'X')]
    method: Option<String>,
    /// a header field, as 'Name: value' (repeatable)
    #[argh(option, short = 'H')]
    header: Vec<String>,
    /// the body: @FILE to read a file, - (or @-) to read stdin, else the text itself
    #[argh(option, short = 'd')]
    data: Option<String>,
    /// print the status line and header fields before the body
    #[argh(switch, short = 'i')]
    include: bool,
    /// the control socket
    #[argh(option)]
    socket: Option<String>,
    /// print JSON: status, reason, headers, body (as text)
    #[argh(switch)]
    json: bool,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "reload")]
/// Re-read the configuration file and apply the differences.
pub struct ReloadCmd {
    /// the control socket
    #[argh(option)]
    socket: Option<String>,
    /// print JSON
    #[argh(switch)]
    json: bool,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "shutdown")]
/// Stop every service and make tend exit.
pub struct ShutdownCmd {
    /// the control socket
    #[argh(option)]
    socket: Option<String>,
    /// print JSON
    #[argh(switch)]
    json: bool,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "version")]
/// Print tend's version, and the running daemon's if one answers.
pub struct VersionCmd {
    /// the control socket
    #[argh(option)]
    socket: Option<String>,
    /// print JSON
    #[argh(switch)]
    json: bool,
}

fn connect(socket: &Option<String>) -> Result<Client, ClientError> {
    Client::connect(&socket_path(socket.as_deref().map(Path::new), None))
}

/// Write to stdout; a closed stdout (`| head`) ends the command quietly.
fn out(s: &[u8]) -> Result<(), ClientError> {
    let mut o = std::io::stdout().lock();
    o.write_all(s).and_then(|_| o.flush()).map_err(|_| ClientError::new(0, ""))
}

fn json_line<T: Serialize>(v: &T) -> Result<(), ClientError> {
    let mut s = serde_json::to_vec(v).map_err(|e| ClientError::new(code::FAILED, e.to_string()))?;
    s.push(b'\n');
    out(&s)
}

fn unexpected(r: Reply) -> ClientError {
    ClientError::new(code::PROTOCOL, format!("unexpected reply {r:?}"))
}

/// `4m45s`: an uptime as `tend ls` and `tend top` write it.
pub(super) fn duration(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{}s", s / 60, s % 60),
        3600..=86399 => format!("{}h{}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d{}h", s / 86400, (s % 86400) / 3600),
    }
}

/// `9.1MiB`: a size as `tend ls` and `tend top` write it.
pub(super) fn bytes(n: u64) -> String {
    const K: f64 = 1024.0;
    let f = n as f64;
    if f < K {
        format!("{n}B")
    } else if f < K * K {
        format!("{:.1}KiB", f / K)
    } else if f < K * K * K {
        format!("{:.1}MiB", f / K / K)
    } else {
        format!("{:.1}GiB", f / K / K / K)
    }
}

/// The state as `ls` and `status` show it: "running (draining)", "running (paused)".
fn shown_state(s: &ServiceInfo) -> String {
    match (s.draining, s.paused) {
        (true, _) => format!("{} (draining)", s.state),
        (false, true) => format!("{} (paused)", s.state),
        _ => s.state.clone(),
    }
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_else(|| "-".into())
}

pub fn ls(c: LsCmd) -> Result<(), ClientError> {
    if c.jobs {
        let f = super::jobs::ListFilters { state: c.state, name: c.name, since: c.since };
        return super::jobs::list(f, &c.socket, c.json);
    }
    if c.state.is_some() || c.name.is_some() || c.since.is_some() {
        return Err(ClientError::new(code::USAGE, "--state, --name and --since need --jobs"));
    }
    let mut cl = connect(&c.socket)?;
    let id = cl.next_id();
    let services = cl.call_as::<ListReply>(Request::List(Plain { id }))?.services;
    if c.json {
        return json_line(&services);
    }
    // AVAIL (forwarding) only when some service has a socket.
    let avail = services.iter().any(|s| s.available.is_some());
    let mut rows =
        vec![["NAME", "STATE", "HEALTH", "AVAIL", "PID", "UPTIME", "RESTARTS", "LAST EXIT", "RSS", "CPU"]
            .map(String::from)];
    for s in &services {
        rows.push([
            s.name.clone(),
            shown_state(s),
            if s.health.is_empty() { "-".into() } else { s.health.clone() },
            match s.available {
                Some(true) => "yes".into(),
                Some(false) => "no".into(),
                None => "-".into(),
            },
            opt(s.pid),
            s.uptime_ms.map(duration).unwrap_or_else(|| "-".into()),
            s.restarts.to_string(),
            s.last_exit.as_ref().map(|e| e.text.clone()).unwrap_or_else(|| "-".into()),
            s.rss.map(bytes).unwrap_or_else(|| "-".into()),
            s.cpu_ms.map(|ms| format!("{:.2}s", ms as f64 / 1000.0)).unwrap_or_else(|| "-".into()),
        ]);
    }
    if !avail {
        for r in &mut rows {
            r[3].clear();
        }
    }
    let rows: Vec<&[String]> = rows.iter().map(|r| &r[..]).collect();
    out(table_text(&rows, if avail { None } else { Some(3) }).as_bytes())
}

/// Rows as a table: columns padded to their widest cell, two spaces apart, the last
/// one not padded; column `skip` left out.
pub(super) fn table_text(rows: &[&[String]], skip: Option<usize>) -> String {
    let mut widths = vec![0usize; rows.first().map_or(0, |r| r.len())];
    for r in rows {
        for (w, cell) in widths.iter_mut().zip(r.iter()) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut text = String::new();
    for r in rows {
        let mut line = String::new();
        for (i, (cell, &w)) in r.iter().zip(&widths).enumerate() {
            if Some(i) == skip {
                continue;
            }
            if i + 1 == r.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<w$}  "));
            }
        }
        text.push_str(line.trim_end());
        text.push('\n');
    }
    text
}

/// `key         value` and a newline (one call site for every line: smaller code).
#[inline(never)]
pub(super) fn kv_line(t: &mut String, k: &str, v: &str) {
    t.push_str(k);
    t.extend(std::iter::repeat_n(' ', 12usize.saturating_sub(k.len())));
    t.push_str(v);
    t.push('\n');
}

fn status_text(s: &ServiceInfo) -> String {
    let mut t = String::new();
    let mut kv = |k: &str, v: String| kv_line(&mut t, k, &v);
    kv("name", s.name.clone());
    kv("state", shown_state(s));
    kv("reason", s.reason.clone());
    kv("pid", opt(s.pid));
    kv("started", s.started.clone().unwrap_or_else(|| "-".into()));
    kv("uptime", s.uptime_ms.map(duration).unwrap_or_else(|| "-".into()));
    kv("restarts", s.restarts.to_string());
    kv("last exit", s.last_exit.as_ref().map(|e| e.text.clone()).unwrap_or_else(|| "-".into()));
    kv("ready", s.ready.to_string());
    kv("health", if s.health.is_empty() { "-".into() } else { s.health.clone() });
    kv("probe", if s.probe.is_empty() { "-".into() } else { s.probe.clone() });
    kv("status", if s.status_text.is_empty() { "-".into() } else { s.status_text.clone() });
    kv("depends on", if s.depends_on.is_empty() { "-".into() } else { s.depends_on.join(", ") });
    kv("rss", s.rss.map(bytes).unwrap_or_else(|| "-".into()));
    kv("cpu", s.cpu_ms.map(|ms| format!("{:.2}s", ms as f64 / 1000.0)).unwrap_or_else(|| "-".into()));
    if !s.listen.is_empty() {
        kv("listen", s.listen.join(", "));
    }
    if !s.socket.is_empty() {
        kv("socket", s.socket.clone());
        let avail = match s.available {
            Some(true) => "yes".to_string(),
            _ => format!("no: {}", s.unavailable),
        };
        kv("available", avail);
        let lat = |v: Option<u64>| v.map(|us| format!("{:.3}ms", us as f64 / 1000.0)).unwrap_or_else(|| "-".into());
        kv(
            "requests",
            format!(
                "{} ({} errors), latency p50 {}, p99 {}",
                s.requests,
                s.request_errors,
                lat(s.latency_p50_us),
                lat(s.latency_p99_us)
            ),
        );
    }
    kv("autostart", s.autostart.to_string());
    kv("command", s.command.join(" "));
    kv(
        "output",
        format!(
            "stdout {}, stderr {}, dropped {}",
            bytes(s.stdout_bytes),
            bytes(s.stderr_bytes),
            bytes(s.dropped_bytes)
        ),
    );
    if let Some(f) = &s.log_file {
        let errors = match (&s.log_error, s.log_errors) {
            (Some(e), n) => format!(" (failing: {e}; {n} failed attempt(s))"),
            (None, 0) => String::new(),
            (None, n) => format!(" ({n} failed attempt(s), writing now)"),
        };
        kv("log file", format!("{f}{errors}"));
    }
    if !s.last_output.is_empty() {
        // One heading line, not a key/value pair: the lines follow it, indented.
        t.push_str(&format!("last lines before the last exit ({}):\n", s.last_output.len()));
        t.push_str(&output_text(&s.last_output, "  "));
    }
    t
}

pub fn status(c: StatusCmd) -> Result<(), ClientError> {
    if let Some(num) = crate::proto::msg::parse_job(&c.service, false) {
        return super::jobs::status(num, &c.socket, c.json);
    }
    let mut cl = connect(&c.socket)?;
    let id = cl.next_id();
    let s = cl.call_as::<StatusReply>(Request::Status(Target { id, service: c.service, wait: false }))?.service;
    if c.json {
        return json_line(&s);
    }
    out(status_text(&s).as_bytes())
}

pub(super) fn done(d: Done, json: bool) -> Result<(), ClientError> {
    if json {
        return json_line(&serde_json::json!({ "message": d.message }));
    }
    out(format!("{}\n", d.message).as_bytes())
}

pub enum Change {
    Start(StartCmd),
    Stop(StopCmd),
    Restart(RestartCmd),
}

pub fn change(c: Change) -> Result<(), ClientError> {
    let (service, no_wait, socket, json, make): (_, _, _, _, fn(Target) -> Request) = match c {
        Change::Start(c) => (c.service, c.no_wait, c.socket, c.json, Request::Start),
        Change::Stop(c) => (c.service, c.no_wait, c.socket, c.json, Request::Stop),
        Change::Restart(c) => (c.service, c.no_wait, c.socket, c.json, Request::Restart),
    };
    let mut cl = connect(&socket)?;
    let id = cl.next_id();
    done(cl.call_as(make(Target { id, service, wait: !no_wait }))?, json)
}

pub fn signal(c: SignalCmd) -> Result<(), ClientError> {
    let spec = match c.signal.parse::<i64>() {
        Ok(n) => SignalSpec::Number(n),
        Err(_) => SignalSpec::Name(c.signal.clone()),
    };
    let mut cl = connect(&c.socket)?;
    let id = cl.next_id();
    let r = match crate::proto::msg::parse_job(&c.service, false) {
        Some(job) => {
            cl.call_as(Request::JobSignal(crate::proto::msg::JobSignalReq { id, job, signal: spec, group: c.group }))?
        }
        None => cl.call_as(Request::Signal(SignalReq { id, service: c.service, signal: spec, group: c.group }))?,
    };
    done(r, c.json)
}

fn event_text(e: &EventInfo) -> String {
    let mut s = format!("{:>5} {} ", e.seq, e.ts);
    if !e.service.is_empty() {
        s.push_str(&e.service);
        s.push(' ');
    }
    if let Some(j) = e.job {
        s.push_str(&crate::proto::msg::job_name(j));
        s.push(' ');
    }
    if e.kind == "state" {
        s.push_str(&format!("{}->{}: ", e.from, e.to));
    } else {
        s.push_str(&format!("{}: ", e.kind));
    }
    s.push_str(&e.reason);
    if let Some(r) = &e.requestor {
        s.push_str(&crate::daemon::requests::by_whom(r));
    }
    s.push('\n');
    s.push_str(&output_text(&e.output, "      "));
    s
}

/// The last lines of an exit, one per line: `INDENT stderr | text`.
fn output_text(lines: &[crate::proto::msg::OutputLine], indent: &str) -> String {
    let mut s = String::new();
    for l in lines {
        let stream = if l.stream == Stream::Stderr { "stderr" } else { "stdout" };
        s.push_str(&format!("{indent}{stream} | {}\n", l.line));
    }
    s
}

pub fn events(c: EventsCmd) -> Result<(), ClientError> {
    let mut cl = connect(&c.socket)?;
    let id = cl.next_id();
    // Following from the start of the retained history unless told otherwise.
    let from = c.from.or(if c.follow { Some(0) } else { None });
    cl.send(&Request::Events(EventsReq { id, from, follow: c.follow }))?;
    loop {
        match cl.recv()? {
            Reply::Event(e) if e.id == id => {
                if c.json {
                    json_line(&e.event)?;
                } else {
                    out(event_text(&e.event).as_bytes())?;
                }
            }
            Reply::EventsLost(l) if l.id == id => {
                if c.json {
                    json_line(&serde_json::json!({ "lost": { "from": l.from, "to": l.to, "reason": l.reason } }))?;
                } else {
                    let why = if l.reason == "evicted" {
                        "no longer retained"
                    } else {
                        "dropped: this client was not keeping up"
                    };
                    crate::diag::err(&format!("tend: events {} to {} {why}\n", l.from, l.to.saturating_sub(1)));
                }
            }
            Reply::End(e) if e.id == id => return Ok(()),
            Reply::Error(e) => return Err(ClientError::from_reply(&e)),
            r => return Err(unexpected(r)),
        }
    }
}

pub fn reload(c: ReloadCmd) -> Result<(), ClientError> {
    let mut cl = connect(&c.socket)?;
    let id = cl.next_id();
    done(cl.call_as(Request::Reload(Plain { id }))?, c.json)
}

pub fn shutdown(c: ShutdownCmd) -> Result<(), ClientError> {
    let mut cl = connect(&c.socket)?;
    let id = cl.next_id();
    done(cl.call_as(Request::Shutdown(Plain { id }))?, c.json)
}

pub fn version(c: VersionCmd) -> Result<(), ClientError> {
    let daemon = match connect(&c.socket) {
        Ok(mut cl) => {
            let id = cl.next_id();
            Some(cl.call_as::<VersionReply>(Request::Version(Plain { id }))?)
        }
        Err(e) if e.code == code::NOT_RUNNING => None,
        Err(e) => return Err(e),
    };
    if c.json {
        let d = daemon
            .map(|v| serde_json::json!({ "version": v.version, "api": v.api, "pid": v.pid, "uptime_s": v.uptime_s }));
        return json_line(&serde_json::json!({
            "version": crate::VERSION,
            "api": crate::proto::msg::API_VERSION,
            "daemon": d,
        }));
    }
    let mut text = format!("tend {}\n", crate::VERSION);
    if let Some(v) = daemon {
        text.push_str(&format!(
            "daemon: tend {} (api {}, pid {}, up {})\n",
            v.version,
            v.api,
            v.pid,
            duration(v.uptime_s * 1000)
        ));
    }
    out(text.as_bytes())
}

use crate::check::{expected, readiness, Readiness};

/// The services `names` select (a name matches itself or its instances, NAME.i).
fn select<'a>(all: &'a [ServiceInfo], names: &[String]) -> Result<Vec<&'a ServiceInfo>, ClientError> {
    if names.is_empty() {
        return Ok(all.iter().filter(|s| expected(s)).collect());
    }
    let mut out = Vec::new();
    for n in names {
        let inst = format!("{n}.");
        let found: Vec<&ServiceInfo> = all
            .iter()
            .filter(|s| s.name == *n || s.name.strip_prefix(&inst).is_some_and(|i| i.parse::<u32>().is_ok()))
            .collect();
        if found.is_empty() {
            return Err(ClientError::new(code::UNKNOWN_SERVICE, format!("unknown service {n:?}")));
        }
        out.extend(found);
    }
    Ok(out)
}

pub fn wait_ready(c: WaitReadyCmd) -> Result<(), ClientError> {
    let deadline = match &c.timeout {
        Some(t) => {
            let d = crate::config::units::parse_duration(t)
                .map_err(|m| ClientError::new(code::USAGE, format!("--timeout: {m}")))?;
            Some(std::time::Instant::now() + d)
        }
        None => None,
    };
    let mut cl = connect(&c.socket)?;
    // Follow events first, then look: a change between the two is not missed, since
    // each event is a cue to look again.
    let sub = cl.next_id();
    cl.send(&Request::Events(EventsReq { id: sub, from: None, follow: true }))?;
    loop {
        let id = cl.next_id();
        cl.send(&Request::List(Plain { id }))?;
        let services = loop {
            match cl.recv()? {
                Reply::List(l) if l.id == id => break l.services,
                Reply::Event(_) | Reply::EventsLost(_) => {}
                Reply::Error(e) => return Err(ClientError::from_reply(&e)),
                r => return Err(unexpected(r)),
            }
        };
        let chosen = select(&services, &c.services)?;
        let states: Vec<Readiness> = chosen.iter().map(|s| readiness(s, false)).collect();
        if let Some(Readiness::Failed(why)) = states.iter().find(|r| matches!(r, Readiness::Failed(_))) {
            return Err(ClientError::new(code::FAILED, why.clone()));
        }
        let pending: Vec<&String> = states
            .iter()
            .filter_map(|r| match r {
                Readiness::NotYet(w) => Some(w),
                _ => None,
            })
            .collect();
        if pending.is_empty() {
            if c.json {
                let names: Vec<&str> = chosen.iter().map(|s| s.name.as_str()).collect();
                return json_line(&serde_json::json!({ "ready": names }));
            }
            return Ok(());
        }
        // Wait for the next event (any), or the deadline.
        loop {
            let left = match deadline {
                Some(d) => match d.checked_duration_since(std::time::Instant::now()) {
                    Some(l) if !l.is_zero() => Some(l),
                    _ => {
                        let what: Vec<&str> = pending.iter().map(|s| s.as_str()).collect();
                        return Err(ClientError::new(
                            code::TIMEOUT,
                            format!("timed out waiting for: {}", what.join("; ")),
                        ));
                    }
                },
                None => None,
            };
            cl.set_read_timeout(left)?;
            match cl.recv() {
                Ok(Reply::Event(_) | Reply::EventsLost(_)) => break,
                Ok(Reply::End(_)) => return Err(ClientError::new(code::FAILED, "tend is shutting down")),
                Ok(Reply::Error(e)) => return Err(ClientError::from_reply(&e)),
                Ok(r) => return Err(unexpected(r)),
                // A read timeout: the loop above decides whether the deadline passed.
                Err(_)
                    if deadline
                        .is_some_and(|d| std::time::Instant::now() + std::time::Duration::from_millis(5) >= d) => {}
                Err(e) => return Err(e),
            }
        }
        cl.set_read_timeout(None)?;
    }
}

pub fn check(c: CheckCmd) -> Result<(), ClientError> {
    let mut cl = connect(&c.socket)?;
    let id = cl.next_id();
    let services = cl.call_as::<ListReply>(Request::List(Plain { id }))?.services;
    let chosen = select(&services, &[])?;
    let bad = crate::check::problems(&services, true);
    if c.json {
        json_line(&serde_json::json!({ "ok": bad.is_empty(), "problems": bad }))?;
    } else if bad.is_empty() {
        out(format!("ok: {} service(s) ready and healthy\n", chosen.len()).as_bytes())?;
    }
    if bad.is_empty() {
        Ok(())
    } else {
        Err(ClientError::new(code::FAILED, format!("not ready or not healthy: {}", bad.join("; "))))
    }
}

/// The body of `-d`: `@FILE`, `-` or `@-` (stdin), or the text itself.
fn request_body(data: &str) -> Result<Vec<u8>, ClientError> {
    use std::io::Read;
    if data == "-" || data == "@-" {
        let mut v = Vec::new();
        std::io::stdin()
            .read_to_end(&mut v)
            .map_err(|e| ClientError::new(code::FAILED, format!("reading stdin: {e}")))?;
        return Ok(v);
    }
    if let Some(path) = data.strip_prefix('@') {
        return std::fs::read(path).map_err(|e| ClientError::new(code::USAGE, format!("-d @{path}: {e}")));
    }
    Ok(data.as_bytes().to_vec())
}

pub fn request(c: RequestCmd) -> Result<(), ClientError> {
    let usage = |m: String| ClientError::new(code::USAGE, m);
    let (path, query) = match c.path.split_once('?') {
        Some((p, q)) => (p.to_string(), q.to_string()),
        None => (c.path.clone(), String::new()),
    };
    if !path.starts_with('/') {
        return Err(usage(format!("the path must start with /: {:?}", c.path)));
    }
    let mut headers = Vec::new();
    for h in &c.header {
        let Some((n, v)) = h.split_once(':') else {
            return Err(usage(format!("-H {h:?}: expected 'Name: value'")));
        };
        headers.push((n.trim().to_string(), v.trim().to_string()));
    }
    let body = match &c.data {
        Some(d) => request_body(d)?,
        None => Vec::new(),
    };
    let method = c.method.clone().unwrap_or_else(|| if c.data.is_some() { "POST".into() } else { "GET".into() });
    let mut cl = connect(&c.socket)?;
    let max = cl.welcome.max_frame as usize;
    if max > 0 && body.len() + 4096 > max {
        return Err(ClientError::new(
            code::USAGE,
            format!(
                "a request body of {} bytes does not fit in one control frame: this tend takes frames of at most {max} \
                 bytes (control.max_frame); use the HTTP ingress for large bodies",
                body.len()
            ),
        ));
    }
    let id = cl.next_id();
    let resp: HttpResponse =
        cl.call_as(Request::Http(HttpReq { id, service: c.service.clone(), method, path, query, headers, body }))?;
    if c.json {
        json_line(&serde_json::json!({
            "status": resp.status,
            "reason": resp.reason,
            "headers": resp.headers,
            "body": String::from_utf8_lossy(&resp.body),
        }))?;
    } else {
        let mut text = Vec::new();
        if c.include {
            text.extend_from_slice(format!("HTTP/1.1 {} {}\r\n", resp.status, resp.reason).as_bytes());
            for (n, v) in &resp.headers {
                text.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
            }
            text.extend_from_slice(b"\r\n");
        }
        text.extend_from_slice(&resp.body);
        out(&text)?;
    }
    if resp.status >= 400 {
        return Err(ClientError::new(
            code::HTTP_STATUS,
            format!("{} answered {} {}", c.service, resp.status, resp.reason),
        ));
    }
    Ok(())
}
