//! The HTTP ingress, from the outside: a real upstream (Python, HTTP/1.1 on a Unix
//! socket) behind `[ingress]`, driven with curl and with raw TCP connections.

mod fwd;
mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use fwd::{free_port, get, upstream_service, wait_ready, Client};
use support::{ctl_ok, start_serving, Tend, TestDir};

fn config(dir: &TestDir, port: u16, extra: &str, svc_extra: &str) -> String {
    format!(
        "[forward]\n{}\n{extra}\n[ingress]\nlisten = \"127.0.0.1:{port}\"\n\
         routes = {{ \"/\" = \"web\", \"/api\" = \"api\", \"other.test/\" = \"api\" }}\n\
         max_body = \"2MiB\"\n\n{}{}",
        if extra.contains("request_timeout") { "" } else { "request_timeout = \"1s\"" },
        upstream_service(dir, "web", svc_extra),
        upstream_service(dir, "api", "")
    )
}

fn start(name: &str, extra: &str, svc_extra: &str) -> (TestDir, Tend, u16) {
    let dir = TestDir::new(name);
    let port = free_port();
    let tend = start_serving(&dir, &config(&dir, port, extra, svc_extra));
    wait_ready(&dir);
    (dir, tend, port)
}

/// curl ARGS against the ingress; returns (status code, body).
fn curl(args: &[&str]) -> (String, Vec<u8>) {
    let out = Command::new("curl")
        .args(["-s", "-S", "--max-time", "10", "-o", "-", "-w", "\n%{http_code}"])
        .args(args)
        .output()
        .expect("running curl");
    let mut body = out.stdout;
    let nl = body.iter().rposition(|&b| b == b'\n').expect("curl's status line");
    let code = String::from_utf8_lossy(&body[nl + 1..]).into_owned();
    body.truncate(nl);
    (code, body)
}

