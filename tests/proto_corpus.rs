//! Replays the fuzz corpus on stable: every file of `fuzz/corpus/TARGET/` and
//! `fuzz/artifacts/TARGET/` goes through the same checks as the cargo-fuzz target
//! (fuzz/checks.rs, shared by both), so a crash the fuzzer found stays a failing test
//! until it is fixed, without nightly.
//!
//! The seed files (`seed-*`) are real frames and bodies made by tend's own encoder
//! from the values below, so they also pin the wire format: when it changes on
//! purpose, rewrite them with
//!
//!     TEND_WRITE_CORPUS=1 cargo test --test proto_corpus -- --ignored write_seed_corpus

#[path = "../fuzz/checks.rs"]
mod checks;

use std::collections::BTreeSet;
use std::fs;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use serde_json::json;
use tend::proto::frame::{self, DEFAULT_MAX_FRAME};
use tend::proto::msg::{self, kind, DecodeError, Reply, Request, API_VERSION, CAPABILITIES};

type Check = fn(&[u8]);

const TARGETS: [(&str, Check); 5] = [
    ("frame_decode", checks::check_stream),
    ("request_body", checks::check_request_body),
    ("reply_body", checks::check_reply_body),
    ("http_request", checks::check_http_request),
    // Its seeds are hand-written config files (not `seed-*`, which this file generates).
    ("config_parse", checks::check_config),
];

const WRITE_HINT: &str = "TEND_WRITE_CORPUS=1 cargo test --test proto_corpus -- --ignored write_seed_corpus";

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

/// The regular files of `dir`, sorted; an empty list when it does not exist.
fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(rd) = fs::read_dir(dir) else { return Vec::new() };
    let mut v: Vec<PathBuf> = rd.map(|e| e.expect("read_dir entry").path()).filter(|p| p.is_file()).collect();
    v.sort();
    v
}

fn hex(b: &[u8]) -> String {
    const MAX: usize = 512;
    let mut s: String = b.iter().take(MAX).map(|x| format!("{x:02x}")).collect();
    if b.len() > MAX {
        s.push_str(&format!("... ({} bytes)", b.len()));
    }
    s
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "(non-string panic)".into()
    }
}

