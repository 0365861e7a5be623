//! A generated corpus of bad frames sent to a live daemon (issue 9, hostile input):
//! every byte of real frames flipped three ways, every truncation of them, every length
//! boundary around the maximum frame size, deep msgpack nesting, strings, binaries,
//! arrays and maps whose header claims up to 2^32 elements, and a wrong type in every
//! field of every request.
//!
//! Each case runs on its own connection: its bytes, then a VERSION request (the
//! sentinel), then a half-close. What the daemon must do is worked out from tend's own
//! sans-IO decoder (the model below): answer the sentinel when every frame before it
//! was a valid request, or send an error frame and close when one was not, or close at
//! the end of a frame that never finished. Meanwhile another client keeps asking and is
//! always answered, the service is never touched, and tend's RSS stays where it was.
//! The hand-picked cases of tests/ctl_protocol.rs check the exact error codes.

mod support;

use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use support::{hello_frame, named, request, rss_kib, Raw, TestDir};
use tend::proto::frame::{Decoder, FrameError, DEFAULT_MAX_FRAME};
use tend::proto::msg::{kind, Hello, Plain, API_VERSION};
use tend::proto::{Reply, Request};

/// The id of the VERSION request that ends every case.
const SENTINEL: u64 = 0x5e47_1ae1;

/// What the daemon must do with one case.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    /// Every frame was a request it serves: the sentinel is answered.
    Answers,
    /// A frame is refused: an error frame, then the connection is closed.
    ErrorThenClose,
    /// A frame never finishes: the connection is closed at the client's end of input
    /// (an error frame before that is allowed).
    Close,
    /// A valid request that would change something (or open a stream): not sent.
    Skip,
}

/// Whether a request that decodes may be sent: it must change nothing and end.
fn harmless(r: &Request) -> bool {
    match r {
        Request::Hello(_) | Request::List(_) | Request::Status(_) | Request::Version(_) | Request::Cancel(_) => true,
        Request::Logs(l) => !l.follow,
        Request::Events(e) => !e.follow,
        Request::Start(t) | Request::Stop(t) | Request::Restart(t) => t.service != "web",
        Request::Signal(s) => s.service != "web",
        Request::Http(h) => h.service != "web",
        Request::Reload(_) | Request::Shutdown(_) | Request::LogRotate(_) => false,
        // Jobs: looking is harmless; spawning, waiting, attaching, feeding or signalling
        // a job is not (a job may exist, or a wait may not end).
        Request::JobStatus(_) | Request::JobList(_) => true,
        Request::Spawn(_)
        | Request::Wait(_)
        | Request::Retry(_)
        | Request::JobRm(_)
        | Request::Attach(_)
        | Request::Stdin(_)
        | Request::JobSignal(_)
        | Request::Resize(_) => false,
    }
}

/// What tend must make of `bytes` (the case, the sentinel appended), on a connection
/// that has (`greeted`) or has not said hello yet.
fn model(bytes: &[u8], mut greeted: bool) -> Expect {
    let mut d = Decoder::new(DEFAULT_MAX_FRAME);
    d.push(bytes);
    loop {
        let f = match d.next_frame() {
            Ok(Some(f)) => f,
            Ok(None) => return Expect::Close,
            Err(FrameError::ZeroLength | FrameError::TooLarge { .. }) => return Expect::ErrorThenClose,
        };
        if !greeted {
            match (f.kind, tend::proto::msg::decode_body::<Hello>(&f.body)) {
                (kind::HELLO, Ok(h)) if h.api == API_VERSION => greeted = true,
                _ => return Expect::ErrorThenClose,
            }
            continue;
        }
        if f.kind == kind::HELLO {
            return Expect::ErrorThenClose;
        }
        match Request::decode(f.kind, &f.body) {
            Err(_) => return Expect::ErrorThenClose,
            Ok(Request::Version(Plain { id: SENTINEL })) => return Expect::Answers,
            Ok(r) if !harmless(&r) => return Expect::Skip,
            Ok(_) => {}
        }
    }
}

