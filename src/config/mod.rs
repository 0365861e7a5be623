//! The supervisor's configuration: a TOML file (`tend.toml`, see tend.toml(5)) parsed
//! and validated once into an immutable [`Config`]. Everything here is plain data;
//! `parse.rs` turns text into it, with errors naming file, line and key.

mod parse;
pub mod units;

use std::path::PathBuf;
use std::time::Duration;

pub use parse::{load, parse_str, resolve_user, ConfigError};

/// The whole validated configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// The file it was read from (for messages and reload).
    pub path: PathBuf,
    /// The service whose exit ends tend with its status.
    pub main: Option<String>,
    /// Deadline for an orderly shutdown; after it everything left is SIGKILLed.
    pub shutdown_timeout: Duration,
    /// Directory for log files: `tend.log` and the files of services with `log.file`
    /// (created if missing).
    pub log_dir: Option<PathBuf>,
    /// Services in file order, `instances` already expanded (`web.0`, `web.1`, ...).
    pub services: Vec<ServiceConfig>,
    /// The control socket (`[control]`).
    pub control: Control,
    /// Put each service in its own cgroup v2 when tend can create one.
    pub cgroups: bool,
    /// Request forwarding to service sockets (`[forward]`).
    pub forward: Forward,
    /// The HTTP ingress (`[ingress]`), if configured.
    pub ingress: Option<Ingress>,
    /// Ended one-shot jobs kept (with their last output) before the oldest is evicted.
    pub job_history: usize,
}

/// The worker pool that forwards requests to service sockets (`[forward]`).
#[derive(Clone, Debug, PartialEq)]
pub struct Forward {
    /// Worker threads (read at start; a reload does not change them).
    pub workers: usize,
    /// Requests waiting for a worker; beyond them a request is answered "busy".
    pub queue: usize,
    /// Default `request_timeout` of a service.
    pub request_timeout: Duration,
}

impl Default for Forward {
    fn default() -> Self {
        Forward { workers: defaults::WORKERS, queue: defaults::QUEUE, request_timeout: defaults::REQUEST_TIMEOUT }
    }
}

/// The HTTP ingress (`[ingress]`).
#[derive(Clone, Debug, PartialEq)]
pub struct Ingress {
    /// TCP address to listen on (bound at start; a reload does not move it).
    pub listen: std::net::SocketAddr,
    pub routes: Vec<crate::http::route::Route>,
    /// Client connections beyond this are closed at once.
    pub max_connections: usize,
    pub limits: crate::http::request::Limits,
    /// An idle keep-alive connection, or one that has sent part of a request head, is
    /// closed after this long.
    pub idle_timeout: Duration,
}

/// The control socket and who may use it.
#[derive(Clone, Debug, PartialEq)]
pub struct Control {
    /// Socket path; `None` means the default. `tend run --socket` and `$TEND_SOCKET`
    /// override it; the default is `/run/tend.sock` for root, else
    /// `$XDG_RUNTIME_DIR/tend.sock`, else `/tmp/tend-UID/tend.sock`.
    pub socket: Option<PathBuf>,
    /// Permission bits of the socket file.
    pub mode: u32,
    /// Group owning the socket file (with `mode` 0660, that group may connect).
    pub group: Option<u32>,
    /// Users and groups allowed besides root and tend's own uid (checked with SO_PEERCRED).
    pub allow_uids: Vec<u32>,
    pub allow_gids: Vec<u32>,
    /// Largest frame length a client may send.
    pub max_frame: u32,
    /// Connections beyond this are answered `busy` and closed.
    pub max_clients: usize,
    /// Bytes queued to one client before it is cut (replies) or loses data (streams).
    pub client_queue: usize,
    /// Events kept for `tend events` and subscribers starting from a sequence number.
    pub events_history: usize,
}

impl Default for Control {
    fn default() -> Self {
        Control {
            socket: None,
            mode: 0o600,
            group: None,
            allow_uids: Vec::new(),
            allow_gids: Vec::new(),
            max_frame: defaults::MAX_FRAME,
            max_clients: defaults::MAX_CLIENTS,
            client_queue: defaults::CLIENT_QUEUE,
            events_history: defaults::EVENTS_HISTORY,
        }
    }
}

/// What to do when a service exits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Restart {
    Always,
    OnFailure,
    Never,
}

/// Restart delay: `initial * factor^n`, capped at `max`, optionally jittered, reset to
/// `initial` once a run lasted `reset_after`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
    pub factor: f64,
    /// Fraction 0.0..=1.0: the delay is multiplied by a random value in [1-j, 1+j].
    pub jitter: f64,
    pub reset_after: Duration,
}

/// More than `burst` starts within `interval` make the service `failed`. burst 0 = no limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StartLimit {
    pub burst: u32,
    pub interval: Duration,
}

/// Where a service's stdout or stderr goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    /// Captured into the ring buffer and written to tend's own stream as `NAME | line`.
    Passthrough,
    /// Captured into the ring buffer only.
    Capture,
    /// The child writes straight to tend's own fd (not captured).
    Inherit,
    /// /dev/null.
    Null,
    /// stderr only: merged into the stdout pipe.
    Stdout,
}