#[test]
fn replay_corpus_and_artifacts() {
    let mut failures = Vec::new();
    for (target, check) in TARGETS {
        let corpus = fuzz_dir().join("corpus").join(target);
        let seeds = files(&corpus);
        assert!(!seeds.is_empty(), "{} is missing or empty: regenerate the seeds with {WRITE_HINT}", corpus.display());
        let artifacts = files(&fuzz_dir().join("artifacts").join(target));
        for path in seeds.iter().chain(&artifacts) {
            let data = fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            if let Err(p) = panic::catch_unwind(AssertUnwindSafe(|| check(&data))) {
                failures.push(format!("{}: {}\n  input: {}", path.display(), panic_message(&*p), hex(&data)));
            }
        }
        eprintln!("{target}: {} corpus files, {} artifacts replayed", seeds.len(), artifacts.len());
    }
    assert!(failures.is_empty(), "{} inputs fail their fuzz target's checks:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn seed_corpus_is_current() {
    let mut stale = Vec::new();
    for (target, name, bytes) in seeds() {
        let path = fuzz_dir().join("corpus").join(target).join(&name);
        match fs::read(&path) {
            Ok(b) if b == bytes => {}
            Ok(_) => stale.push(format!("{} differs from what tend encodes now", path.display())),
            Err(e) => stale.push(format!("{}: {e}", path.display())),
        }
    }
    assert!(stale.is_empty(), "the seed corpus is out of date (rewrite it with {WRITE_HINT}):\n{}", stale.join("\n"));
}

/// Every type byte that either decoder knows has a seed that decodes as that type.
#[test]
fn seeds_cover_every_type() {
    let all = seeds();
    for k in 0..=u8::MAX {
        let probe = [0x80]; // {}
        if !matches!(Request::decode(k, &probe), Err(DecodeError::UnknownType(_))) {
            let covered =
                all.iter().any(|(t, _, b)| *t == "request_body" && b[0] == k && Request::decode(k, &b[1..]).is_ok());
            assert!(covered, "no request_body seed decodes as request type 0x{k:02x}: add one to seeds()");
        }
        if !matches!(Reply::decode(k, &probe), Err(DecodeError::UnknownType(_))) {
            let covered =
                all.iter().any(|(t, _, b)| *t == "reply_body" && b[0] == k && Reply::decode(k, &b[1..]).is_ok());
            assert!(covered, "no reply_body seed decodes as reply type 0x{k:02x}: add one to seeds()");
        }
    }
}

/// Writes `seeds()` into fuzz/corpus/TARGET/ and removes `seed-*` files that are no
/// longer generated; inputs the fuzzer added are left alone.
#[test]
#[ignore = "writes fuzz/corpus; run with TEND_WRITE_CORPUS=1"]
fn write_seed_corpus() {
    if std::env::var_os("TEND_WRITE_CORPUS").is_none_or(|v| v != "1") {
        eprintln!("TEND_WRITE_CORPUS=1 is not set: nothing written");
        return;
    }
    let all = seeds();
    for (target, _) in TARGETS {
        let dir = fuzz_dir().join("corpus").join(target);
        fs::create_dir_all(&dir).unwrap();
        let keep: BTreeSet<&str> = all.iter().filter(|s| s.0 == target).map(|s| s.1.as_str()).collect();
        for old in files(&dir) {
            let name = old.file_name().unwrap().to_string_lossy().into_owned();
            if name.starts_with("seed-") && !keep.contains(name.as_str()) {
                fs::remove_file(&old).unwrap();
            }
        }
    }
    for (target, name, bytes) in &all {
        fs::write(fuzz_dir().join("corpus").join(target).join(name), bytes).unwrap();
    }
    eprintln!("wrote {} seed files", all.len());
}

// --- the seeds ------------------------------------------------------------------------

// The messages are written as msgpack maps (from JSON values) and decoded with tend's
// decoder, rather than built as struct literals, so that a field added to a wire type
// does not stop this test from compiling; the seeds are then tend's own encoding of
// the decoded values. Fields other engineers add later with `skip_serializing_if`
// defaults do not change these bytes.

fn running() -> serde_json::Value {
    json!({
        "name": "web",
        "state": "running",
        "pid": 42,
        "uptime_ms": 1500,
        "started": "2026-11-22T10:00:00.000000Z",
        "restarts": 3,
        "last_exit": {"code": null, "signal": "SIGKILL", "core_dumped": true, "text": "killed by SIGKILL (core dumped)"},
        "rss": 1 << 20,
        "cpu_ms": 12,
        "ready": true,
        "healthy": true,
        "paused": false,
        "autostart": true,
        "reason": "started",
        "command": ["/usr/bin/python3", "-m", "http.server"],
        "stdout_bytes": 10,
        "stderr_bytes": 0,
        "dropped_bytes": 0,
    })
}

fn with_logs() -> serde_json::Value {
    let mut v = exited();
    v["last_output"] = json!([{"stream": "stderr", "ts": "2026-11-22T10:00:00.950000Z", "line": "fatal"}]);
    v["log_file"] = json!("/var/log/tend/job.1.log");
    v["log_errors"] = json!(3);
    v["log_error"] = json!("No space left on device (os error 28)");
    v
}

fn exited() -> serde_json::Value {
    json!({
        "name": "job.1",
        "state": "exited",
        "pid": null,
        "restarts": 0,
        "last_exit": {"code": 3, "signal": null, "core_dumped": false, "text": "exited with status 3"},
        "ready": false,
        "healthy": null,
        "paused": true,
        "autostart": false,
        "reason": "exited",
        "command": [],
        "stdout_bytes": u64::MAX,
        "stderr_bytes": 7,
        "dropped_bytes": 1,
    })
}

/// (seed name, type byte, body) of one message of every request type.
fn request_values() -> Vec<(&'static str, u8, serde_json::Value)> {
    let signal = |id, signal: serde_json::Value| json!({"id": id, "service": "web", "signal": signal});
    vec![
        ("hello", kind::HELLO, json!({"api": API_VERSION, "client": "tend 0.1.0", "capabilities": CAPABILITIES})),
        ("list", kind::LIST, json!({"id": 1})),
        ("status", kind::STATUS, json!({"id": 2, "service": "web"})),
        ("start", kind::START, json!({"id": 3, "service": "worker.1"})),
        ("stop", kind::STOP, json!({"id": u64::MAX, "service": "db"})),
        ("restart", kind::RESTART, json!({"id": 5, "service": ""})),
        ("signal-name", kind::SIGNAL, signal(6, json!("SIGHUP"))),
        ("signal-number", kind::SIGNAL, signal(7, json!(15))),
        ("signal-negative", kind::SIGNAL, signal(8, json!(i64::MIN))),
        ("logs", kind::LOGS, json!({"id": 9, "service": "web", "stream": "all", "lines": 100, "bytes": null})),
        (
            "logs-follow",
            kind::LOGS,
            json!({"id": 10, "service": "web", "stream": "stderr", "bytes": 65536, "follow": true}),
        ),
        ("events", kind::EVENTS, json!({"id": 11, "from": 1, "follow": false})),
        ("events-follow", kind::EVENTS, json!({"id": 12, "follow": true})),
        ("reload", kind::RELOAD, json!({"id": 13})),
        ("shutdown", kind::SHUTDOWN, json!({"id": 14})),
        ("version", kind::VERSION, json!({"id": 15})),
        ("cancel", kind::CANCEL, json!({"id": 16, "target": 10})),
        (
            "logs-since-until",
            kind::LOGS,
            json!({"id": 17, "service": "web", "since_us": 1_795_362_721_000_000u64, "until_us": 1_795_362_722_000_000u64}),
        ),
        ("log-rotate", kind::LOG_ROTATE, json!({"id": 18, "service": "web"})),
        ("log-rotate-all", kind::LOG_ROTATE, json!({"id": 19})),
        ("request-minimal", kind::REQUEST, json!({"id": 17, "service": "web", "path": "/"})),
        (
            "request",
            kind::REQUEST,
            json!({"id": 18, "service": "web", "method": "POST", "path": "/api", "query": "a=1&b",
                   "headers": [["Accept", "*/*"], ["X-Two", "1"], ["X-Two", "2"]]}),
        ),
        ("spawn-minimal", kind::SPAWN, json!({"id": 20, "spec": {"command": ["true"]}})),
        ("spawn", kind::SPAWN, json!({"id": 21, "attach": true, "spec": job_spec()})),
        ("job-status", kind::JOB_STATUS, json!({"id": 22, "job": 7})),
        ("wait", kind::WAIT, json!({"id": 23, "job": u64::MAX})),
        ("retry", kind::RETRY, json!({"id": 24, "job": 7})),
        ("job-list", kind::JOB_LIST, json!({"id": 25})),
        (
            "job-list-filters",
            kind::JOB_LIST,
            json!({"id": 26, "state": "failed", "name": "mig*", "since_us": 1_795_362_721_000_000u64}),
        ),
        ("job-rm", kind::JOB_RM, json!({"id": 27, "job": 7})),
        ("attach", kind::ATTACH, json!({"id": 28, "job": 7})),
        ("stdin-eof", kind::STDIN, json!({"id": 29, "job": 7, "eof": true})),
        ("job-signal", kind::JOB_SIGNAL, json!({"id": 30, "job": 7, "signal": "INT"})),
        ("job-signal-group", kind::JOB_SIGNAL, json!({"id": 31, "job": 7, "signal": 9, "group": true})),
        ("resize", kind::RESIZE, json!({"id": 32, "job": 7, "rows": 50, "cols": 132})),
        (
            "spawn-tty",
            kind::SPAWN,
            json!({"id": 33, "attach": true, "spec": {"command": ["sh"], "tty": true, "rows": 24, "cols": 80}}),
        ),
    ]
}

/// A job descriptor with every field.
fn job_spec() -> serde_json::Value {
    json!({
        "command": ["sh", "-c", "exit 3"],
        "env": [["A", "1"], ["B", ""]],
        "cwd": "/srv",
        "user": "nobody",
        "timeout_ms": 600_000,
        "retries": 2,
        "name": "migrate",
        "stdin": true,
    })
}

/// A job as JOB carries it, ended.
fn job_ended() -> serde_json::Value {
    json!({
        "job": 7,
        "spec": job_spec(),
        "state": "failed",
        "reason": "killed by SIGTERM (timed out after 10m) (attempt 3 of 3)",
        "created": "2026-11-22T10:00:00.000000Z",
        "started": "2026-11-22T10:00:00.000100Z",
        "ended": "2026-11-22T10:10:00.000000Z",
        "exit": {"code": null, "signal": "SIGTERM", "core_dumped": false, "text": "killed by SIGTERM"},
        "status": 143,
        "timed_out": true,
        "requestor": {"uid": 65534, "gid": 65534, "pid": 99, "name": "tend"},
        "attempt": 3,
        "retry_of": 4,
        "stdout_bytes": 12,
    })
}

/// (seed name, type byte, body) of one message of every reply type.
fn reply_values() -> Vec<(&'static str, u8, serde_json::Value)> {
    let error = |id, code, message| json!({"id": id, "code": code, "message": message});
    vec![
        (
            "welcome",
            kind::WELCOME,
            json!({
                "api": API_VERSION,
                "version": "0.1.0",
                "pid": 1,
                "capabilities": CAPABILITIES,
                "max_frame": DEFAULT_MAX_FRAME,
            }),
        ),
        ("error", kind::ERROR, error(2, "unknown_service", "no service \"x\"")),
        ("error-frame-too-large", kind::ERROR, error(0, "frame_too_large", "frame length 4294967295 is above 1048576")),
        ("error-busy", kind::ERROR, error(0, "busy", "")),
        ("list", kind::LIST_REPLY, json!({"id": 1, "services": [running(), exited()]})),
        ("list-empty", kind::LIST_REPLY, json!({"id": 1, "services": []})),
        ("status", kind::STATUS_REPLY, json!({"id": 2, "service": running()})),
        ("status-logs", kind::STATUS_REPLY, json!({"id": 2, "service": with_logs()})),
        ("done", kind::DONE, json!({"id": 3, "message": "stopping"})),
        (
            "version",
            kind::VERSION_REPLY,
            json!({"id": 15, "version": "0.1.0", "api": API_VERSION, "pid": 1, "uptime_s": 3}),
        ),
        // LogData carries msgpack bin: added below as raw bytes.
        ("log-lost", kind::LOG_LOST, json!({"id": 10, "stream": "stderr", "bytes": 100})),
        (
            "event",
            kind::EVENT,
            json!({"id": 12, "event": {
                "seq": 1,
                "ts": "2026-11-22T10:00:00.000000Z",
                "service": "web",
                "kind": "state",
                "from": "running",
                "to": "exited",
                "reason": "stop requested",
                "exit": {"code": 0, "signal": null, "core_dumped": false, "text": "exited with status 0"},
                "requestor": {"uid": 0, "gid": 0, "pid": 77, "name": "tend"},
            }}),
        ),
        (
            "event-exit-output",
            kind::EVENT,
            json!({"id": 12, "event": {
                "seq": 2,
                "ts": "2026-11-22T10:00:01.000000Z",
                "service": "web",
                "kind": "state",
                "from": "running",
                "to": "backoff",
                "reason": "exited with status 1",
                "exit": {"code": 1, "signal": null, "core_dumped": false, "text": "exited with status 1"},
                "output": [
                    {"stream": "stdout", "ts": "2026-11-22T10:00:00.900000Z", "line": "starting"},
                    {"stream": "stderr", "ts": "2026-11-22T10:00:00.950000Z", "line": "panic: \u{fffd}"},
                ],
            }}),
        ),
        (
            "event-daemon",
            kind::EVENT,
            json!({"id": 12, "event": {"seq": u64::MAX, "ts": "2026-11-22T10:00:00.000001Z", "kind": "reload"}}),
        ),
        ("events-lost", kind::EVENTS_LOST, json!({"id": 12, "from": 1, "to": 5, "reason": "evicted"})),
        ("end", kind::END, json!({"id": 9})),
        (
            "response",
            kind::RESPONSE,
            json!({"id": 18, "status": 503, "reason": "Service Unavailable",
                   "headers": [["Content-Type", "application/problem+json"]]}),
        ),
        ("error-unavailable", kind::ERROR, error(18, "unavailable", "web is backoff; see its logs")),
        ("error-timeout", kind::ERROR, error(18, "timeout", "web: no response within 30.000s")),
        ("error-bad-gateway", kind::ERROR, error(18, "bad_gateway", "web: malformed response head")),
        ("error-unknown-job", kind::ERROR, error(22, "unknown_job", "no job %99")),
        ("error-job-running", kind::ERROR, error(24, "job_running", "job %7 is still running")),
        ("job", kind::JOB, json!({"id": 22, "job": job_ended()})),
        (
            "job-running",
            kind::JOB,
            json!({"id": 20, "job": {"job": 1, "spec": {"command": ["sleep", "9"]}, "state": "running", "pid": 42,
                   "created": "2026-11-22T10:00:00.000000Z", "requestor": {"uid": 0, "gid": 0, "pid": 7}, "attempt": 1}}),
        ),
        (
            "event-job",
            kind::EVENT,
            json!({"id": 12, "event": {"seq": 9, "ts": "2026-11-22T10:00:00.000000Z", "job": 7, "kind": "state",
                   "from": "running", "to": "failed", "reason": "exited with status 3"}}),
        ),
    ]
}

/// `{"id": ID, "stream": STREAM, "data": bin DATA}`: LogData's data is msgpack bin,
/// which JSON values cannot express.
fn log_data_body(id: u8, stream: &str, data: &[u8]) -> Vec<u8> {
    let mut b = vec![0x83, 0xa2, b'i', b'd', id, 0xa6];
    b.extend_from_slice(b"stream");
    b.push(0xa0 | stream.len() as u8);
    b.extend_from_slice(stream.as_bytes());
    b.push(0xa4);
    b.extend_from_slice(b"data");
    b.extend_from_slice(&[0xc4, data.len() as u8]);
    b.extend_from_slice(data);
    b
}

/// `v` (a JSON map) with a msgpack bin field `body` added.
fn with_body(v: serde_json::Value, body: &[u8]) -> Vec<u8> {
    #[derive(serde::Serialize)]
    struct WithBody<'a> {
        #[serde(flatten)]
        rest: &'a serde_json::Value,
        #[serde(with = "serde_bytes")]
        body: &'a [u8],
    }
    rmp_serde::to_vec_named(&WithBody { rest: &v, body }).unwrap()
}

