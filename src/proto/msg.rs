//! The wire types of the control protocol and their type bytes (tend-protocol(7)).
//!
//! Every body is a msgpack map with named fields (`rmp_serde::to_vec_named`); decoders
//! ignore fields they do not know and default the optional ones, so either side can
//! add fields without breaking the other. Enums travel as their snake_case names.
//! Decoding is capped at [`MAX_DEPTH`] levels of nesting.

use serde::de::{self, DeserializeOwned, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::frame;
pub use super::job::*;

/// The protocol version this tend speaks. A hello with another version is refused.
/// Version 2 added one-shot jobs (the 0x30..=0x38 requests, JOB,
/// the `unknown_job` and `job_running` errors, `job` in events).
pub const API_VERSION: u32 = 2;
/// Nesting limit of a body: counting the body's own map as level 1, a body nested
/// this deep or deeper is refused (so at most 15 levels pass). No message needs more
/// than 4.
pub const MAX_DEPTH: usize = 16;

/// Type bytes. Client to server: 0x01, 0x10..=0x1f, 0x30..=0x3f (jobs) and 0x60..=0x6f
/// (pseudo-terminal jobs). Server to client: 0x02, 0x03 and 0x20..=0x2f.
pub mod kind {
    pub const HELLO: u8 = 0x01;
    pub const WELCOME: u8 = 0x02;
    pub const ERROR: u8 = 0x03;

    pub const LIST: u8 = 0x10;
    pub const STATUS: u8 = 0x11;
    pub const START: u8 = 0x12;
    pub const STOP: u8 = 0x13;
    pub const RESTART: u8 = 0x14;
    pub const SIGNAL: u8 = 0x15;
    pub const LOGS: u8 = 0x16;
    pub const EVENTS: u8 = 0x17;
    pub const RELOAD: u8 = 0x18;
    pub const SHUTDOWN: u8 = 0x19;
    pub const VERSION: u8 = 0x1a;
    pub const CANCEL: u8 = 0x1b;
    pub const LOG_ROTATE: u8 = 0x1c;
    pub const REQUEST: u8 = 0x1d;

    pub const SPAWN: u8 = 0x30;
    pub const JOB_STATUS: u8 = 0x31;
    pub const WAIT: u8 = 0x32;
    pub const RETRY: u8 = 0x33;
    pub const JOB_LIST: u8 = 0x34;
    pub const JOB_RM: u8 = 0x35;
    pub const ATTACH: u8 = 0x36;
    pub const STDIN: u8 = 0x37;
    pub const JOB_SIGNAL: u8 = 0x38;
    /// The size of a job's terminal (0x60 and up: pseudo-terminal jobs).
    pub const RESIZE: u8 = 0x60;

    pub const LIST_REPLY: u8 = 0x20;
    pub const STATUS_REPLY: u8 = 0x21;
    pub const DONE: u8 = 0x22;
    pub const VERSION_REPLY: u8 = 0x23;
    pub const LOG_DATA: u8 = 0x24;
    pub const LOG_LOST: u8 = 0x25;
    pub const EVENT: u8 = 0x26;
    pub const EVENTS_LOST: u8 = 0x27;
    pub const END: u8 = 0x28;
    pub const RESPONSE: u8 = 0x29;
    pub const JOB: u8 = 0x2a;
}

/// Operations named in the hello's capability lists.
pub const CAPABILITIES: &[&str] = &[
    "list",
    "status",
    "start",
    "stop",
    "restart",
    "signal",
    "logs",
    "logs.follow",
    "events",
    "events.follow",
    "reload",
    "shutdown",
    "version",
    "cancel",
    "logs.time",
    "logs.rotate",
    "request",
    "jobs",
    "jobs.attach",
    "jobs.stdin",
    "jobs.tty",
];

/// Error codes of an ERROR frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The frame's body is not the message its type says, or a field is out of range.
    BadRequest,
    /// A type byte the server does not know (or one only the server sends).
    UnknownType,
    /// A request before the hello, or a second hello.
    HelloRequired,
    UnsupportedVersion,
    FrameTooLarge,
    PermissionDenied,
    UnknownService,
    BadSignal,
    /// Too many connections (sent at accept, then the connection is closed).
    Busy,
    /// tend is shutting down and no longer starts anything.
    ShuttingDown,
    /// The operation failed in tend (e.g. kill(2) failed); the message says why.
    Failed,
    /// CANCEL named a stream that is not open on this connection.
    UnknownStream,
    /// REQUEST: the service is not available (not running, not ready, or its socket
    /// refuses connections); tend answered for it.
    Unavailable,
    /// REQUEST: the service did not answer within its `request_timeout`.
    Timeout,
    /// REQUEST: the service's answer was not a valid HTTP/1.1 response.
    BadGateway,
    /// No job with that number (never created, removed, or evicted from the history).
    UnknownJob,
    /// RETRY or JOB_RM of a job that has not ended yet.
    JobRunning,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::UnknownType => "unknown_type",
            ErrorCode::HelloRequired => "hello_required",
            ErrorCode::UnsupportedVersion => "unsupported_version",
            ErrorCode::FrameTooLarge => "frame_too_large",
            ErrorCode::PermissionDenied => "permission_denied",
            ErrorCode::UnknownService => "unknown_service",
            ErrorCode::BadSignal => "bad_signal",
            ErrorCode::Busy => "busy",
            ErrorCode::ShuttingDown => "shutting_down",
            ErrorCode::Failed => "failed",
            ErrorCode::UnknownStream => "unknown_stream",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Timeout => "timeout",
            ErrorCode::BadGateway => "bad_gateway",
            ErrorCode::UnknownJob => "unknown_job",
            ErrorCode::JobRunning => "job_running",
        }
    }
}

// --- handshake -------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hello {
    pub api: u32,
    #[serde(default)]
    pub client: String,
    #[serde(default)]
    pub capabilities: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Welcome {
    pub api: u32,
    pub version: String,
    pub pid: u32,
    #[serde(default)]
    pub capabilities: Vec<String>,
    /// The largest length field the server accepts.
    #[serde(default)]
    pub max_frame: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorMsg {
    /// The request's id, or 0 when the error is not about one request.
    #[serde(default)]
    pub id: u64,
    pub code: ErrorCode,
    #[serde(default)]
    pub message: String,
}

// --- requests ----------------------------------------------------------------------------

/// Body of LIST, RELOAD, SHUTDOWN and VERSION.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plain {
    pub id: u64,
}