/// What the daemon did with one case.
#[derive(Debug, Default)]
struct Seen {
    frames: usize,
    sentinel: bool,
    /// The last frame before the close was an error frame.
    last_error: bool,
}

/// Send `bytes` then the sentinel on a new connection (after a hello when `greet`),
/// half-close, and read every frame until the daemon closes.
fn run_case(sock: &std::path::Path, greet: bool, bytes: &[u8]) -> Result<Seen, String> {
    let mut r = Raw::connect(sock);
    if greet {
        r.hello();
    }
    let mut all = bytes.to_vec();
    all.extend_from_slice(&request(&Request::Version(Plain { id: SENTINEL })));
    // The daemon may close before it read everything: that is its right.
    let _ = r.try_send(&all);
    let _ = r.s.shutdown(std::net::Shutdown::Write);
    let mut seen = Seen::default();
    loop {
        match r.next() {
            Err(_) => return Ok(seen),
            Ok(f) => {
                let reply = Reply::decode(f.kind, &f.body).map_err(|e| format!("an undecodable reply: {e}"))?;
                seen.frames += 1;
                seen.last_error = false;
                match reply {
                    Reply::Version(v) if v.id == SENTINEL => seen.sentinel = true,
                    Reply::Error(e) if e.message.is_empty() => {
                        return Err(format!("an error without a message: {e:?}"))
                    }
                    Reply::Error(_) => seen.last_error = true,
                    _ => {}
                }
            }
        }
    }
}

/// Whether what the daemon did is what the model says.
fn judge(expect: Expect, seen: &Seen) -> Result<(), String> {
    match expect {
        Expect::Answers if seen.sentinel => Ok(()),
        Expect::Answers => Err(format!("the sentinel was not answered ({seen:?})")),
        Expect::ErrorThenClose if seen.sentinel => Err("a refused frame, yet the sentinel was answered".into()),
        Expect::ErrorThenClose if !seen.last_error => Err(format!("closed without an error frame ({seen:?})")),
        Expect::ErrorThenClose => Ok(()),
        Expect::Close if seen.sentinel => Err("an unfinished frame, yet the sentinel was answered".into()),
        Expect::Close => Ok(()),
        Expect::Skip => Ok(()),
    }
}

// --- a tiny msgpack writer, for bodies serde would never produce ------------------------

fn mp_str(s: &str) -> Vec<u8> {
    let mut v = Vec::new();
    match s.len() {
        n if n < 32 => v.push(0xa0 | n as u8),
        n if n < 256 => v.extend_from_slice(&[0xd9, n as u8]),
        n => {
            v.push(0xdb);
            v.extend_from_slice(&(n as u32).to_be_bytes());
        }
    }
    v.extend_from_slice(s.as_bytes());
    v
}

/// A map of (key, raw msgpack value) pairs.
fn mp_map(fields: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut v = vec![0x80 | fields.len() as u8];
    for (k, val) in fields {
        v.extend(mp_str(k));
        v.extend_from_slice(val);
    }
    v
}

fn frame(k: u8, body: &[u8]) -> Vec<u8> {
    support::frame(k, body)
}

/// The real requests the flipped and truncated cases start from: each one the daemon
/// answers without changing anything.
fn base_frames() -> Vec<(&'static str, Vec<u8>)> {
    let j = |k, v: serde_json::Value| frame(k, &named(&v));
    vec![
        ("list", j(kind::LIST, json!({"id": 1}))),
        ("status", j(kind::STATUS, json!({"id": 2, "service": "web"}))),
        ("status-unknown", j(kind::STATUS, json!({"id": 3, "service": "nosuch"}))),
        ("logs", j(kind::LOGS, json!({"id": 4, "service": "web", "stream": "stdout", "lines": 5}))),
        ("events", j(kind::EVENTS, json!({"id": 5, "from": 0, "follow": false}))),
        ("version", j(kind::VERSION, json!({"id": 6}))),
        ("cancel", j(kind::CANCEL, json!({"id": 7, "target": 99}))),
        ("stop-unknown", j(kind::STOP, json!({"id": 8, "service": "nosuch"}))),
        ("signal-unknown", j(kind::SIGNAL, json!({"id": 9, "service": "nosuch", "signal": "HUP"}))),
    ]
}