/// Per-service capture settings (`[service.NAME.log]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogOptions {
    /// Ring buffer size per stream, bytes.
    pub buffer: usize,
    /// Prefix passthrough lines with `NAME | `.
    pub prefix: bool,
    /// Color the prefix: None = only when tend's stream is a TTY.
    pub color: Option<bool>,
    /// Block (stop reading the child) instead of dropping when the passthrough queue is full.
    pub backpressure: bool,
    /// Write the captured output to `log_dir/NAME.log` as well.
    pub file: bool,
    /// Rotate the file when it would grow past this many bytes (0: never by size).
    pub max_size: u64,
    /// Rotated files kept (`NAME.log.1` .. `NAME.log.KEEP`).
    pub keep: u32,
    /// Start each line of the file with its time and stream (`TIME STREAM F|P `).
    pub timestamps: bool,
    /// Lines of output carried by the event of an exit (and shown by `tend status`).
    pub exit_lines: u32,
}

impl Default for LogOptions {
    fn default() -> Self {
        LogOptions {
            buffer: defaults::LOG_BUFFER,
            prefix: true,
            color: None,
            backpressure: false,
            file: false,
            max_size: defaults::LOG_MAX_SIZE,
            keep: defaults::LOG_KEEP,
            timestamps: false,
            exit_lines: defaults::LOG_EXIT_LINES,
        }
    }
}

/// What to do when a service's RSS exceeds `max_rss`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnMaxRss {
    Restart,
    Signal(i32),
    Log,
}

/// A resolved user to run as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunAs {
    /// As written in the file, for messages.
    pub user: String,
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups, always including `gid` (first): getgrouplist(3) of the user
    /// with `gid` for a user in the passwd database, just `[gid]` for a bare uid.
    pub groups: Vec<u32>,
    /// The user's home directory, if known (HOME/USER/LOGNAME are set from it).
    pub home: Option<PathBuf>,
}

/// One resource limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rlimit {
    pub resource: crate::daemon::spawn::RlimitResource,
    /// The name as written (`nofile`), for messages.
    pub name: &'static str,
    pub soft: u64,
    pub hard: u64,
}

/// One service, validated. For `instances = N` there is one of these per instance.
#[derive(Clone, Debug, PartialEq)]
pub struct ServiceConfig {
    /// `NAME`, or `NAME.i` for an instance.
    pub name: String,
    /// The `[service.NAME]` table this came from (same as `name` without instances).
    pub base: String,
    /// Instance number when `instances` is set.
    pub instance: Option<u32>,
    /// argv; a string command becomes `["/bin/sh", "-c", STRING]`.
    pub command: Vec<String>,
    /// Added to (or, with `clear_env`, replacing) tend's environment; sorted by key.
    /// Includes `TEND_SERVICE` (and `TEND_INSTANCE` for an instance), set by tend over
    /// any value the file gives them.
    pub env: Vec<(String, String)>,
    pub clear_env: bool,
    pub cwd: Option<PathBuf>,
    /// `user` (and optionally `group`) resolved to ids.
    pub run_as: Option<RunAs>,
    pub umask: Option<u32>,
    pub rlimits: Vec<Rlimit>,
    pub restart: Restart,
    pub backoff: Backoff,
    pub start_limit: StartLimit,
    pub stop_signal: i32,
    pub stop_timeout: Duration,
    pub kill_group: bool,
    pub stdout: Output,
    pub stderr: Output,
    pub log: LogOptions,
    pub autostart: bool,
    /// Exit codes counted as success (default `[0]`).
    pub success_exit_codes: Vec<i32>,
    pub max_rss: Option<u64>,
    pub on_max_rss: OnMaxRss,
    /// Its failure ends tend with its status (implied for `main`).
    pub essential: bool,
    /// How tend learns the service is ready (`ready`).
    pub ready: Ready,
    /// A service not ready this long after its spawn has failed (`ready_timeout`).
    pub ready_timeout: Option<Duration>,
    /// The periodic health check (`health`).
    pub health: Option<HealthCheck>,
    /// Restart the service when its health check marks it unhealthy.
    pub restart_on_unhealthy: bool,
    /// With the notify socket: a service silent (no `WATCHDOG=1`) this long has failed.
    pub watchdog: Option<Duration>,
    /// Conditions on other services that must hold before this one starts
    /// (`depends_on`), by `[service.NAME]` table name, in file order.
    pub depends_on: Vec<Dependency>,
    pub on_dependency_failure: OnDependencyFailure,
    /// The Unix socket the service listens on: requests are forwarded to it.
    pub socket: Option<PathBuf>,
    /// How long a forwarded request may take (None: `forward.request_timeout`).
    pub request_timeout: Option<Duration>,
}

/// How readiness is signalled.
#[derive(Clone, Debug, PartialEq)]
pub enum Ready {
    /// Ready as soon as it is spawned.
    Spawned,
    /// sd_notify(3): `READY=1` on the `$NOTIFY_SOCKET` tend creates for the service.
    Notify,
    /// s6-style: the service writes a newline to this file descriptor.
    Fd(i32),
    /// A probe that succeeds once.
    Probe(Probe, ProbeTiming),
}

