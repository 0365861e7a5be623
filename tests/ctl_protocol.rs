//! The control protocol on a raw Unix socket: the hello, request ids, every kind of bad
//! input (an error frame, then the connection closed, and nobody else affected), memory
//! that does not follow a length prefix, pipelining and many concurrent clients.

mod support;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use serde_json::json;
use support::{ctl, ctl_ok, frame, hello_frame, named, request, rss_kib, wait_until, Raw, Tend, TestDir, DEADLINE};
use tend::proto::msg::{kind, Cancel, ErrorCode, LogsReq, Plain, SignalReq, SignalSpec, Stream, Target, API_VERSION};
use tend::proto::{Reply, Request};

/// Start tend (a `web` sleeper and whatever `extra` adds) and wait until it answers.
#[track_caller]
fn start(dir: &TestDir, extra: &str) -> Tend {
    let cfg =
        format!("{extra}[service.web]\ncommand = \"echo $$ > {}/web.pid; echo hello; exec sleep 1000\"\n", dir.s());
    support::start_serving(dir, &cfg)
}

fn sock(dir: &TestDir) -> std::path::PathBuf {
    dir.join("tend.sock")
}

/// A connection that said hello.
#[track_caller]
fn greeted(dir: &TestDir) -> Raw {
    let mut r = Raw::connect(&sock(dir));
    r.hello();
    r
}

/// The daemon still serves a new client, raw and through `tend ls`.
#[track_caller]
fn still_serving(dir: &TestDir) {
    let mut r = greeted(dir);
    r.req(&Request::List(Plain { id: 4242 }));
    match r.reply() {
        Reply::List(l) => assert_eq!(l.id, 4242),
        other => panic!("expected a list reply, got {other:?}"),
    }
    let o = ctl_ok(dir, &["ls"]);
    assert!(o.out.contains("web"), "{}", o.show());
}

fn status(id: u64, service: &str) -> Request {
    Request::Status(Target { id, service: service.into(), wait: false })
}

#[test]
fn hello_then_requests_echo_their_ids() {
    let dir = TestDir::new("ctl-proto-hello");
    let tend = start(&dir, "");
    let mut r = Raw::connect(&sock(&dir));
    let w = r.hello();
    assert_eq!(w.api, API_VERSION);
    assert_eq!(w.pid, tend.pid as u32);
    assert_eq!(w.version, env!("CARGO_PKG_VERSION"));
    assert_eq!(w.max_frame, 1 << 20, "the default max_frame");
    for c in ["list", "status", "logs.follow", "events.follow", "cancel"] {
        assert!(w.capabilities.iter().any(|x| x == c), "capability {c} missing: {w:?}");
    }

    r.req(&Request::List(Plain { id: 77 }));
    match r.reply() {
        Reply::List(l) => {
            assert_eq!(l.id, 77);
            assert_eq!(l.services.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["web"]);
        }
        other => panic!("{other:?}"),
    }
    r.req(&status(u64::MAX, "web"));
    match r.reply() {
        Reply::Status(s) => assert_eq!((s.id, s.service.name.as_str()), (u64::MAX, "web")),
        other => panic!("{other:?}"),
    }
    r.req(&Request::Version(Plain { id: 0 }));
    match r.reply() {
        Reply::Version(v) => assert_eq!((v.id, v.pid, v.api), (0, tend.pid as u32, API_VERSION)),
        other => panic!("{other:?}"),
    }
    // A request error is answered with the request's id, and the connection stays.
    r.req(&status(9, "nope"));
    match r.reply() {
        Reply::Error(e) => {
            assert_eq!((e.id, e.code), (9, ErrorCode::UnknownService), "{e:?}");
            assert!(e.message.contains("nope"), "{e:?}");
        }
        other => panic!("{other:?}"),
    }
    r.req(&Request::Signal(SignalReq { id: 10, service: "web".into(), signal: SignalSpec::Number(-3), group: false }));
    match r.reply() {
        Reply::Error(e) => assert_eq!((e.id, e.code), (10, ErrorCode::BadSignal), "{e:?}"),
        other => panic!("{other:?}"),
    }
    // Unknown fields are ignored; a body built by hand as a plain map works.
    r.send(&frame(kind::STATUS, &named(&json!({ "id": 11, "service": "web", "since_api_9": [1, 2, { "x": 3 }] }))));
    match r.reply() {
        Reply::Status(s) => assert_eq!(s.id, 11),
        other => panic!("{other:?}"),
    }
    // A stream and its cancel.
    let logs = LogsReq { id: 20, service: "web".into(), stream: Stream::Stdout, follow: true, ..Default::default() };
    r.req(&Request::Logs(logs));
    match r.reply() {
        Reply::LogData(d) => assert_eq!((d.id, d.data.as_slice()), (20, &b"hello\n"[..])),
        other => panic!("{other:?}"),
    }
    r.req(&Request::Cancel(Cancel { id: 21, target: 20 }));
    assert!(matches!(r.reply(), Reply::End(e) if e.id == 20));
    assert!(matches!(r.reply(), Reply::Done(d) if d.id == 21));
    r.req(&Request::Cancel(Cancel { id: 22, target: 20 }));
    assert!(matches!(r.reply(), Reply::Error(e) if e.id == 22 && e.code == ErrorCode::UnknownStream));
    r.req(&Request::List(Plain { id: 23 }));
    assert!(matches!(r.reply(), Reply::List(l) if l.id == 23));
}