/// `v` (a JSON map) with a msgpack bin field `key` added.
fn with_bin(v: serde_json::Value, key: &str, data: &[u8]) -> Vec<u8> {
    let mut m: std::collections::BTreeMap<String, rmpv_like::Field> =
        v.as_object().unwrap().iter().map(|(k, v)| (k.clone(), rmpv_like::Field::Json(v.clone()))).collect();
    m.insert(key.to_string(), rmpv_like::Field::Bin(data.to_vec()));
    rmp_serde::to_vec_named(&m).unwrap()
}

/// A map value that is either JSON or msgpack bin.
mod rmpv_like {
    #[derive(serde::Serialize)]
    #[serde(untagged)]
    pub enum Field {
        Json(serde_json::Value),
        Bin(#[serde(with = "serde_bytes")] Vec<u8>),
    }
}

/// Every request seed, decoded by tend.
fn requests() -> Vec<(&'static str, Request)> {
    let mut bodies: Vec<(&str, u8, Vec<u8>)> = request_values()
        .into_iter()
        .map(|(name, k, v)| (name, k, json_frame(k, &v)[frame::HEADER_LEN..].to_vec()))
        .collect();
    let post = json!({"id": 19, "service": "web", "method": "PUT", "path": "/blob", "headers": []});
    bodies.push(("request-body", kind::REQUEST, with_body(post, b"\0\x01binary\xff")));
    bodies.push(("stdin", kind::STDIN, with_bin(json!({"id": 29, "job": 7}), "data", b"line\n\0\xff")));
    bodies
        .into_iter()
        .map(|(name, k, body)| {
            let r = Request::decode(k, &body).unwrap_or_else(|e| panic!("request seed {name} does not decode: {e}"));
            (name, r)
        })
        .collect()
}

/// Every reply seed, decoded by tend.
fn replies() -> Vec<(&'static str, Reply)> {
    let mut bodies: Vec<(&str, u8, Vec<u8>)> = reply_values()
        .into_iter()
        .map(|(name, k, v)| (name, k, json_frame(k, &v)[frame::HEADER_LEN..].to_vec()))
        .collect();
    bodies.push(("log-data", kind::LOG_DATA, log_data_body(9, "stdout", b"hello\n\0\xff\xfe\n")));
    bodies.push(("log-data-empty", kind::LOG_DATA, log_data_body(9, "stderr", b"")));
    let mut timed = log_data_body(9, "stdout", b"line\n");
    timed[0] = 0x84;
    timed.extend_from_slice(b"\xa7time_us\xcf");
    timed.extend_from_slice(&1_795_362_721_123_456u64.to_be_bytes());
    bodies.push(("log-data-time", kind::LOG_DATA, timed));
    let resp = json!({"id": 19, "status": 200, "reason": "OK", "headers": [["Content-Length", "3"]]});
    bodies.push(("response-body", kind::RESPONSE, with_body(resp, b"ok\n")));
    bodies
        .into_iter()
        .map(|(name, k, body)| {
            let r = Reply::decode(k, &body).unwrap_or_else(|e| panic!("reply seed {name} does not decode: {e}"));
            (name, r)
        })
        .collect()
}

/// A frame of type `k` whose body is `v` in msgpack (maps with named keys).
fn json_frame(k: u8, v: &serde_json::Value) -> Vec<u8> {
    let mut out = Vec::new();
    msg::encode(k, v, &mut out);
    out
}

/// A frame of type `k` around the raw body `body`.
fn raw_frame(k: u8, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    frame::encode(k, body, &mut out);
    out
}

/// `{"id": 1, "x": [[[...nil...]]]}`, `depth` arrays deep.
fn deep_body(depth: usize) -> Vec<u8> {
    let mut b = vec![0x82, 0xa2, b'i', b'd', 1, 0xa1, b'x'];
    b.extend(std::iter::repeat_n(0x91, depth));
    b.push(0xc0);
    b
}

/// `{"id": 1, KEY: <32-bit length marker> ff ff ff ff}` and nothing after it.
fn claims_4gib(key: &str, marker: u8) -> Vec<u8> {
    let mut b = vec![0x82, 0xa2, b'i', b'd', 1, 0xa0 | key.len() as u8];
    b.extend_from_slice(key.as_bytes());
    b.extend_from_slice(&[marker, 0xff, 0xff, 0xff, 0xff]);
    b
}

/// Frames that are not valid messages: every one is also a body seed (type byte and
/// body, i.e. the frame without its length).
fn bad_frames() -> Vec<(&'static str, Vec<u8>)> {
    let status = json!({"id": 2, "service": "web"});
    let mut trailing = json_frame(kind::LIST, &json!({"id": 1}));
    trailing.push(0xc0);
    frame::finish(&mut trailing, 0);
    vec![
        ("deep-nesting", raw_frame(kind::LIST, &deep_body(1000))),
        ("deep-nesting-at-limit", raw_frame(kind::LIST, &deep_body(msg::MAX_DEPTH - 2))),
        ("deep-nesting-in-reply", raw_frame(kind::DONE, &deep_body(100))),
        ("claimed-4gib-string", raw_frame(kind::STATUS, &claims_4gib("service", 0xdb))),
        ("claimed-4gib-array", raw_frame(kind::LIST, &claims_4gib("x", 0xdd))),
        ("claimed-4gib-map", raw_frame(kind::LIST, &claims_4gib("x", 0xdf))),
        ("claimed-4gib-bin", raw_frame(kind::LOG_DATA, &claims_4gib("data", 0xc6))),
        ("claimed-4gib-ext", raw_frame(kind::DONE, &claims_4gib("message", 0xc9))),
        ("claimed-4gib-top-map", raw_frame(kind::HELLO, &[0xdf, 0xff, 0xff, 0xff, 0xff])),
        ("trailing-bytes", trailing),
        ("empty-body", raw_frame(kind::LIST, &[])),
        ("nil-body", raw_frame(kind::STATUS, &[0xc0])),
        ("truncated-body", raw_frame(kind::STATUS, &json_frame(kind::STATUS, &status)[5..12])),
        ("positional-array", json_frame(kind::STATUS, &json!([2, "web"]))),
        ("missing-field", json_frame(kind::STATUS, &json!({"id": 9}))),
        ("unknown-field", json_frame(kind::LOGS, &json!({"id": 3, "service": "x", "future": [1, 2, {"a": null}]}))),
        ("duplicate-field", raw_frame(kind::LIST, &[0x82, 0xa2, b'i', b'd', 1, 0xa2, b'i', b'd', 2])),
        ("bad-enum", json_frame(kind::LOGS, &json!({"id": 1, "service": "x", "stream": "both"}))),
        ("signal-above-i64", json_frame(kind::SIGNAL, &json!({"id": 1, "service": "x", "signal": u64::MAX}))),
        ("signal-float", json_frame(kind::SIGNAL, &json!({"id": 1, "service": "x", "signal": 1.5}))),
        ("id-negative", json_frame(kind::LIST, &json!({"id": -1}))),
        (
            "pid-above-u32",
            json_frame(kind::VERSION_REPLY, &json!({"id": 1, "version": "x", "api": 1, "pid": 1u64 << 32})),
        ),
        (
            "invalid-utf8",
            raw_frame(
                kind::STATUS,
                &[0x82, 0xa2, b'i', b'd', 1, 0xa7, b's', b'e', b'r', b'v', b'i', b'c', b'e', 0xa2, 0xc3, 0x28],
            ),
        ),
        ("log-data-int-array", json_frame(kind::LOG_DATA, &json!({"id": 1, "stream": "stdout", "data": [104, 105]}))),
        ("bad-error-code", json_frame(kind::ERROR, &json!({"id": 1, "code": "nope"}))),
        ("unknown-type", json_frame(0x7f, &json!({"id": 1}))),
        ("logs-with-reply-fields", json_frame(kind::LOGS, &json!({"id": 5, "stream": "stdout", "data": "x"}))),
        ("reserved-bytes", raw_frame(kind::HELLO, &[0xc1])),
        ("start-wait", json_frame(kind::START, &json!({"id": 3, "service": "web", "wait": true}))),
        (
            "signal-group",
            json_frame(kind::SIGNAL, &json!({"id": 7, "service": "web", "signal": "TERM", "group": true})),
        ),
    ]
}

fn encoded_request(r: &Request) -> Vec<u8> {
    let mut v = Vec::new();
    r.encode(&mut v);
    v
}

fn encoded_reply(r: &Reply) -> Vec<u8> {
    let mut v = Vec::new();
    r.encode(&mut v);
    v
}

/// Every seed as (target, file name, contents), in a stable order.
fn seeds() -> Vec<(&'static str, String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut add = |target: &'static str, name: String, bytes: Vec<u8>| out.push((target, name, bytes));
    let reqs = requests();
    let reps = replies();

    // Bodies: the frame without its length prefix.
    for (name, r) in &reqs {
        add("request_body", format!("seed-{name}"), encoded_request(r)[4..].to_vec());
    }
    for (name, r) in &reps {
        add("reply_body", format!("seed-{name}"), encoded_reply(r)[4..].to_vec());
    }
    for (name, f) in bad_frames() {
        add("request_body", format!("seed-{name}"), f[4..].to_vec());
        add("reply_body", format!("seed-{name}"), f[4..].to_vec());
    }

    // Streams: every frame alone, then sequences and broken framing.
    for (name, r) in &reqs {
        add("frame_decode", format!("seed-{name}"), encoded_request(r));
    }
    for (name, r) in &reps {
        add("frame_decode", format!("seed-reply-{name}"), encoded_reply(r));
    }
    for (name, f) in bad_frames() {
        add("frame_decode", format!("seed-{name}"), f);
    }
    let client: Vec<u8> = reqs.iter().flat_map(|(_, r)| encoded_request(r)).collect();
    let server: Vec<u8> = reps.iter().flat_map(|(_, r)| encoded_reply(r)).collect();
    let hello = encoded_request(&reqs[0].1);
    let logs_follow = encoded_request(&reqs.iter().find(|r| r.0 == "logs-follow").unwrap().1);
    let list = encoded_request(&reqs[1].1);
    let cat = |parts: &[&[u8]]| parts.concat();
    add("frame_decode", "seed-pipelined-requests".into(), client.clone());
    add("frame_decode", "seed-pipelined-replies".into(), server);
    add("frame_decode", "seed-split-mid-frame".into(), cat(&[&hello, &logs_follow[..logs_follow.len() / 2]]));
    add("frame_decode", "seed-split-mid-header".into(), cat(&[&hello, &logs_follow[..2]]));
    add("frame_decode", "seed-split-after-header".into(), cat(&[&hello, &logs_follow[..5]]));
    add("frame_decode", "seed-type-only".into(), raw_frame(kind::LIST, &[]));
    let over = (DEFAULT_MAX_FRAME + 1).to_be_bytes();
    add("frame_decode", "seed-oversized-length".into(), cat(&[&hello, &over, &[kind::LIST, 0x81]]));
    add("frame_decode", "seed-length-u32-max".into(), vec![0xff, 0xff, 0xff, 0xff, kind::HELLO, 0x80]);
    add("frame_decode", "seed-zero-length".into(), vec![0, 0, 0, 0, kind::HELLO, 0x80]);
    add("frame_decode", "seed-zero-length-after-frames".into(), cat(&[&hello, &list, &[0, 0, 0, 0], &hello]));
    add("frame_decode", "seed-request-then-garbage".into(), cat(&[&hello, b"GET / HTTP/1.1\r\n\r\n"]));
    for (name, bytes) in http_seeds() {
        add("http_request", format!("seed-{name}"), bytes);
    }
    for (name, bytes) in config_seeds() {
        add("config_parse", format!("seed-{name}"), bytes);
    }
    let names: BTreeSet<(&str, &str)> = out.iter().map(|(t, n, _)| (*t, n.as_str())).collect();
    assert_eq!(names.len(), out.len(), "two seeds with the same name");
    out
}

/// What an ingress client may send: valid requests, pipelines, bodies, and the shapes
/// the parser refuses (smuggling, limits), plus chunked bodies alone.
fn http_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let v = |s: &str| s.as_bytes().to_vec();
    vec![
        ("get", v("GET /api/x?q=1 HTTP/1.1\r\nHost: example.com:8080\r\nAccept: */*\r\n\r\n")),
        ("get-http10", v("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")),
        ("head", v("HEAD /_tend/health HTTP/1.1\r\nHost: x\r\n\r\n")),
        ("absolute-form", v("GET http://api.example.com/v1 HTTP/1.1\r\nHost: other\r\n\r\n")),
        ("options-star", v("OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n")),
        ("post-length", v("POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")),
        (
            "post-chunked",
            v("POST /p HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
        ),
        ("expect-continue", v("PUT /p HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n")),
        (
            "pipelined",
            v("GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
        ),
        ("xff", v("GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 10.0.0.1\r\nConnection: keep-alive, X-Drop\r\nX-Drop: 1\r\n\r\n")),
        ("cl-and-te", v("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")),
        ("duplicate-cl", v("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\na")),
        ("cl-list", v("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1, 1\r\n\r\na")),
        ("obs-fold", v("GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n  continued\r\n\r\n")),
        ("te-gzip-chunked", v("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n")),
        ("te-http10", v("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n")),
        ("space-before-colon", v("GET / HTTP/1.1\r\nHost: x\r\nContent-Length : 0\r\n\r\n")),
        ("no-host", v("GET / HTTP/1.1\r\n\r\n")),
        ("two-hosts", v("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")),
        ("bare-lf", v("GET / HTTP/1.1\nHost: x\n\n")),
        ("http2-preface", v("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")),
        ("body-too-large", v("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n")),
        ("head-too-large", format!("GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n", "a".repeat(3000)).into_bytes()),
        ("chunked-only", v("4\r\nWiki\r\n5;ext=1\r\npedia\r\n0\r\nX-Trailer: 1\r\n\r\nafter")),
        ("chunked-bad-size", v("ffffffffffffffffff\r\n")),
        ("response", v("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")),
        ("response-interim", v("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n")),
    ]
}

/// Config files: one with most keys, a small real one, one with an error in each part,
/// and bytes that are not UTF-8.
fn config_seeds() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("every-key", CONFIG_EVERY_KEY.as_bytes().to_vec()),
        ("mix", CONFIG_MIX.as_bytes().to_vec()),
        (
            "errors",
            b"main = \"nosuch\"\n[control]\nmode = \"0999\"\n[service.a]\ncommand = []\nrestart = \"sometimes\"\n\
              backoff = { initial = \"1h\", max = \"1s\" }\n[service.b]\ncommand = \"x\"\ndepends_on = [\"b\"]\n"
                .to_vec(),
        ),
        ("not-utf8", b"a = 1\n\xff\n".to_vec()),
    ]
}

/// The configuration that uses every key (also parsed, field by field, by the unit test
/// `full_config_with_every_key` in src/config/parse.rs).
const CONFIG_EVERY_KEY: &str = include_str!("data/every-key.toml");

const CONFIG_MIX: &str = r#"main = "web"
[control]
mode = "0660"
max_frame = "64KiB"
[ingress]
listen = "127.0.0.1:8080"
routes = { "/" = "web" }
[service.web]
command = "exec sleep 1"
depends_on = { db = "healthy" }
ready = { tcp = "127.0.0.1:1", interval = "50ms" }
[service.db]
command = ["db"]
health = { exec = ["true"], interval = "1s", retries = 3 }
log = { file = true, max_size = "1MiB", keep = 3 }
"#;
