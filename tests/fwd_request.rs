//! `tend request` and the REQUEST control operation, from the outside: a real upstream
//! (Python, HTTP/1.1 on a Unix socket), the exit codes, the availability and counters
//! in `tend status`.

mod fwd;
mod support;

use std::time::{Duration, Instant};

use fwd::{upstream_service, wait_ready};
use support::{ctl, ctl_ok, start_serving, status_json, TestDir};

fn start(name: &str, forward: &str) -> (TestDir, support::Tend) {
    let dir = TestDir::new(name);
    let cfg = format!(
        "[control]\nmax_frame = \"4MiB\"\n[forward]\n{forward}\n\n{}\n[service.plain]\ncommand = \"exec sleep 1000\"\n",
        upstream_service(&dir, "web", "request_timeout = \"1s\"")
    );
    let tend = start_serving(&dir, &cfg);
    wait_ready(&dir);
    (dir, tend)
}

#[test]
fn get_post_headers_and_bodies() {
    let (dir, _tend) = start("req-bodies", "");
    let o = ctl_ok(&dir, &["request", "web", "/echo?x=1", "-H", "X-Test: yes"]);
    let v: serde_json::Value = serde_json::from_str(&o.out).expect("JSON body");
    assert_eq!((v["method"].as_str(), v["path"].as_str()), (Some("GET"), Some("/echo?x=1")));
    assert_eq!(v["headers"]["X-Test"], "yes");
    assert_eq!(v["body_len"], 0);
    // -d TEXT is a POST; -d @FILE of 1 MiB; -d - from stdin.
    let o = ctl_ok(&dir, &["request", "web", "/echo", "-d", "hello"]);
    let v: serde_json::Value = serde_json::from_str(&o.out).expect("JSON body");
    assert_eq!((v["method"].as_str(), v["body_len"].as_u64()), (Some("POST"), Some(5)));
    std::fs::write(dir.join("big"), vec![b'q'; 1 << 20]).expect("write");
    let big = format!("@{}", dir.join("big").display());
    let o = ctl_ok(&dir, &["request", "web", "/echo", "-X", "PUT", "-d", &big]);
    let v: serde_json::Value = serde_json::from_str(&o.out).expect("JSON body");
    assert_eq!((v["method"].as_str(), v["body_len"].as_u64()), (Some("PUT"), Some(1 << 20)));
    let mut cmd = support::ctl_command(&dir, &["request", "web", "/echo", "-d", "-"]);
    cmd.stdin(std::fs::File::open(dir.join("big")).expect("open"));
    let o = support::run_output(cmd, support::DEADLINE);
    assert_eq!(o.code, Some(0), "{}", o.show());
    assert!(o.out.contains("\"body_len\": 1048576"), "{}", o.show());
    // A 1 MiB response, a chunked one, a close-delimited one.
    assert_eq!(ctl_ok(&dir, &["request", "web", "/big?n=1048576"]).out.len(), 1 << 20);
    assert_eq!(ctl_ok(&dir, &["request", "web", "/chunked"]).out, "one,two,three");
    let o = ctl_ok(&dir, &["request", "web", "/close", "--include"]);
    assert!(o.out.starts_with("HTTP/1.1 200 OK\r\n"), "{}", o.show());
    assert!(o.out.ends_with("\r\n\r\nuntil the end\n"), "{}", o.show());
    let o = ctl_ok(&dir, &["request", "web", "/big?n=2", "--json"]);
    let v: serde_json::Value = serde_json::from_str(o.out.trim()).expect("JSON");
    assert_eq!((v["status"].as_u64(), v["body"].as_str()), (Some(200), Some("xx")));
    // Status and the counters.
    let s = status_json(&dir, "web");
    assert_eq!(s["available"], true, "{s}");
    assert!(s["socket"].as_str().unwrap_or("").ends_with("web.sock"), "{s}");
    assert!(s["requests"].as_u64().unwrap_or(0) >= 8, "{s}");
    assert_eq!(s.get("request_errors").and_then(|v| v.as_u64()).unwrap_or(0), 0, "absent or 0 when none failed: {s}");
    assert!(s["latency_p50_us"].as_u64().is_some() && s["latency_p99_us"].as_u64().is_some(), "{s}");
    let ls = ctl_ok(&dir, &["ls"]).out;
    assert!(ls.lines().next().unwrap_or("").contains("AVAIL"), "{ls}");
}