#[test]
fn a_request_before_the_hello_is_refused_and_closed() {
    let dir = TestDir::new("ctl-proto-nohello");
    let _tend = start(&dir, "");
    let mut r = Raw::connect(&sock(&dir));
    r.req(&Request::List(Plain { id: 5 }));
    let e = r.expect_error_then_close(ErrorCode::HelloRequired);
    assert_eq!(e.id, 5, "{e:?}");
    // An unknown type first is the same mistake.
    let mut r = Raw::connect(&sock(&dir));
    r.send(&frame(0x7f, &named(&json!({ "id": 1 }))));
    r.expect_error_then_close(ErrorCode::HelloRequired);
    still_serving(&dir);
}

#[test]
fn a_wrong_api_version_is_refused_and_closed() {
    let dir = TestDir::new("ctl-proto-version");
    let _tend = start(&dir, "");
    for api in [0, 1, 3, 999, u32::MAX] {
        let mut r = Raw::connect(&sock(&dir));
        r.send(&hello_frame(api));
        let e = r.expect_error_then_close(ErrorCode::UnsupportedVersion);
        assert!(e.message.contains(&api.to_string()), "the message does not say which version: {e:?}");
    }
    still_serving(&dir);
}

#[test]
fn garbage_gets_an_error_frame_then_close() {
    let dir = TestDir::new("ctl-proto-garbage");
    let _tend = start(&dir, "");
    let hello = hello_frame(API_VERSION);
    let mut deep = vec![0x82, 0xa2, b'i', b'd', 1, 0xa1, b'x'];
    deep.extend(std::iter::repeat_n(0x91, 100_000));
    deep.push(0xc0);
    let mut trailing = named(&json!({ "id": 1 }));
    trailing.push(0xc0);
    // (name, say hello first, bytes, expected code)
    let cases: Vec<(&str, bool, Vec<u8>, ErrorCode)> = vec![
        ("HTTP", false, b"GET / HTTP/1.1\r\nHost: tend\r\n\r\n".to_vec(), ErrorCode::FrameTooLarge),
        ("zero length", false, vec![0, 0, 0, 0, 1, 2, 3], ErrorCode::BadRequest),
        ("zero length after hello", true, vec![0, 0, 0, 0], ErrorCode::BadRequest),
        ("hello not msgpack", false, frame(kind::HELLO, b"\xc1\xc1 not msgpack"), ErrorCode::BadRequest),
        ("hello empty body", false, frame(kind::HELLO, b""), ErrorCode::BadRequest),
        ("hello without api", false, frame(kind::HELLO, &named(&json!({ "client": "x" }))), ErrorCode::BadRequest),
        ("unknown type", true, frame(0x7f, &named(&json!({ "id": 1 }))), ErrorCode::UnknownType),
        ("a server type", true, frame(kind::WELCOME, &named(&json!({ "id": 1 }))), ErrorCode::UnknownType),
        ("status without service", true, frame(kind::STATUS, &named(&json!({ "id": 3 }))), ErrorCode::BadRequest),
        ("second hello", true, hello.clone(), ErrorCode::BadRequest),
        ("trailing bytes", true, frame(kind::LIST, &trailing), ErrorCode::BadRequest),
        ("100k deep", true, frame(kind::LIST, &deep), ErrorCode::BadRequest),
        ("bad enum", true, frame(kind::LOGS, &named(&json!({"id": 1, "service": "web", "stream": "both"}))), {
            ErrorCode::BadRequest
        }),
        (
            "str32 of 4 GiB",
            true,
            frame(
                kind::STATUS,
                &[
                    0x82, 0xa2, b'i', b'd', 1, 0xa7, b's', b'e', b'r', b'v', b'i', b'c', b'e', 0xdb, 0xff, 0xff, 0xff,
                    0xff,
                ],
            ),
            ErrorCode::BadRequest,
        ),
    ];
    for (name, greet, bytes, code) in cases {
        let mut r = Raw::connect(&sock(&dir));
        if greet {
            r.hello();
        }
        // The server may close before it has read everything: that is its right.
        let _ = r.try_send(&bytes);
        let reply = match r.next() {
            Ok(f) => Reply::decode(f.kind, &f.body).unwrap_or_else(|e| panic!("{name}: undecodable reply: {e}")),
            Err(c) => panic!("{name}: closed ({c:?}) without an error frame"),
        };
        match reply {
            Reply::Error(e) => assert_eq!(e.code, code, "{name}: {e:?}"),
            other => panic!("{name}: expected an error frame, got {other:?}"),
        }
        assert!(r.next().is_err(), "{name}: the connection stayed open");
    }
    // A bad body's id is echoed when it can be read.
    let mut r = greeted(&dir);
    r.send(&frame(kind::STATUS, &named(&json!({ "id": 31 }))));
    let e = r.expect_error_then_close(ErrorCode::BadRequest);
    assert_eq!(e.id, 31, "{e:?}");
    still_serving(&dir);
}