/// Body of STATUS, START, STOP and RESTART.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Target {
    pub id: u64,
    pub service: String,
    /// START, STOP, RESTART: answer once the service is running (or has finished) or
    /// stopped, instead of as soon as the change is under way.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub wait: bool,
}

/// A signal by name (`TERM`, `SIGTERM`, `term`) or number; on the wire a string or an
/// integer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignalSpec {
    Name(String),
    Number(i64),
}

impl Serialize for SignalSpec {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            SignalSpec::Name(n) => s.serialize_str(n),
            SignalSpec::Number(n) => s.serialize_i64(*n),
        }
    }
}

impl<'de> Deserialize<'de> for SignalSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = SignalSpec;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a signal name or number")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<SignalSpec, E> {
                Ok(SignalSpec::Name(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<SignalSpec, E> {
                Ok(SignalSpec::Number(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<SignalSpec, E> {
                Ok(SignalSpec::Number(i64::try_from(v).unwrap_or(i64::MAX)))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignalReq {
    pub id: u64,
    pub service: String,
    pub signal: SignalSpec,
    /// Signal the service's whole process group instead of its main process.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub group: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stream {
    Stdout,
    Stderr,
    #[default]
    All,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct LogsReq {
    pub id: u64,
    pub service: String,
    #[serde(default)]
    pub stream: Stream,
    /// At most this many last lines of each stream (absent: everything retained).
    #[serde(default)]
    pub lines: Option<u64>,
    /// At most this many last bytes of each stream.
    #[serde(default)]
    pub bytes: Option<u64>,
    /// Keep the stream open and send new output as it arrives.
    #[serde(default)]
    pub follow: bool,
    /// Only lines tend read at or after this time (µs since the Unix epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since_us: Option<u64>,
    /// Only lines tend read before this time (µs since the Unix epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until_us: Option<u64>,
}

/// Body of LOG_ROTATE: rotate a service's log file now, or every log file (tend.log
/// included) when `service` is absent.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct RotateReq {
    pub id: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventsReq {
    pub id: u64,
    /// First sequence number wanted: older retained events are not sent, nor are live
    /// ones below it. 0: every retained event (no loss marker). Absent: the same, or
    /// with `follow` only events after the subscription.
    #[serde(default)]
    pub from: Option<u64>,
    #[serde(default)]
    pub follow: bool,
}

/// Body of CANCEL: end the stream `target` opened by an earlier request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cancel {
    pub id: u64,
    pub target: u64,
}

/// Body of REQUEST: an HTTP/1.1 request forwarded to the service's socket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HttpReq {
    pub id: u64,
    pub service: String,
    /// A token such as GET or POST (default GET).
    #[serde(default = "get")]
    pub method: String,
    /// Starts with `/`, without the query.
    pub path: String,
    /// The query string without the `?` ("" for none).
    #[serde(default)]
    pub query: String,
    /// Header fields in order, as [name, value] pairs. Host defaults to `localhost`;
    /// hop-by-hop fields and Content-Length are set by tend.
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    #[serde(default, with = "serde_bytes")]
    pub body: Vec<u8>,
}

fn get() -> String {
    "GET".into()
}

// --- replies -----------------------------------------------------------------------------

/// How a process ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExitInfo {
    #[serde(default)]
    pub code: Option<i32>,
    /// Signal name, e.g. `SIGKILL`.
    #[serde(default)]
    pub signal: Option<String>,
    #[serde(default)]
    pub core_dumped: bool,
    /// Human form: `exited with status 3`, `killed by SIGKILL`.
    #[serde(default)]
    pub text: String,
}

/// Who asked for a change: from the connection's SO_PEERCRED, never self-declared.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Requestor {
    pub uid: u32,
    pub gid: u32,
    pub pid: i32,
    /// /proc/PID/comm at connect time ("" when unknown).
    #[serde(default)]
    pub name: String,
}

/// One line of a service's output, as kept for an exit.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct OutputLine {
    pub stream: Stream,
    /// RFC 3339, UTC, microseconds: when tend read the line's first byte.
    pub ts: String,
    /// The line without its newline (not UTF-8: U+FFFD; cut at 512 bytes).
    pub line: String,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ServiceInfo {
    pub name: String,
    pub state: String,
    #[serde(default)]
    pub pid: Option<u32>,
    /// Milliseconds since the current process started.
    #[serde(default)]
    pub uptime_ms: Option<u64>,
    /// RFC 3339 time the current process started.
    #[serde(default)]
    pub started: Option<String>,
    #[serde(default)]
    pub restarts: u32,
    #[serde(default)]
    pub last_exit: Option<ExitInfo>,
    /// Resident memory of the service's main process, bytes (sampled at most every
    /// 100 ms).
    #[serde(default)]
    pub rss: Option<u64>,
    /// User+system CPU time of the service's main process, milliseconds (sampled at
    /// most every 100 ms).
    #[serde(default)]
    pub cpu_ms: Option<u64>,
    #[serde(default)]
    pub ready: bool,
    /// Absent when no health check is configured.
    #[serde(default)]
    pub healthy: Option<bool>,
    #[serde(default)]
    pub paused: bool,
    /// Stopping once its forwarded requests in flight finish (`drain`); new requests
    /// are refused meanwhile.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub draining: bool,
    #[serde(default)]
    pub autostart: bool,
    /// Why the last state change happened.
    #[serde(default)]
    pub reason: String,
    #[serde(default)]
    pub command: Vec<String>,
    /// Bytes the service has written to stdout / stderr since tend started.
    #[serde(default)]
    pub stdout_bytes: u64,
    #[serde(default)]
    pub stderr_bytes: u64,
    /// Passthrough bytes dropped because tend's own output was not keeping up.
    #[serde(default)]
    pub dropped_bytes: u64,
    /// The last readiness or health probe result, as "passed (tcp 127.0.0.1:80:
    /// connected) at TIME"; empty (and absent on the wire) if none ran in this run.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub probe: String,
    /// The last `STATUS=` text the service sent on its notify socket.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub status_text: String,
    /// The `depends_on` conditions, as "db=ready".
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
    /// "" without a health check, else "unknown" (no verdict yet in this run),
    /// "healthy" or "unhealthy".
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub health: String,
    /// The last lines the service wrote before its last exit (`log.exit_lines`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub last_output: Vec<OutputLine>,
    /// The service's log file (`log.file`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_file: Option<String>,
    /// Failed attempts to write (or open, or rotate) the log file.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub log_errors: u64,
    /// Why writing the log file fails now; absent while it works.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_error: Option<String>,
    /// The sockets tend passes it (`listen`), as "NAME=tcp:IP:PORT" or
    /// "NAME=unix:PATH", in descriptor order (3, 4, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub listen: Vec<String>,
    /// The `socket` requests are forwarded to ("" without one).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub socket: String,
    /// With a socket: whether requests can be forwarded now (running, ready, and the
    /// socket accepts connections). Absent without a socket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub available: Option<bool>,
    /// Why it is not available ("" when it is).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub unavailable: String,
    /// Requests forwarded to it (control socket and ingress), or answered for it.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub requests: u64,
    /// Of those, the ones that failed: not available, busy, timed out, bad gateway, or
    /// a 5xx status from the service.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub request_errors: u64,
    /// Median and 99th percentile of the time to the response head, microseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_p50_us: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_p99_us: Option<u64>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListReply {
    pub id: u64,
    pub services: Vec<ServiceInfo>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusReply {
    pub id: u64,
    pub service: ServiceInfo,
}

/// The request was carried out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Done {
    pub id: u64,
    #[serde(default)]
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionReply {
    pub id: u64,
    pub version: String,
    pub api: u32,
    pub pid: u32,
    /// Seconds tend has been running.
    #[serde(default)]
    pub uptime_s: u64,
}

/// A chunk of a service's output (snapshot or follow).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogData {
    pub id: u64,
    pub stream: Stream,
    #[serde(with = "serde_bytes")]
    pub data: Vec<u8>,
    /// When tend read these bytes (µs since the Unix epoch): a frame never spans two
    /// reads made at different times.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_us: Option<u64>,
}

/// A follower's queue was full: this many bytes of `stream` were not sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogLost {
    pub id: u64,
    pub stream: Stream,
    pub bytes: u64,
}

/// One entry of tend's event history.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct EventInfo {
    pub seq: u64,
    /// RFC 3339, UTC, microseconds.
    pub ts: String,
    /// The service concerned; "" for tend's own events and a job's.
    #[serde(default)]
    pub service: String,
    /// The job concerned (its number), for a job's events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<u64>,
    /// `state`, `spawn_failed`, `signal`, `reload`, `shutdown`, `daemon`.
    pub kind: String,
    #[serde(default)]
    pub from: String,
    #[serde(default)]
    pub to: String,
    #[serde(default)]
    pub reason: String,
    #[serde(default)]
    pub exit: Option<ExitInfo>,
    #[serde(default)]
    pub requestor: Option<Requestor>,
    /// For an exit: the last lines the service wrote (`log.exit_lines`), oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub output: Vec<OutputLine>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventMsg {
    pub id: u64,
    pub event: EventInfo,
}

/// Events `from..to` (sequence numbers, `to` excluded) will not be sent: evicted from
/// the history before the subscription asked for them, or dropped because the
/// subscriber's queue was full.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventsLost {
    pub id: u64,
    pub from: u64,
    pub to: u64,
    /// `evicted` or `queue_full`.
    pub reason: String,
}