#[test]
fn exit_codes_and_errors() {
    let (dir, _tend) = start("req-codes", "");
    // 4xx/5xx from the service: the body is printed, exit 9.
    let o = ctl(&dir, &["request", "web", "/nope"]);
    assert_eq!(o.code, Some(9), "{}", o.show());
    assert!(o.out.contains("not found") && o.err.contains("web answered 404"), "{}", o.show());
    // Garbage from the service: bad gateway, exit 1.
    let o = ctl(&dir, &["request", "web", "/garbage"]);
    assert_eq!(o.code, Some(1), "{}", o.show());
    assert!(o.err.contains("web: malformed response head"), "{}", o.show());
    // Unknown service, a service without a socket, bad input.
    assert_eq!(ctl(&dir, &["request", "nope", "/"]).code, Some(4));
    let o = ctl(&dir, &["request", "plain", "/"]);
    assert_eq!(o.code, Some(1), "{}", o.show());
    assert!(o.err.contains("plain has no socket"), "{}", o.show());
    assert_eq!(ctl(&dir, &["request", "web", "/", "-H", "no colon"]).code, Some(2));
    assert_eq!(ctl(&dir, &["request", "web", "nopath"]).code, Some(2));
    let o = ctl(&dir, &["request", "web", "/", "-H", "Bad Name: x"]);
    assert_eq!(o.code, Some(7), "{}", o.show());
    // Stopped: tend answers for it, exit 10.
    ctl_ok(&dir, &["stop", "web"]);
    let o = ctl(&dir, &["request", "web", "/echo"]);
    assert_eq!(o.code, Some(10), "{}", o.show());
    assert!(o.err.contains("web is stopped; see its logs"), "{}", o.show());
    let s = status_json(&dir, "web");
    assert_eq!((s["available"].as_bool(), s["unavailable"].as_str()), (Some(false), Some("web is stopped")));
}

#[test]
fn timeout_while_others_flow() {
    let (dir, _tend) = start("req-timeout", "");
    let t0 = Instant::now();
    let d2 = dir.path().to_path_buf();
    let hang = std::thread::spawn(move || {
        let dir = TestDir::new("req-timeout-client");
        let mut cmd = support::ctl_command(&dir, &["request", "web", "/hang"]);
        cmd.env("TEND_SOCKET", d2.join("tend.sock"));
        (support::run_output(cmd, support::DEADLINE), t0.elapsed())
    });
    std::thread::sleep(Duration::from_millis(200));
    for _ in 0..3 {
        ctl_ok(&dir, &["request", "web", "/echo"]);
    }
    let (o, took) = hang.join().expect("thread");
    assert_eq!(o.code, Some(8), "{}", o.show());
    assert!(o.err.contains("no response within 1.000s"), "{}", o.show());
    assert!(took >= Duration::from_millis(900) && took < Duration::from_secs(4), "{took:?}");
    assert_eq!(status_json(&dir, "web")["request_errors"], 1);
}

#[test]
fn busy_when_the_queue_is_full() {
    let (dir, _tend) = start("req-busy", "workers = 1\nqueue = 1");
    let spawn = |path: &'static str| {
        let cmd = support::ctl_command(&dir, &["request", "web", path]);
        support::Bg::spawn(cmd)
    };
    let mut a = spawn("/slow?ms=800");
    std::thread::sleep(Duration::from_millis(200));
    let mut b = spawn("/slow?ms=10");
    std::thread::sleep(Duration::from_millis(200));
    let o = ctl(&dir, &["request", "web", "/echo"]);
    assert_eq!(o.code, Some(1), "{}", o.show());
    assert!(o.err.contains("tend is busy"), "{}", o.show());
    assert!(a.wait_timeout(support::DEADLINE).is_some_and(|s| s.success()), "{}", a.dump());
    assert!(b.wait_timeout(support::DEADLINE).is_some_and(|s| s.success()), "{}", b.dump());
}

#[test]
fn socket_that_refuses_makes_the_service_unavailable() {
    let dir = TestDir::new("req-refuse");
    let sock = dir.join("late.sock").display().to_string();
    // Running at once (no readiness), but its socket appears only after 1.5 s.
    let cfg = format!(
        "[service.late]\ncommand = [\"python3\", \"{}\", \"{sock}\", \"--delay\", \"1.5\"]\nsocket = \"{sock}\"\n",
        fwd::upstream_py()
    );
    let _tend = start_serving(&dir, &cfg);
    let s = status_json(&dir, "late");
    assert_eq!(s["state"], "running");
    assert_eq!(s["available"], false, "{s}");
    assert!(s["unavailable"].as_str().unwrap_or("").contains("does not exist"), "{s}");
    let o = ctl(&dir, &["request", "late", "/echo"]);
    assert_eq!(o.code, Some(10), "{}", o.show());
    assert!(o.err.contains("late is running, but its socket"), "{}", o.show());
    assert!(
        fwd::eventually(Duration::from_secs(10), || ctl(&dir, &["request", "late", "/echo"]).code == Some(0)),
        "the socket never became available"
    );
    assert_eq!(status_json(&dir, "late")["available"], true);
}