impl Ready {
    /// A readiness signal other than the spawn itself is configured.
    pub fn waits(&self) -> bool {
        !matches!(self, Ready::Spawned)
    }
}

/// One check of a service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Probe {
    /// Run a command (with the service's user, environment and directory): exit 0 passes.
    Exec(Vec<String>),
    /// A TCP connection is accepted.
    Tcp(std::net::SocketAddr),
    /// A connection to a Unix stream socket is accepted.
    Unix(PathBuf),
    /// `GET path` over HTTP/1.1 answers 2xx or 3xx.
    Http { addr: std::net::SocketAddr, host: String, path: String },
}

impl Probe {
    /// The probe as written, for messages: `tcp 127.0.0.1:5432`.
    pub fn describe(&self) -> String {
        match self {
            Probe::Exec(argv) => format!("exec {}", argv.join(" ")),
            Probe::Tcp(a) => format!("tcp {a}"),
            Probe::Unix(p) => format!("unix {}", p.display()),
            Probe::Http { host, path, .. } => format!("http http://{host}{path}"),
        }
    }
}

/// When a probe runs: first after `initial_delay`, then every `interval`; one attempt
/// fails after `timeout`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProbeTiming {
    pub interval: Duration,
    pub timeout: Duration,
    pub initial_delay: Duration,
}

/// `health`: a probe repeated while the service runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthCheck {
    pub probe: Probe,
    pub timing: ProbeTiming,
    /// Consecutive failures that make the service unhealthy.
    pub retries: u32,
}

/// What a dependent waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Condition {
    /// Spawned (its process exists, or it ran and exited successfully).
    Started,
    /// Ready (or exited successfully).
    Ready,
    /// Ready and, with a health check, passed it since its last start.
    Healthy,
    /// Exited with a success status.
    Completed,
}

impl Condition {
    pub fn as_str(self) -> &'static str {
        match self {
            Condition::Started => "started",
            Condition::Ready => "ready",
            Condition::Healthy => "healthy",
            Condition::Completed => "completed",
        }
    }
}

/// One `depends_on` entry: every instance of `service` must meet `condition`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dependency {
    pub service: String,
    pub condition: Condition,
}

/// A dependency failed (its state is `failed`, or a `completed` one exited badly).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnDependencyFailure {
    /// Keep waiting (state `waiting`), in case it is restarted by hand.
    Wait,
    /// Fail too.
    Fail,
}

impl ServiceConfig {
    /// True if an exit status counts as success for this service.
    pub fn is_success(&self, status: crate::daemon::reap::Status) -> bool {
        match status {
            crate::daemon::reap::Status::Exited(c) => self.success_exit_codes.contains(&c),
            _ => false,
        }
    }
}

/// Defaults, shared by the parser and the manual (tend.toml(5) quotes these).
pub mod defaults {
    use std::time::Duration;
    pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);
    pub const STOP_TIMEOUT: Duration = Duration::from_secs(5);
    pub const BACKOFF_INITIAL: Duration = Duration::from_millis(100);
    pub const BACKOFF_MAX: Duration = Duration::from_secs(30);
    pub const BACKOFF_FACTOR: f64 = 2.0;
    pub const BACKOFF_RESET_AFTER: Duration = Duration::from_secs(10);
    pub const START_LIMIT_BURST: u32 = 5;
    pub const START_LIMIT_INTERVAL: Duration = Duration::from_secs(10);
    pub const LOG_BUFFER: usize = 1 << 20;
    pub const LOG_MAX_SIZE: u64 = 10 << 20;
    pub const LOG_KEEP: u32 = 5;
    pub const LOG_EXIT_LINES: u32 = 20;
    /// tend.log rotates like a service's file with the defaults above.
    pub const TEND_LOG: &str = "tend.log";
    pub const MAX_INSTANCES: u32 = 1000;
    pub const MAX_FRAME: u32 = 1 << 20;
    pub const MAX_CLIENTS: usize = 4096;
    pub const CLIENT_QUEUE: usize = 1 << 20;
    pub const EVENTS_HISTORY: usize = 1000;
    pub const JOB_HISTORY: usize = 1000;
    pub const PROBE_INTERVAL: Duration = Duration::from_secs(1);
    pub const PROBE_TIMEOUT: Duration = Duration::from_secs(1);
    pub const HEALTH_INTERVAL: Duration = Duration::from_secs(10);
    pub const HEALTH_TIMEOUT: Duration = Duration::from_secs(5);
    pub const HEALTH_RETRIES: u32 = 3;
    pub const WORKERS: usize = 4;
    pub const QUEUE: usize = 256;
    pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
    pub const INGRESS_MAX_CONNECTIONS: usize = 1024;
    pub const INGRESS_MAX_HEAD: usize = 16 << 10;
    pub const INGRESS_MAX_HEADERS: usize = 100;
    pub const INGRESS_MAX_BODY: u64 = 1 << 20;
    pub const INGRESS_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
}