/// Body of RESPONSE: the service's answer to a REQUEST.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HttpResponse {
    pub id: u64,
    pub status: u16,
    #[serde(default)]
    pub reason: String,
    /// End-to-end header fields in order, as [name, value] pairs (values not valid
    /// UTF-8 are converted lossily).
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    #[serde(default, with = "serde_bytes")]
    pub body: Vec<u8>,
}

/// A stream is over: a snapshot is complete, or a follow ended by CANCEL, by the
/// service's removal, or because tend is exiting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct End {
    pub id: u64,
}

// --- decoding and encoding ----------------------------------------------------------------

/// A request frame from a client, decoded.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    Hello(Hello),
    List(Plain),
    Status(Target),
    Start(Target),
    Stop(Target),
    Restart(Target),
    Signal(SignalReq),
    Logs(LogsReq),
    Events(EventsReq),
    Reload(Plain),
    Shutdown(Plain),
    Version(Plain),
    Cancel(Cancel),
    LogRotate(RotateReq),
    Http(HttpReq),
    Spawn(SpawnReq),
    JobStatus(JobRef),
    Wait(JobRef),
    Retry(JobRef),
    JobList(JobListReq),
    JobRm(JobRef),
    Attach(AttachReq),
    Stdin(StdinReq),
    JobSignal(JobSignalReq),
    Resize(ResizeReq),
}

/// A frame from the server, decoded.
// A status reply is large and most others small; a reply is decoded once per frame
// and consumed at once, so boxing would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Welcome(Welcome),
    Error(ErrorMsg),
    List(ListReply),
    Status(StatusReply),
    Done(Done),
    Version(VersionReply),
    LogData(LogData),
    LogLost(LogLost),
    Event(EventMsg),
    EventsLost(EventsLost),
    End(End),
    Response(HttpResponse),
    Job(JobReply),
}

/// Why a frame's body could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    UnknownType(u8),
    /// The body is not valid for its type; the request id when one could be read.
    BadBody {
        kind: u8,
        id: u64,
        reason: String,
    },
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::UnknownType(k) => write!(f, "unknown message type 0x{k:02x}"),
            DecodeError::BadBody { kind, reason, .. } => write!(f, "bad body for message type 0x{kind:02x}: {reason}"),
        }
    }
}

/// Decode a body with the depth cap. Trailing bytes after the map are an error.
pub fn decode_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    // A cursor rather than from_read_ref, for its position; reads are bounded by the
    // body, whatever lengths it claims.
    let mut de = rmp_serde::Deserializer::new(std::io::Cursor::new(body));
    de.set_max_depth(MAX_DEPTH);
    let v = T::deserialize(&mut de).map_err(|e| e.to_string())?;
    if de.position() != body.len() as u64 {
        return Err("trailing bytes after the message".into());
    }
    Ok(v)
}