/// (name, greet first, bytes) of every generated case.
fn corpus() -> Vec<(String, bool, Vec<u8>)> {
    let mut out = Vec::new();
    let hello = hello_frame(API_VERSION);
    let mut bases: Vec<(&str, bool, Vec<u8>)> = vec![("hello", false, hello.clone())];
    bases.extend(base_frames().into_iter().map(|(n, b)| (n, true, b)));

    // Every byte flipped three ways, and every truncation.
    for (name, greet, b) in &bases {
        for i in 0..b.len() {
            for x in [0x01u8, 0x80, 0xff] {
                let mut m = b.clone();
                m[i] ^= x;
                out.push((format!("{name}: byte {i} ^ 0x{x:02x}"), *greet, m));
            }
        }
        for n in 1..b.len() {
            out.push((format!("{name}: first {n} bytes"), *greet, b[..n].to_vec()));
        }
    }

    // Length boundaries: real STATUS frames of every length around the maximum, and
    // prefixes that claim lengths up to 2^32 - 1.
    let m = DEFAULT_MAX_FRAME as usize;
    let status_body = |len: usize| {
        let mut b = mp_map(&[("id", vec![10]), ("service", mp_str(&"x".repeat(len)))]);
        let over = b.len() - len;
        b = mp_map(&[("id", vec![10]), ("service", mp_str(&"x".repeat(len - over)))]);
        assert_eq!(b.len(), len);
        b
    };
    for len in [m - 2, m - 1, m, m + 1, m + 2] {
        // `len` is the frame length: the type byte and the body.
        out.push((format!("frame length {len}"), true, frame(kind::STATUS, &status_body(len - 1))));
    }
    for len in [0u32, 1, 2, 1 << 16, (1 << 24) + 1, 1 << 31, u32::MAX - 1, u32::MAX] {
        let mut b = len.to_be_bytes().to_vec();
        b.extend_from_slice(&[kind::LIST, 0x81, 0xa2, b'i', b'd', 1]);
        out.push((format!("length prefix {len}"), true, b.clone()));
        out.push((format!("length prefix {len} before the hello"), false, b));
    }

    // Deep nesting, in a known field and in an unknown one, as arrays and as maps.
    for depth in (1..=24).chain([64, 1000, 100_000]) {
        for (what, open) in [("array", vec![0x91u8]), ("map", vec![0x81, 0xa1, b'k'])] {
            let mut nested: Vec<u8> = open.iter().copied().cycle().take(open.len() * depth).collect();
            nested.push(0xc0);
            let body = mp_map(&[("id", vec![11]), ("service", nested.clone())]);
            out.push((format!("{depth} deep {what} as service"), true, frame(kind::STATUS, &body)));
            let body = mp_map(&[("id", vec![12]), ("future", nested)]);
            out.push((format!("{depth} deep {what} in an unknown field"), true, frame(kind::LIST, &body)));
        }
    }

    // Every field of every request, holding a header that claims a huge length.
    let claims: Vec<(&str, u8)> =
        vec![("str32", 0xdb), ("bin32", 0xc6), ("array32", 0xdd), ("map32", 0xdf), ("ext32", 0xc9)];
    for (k, fields) in request_shapes() {
        for (i, (field, _)) in fields.iter().enumerate() {
            for (what, marker) in &claims {
                for n in [u32::MAX, 1 << 31, DEFAULT_MAX_FRAME + 1] {
                    let mut f = fields.clone();
                    let mut v = vec![*marker];
                    v.extend_from_slice(&n.to_be_bytes());
                    f[i].1 = v;
                    let name = format!("0x{k:02x}.{field} = {what} claiming {n}");
                    out.push((name, true, frame(k, &mp_map(&f))));
                }
            }
        }
        // The body itself a map or array claiming 2^32 - 1 entries.
        out.push((format!("0x{k:02x} body map32 of 2^32-1"), true, frame(k, &[0xdf, 0xff, 0xff, 0xff, 0xff])));
        out.push((format!("0x{k:02x} body array32 of 2^32-1"), true, frame(k, &[0xdd, 0xff, 0xff, 0xff, 0xff])));
    }

    // A wrong type in every field of every request.
    let wrong: Vec<(&str, Vec<u8>)> = vec![
        ("nil", vec![0xc0]),
        ("true", vec![0xc3]),
        ("-1", vec![0xff]),
        ("u64 max", [vec![0xcf], u64::MAX.to_be_bytes().to_vec()].concat()),
        ("float", [vec![0xcb], 1.5f64.to_be_bytes().to_vec()].concat()),
        ("string", mp_str("nosuch")),
        ("empty string", mp_str("")),
        ("bin", vec![0xc4, 2, 0xff, 0x00]),
        ("array", vec![0x92, 1, 2]),
        ("map", vec![0x81, 0xa1, b'a', 1]),
        ("ext", vec![0xd4, 1, 0]),
        ("reserved 0xc1", vec![0xc1]),
    ];
    for (k, fields) in request_shapes() {
        for (i, (field, _)) in fields.iter().enumerate() {
            for (what, v) in &wrong {
                let mut f = fields.clone();
                f[i].1 = v.clone();
                out.push((format!("0x{k:02x}.{field} = {what}"), true, frame(k, &mp_map(&f))));
            }
            // And the field missing.
            let mut f = fields.clone();
            f.remove(i);
            out.push((format!("0x{k:02x} without {field}"), true, frame(k, &mp_map(&f))));
        }
    }
    out
}