#[test]
fn an_oversized_length_is_refused_without_allocating() {
    let dir = TestDir::new("ctl-proto-big");
    let tend = start(&dir, "");
    still_serving(&dir);
    let before = rss_kib(tend.pid);

    for i in 0..100 {
        let mut r = Raw::connect(&sock(&dir));
        if i % 2 == 1 {
            r.hello();
        }
        let _ = r.try_send(&[0xff, 0xff, 0xff, 0xff, kind::LIST, 0x81]);
        let e = r.expect_error_then_close(ErrorCode::FrameTooLarge);
        assert!(e.message.contains("4294967295"), "{e:?}");
    }
    // One byte over the maximum.
    let mut r = greeted(&dir);
    let _ = r.try_send(&((1u32 << 20) + 1).to_be_bytes());
    r.expect_error_then_close(ErrorCode::FrameTooLarge);

    // Frames that claim the maximum and never come: nothing is reserved for them.
    let mut held = Vec::new();
    for _ in 0..64 {
        let mut r = greeted(&dir);
        let mut b = (1u32 << 20).to_be_bytes().to_vec();
        b.push(kind::LIST);
        b.extend_from_slice(&[0x81, 0xa2, b'i', b'd']);
        r.send(&b);
        held.push(r);
    }
    still_serving(&dir);
    let after = rss_kib(tend.pid);
    assert!(
        after < before + 4 * 1024,
        "tend's RSS grew from {before} KiB to {after} KiB after oversized and unfinished frames"
    );
    drop(held);
    still_serving(&dir);
}