/// The `id` field of a body that failed to decode as its type, if there is one.
fn salvage_id(body: &[u8]) -> u64 {
    #[derive(Deserialize)]
    struct Id {
        #[serde(default)]
        id: u64,
    }
    decode_body::<Id>(body).map(|i| i.id).unwrap_or(0)
}

pub(super) fn body<T: DeserializeOwned>(kind: u8, b: &[u8]) -> Result<T, DecodeError> {
    decode_body(b).map_err(|reason| DecodeError::BadBody { kind, id: salvage_id(b), reason })
}

impl Request {
    pub fn decode(k: u8, b: &[u8]) -> Result<Request, DecodeError> {
        Ok(match k {
            kind::HELLO => Request::Hello(body(k, b)?),
            kind::LIST => Request::List(body(k, b)?),
            kind::STATUS => Request::Status(body(k, b)?),
            kind::START => Request::Start(body(k, b)?),
            kind::STOP => Request::Stop(body(k, b)?),
            kind::RESTART => Request::Restart(body(k, b)?),
            kind::SIGNAL => Request::Signal(body(k, b)?),
            kind::LOGS => Request::Logs(body(k, b)?),
            kind::EVENTS => Request::Events(body(k, b)?),
            kind::RELOAD => Request::Reload(body(k, b)?),
            kind::SHUTDOWN => Request::Shutdown(body(k, b)?),
            kind::VERSION => Request::Version(body(k, b)?),
            kind::CANCEL => Request::Cancel(body(k, b)?),
            kind::LOG_ROTATE => Request::LogRotate(body(k, b)?),
            kind::REQUEST => Request::Http(body(k, b)?),
            kind::SPAWN..=kind::JOB_SIGNAL | kind::RESIZE => super::job::decode_job(k, b)?,
            other => return Err(DecodeError::UnknownType(other)),
        })
    }

    /// The request id (0 for the hello).
    pub fn id(&self) -> u64 {
        match self {
            Request::Hello(_) => 0,
            Request::List(p) | Request::Reload(p) | Request::Shutdown(p) | Request::Version(p) => p.id,
            Request::Status(t) | Request::Start(t) | Request::Stop(t) | Request::Restart(t) => t.id,
            Request::Signal(s) => s.id,
            Request::Logs(l) => l.id,
            Request::Events(e) => e.id,
            Request::Cancel(c) => c.id,
            Request::LogRotate(r) => r.id,
            Request::Http(h) => h.id,
            Request::Spawn(s) => s.id,
            Request::JobStatus(j) | Request::Wait(j) | Request::Retry(j) | Request::JobRm(j) => j.id,
            Request::JobList(l) => l.id,
            Request::Attach(a) => a.id,
            Request::Stdin(s) => s.id,
            Request::JobSignal(s) => s.id,
            Request::Resize(r) => r.id,
        }
    }

    /// Append this request as a frame to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Request::Hello(m) => encode(kind::HELLO, m, out),
            Request::List(m) => encode(kind::LIST, m, out),
            Request::Status(m) => encode(kind::STATUS, m, out),
            Request::Start(m) => encode(kind::START, m, out),
            Request::Stop(m) => encode(kind::STOP, m, out),
            Request::Restart(m) => encode(kind::RESTART, m, out),
            Request::Signal(m) => encode(kind::SIGNAL, m, out),
            Request::Logs(m) => encode(kind::LOGS, m, out),
            Request::Events(m) => encode(kind::EVENTS, m, out),
            Request::Reload(m) => encode(kind::RELOAD, m, out),
            Request::Shutdown(m) => encode(kind::SHUTDOWN, m, out),
            Request::Version(m) => encode(kind::VERSION, m, out),
            Request::Cancel(m) => encode(kind::CANCEL, m, out),
            Request::Http(m) => encode(kind::REQUEST, m, out),
            Request::LogRotate(m) => encode(kind::LOG_ROTATE, m, out),
            Request::Spawn(m) => encode(kind::SPAWN, m, out),
            Request::JobStatus(m) => encode(kind::JOB_STATUS, m, out),
            Request::Wait(m) => encode(kind::WAIT, m, out),
            Request::Retry(m) => encode(kind::RETRY, m, out),
            Request::JobList(m) => encode(kind::JOB_LIST, m, out),
            Request::JobRm(m) => encode(kind::JOB_RM, m, out),
            Request::Attach(m) => encode(kind::ATTACH, m, out),
            Request::Stdin(m) => encode(kind::STDIN, m, out),
            Request::JobSignal(m) => encode(kind::JOB_SIGNAL, m, out),
            Request::Resize(m) => encode(kind::RESIZE, m, out),
        }
    }
}

impl Reply {
    pub fn decode(k: u8, b: &[u8]) -> Result<Reply, DecodeError> {
        Ok(match k {
            kind::WELCOME => Reply::Welcome(body(k, b)?),
            kind::ERROR => Reply::Error(body(k, b)?),
            kind::LIST_REPLY => Reply::List(body(k, b)?),
            kind::STATUS_REPLY => Reply::Status(body(k, b)?),
            kind::DONE => Reply::Done(body(k, b)?),
            kind::VERSION_REPLY => Reply::Version(body(k, b)?),
            kind::LOG_DATA => Reply::LogData(body(k, b)?),
            kind::LOG_LOST => Reply::LogLost(body(k, b)?),
            kind::EVENT => Reply::Event(body(k, b)?),
            kind::EVENTS_LOST => Reply::EventsLost(body(k, b)?),
            kind::END => Reply::End(body(k, b)?),
            kind::RESPONSE => Reply::Response(body(k, b)?),
            kind::JOB => Reply::Job(body(k, b)?),
            other => return Err(DecodeError::UnknownType(other)),
        })
    }