/// A message body's fields: (key, raw msgpack value).
type Fields = Vec<(&'static str, Vec<u8>)>;

/// Every request type with every field it has, at a harmless value (the service is
/// one that does not exist, so nothing can change whatever is accepted).
fn request_shapes() -> Vec<(u8, Fields)> {
    let id = || vec![0x0d];
    let svc = || mp_str("nosuch");
    vec![
        (kind::LIST, vec![("id", id())]),
        (kind::STATUS, vec![("id", id()), ("service", svc()), ("wait", vec![0xc2])]),
        (kind::START, vec![("id", id()), ("service", svc()), ("wait", vec![0xc2])]),
        (kind::STOP, vec![("id", id()), ("service", svc()), ("wait", vec![0xc2])]),
        (kind::RESTART, vec![("id", id()), ("service", svc()), ("wait", vec![0xc2])]),
        (kind::SIGNAL, vec![("id", id()), ("service", svc()), ("signal", mp_str("HUP")), ("group", vec![0xc2])]),
        (
            kind::LOGS,
            vec![
                ("id", id()),
                ("service", svc()),
                ("stream", mp_str("stdout")),
                ("lines", vec![5]),
                ("bytes", vec![0xc0]),
                ("follow", vec![0xc2]),
                ("since_us", vec![0]),
                ("until_us", vec![0xcd, 0x10, 0x00]),
            ],
        ),
        (kind::EVENTS, vec![("id", id()), ("from", vec![0]), ("follow", vec![0xc2])]),
        (kind::VERSION, vec![("id", id())]),
        (kind::CANCEL, vec![("id", id()), ("target", vec![99])]),
        (
            kind::REQUEST,
            vec![
                ("id", id()),
                ("service", svc()),
                ("method", mp_str("GET")),
                ("path", mp_str("/")),
                ("query", mp_str("")),
                ("headers", vec![0x90]),
                ("body", vec![0xc4, 0]),
            ],
        ),
    ]
}

/// A client that asks for the list every few milliseconds until told to stop, and
/// fails if any answer is missing or late.
fn bystander(sock: std::path::PathBuf, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<Result<u64, String>> {
    std::thread::spawn(move || {
        let mut r = Raw::from_stream(UnixStream::connect(&sock).map_err(|e| e.to_string())?);
        r.hello();
        let mut n = 0;
        while !stop.load(Ordering::Relaxed) {
            n += 1;
            r.req(&Request::List(Plain { id: n }));
            match r.next() {
                Ok(f) => match Reply::decode(f.kind, &f.body) {
                    Ok(Reply::List(l)) if l.id == n => {}
                    other => return Err(format!("request {n}: {other:?}")),
                },
                Err(c) => return Err(format!("request {n}: closed ({c:?})")),
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        Ok(n)
    })
}

#[test]
fn every_generated_bad_frame_is_refused_and_nothing_else_changes() {
    let dir = TestDir::new("hostile-frames");
    let cfg = format!("[service.web]\ncommand = \"echo $$ > {}/web.pid; echo hello; exec sleep 1000\"\n", dir.s());
    let tend = support::start_serving(&dir, &cfg);
    let sock = dir.join("tend.sock");
    let web = dir.wait_pid("web.pid");
    // Warm up (the first replies allocate their buffers), then measure.
    for _ in 0..3 {
        run_case(&sock, true, &[]).expect("warm-up");
    }
    let rss_before = rss_kib(tend.pid);
    let stop = Arc::new(AtomicBool::new(false));
    let other = bystander(sock.clone(), stop.clone());

    let cases = corpus();
    let t0 = Instant::now();
    let mut failures = Vec::new();
    let mut counts = std::collections::BTreeMap::new();
    let mut rss_peak = rss_before;
    for (i, (name, greet, bytes)) in cases.iter().enumerate() {
        let mut all = bytes.clone();
        all.extend_from_slice(&request(&Request::Version(Plain { id: SENTINEL })));
        let expect = model(&all, *greet);
        *counts.entry(format!("{expect:?}")).or_insert(0usize) += 1;
        if expect == Expect::Skip {
            continue;
        }
        match run_case(&sock, *greet, bytes).and_then(|seen| judge(expect, &seen)) {
            Ok(()) => {}
            Err(e) => failures.push(format!("{name}: expected {expect:?}: {e}")),
        }
        if i % 256 == 0 {
            rss_peak = rss_peak.max(rss_kib(tend.pid));
        }
        assert!(support::alive(tend.pid), "tend died at case {name}\n{}", tend.dump());
    }
    stop.store(true, Ordering::Relaxed);
    let answered = other.join().expect("bystander thread").unwrap_or_else(|e| panic!("the other client: {e}"));
    let rss_after = rss_kib(tend.pid);
    rss_peak = rss_peak.max(rss_after);
    eprintln!(
        "hostile frames: {} cases in {:.1}s ({counts:?}); the other client was answered {answered} times; \
         RSS {rss_before} -> {rss_after} KiB (peak {rss_peak})",
        cases.len(),
        t0.elapsed().as_secs_f64()
    );
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), cases.len(), failures.join("\n"));
    assert!(answered > 0, "the other client was never answered");
    // Nothing changed: the service is the same process, never restarted.
    assert_eq!(dir.read_pid("web.pid"), Some(web));
    assert!(support::alive(web));
    let st = support::status_json(&dir, "web");
    assert_eq!(st["restarts"], 0, "{st}");
    assert_eq!(st["state"], "running", "{st}");
    // Bounded memory: a 1 MiB frame was read whole, nothing else may stay.
    assert!(
        rss_peak < rss_before + 6 * 1024,
        "tend's RSS grew from {rss_before} KiB to {rss_peak} KiB over the corpus"
    );
}