/// A STATUS body of exactly `len` bytes (a long service name).
fn status_body(id: u64, len: usize) -> Vec<u8> {
    (1..len)
        .map(|n| named(&json!({ "id": id, "service": "x".repeat(n) })))
        .find(|b| b.len() == len)
        .unwrap_or_else(|| panic!("no body of {len} bytes"))
}

#[test]
fn the_configured_max_frame_is_enforced() {
    let dir = TestDir::new("ctl-proto-maxframe");
    let _tend = start(&dir, "[control]\nmax_frame = \"1KiB\"\n");
    let mut r = Raw::connect(&sock(&dir));
    assert_eq!(r.hello().max_frame, 1024);
    // Exactly the maximum is fine (a status for a long name: unknown service).
    r.send(&frame(kind::STATUS, &status_body(1, 1023)));
    assert!(matches!(r.reply(), Reply::Error(e) if e.code == ErrorCode::UnknownService && e.id == 1));
    // One more byte is too large.
    let _ = r.try_send(&frame(kind::STATUS, &status_body(2, 1024)));
    r.expect_error_then_close(ErrorCode::FrameTooLarge);
    still_serving(&dir);
}

#[test]
fn a_half_frame_does_not_stall_other_clients() {
    let dir = TestDir::new("ctl-proto-half");
    let _tend = start(&dir, "");
    // One client stops in the middle of a length prefix, another in a body, a third
    // before finishing its hello.
    let mut a = greeted(&dir);
    let whole = request(&status(1, "web"));
    a.send(&whole[..2]);
    let mut b = greeted(&dir);
    b.send(&whole[..whole.len() - 3]);
    let mut c = Raw::connect(&sock(&dir));
    c.send(&hello_frame(API_VERSION)[..6]);

    for _ in 0..3 {
        still_serving(&dir);
    }
    // They finish, and get their answers.
    a.send(&whole[2..]);
    b.send(&whole[whole.len() - 3..]);
    c.send(&hello_frame(API_VERSION)[6..]);
    for r in [&mut a, &mut b] {
        match r.reply() {
            Reply::Status(s) => assert_eq!(s.id, 1),
            other => panic!("{other:?}"),
        }
    }
    assert!(matches!(c.reply(), Reply::Welcome(_)));
    // A byte at a time works too.
    for byte in request(&status(2, "web")) {
        c.send(&[byte]);
    }
    assert!(matches!(c.reply(), Reply::Status(s) if s.id == 2));
}

#[test]
fn ten_thousand_pipelined_requests_are_answered_in_order() {
    const N: u64 = 10_000;
    let dir = TestDir::new("ctl-proto-pipeline");
    let _tend = start(&dir, "");
    let mut s = UnixStream::connect(sock(&dir)).expect("connect");
    s.set_read_timeout(Some(DEADLINE)).expect("timeout");
    let mut w = s.try_clone().expect("clone");
    let writer = std::thread::spawn(move || {
        let mut buf = hello_frame(API_VERSION);
        for id in 1..=N {
            let r = if !id.is_multiple_of(2) { status(id, "web") } else { Request::List(Plain { id }) };
            buf.extend_from_slice(&request(&r));
        }
        w.write_all(&buf)
    });
    let mut dec = tend::proto::Decoder::new(tend::proto::frame::CLIENT_MAX_FRAME);
    let mut buf = vec![0u8; 64 * 1024];
    let mut got = 0u64;
    let mut welcomed = false;
    while got < N {
        while let Some(f) = dec.next_frame().expect("framing") {
            let r = Reply::decode(f.kind, &f.body).expect("decode");
            if !welcomed {
                assert!(matches!(r, Reply::Welcome(_)), "{r:?}");
                welcomed = true;
                continue;
            }
            got += 1;
            match r {
                Reply::Status(st) if !got.is_multiple_of(2) => assert_eq!(st.id, got),
                Reply::List(l) if got.is_multiple_of(2) => assert_eq!(l.id, got),
                other => panic!("reply #{got}: {other:?}"),
            }
        }
        if got == N {
            break;
        }
        let n = s.read(&mut buf).unwrap_or_else(|e| panic!("after {got} replies: {e}"));
        assert!(n > 0, "the daemon closed the connection after {got} of {N} replies");
        dec.push(&buf[..n]);
    }
    writer.join().expect("writer").expect("writing the requests");
    assert_eq!(dec.pending(), 0, "more bytes than replies");
    still_serving(&dir);
}