    /// The id of the request this answers (0 for the welcome and connection errors).
    pub fn id(&self) -> u64 {
        match self {
            Reply::Welcome(_) => 0,
            Reply::Error(m) => m.id,
            Reply::List(m) => m.id,
            Reply::Status(m) => m.id,
            Reply::Done(m) => m.id,
            Reply::Version(m) => m.id,
            Reply::LogData(m) => m.id,
            Reply::LogLost(m) => m.id,
            Reply::Event(m) => m.id,
            Reply::EventsLost(m) => m.id,
            Reply::End(m) => m.id,
            Reply::Response(m) => m.id,
            Reply::Job(m) => m.id,
        }
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Reply::Welcome(m) => encode(kind::WELCOME, m, out),
            Reply::Error(m) => encode(kind::ERROR, m, out),
            Reply::List(m) => encode(kind::LIST_REPLY, m, out),
            Reply::Status(m) => encode(kind::STATUS_REPLY, m, out),
            Reply::Done(m) => encode(kind::DONE, m, out),
            Reply::Version(m) => encode(kind::VERSION_REPLY, m, out),
            Reply::LogData(m) => encode(kind::LOG_DATA, m, out),
            Reply::LogLost(m) => encode(kind::LOG_LOST, m, out),
            Reply::Event(m) => encode(kind::EVENT, m, out),
            Reply::EventsLost(m) => encode(kind::EVENTS_LOST, m, out),
            Reply::End(m) => encode(kind::END, m, out),
            Reply::Response(m) => encode(kind::RESPONSE, m, out),
            Reply::Job(m) => encode(kind::JOB, m, out),
        }
    }
}

/// A reply type a client can wait for by itself: its frame type and its request id.
/// `decode_expected` decodes only this type (or the ERROR that answers instead), so a
/// client that knows what it asked for does not run, or fault in, the decoder of every
/// reply type (`Reply::decode`): a short-lived `tend status` is measured as a whole
/// process (bench row 92).
pub trait Expected: DeserializeOwned {
    const KIND: u8;
    fn id(&self) -> u64;
}

macro_rules! expected {
    ($($t:ty => $k:expr),* $(,)?) => {$(
        impl Expected for $t {
            const KIND: u8 = $k;
            fn id(&self) -> u64 {
                self.id
            }
        }
    )*};
}

expected! {
    ListReply => kind::LIST_REPLY,
    StatusReply => kind::STATUS_REPLY,
    Done => kind::DONE,
    VersionReply => kind::VERSION_REPLY,
    HttpResponse => kind::RESPONSE,
    JobReply => kind::JOB,
}

/// What came back for a request that expects a `T`.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer<T> {
    Reply(T),
    Error(ErrorMsg),
    /// A frame of another type (its type byte): not decoded.
    Other(u8),
}

/// Decode a frame as a `T`, an ERROR, or neither (not decoded).
pub fn decode_expected<T: DeserializeOwned>(expect: u8, k: u8, b: &[u8]) -> Result<Answer<T>, DecodeError> {
    Ok(if k == expect {
        Answer::Reply(body(k, b)?)
    } else if k == kind::ERROR {
        Answer::Error(body(k, b)?)
    } else {
        Answer::Other(k)
    })
}