fn sha256_hex(data: &[u8]) -> String {
    let out = Command::new("python3")
        .args(["-c", "import hashlib,sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().expect("stdin").write_all(data)?;
            c.wait_with_output()
        })
        .expect("python3 sha256");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn get_and_post_bodies_through_curl() {
    let (dir, _tend, port) = start("ing-bodies", "", "");
    let url = format!("http://127.0.0.1:{port}/echo");
    // 0 B, 1 MiB, and a chunked request body.
    let big: Vec<u8> = (0..1 << 20).map(|i| (i * 7 % 251) as u8).collect();
    dir.write("empty", "");
    std::fs::write(dir.join("big"), &big).expect("write");
    for (file, len, chunked) in [("empty", 0, false), ("big", 1 << 20, false), ("big", 1 << 20, true)] {
        let data = format!("@{}", dir.join(file).display());
        let mut args = vec!["-X", "POST", "--data-binary", &data, &url];
        if chunked {
            args.splice(0..0, ["-H", "Transfer-Encoding: chunked"]);
        }
        let (code, body) = curl(&args);
        assert_eq!(code, "200", "{file} chunked={chunked}: {}", String::from_utf8_lossy(&body));
        let v: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
        assert_eq!(v["body_len"], len, "{v}");
        let want = if len == 0 { sha256_hex(b"") } else { sha256_hex(&big) };
        assert_eq!(v["body_sha256"], want.as_str());
        assert_eq!(v["headers"]["X-Forwarded-For"], "127.0.0.1", "{v}");
        assert_eq!(v["headers"]["X-Forwarded-Proto"], "http");
        assert!(v["headers"].get("Transfer-Encoding").is_none(), "{v}");
    }
    // Responses: 1 MiB with a length, chunked, and close-delimited.
    let (code, body) = curl(&[&format!("http://127.0.0.1:{port}/big?n=1048576")]);
    assert_eq!((code.as_str(), body.len()), ("200", 1 << 20));
    let (code, body) = curl(&[&format!("http://127.0.0.1:{port}/chunked")]);
    assert_eq!((code.as_str(), &body[..]), ("200", &b"one,two,three"[..]));
    let (code, body) = curl(&[&format!("http://127.0.0.1:{port}/close")]);
    assert_eq!((code.as_str(), &body[..]), ("200", &b"until the end\n"[..]));
    let (code, _) = curl(&["--http1.0", &format!("http://127.0.0.1:{port}/close")]);
    assert_eq!(code, "200");
    // Routes: by prefix and by host.
    let v = get(port, "/api/echo").json();
    assert_eq!(v["path"], "/api/echo");
    let (_, body) = curl(&["-H", "Host: other.test", &format!("http://127.0.0.1:{port}/conns")]);
    let api_conns: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
    assert!(api_conns["conns"].as_u64().unwrap_or(0) >= 1, "{api_conns}");
}

#[test]
fn keep_alive_reuses_one_upstream_connection_and_pipelines() {
    let (_dir, _tend, port) = start("ing-keepalive", "", "");
    let mut c = Client::connect(port);
    // The readiness probe connected too: count from here.
    let base = c.get("/conns").json()["conns"].as_u64().expect("a count");
    for _ in 0..20 {
        assert_eq!(c.get("/echo").status, 200);
    }
    // Pipelined: three requests in one write, answered in order.
    c.send(b"GET /chunked HTTP/1.1\r\nHost: t\r\n\r\nGET /big?n=3 HTTP/1.1\r\nHost: t\r\n\r\nGET /echo?3 HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(c.response().expect("1").body, b"one,two,three");
    assert_eq!(c.response().expect("2").body, b"xxx");
    assert_eq!(c.response().expect("3").json()["path"], "/echo?3");
    // One client connection, requests one after the other: the upstream saw one
    // connection (tend kept it alive between requests).
    let v = c.get("/conns").json();
    assert_eq!(v["conns"], base, "the upstream connection was not reused: {v}");
    // HEAD has no body but keeps the length.
    c.send(b"HEAD /big?n=10 HTTP/1.1\r\nHost: t\r\n\r\n");
    let r = c.response_to(true).expect("HEAD");
    assert_eq!((r.status, r.header("Content-Length")), (200, Some("10")));
    assert_eq!(c.get("/conns").json()["conns"], base);
}

#[test]
fn down_service_gets_503_problem_json_from_tend() {
    let (dir, _tend, port) = start("ing-down", "", "");
    ctl_ok(&dir, &["stop", "web"]);
    let mut c = Client::connect(port);
    let r = c.get("/echo");
    assert_eq!(r.status, 503);
    assert_eq!(r.header("Content-Type"), Some("application/problem+json"));
    let v = r.json();
    assert_eq!(v["title"], "Cannot service request");
    assert_eq!(v["detail"], "web is stopped; see its logs");
    // The connection stays usable; the other service still answers.
    assert_eq!(c.get("/api/echo").status, 200);
    let s = support::status_json(&dir, "web");
    assert_eq!(s["available"], false, "{s}");
    assert_eq!(s["unavailable"], "web is stopped");
    assert!(s["request_errors"].as_u64().unwrap_or(0) >= 1, "{s}");
    // /_tend/health and /_tend/ready name it.
    let h = get(port, "/_tend/health");
    assert_eq!(h.status, 503);
    let problems = h.json()["problems"].to_string();
    assert!(problems.contains("web: stopped"), "{problems}");
    ctl_ok(&dir, &["start", "web"]);
    wait_ready(&dir);
    assert_eq!(get(port, "/_tend/health").status, 200);
    assert_eq!(get(port, "/_tend/ready").json()["ok"], true);
    assert_eq!(get(port, "/echo").status, 200);
}

#[test]
fn hanging_upstream_gets_504_at_the_timeout_while_others_flow() {
    let (_dir, _tend, port) = start("ing-timeout", "", "");
    let t0 = Instant::now();
    let hang = std::thread::spawn(move || (get(port, "/hang"), t0.elapsed()));
    std::thread::sleep(Duration::from_millis(200));
    // Meanwhile other requests are served.
    let mut c = Client::connect(port);
    for _ in 0..5 {
        assert_eq!(c.get("/echo").status, 200);
    }
    let (r, took) = hang.join().expect("hang thread");
    assert_eq!(r.status, 504, "{}", r.text());
    assert!(r.json()["detail"].as_str().unwrap_or("").contains("no response within 1.000s"), "{}", r.text());
    assert!(took >= Duration::from_millis(900) && took < Duration::from_millis(3000), "504 after {took:?}");
}

#[test]
fn full_queue_answers_busy() {
    let (_dir, _tend, port) = start("ing-busy", "workers = 1\nqueue = 1\nrequest_timeout = \"3s\"", "");
    // One request occupies the only worker, one waits in the queue; the third is busy.
    let a = std::thread::spawn(move || get(port, "/slow?ms=1500"));
    std::thread::sleep(Duration::from_millis(300));
    let b = std::thread::spawn(move || get(port, "/slow?ms=10"));
    std::thread::sleep(Duration::from_millis(300));
    let r = get(port, "/echo");
    assert_eq!(r.status, 503);
    assert!(r.json()["detail"].as_str().unwrap_or("").contains("busy"), "{}", r.text());
    assert_eq!(a.join().expect("a").status, 200);
    assert_eq!(b.join().expect("b").status, 200);
    assert_eq!(get(port, "/echo").status, 200);
}

#[test]
fn malformed_requests_get_4xx_and_are_closed_others_unaffected() {
    let (_dir, _tend, port) = start("ing-malformed", "", "");
    let mut good = Client::connect(port);
    assert_eq!(good.get("/echo").status, 200);
    let cases: [(&[u8], u16); 9] = [
        (b"GARBAGE\r\n\r\n", 400),
        (b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
        (b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc", 400),
        (b"GET /echo HTTP/1.1\r\nHost: t\r\nX-A: 1\r\n folded\r\n\r\n", 400),
        (b"GET /echo HTTP/1.1\r\n\r\n", 400),
        (b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
        (b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4194304\r\n\r\n", 413),
        (b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501),
        (b"GET /echo HTTP/2.0\r\nHost: t\r\n\r\n", 505),
    ];
    for (req, status) in cases {
        let mut c = Client::connect(port);
        c.send(req);
        let r = c.response().unwrap_or_else(|| panic!("no response to {:?}", String::from_utf8_lossy(req)));
        assert_eq!(r.status, status, "{:?}: {}", String::from_utf8_lossy(req), r.text());
        assert_eq!(r.header("Connection"), Some("close"));
        assert!(c.closed(), "the connection stayed open after {status}");
    }
    // A head over the limit: 431.
    let mut c = Client::connect(port);
    c.send(format!("GET / HTTP/1.1\r\nHost: t\r\nX-Big: {}\r\n\r\n", "a".repeat(20000)).as_bytes());
    assert_eq!(c.response().expect("431").status, 431);
    // A chunked body over max_body: 413.
    let mut c = Client::connect(port);
    let mut req = b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..3 {
        req.extend_from_slice(format!("{:x}\r\n", 1 << 20).as_bytes());
        req.extend(std::iter::repeat_n(b'z', 1 << 20));
        req.extend_from_slice(b"\r\n");
    }
    let _ = std::io::Write::write_all(&mut c.s, &req);
    assert_eq!(c.response().expect("413").status, 413);
    // The first client never noticed.
    assert_eq!(good.get("/echo").status, 200);
}

#[test]
fn thousand_concurrent_keep_alive_clients() {
    let (_dir, _tend, port) = start("ing-1000", "queue = 2048", "");
    let mut clients: Vec<Client> = (0..1000).map(|_| Client::connect(port)).collect();
    for round in 0..2 {
        // Every client sends, then every client reads: 1000 requests in flight at once.
        for (i, c) in clients.iter_mut().enumerate() {
            c.send(format!("GET /echo?c={i}&r={round} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
        }
        for (i, c) in clients.iter_mut().enumerate() {
            let r = c.response().unwrap_or_else(|| panic!("client {i} got no response in round {round}"));
            assert_eq!(r.status, 200, "client {i}: {}", r.text());
            assert_eq!(r.json()["path"], format!("/echo?c={i}&r={round}"));
        }
    }
}