#[test]
fn a_thousand_concurrent_connections_are_all_answered() {
    const N: usize = 1000;
    // Both sides need N fds and some: tend inherits the limit from this process.
    if !support::raise_nofile(4096) {
        support::skip("a_thousand_concurrent_connections_are_all_answered", "RLIMIT_NOFILE cannot be raised to 4096");
        return;
    }
    let dir = TestDir::new("ctl-proto-1000");
    let _tend = start(&dir, "");
    let mut conns: Vec<Raw> = (0..N).map(|_| Raw::connect(&sock(&dir))).collect();
    // All connected at once; now each says hello and asks, before any answer is read.
    for (i, r) in conns.iter_mut().enumerate() {
        let mut b = hello_frame(API_VERSION);
        b.extend_from_slice(&request(&Request::List(Plain { id: i as u64 + 1 })));
        r.send(&b);
    }
    for (i, r) in conns.iter_mut().enumerate() {
        assert!(matches!(r.reply(), Reply::Welcome(_)), "connection {i}");
        match r.reply() {
            Reply::List(l) => assert_eq!(l.id, i as u64 + 1, "connection {i}"),
            other => panic!("connection {i}: {other:?}"),
        }
    }
    // And once more on every connection, still all open.
    for (i, r) in conns.iter_mut().enumerate() {
        r.req(&status(i as u64 + 5000, "web"));
    }
    for (i, r) in conns.iter_mut().enumerate() {
        assert!(matches!(r.reply(), Reply::Status(s) if s.id == i as u64 + 5000), "connection {i}");
    }
    drop(conns);
    still_serving(&dir);
}

#[test]
fn connections_beyond_max_clients_are_told_busy() {
    let dir = TestDir::new("ctl-proto-busy");
    let _tend = start(&dir, "[control]\nmax_clients = 3\n");
    let held: Vec<Raw> = (0..3).map(|_| greeted(&dir)).collect();
    let mut extra = Raw::connect(&sock(&dir));
    let _ = extra.try_send(&hello_frame(API_VERSION));
    let e = extra.expect_error_then_close(ErrorCode::Busy);
    assert!(e.message.contains("max_clients"), "{e:?}");
    // `tend ls` reports the refusal itself (busy: exit 1), not a broken connection.
    let o = ctl(&dir, &["ls"]);
    assert!(o.err.contains("too many connections"), "the client did not report why it was refused\n{}", o.show());
    assert_eq!(o.code, Some(1), "{}", o.show());
    drop(held);
    // The slots are free again once the connections are gone.
    wait_until(DEADLINE, "a free slot", || ctl(&dir, &["ls"]).code == Some(0));
}

#[test]
fn a_client_that_never_reads_cannot_grow_the_daemon() {
    let dir = TestDir::new("ctl-proto-noread");
    let tend = start(&dir, "");
    still_serving(&dir);
    let before = rss_kib(tend.pid);
    // 200,000 list requests (3 MiB) would be ~100 MiB of replies: tend must stop
    // reading this client once its queue is full, not buffer them.
    let s = UnixStream::connect(sock(&dir)).expect("connect");
    let mut w = s.try_clone().expect("clone");
    let writer = std::thread::spawn(move || {
        let mut buf = hello_frame(API_VERSION);
        for id in 1..=200_000 {
            buf.extend_from_slice(&request(&Request::List(Plain { id })));
        }
        w.write_all(&buf)
    });
    // The writer blocks once tend stops reading; meanwhile tend serves everyone else.
    let mut rss_max = 0;
    for _ in 0..20 {
        still_serving(&dir);
        rss_max = rss_max.max(rss_kib(tend.pid));
    }
    assert!(!writer.is_finished(), "tend read all 200,000 requests of a client that reads nothing");
    assert!(rss_max < before + 8 * 1024, "tend's RSS grew from {before} KiB to {rss_max} KiB");
    // Closing unblocks the writer (EPIPE) and frees the connection.
    s.shutdown(std::net::Shutdown::Both).expect("shutdown");
    let _ = writer.join().expect("writer");
    still_serving(&dir);
}