/// Serialize `msg` as a named-field map straight into a frame appended to `out`.
pub fn encode<T: Serialize>(k: u8, msg: &T, out: &mut Vec<u8>) {
    let mark = frame::begin(k, out);
    // Writing into a Vec cannot fail, and every wire type serializes (plain structs of
    // strings, integers, options and vectors); an error here would be a bug in a type.
    if msg.serialize(&mut rmp_serde::Serializer::new(&mut *out).with_struct_map()).is_err() {
        out.truncate(mark + frame::HEADER_LEN);
    }
    frame::finish(out, mark);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::frame::{Decoder, DEFAULT_MAX_FRAME};

    fn info() -> ServiceInfo {
        ServiceInfo {
            name: "web".into(),
            state: "running".into(),
            pid: Some(42),
            uptime_ms: Some(1500),
            started: Some("2026-11-22T10:00:00.000000Z".into()),
            restarts: 3,
            last_exit: Some(ExitInfo {
                code: None,
                signal: Some("SIGKILL".into()),
                core_dumped: false,
                text: "killed by SIGKILL".into(),
            }),
            rss: Some(1 << 20),
            cpu_ms: Some(12),
            ready: true,
            healthy: None,
            paused: false,
            autostart: true,
            reason: "started".into(),
            command: vec!["sleep".into(), "1".into()],
            stdout_bytes: 10,
            stderr_bytes: 0,
            dropped_bytes: 0,
            probe: "passed (tcp 127.0.0.1:80: connected) at 2026-11-22T10:00:01.000000Z".into(),
            status_text: "accepting connections".into(),
            depends_on: vec!["db=ready".into()],
            health: "healthy".into(),
            socket: "/run/web.sock".into(),
            available: Some(true),
            unavailable: String::new(),
            requests: 10,
            request_errors: 1,
            latency_p50_us: Some(120),
            latency_p99_us: Some(900),
            ..Default::default()
        }
    }

    pub fn all_requests() -> Vec<Request> {
        vec![
            Request::Hello(Hello { api: API_VERSION, client: "test".into(), capabilities: vec!["list".into()] }),
            Request::List(Plain { id: 1 }),
            Request::Status(Target { id: 2, service: "web".into(), wait: false }),
            Request::Start(Target { id: 3, service: "web".into(), wait: false }),
            Request::Stop(Target { id: u64::MAX, service: "".into(), wait: false }),
            Request::Restart(Target { id: 5, service: "w.0".into(), wait: false }),
            Request::Signal(SignalReq {
                id: 6,
                service: "web".into(),
                signal: SignalSpec::Name("HUP".into()),
                group: false,
            }),
            Request::Signal(SignalReq { id: 7, service: "web".into(), signal: SignalSpec::Number(-3), group: true }),
            Request::Logs(LogsReq {
                id: 8,
                service: "web".into(),
                stream: Stream::Stderr,
                lines: Some(10),
                bytes: None,
                follow: true,
                ..Default::default()
            }),
            Request::Logs(LogsReq {
                id: 14,
                service: "web".into(),
                since_us: Some(1_795_362_721_000_000),
                until_us: Some(1_795_362_722_000_000),
                ..Default::default()
            }),
            Request::Events(EventsReq { id: 9, from: Some(17), follow: false }),
            Request::Reload(Plain { id: 10 }),
            Request::Shutdown(Plain { id: 11 }),
            Request::Version(Plain { id: 12 }),
            Request::Cancel(Cancel { id: 13, target: 8 }),
            Request::LogRotate(RotateReq { id: 15, service: Some("web".into()) }),
            Request::LogRotate(RotateReq { id: 16, service: None }),
            Request::Http(HttpReq {
                id: 14,
                service: "web".into(),
                method: "POST".into(),
                path: "/api".into(),
                query: "a=1".into(),
                headers: vec![("Accept".into(), "*/*".into())],
                body: vec![0, 1, 255],
            }),
            Request::Spawn(SpawnReq { id: 20, spec: job_spec(), attach: true }),
            Request::Spawn(SpawnReq {
                id: 21,
                spec: JobSpec { command: vec!["true".into()], ..Default::default() },
                attach: false,
            }),
            Request::JobStatus(JobRef { id: 22, job: 7 }),
            Request::Wait(JobRef { id: 23, job: 7 }),
            Request::Retry(JobRef { id: 24, job: 7 }),
            Request::JobList(JobListReq {
                id: 25,
                state: Some("failed".into()),
                name: Some("mig*".into()),
                since_us: Some(1_795_362_721_000_000),
            }),
            Request::JobList(JobListReq { id: 26, ..Default::default() }),
            Request::JobRm(JobRef { id: 27, job: 7 }),
            Request::Attach(AttachReq { id: 28, job: 7 }),
            Request::Stdin(StdinReq { id: 29, job: 7, data: vec![0, 10, 255], eof: false }),
            Request::Stdin(StdinReq { id: 30, job: 7, data: vec![], eof: true }),
            Request::JobSignal(JobSignalReq { id: 31, job: 7, signal: SignalSpec::Name("INT".into()), group: false }),
            Request::JobSignal(JobSignalReq { id: 32, job: 7, signal: SignalSpec::Number(9), group: true }),
            Request::Resize(ResizeReq { id: 33, job: 7, rows: 50, cols: 132 }),
            Request::Spawn(SpawnReq {
                id: 34,
                spec: JobSpec { command: vec!["sh".into()], tty: true, rows: 24, cols: 80, ..Default::default() },
                attach: true,
            }),
        ]
    }

    pub fn all_replies() -> Vec<Reply> {
        vec![
            Reply::Welcome(Welcome {
                api: 1,
                version: "0.1.0".into(),
                pid: 1,
                capabilities: vec!["list".into()],
                max_frame: 1 << 20,
            }),
            Reply::Error(ErrorMsg { id: 4, code: ErrorCode::UnknownService, message: "no service x".into() }),
            Reply::List(ListReply { id: 1, services: vec![info(), info()] }),
            Reply::Status(StatusReply { id: 2, service: info() }),
            Reply::Done(Done { id: 3, message: "stopping".into() }),
            Reply::Version(VersionReply { id: 4, version: "0.1.0".into(), api: 1, pid: 9, uptime_s: 3 }),
            Reply::LogData(LogData { id: 5, stream: Stream::Stdout, data: vec![0, 1, 2, 255], time_us: None }),
            Reply::LogData(LogData { id: 5, stream: Stream::Stderr, data: b"x\n".to_vec(), time_us: Some(7) }),
            Reply::LogLost(LogLost { id: 5, stream: Stream::Stderr, bytes: 100 }),
            Reply::Event(EventMsg {
                id: 6,
                event: EventInfo {
                    seq: 1,
                    ts: "2026-11-22T10:00:00.000000Z".into(),
                    service: "web".into(),
                    job: None,
                    kind: "state".into(),
                    from: "running".into(),
                    to: "stopping".into(),
                    reason: "stop requested".into(),
                    exit: None,
                    requestor: Some(Requestor { uid: 0, gid: 0, pid: 77, name: "tend".into() }),
                    output: vec![],
                },
            }),
            Reply::Event(EventMsg {
                id: 6,
                event: EventInfo {
                    seq: 2,
                    ts: "2026-11-22T10:00:01.000000Z".into(),
                    service: "web".into(),
                    job: None,
                    kind: "state".into(),
                    from: "running".into(),
                    to: "backoff".into(),
                    reason: "exited with status 1".into(),
                    exit: Some(ExitInfo { code: Some(1), signal: None, core_dumped: false, text: "exited".into() }),
                    requestor: None,
                    output: vec![OutputLine {
                        stream: Stream::Stderr,
                        ts: "2026-11-22T10:00:00.900000Z".into(),
                        line: "panic: oops".into(),
                    }],
                },
            }),
            Reply::Event(EventMsg {
                id: 6,
                event: EventInfo {
                    seq: 3,
                    ts: "2026-11-22T10:00:02.000000Z".into(),
                    job: Some(3),
                    kind: "state".into(),
                    from: "running".into(),
                    to: "failed".into(),
                    reason: "exited with status 3".into(),
                    exit: Some(ExitInfo { code: Some(3), signal: None, core_dumped: false, text: "exited".into() }),
                    ..Default::default()
                },
            }),
            Reply::EventsLost(EventsLost { id: 6, from: 1, to: 5, reason: "evicted".into() }),
            Reply::End(End { id: 5 }),
            Reply::Response(HttpResponse {
                id: 14,
                status: 201,
                reason: "Created".into(),
                headers: vec![("Content-Type".into(), "text/plain".into())],
                body: b"ok\n".to_vec(),
            }),
            Reply::Job(JobReply { id: 20, job: job_info() }),
            Reply::Job(JobReply {
                id: 21,
                job: JobInfo {
                    job: 1,
                    spec: JobSpec { command: vec!["true".into()], ..Default::default() },
                    ..Default::default()
                },
            }),
        ]
    }

    fn job_spec() -> JobSpec {
        JobSpec {
            command: vec!["sh".into(), "-c".into(), "exit 3".into()],
            env: vec![("A".into(), "1".into())],
            cwd: Some("/srv".into()),
            user: Some("nobody".into()),
            timeout_ms: Some(600_000),
            retries: 2,
            name: "migrate".into(),
            stdin: true,
            ..Default::default()
        }
    }

    fn job_info() -> JobInfo {
        JobInfo {
            job: 7,
            spec: job_spec(),
            state: "failed".into(),
            reason: "killed by SIGTERM (timed out after 10m) (attempt 3 of 3)".into(),
            pid: None,
            created: "2026-11-22T10:00:00.000000Z".into(),
            started: Some("2026-11-22T10:00:00.000100Z".into()),
            ended: Some("2026-11-22T10:10:00.000000Z".into()),
            exit: Some(ExitInfo {
                code: None,
                signal: Some("SIGTERM".into()),
                core_dumped: false,
                text: "killed by SIGTERM".into(),
            }),
            status: Some(143),
            timed_out: true,
            requestor: Requestor { uid: 65534, gid: 65534, pid: 99, name: "tend".into() },
            attempt: 3,
            retry_of: Some(4),
            stdout_bytes: 12,
            stderr_bytes: 0,
        }
    }

    fn one(bytes: &[u8]) -> (u8, Vec<u8>) {
        let mut d = Decoder::new(DEFAULT_MAX_FRAME);
        d.push(bytes);
        let f = d.next_frame().unwrap().unwrap();
        assert_eq!(d.pending(), 0);
        (f.kind, f.body)
    }

    #[test]
    fn every_request_round_trips() {
        for r in all_requests() {
            let mut v = Vec::new();
            r.encode(&mut v);
            let (k, b) = one(&v);
            assert_eq!(Request::decode(k, &b).unwrap(), r);
        }
    }

    #[test]
    fn decode_expected_decodes_only_the_asked_type_or_an_error() {
        for r in all_replies() {
            let mut v = Vec::new();
            r.encode(&mut v);
            let (k, b) = one(&v);
            let got = decode_expected::<StatusReply>(kind::STATUS_REPLY, k, &b).unwrap();
            match (&r, got) {
                (Reply::Status(want), Answer::Reply(s)) => assert_eq!(&s, want),
                (Reply::Error(want), Answer::Error(e)) => assert_eq!(&e, want),
                (_, Answer::Other(other)) => assert_eq!(other, k),
                (r, got) => panic!("{r:?} decoded as {got:?}"),
            }
        }
        // A body that is not a status reply is an error with the id salvaged.
        let mut v = Vec::new();
        encode(kind::STATUS_REPLY, &Done { id: 7, message: "x".into() }, &mut v);
        let (k, b) = one(&v);
        match decode_expected::<StatusReply>(kind::STATUS_REPLY, k, &b) {
            Err(DecodeError::BadBody { kind: kk, id: 7, .. }) => assert_eq!(kk, kind::STATUS_REPLY),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn every_reply_round_trips() {
        for r in all_replies() {
            let mut v = Vec::new();
            r.encode(&mut v);
            let (k, b) = one(&v);
            assert_eq!(Reply::decode(k, &b).unwrap(), r);
        }
    }

    #[test]
    fn pipelined_stream_split_anywhere_decodes_the_same() {
        let mut v = Vec::new();
        for r in all_requests() {
            r.encode(&mut v);
        }
        let want = all_requests();
        for step in [1, 2, 3, 7, 64, 1000] {
            let mut d = Decoder::new(DEFAULT_MAX_FRAME);
            let mut got = Vec::new();
            for c in v.chunks(step) {
                d.push(c);
                while let Some(f) = d.next_frame().unwrap() {
                    got.push(Request::decode(f.kind, &f.body).unwrap());
                }
            }
            assert_eq!(got, want, "chunks of {step}");
        }
    }

    #[test]
    fn golden_bytes_of_a_status_request() {
        let mut v = Vec::new();
        Request::Status(Target { id: 7, service: "web".into(), wait: false }).encode(&mut v);
        // fixmap(2) "id" 7 "service" "web"
        let body =
            [0x82, 0xa2, b'i', b'd', 0x07, 0xa7, b's', b'e', b'r', b'v', b'i', b'c', b'e', 0xa3, b'w', b'e', b'b'];
        let mut want = vec![0, 0, 0, body.len() as u8 + 1, kind::STATUS];
        want.extend_from_slice(&body);
        assert_eq!(v, want);
    }

    #[test]
    fn empty_job_fields_are_left_out() {
        let mut v = Vec::new();
        let spec = JobSpec { command: vec!["true".into()], ..Default::default() };
        Request::Spawn(SpawnReq { id: 1, spec, attach: false }).encode(&mut v);
        let (_, body) = one(&v);
        // {"id": 1, "spec": {"command": ["true"]}}
        let want = [
            0x82, 0xa2, b'i', b'd', 1, 0xa4, b's', b'p', b'e', b'c', 0x81, 0xa7, b'c', b'o', b'm', b'm', b'a', b'n',
            b'd', 0x91, 0xa4, b't', b'r', b'u', b'e',
        ];
        assert_eq!(body, want);
        let mut v = Vec::new();
        Reply::Job(JobReply { id: 1, job: JobInfo::default() }).encode(&mut v);
        let (_, body) = one(&v);
        let m: serde_json::Value = rmp_serde::from_slice(&body).unwrap();
        let keys: Vec<&str> = m["job"].as_object().unwrap().keys().map(|k| k.as_str()).collect();
        assert_eq!(keys, ["created", "job", "requestor", "spec", "state"]);
    }

    #[test]
    fn job_requests_need_their_own_fields() {
        let enc = |k: u8, v: serde_json::Value| {
            let mut out = Vec::new();
            encode(k, &v, &mut out);
            one(&out).1
        };
        for (k, v, field) in [
            (kind::SPAWN, serde_json::json!({"id": 4, "attach": true}), "spec"),
            (kind::WAIT, serde_json::json!({"id": 4}), "job"),
            (kind::STDIN, serde_json::json!({"id": 4, "eof": true}), "job"),
            (kind::JOB_SIGNAL, serde_json::json!({"id": 4, "job": 1}), "signal"),
        ] {
            match Request::decode(k, &enc(k, v)) {
                Err(DecodeError::BadBody { id: 4, reason, .. }) => assert!(reason.contains(field), "{reason}"),
                other => panic!("0x{k:02x}: {other:?}"),
            }
        }
        // Fields of other job requests are ignored when their type is right...
        let r = Request::decode(kind::WAIT, &enc(kind::WAIT, serde_json::json!({"id": 1, "job": 2, "eof": true})));
        assert_eq!(r, Ok(Request::Wait(JobRef { id: 1, job: 2 })));
        // ...and refused when it is not; other unknown fields are ignored.
        assert!(
            Request::decode(kind::WAIT, &enc(kind::WAIT, serde_json::json!({"id": 1, "job": 2, "eof": 3}))).is_err()
        );
        let r = Request::decode(kind::WAIT, &enc(kind::WAIT, serde_json::json!({"id": 1, "job": 2, "x": [1]})));
        assert_eq!(r, Ok(Request::Wait(JobRef { id: 1, job: 2 })));
    }

    #[test]
    fn resize_needs_its_size() {
        let enc = |v: serde_json::Value| {
            let mut out = Vec::new();
            encode(kind::RESIZE, &v, &mut out);
            one(&out).1
        };
        let r = Request::decode(kind::RESIZE, &enc(serde_json::json!({"id": 1, "job": 2, "rows": 3, "cols": 4})));
        assert_eq!(r, Ok(Request::Resize(ResizeReq { id: 1, job: 2, rows: 3, cols: 4 })));
        for (v, field) in [
            (serde_json::json!({"id": 5, "job": 2, "cols": 4}), "rows"),
            (serde_json::json!({"id": 5, "job": 2, "rows": 3}), "cols"),
            (serde_json::json!({"id": 5, "rows": 3, "cols": 4}), "job"),
        ] {
            match Request::decode(kind::RESIZE, &enc(v)) {
                Err(DecodeError::BadBody { id: 5, reason, .. }) => assert!(reason.contains(field), "{reason}"),
                other => panic!("{other:?}"),
            }
        }
        // A size that does not fit a terminal's (u16) is a bad body.
        assert!(Request::decode(kind::RESIZE, &enc(serde_json::json!({"id": 1, "job": 2, "rows": 70000, "cols": 4})))
            .is_err());
    }

    #[test]
    fn job_ids_are_shown_and_typed_as_percent_n() {
        assert_eq!(job_name(12), "%12");
        assert_eq!(parse_job("%12", false), Some(12));
        assert_eq!(parse_job("12", false), None);
        assert_eq!(parse_job("12", true), Some(12));
        for bad in ["%", "%0", "%-1", "%1x", "web", "", "%99999999999999999999999"] {
            assert_eq!(parse_job(bad, true), None, "{bad:?}");
        }
    }

    #[test]
    fn enums_are_strings_on_the_wire() {
        let mut v = Vec::new();
        encode(kind::ERROR, &ErrorMsg { id: 0, code: ErrorCode::FrameTooLarge, message: String::new() }, &mut v);
        let needle = b"\xafframe_too_large";
        assert!(v.windows(needle.len()).any(|w| w == needle));
        let mut v = Vec::new();
        encode(kind::LOG_DATA, &LogData { id: 1, stream: Stream::Stderr, data: vec![1, 2], time_us: None }, &mut v);
        assert!(v.windows(7).any(|w| w == b"\xa6stderr"));
        // Bytes are msgpack bin, not an array of integers.
        assert!(v.windows(4).any(|w| w == [0xc4, 2, 1, 2]));
        for c in [ErrorCode::BadRequest, ErrorCode::ShuttingDown, ErrorCode::Busy] {
            let mut v = Vec::new();
            encode(kind::ERROR, &ErrorMsg { id: 0, code: c, message: String::new() }, &mut v);
            let s = c.as_str().as_bytes();
            assert!(v.windows(s.len()).any(|w| w == s));
        }
    }

    #[test]
    fn unknown_fields_are_ignored_and_optional_ones_default() {
        // {"id": 3, "service": "x", "future": [1, 2]}
        let b = [
            0x83, 0xa2, b'i', b'd', 3, 0xa7, b's', b'e', b'r', b'v', b'i', b'c', b'e', 0xa1, b'x', 0xa6, b'f', b'u',
            b't', b'u', b'r', b'e', 0x92, 1, 2,
        ];
        let r = Request::decode(kind::LOGS, &b).unwrap();
        assert_eq!(
            r,
            Request::Logs(LogsReq {
                id: 3,
                service: "x".into(),
                stream: Stream::All,
                lines: None,
                bytes: None,
                follow: false,
                since_us: None,
                until_us: None,
            })
        );
    }

    #[test]
    fn bad_bodies_are_typed_errors_with_the_id_when_readable() {
        // {"id": 9} for STATUS: service missing.
        let b = [0x81, 0xa2, b'i', b'd', 9];
        match Request::decode(kind::STATUS, &b) {
            Err(DecodeError::BadBody { kind: k, id: 9, .. }) => assert_eq!(k, kind::STATUS),
            other => panic!("{other:?}"),
        }
        assert_eq!(Request::decode(0x7f, &b), Err(DecodeError::UnknownType(0x7f)));
        // A reply type sent as a request.
        assert_eq!(Request::decode(kind::WELCOME, &b), Err(DecodeError::UnknownType(kind::WELCOME)));
        // Trailing garbage, truncation and empty bodies.
        let mut v = b.to_vec();
        v.push(0xc0);
        assert!(Request::decode(kind::LIST, &v).is_err());
        assert!(Request::decode(kind::LIST, &[]).is_err());
        assert!(Request::decode(kind::LIST, &b[..3]).is_err());
        // A bad enum value.
        let mut v = Vec::new();
        encode(
            kind::LOGS,
            &std::collections::BTreeMap::from([("id", "1"), ("service", "x"), ("stream", "both")]),
            &mut v,
        );
        let (k, body) = one(&v);
        assert!(Request::decode(k, &body).is_err());
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        // {"id": 1, "x": [[[[...]]]]} 100k levels deep.
        let mut b = vec![0x82, 0xa2, b'i', b'd', 1, 0xa1, b'x'];
        b.extend(std::iter::repeat_n(0x91, 100_000));
        b.push(0xc0);
        assert!(Request::decode(kind::LIST, &b).is_err());
    }

    #[test]
    fn huge_claimed_lengths_do_not_allocate() {
        // {"id": 1, "service": str32 of 4 GiB}
        let b =
            [0x82, 0xa2, b'i', b'd', 1, 0xa7, b's', b'e', b'r', b'v', b'i', b'c', b'e', 0xdb, 0xff, 0xff, 0xff, 0xff];
        assert!(Request::decode(kind::STATUS, &b).is_err());
        // array32 of 4G elements
        let b = [0x82, 0xa2, b'i', b'd', 1, 0xa1, b'x', 0xdd, 0xff, 0xff, 0xff, 0xff];
        assert!(Request::decode(kind::LIST, &b).is_err());
    }
}