/// CPU time (user + system) of `pid`, in clock ticks.
fn cpu_ticks(pid: i32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let f: Vec<&str> = s.get(s.rfind(')').map_or(0, |i| i + 2)..).unwrap_or("").split_whitespace().collect();
    f.get(11).and_then(|u| u.parse::<u64>().ok()).unwrap_or(0)
        + f.get(12).and_then(|u| u.parse::<u64>().ok()).unwrap_or(0)
}

#[test]
fn running_out_of_fds_pauses_accepting_and_recovers() {
    let dir = TestDir::new("ctl-proto-emfile");
    let tend = start(&dir, "");
    still_serving(&dir);
    // Leave tend room for 10 more fds.
    let open = std::fs::read_dir(format!("/proc/{}/fd", tend.pid)).expect("fd dir").count() as u64;
    let mut old = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    let none = std::ptr::null::<libc::rlimit>();
    // SAFETY: a valid rlimit out-pointer; reading another process's limit.
    let r = unsafe { libc::syscall(libc::SYS_prlimit64, tend.pid, libc::RLIMIT_NOFILE, none, &mut old) };
    assert_eq!(r, 0, "prlimit: {}", std::io::Error::last_os_error());
    let lim = libc::rlimit { rlim_cur: open + 10, rlim_max: old.rlim_max };
    // SAFETY: a valid rlimit; lowering another process's soft limit.
    let r = unsafe { libc::syscall(libc::SYS_prlimit64, tend.pid, libc::RLIMIT_NOFILE, &lim, none) };
    assert_eq!(r, 0, "prlimit: {}", std::io::Error::last_os_error());

    // 40 clients: some get in, the rest wait in the listen queue.
    let mut conns: Vec<Raw> = (0..40).map(|_| Raw::connect(&sock(&dir))).collect();
    for r in conns.iter_mut() {
        r.send(&hello_frame(API_VERSION));
    }
    // Blocked, tend waits rather than spins (a busy loop would burn a core).
    let t0 = cpu_ticks(tend.pid);
    std::thread::sleep(Duration::from_secs(1));
    let burnt = cpu_ticks(tend.pid) - t0;
    assert!(burnt < 50, "tend used {burnt} ticks of CPU in a second while out of fds");
    tend.wait_err("accepting control connections failed (out of file descriptors?)");

    // The first 30 leave; the last 10, still queued, must get in with no new connection
    // arriving to wake the listener.
    let mut last: Vec<Raw> = conns.split_off(30);
    drop(conns);
    for (i, r) in last.iter_mut().enumerate() {
        assert!(matches!(r.reply(), Reply::Welcome(_)), "queued connection {i} was never served");
        r.req(&Request::List(Plain { id: 1 }));
        assert!(matches!(r.reply(), Reply::List(_)), "connection {i}");
    }
    drop(last);
    still_serving(&dir);
}

#[test]
fn a_half_closed_client_still_gets_its_replies() {
    let dir = TestDir::new("ctl-proto-halfclose");
    let _tend = start(&dir, "");
    for round in 0..5 {
        // Send, then shut our writing side (as `nc -N` or a one-shot script does).
        let mut r = Raw::connect(&sock(&dir));
        let mut b = hello_frame(API_VERSION);
        b.extend(request(&Request::List(Plain { id: 5 })));
        b.extend(request(&status(6, "web")));
        r.send(&b);
        r.s.shutdown(std::net::Shutdown::Write).expect("shutdown");
        assert!(matches!(r.reply(), Reply::Welcome(_)), "round {round}");
        assert!(matches!(r.reply(), Reply::List(l) if l.id == 5), "round {round}: no reply to the list");
        assert!(matches!(r.reply(), Reply::Status(s) if s.id == 6), "round {round}: no reply to the status");
        assert!(r.next().is_err(), "round {round}: the connection stayed open after the client's EOF");
    }
    still_serving(&dir);
}

#[test]
fn requests_before_a_bad_frame_are_answered_first() {
    let dir = TestDir::new("ctl-proto-then-bad");
    let _tend = start(&dir, "");
    let mut r = Raw::connect(&sock(&dir));
    let mut b = hello_frame(API_VERSION);
    b.extend(request(&Request::List(Plain { id: 5 })));
    b.extend(frame(0x7f, &named(&json!({ "id": 6 }))));
    r.send(&b);
    assert!(matches!(r.reply(), Reply::Welcome(_)));
    match r.reply() {
        Reply::List(l) => assert_eq!(l.id, 5),
        other => panic!("the valid request before the bad frame got {other:?} instead of its reply"),
    }
    r.expect_error_then_close(ErrorCode::UnknownType);
    still_serving(&dir);
}

/// Wait until tend times out a fresh connection that never says hello: by then its
/// periodic check has also looked at every connection whose last input is older.
#[track_caller]
fn wait_for_an_input_timeout(dir: &TestDir) {
    let mut probe = Raw::connect(&sock(dir));
    probe.s.set_read_timeout(Some(Duration::from_secs(40))).expect("timeout");
    let e = probe.expect_error_then_close(ErrorCode::BadRequest);
    assert!(e.message.contains("no hello"), "{e:?}");
}

#[test]
fn idle_connections_and_followers_are_not_timed_out() {
    let dir = TestDir::new("ctl-proto-idle");
    let _tend = start(&dir, "");
    let mut idle = greeted(&dir);
    let mut follower = greeted(&dir);
    follower.req(&Request::Events(tend::proto::msg::EventsReq { id: 1, from: None, follow: true }));
    wait_for_an_input_timeout(&dir);

    idle.req(&Request::List(Plain { id: 2 }));
    assert!(matches!(idle.reply(), Reply::List(l) if l.id == 2), "the idle connection was closed");
    ctl_ok(&dir, &["restart", "web"]);
    match follower.reply() {
        Reply::Event(e) => assert_eq!((e.id, e.event.service.as_str()), (1, "web"), "{e:?}"),
        other => panic!("the idle follower got {other:?}"),
    }
}

#[test]
fn a_pipeliner_paused_by_tend_is_not_timed_out() {
    const N: u64 = 50_000;
    let dir = TestDir::new("ctl-proto-paused");
    let _tend = start(&dir, "");
    // A client whose pipelined requests tend stops reading because it does not read its
    // replies yet: tend holds undecoded frames of it, through no fault of the client.
    let s = UnixStream::connect(sock(&dir)).expect("connect");
    let mut w = s.try_clone().expect("clone");
    let writer = std::thread::spawn(move || {
        let mut buf = hello_frame(API_VERSION);
        for id in 1..=N {
            buf.extend_from_slice(&request(&Request::List(Plain { id })));
        }
        w.write_all(&buf)
    });
    // Time for tend to read up to its high-water mark and pause.
    std::thread::sleep(Duration::from_secs(1));
    wait_for_an_input_timeout(&dir);

    // The pipeliner gets every reply, in order, and no error.
    let mut reader = Raw::from_stream(s);
    assert!(matches!(reader.reply(), Reply::Welcome(_)));
    for id in 1..=N {
        match reader.reply() {
            Reply::List(l) => assert_eq!(l.id, id),
            other => panic!("reply #{id} of a slow-reading pipeliner: {other:?}"),
        }
    }
    writer.join().expect("writer").expect("writing the requests");
    still_serving(&dir);
}
