//! Forwarding on kept-alive upstream connections, which the loop drives itself (the
//! fast path): timeouts, large and chunked bodies handed to a worker mid-response,
//! POST bodies, and connections the service closed while tend kept them.

mod fwd;
mod support;

use std::time::{Duration, Instant};

use fwd::{free_port, upstream_service, wait_ready, Client};
use support::{ctl_ok, start_serving, Tend, TestDir};

fn start(name: &str) -> (TestDir, Tend, u16) {
    let dir = TestDir::new(name);
    let port = free_port();
    let cfg = format!(
        "[forward]\nrequest_timeout = \"1s\"\n[ingress]\nlisten = \"127.0.0.1:{port}\"\n\
         routes = {{ \"/\" = \"web\" }}\n\n{}",
        upstream_service(&dir, "web", "")
    );
    let tend = start_serving(&dir, &cfg);
    wait_ready(&dir);
    (dir, tend, port)
}

#[test]
fn kept_connection_hang_times_out_and_others_flow() {
    let (_dir, _tend, port) = start("fast-hang");
    let mut c = Client::connect(port);
    // The first request connects (a worker); the next ones use the kept connection.
    for _ in 0..3 {
        assert_eq!(c.get("/echo").status, 200);
    }
    let t0 = Instant::now();
    let r = c.get("/hang");
    let took = t0.elapsed();
    assert_eq!(r.status, 504, "{}", r.text());
    assert!(took >= Duration::from_millis(900) && took < Duration::from_millis(2500), "{took:?}");
    // The hung connection was dropped; the next request gets another one.
    assert_eq!(c.get("/echo").status, 200);
    let mut other = Client::connect(port);
    assert_eq!(other.get("/echo").status, 200);
}

#[test]
fn large_and_chunked_bodies_continue_on_a_worker() {
    let (_dir, _tend, port) = start("fast-big");
    let mut c = Client::connect(port);
    assert_eq!(c.get("/echo").status, 200);
    let base = c.get("/conns").json()["conns"].as_u64().expect("a count");
    for n in [1usize, 70_000, 1 << 20, 5] {
        let r = c.get(&format!("/big?n={n}"));
        assert_eq!((r.status, r.body.len()), (200, n));
        assert!(r.body.iter().all(|&b| b == b'x'));
        assert_eq!(c.get("/chunked").body, b"one,two,three");
    }
    // The connection a worker finished a body on was kept, and the loop took it back:
    // one upstream connection all along.
    assert_eq!(c.get("/conns").json()["conns"], base, "kept connections were not reused");
}

#[test]
fn post_bodies_on_a_kept_connection() {
    let (_dir, _tend, port) = start("fast-post");
    let mut c = Client::connect(port);
    assert_eq!(c.get("/echo").status, 200);
    for n in [0usize, 10, 8000, 200_000] {
        let body = vec![b'a'; n];
        let mut req = format!("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: {n}\r\n\r\n").into_bytes();
        req.extend_from_slice(&body);
        c.send(&req);
        let v = c.response().expect("a response").json();
        assert_eq!(v["method"], "POST");
        assert_eq!(v["body_len"], n as u64, "{v}");
    }
}

#[test]
fn connections_closed_by_a_restart_are_not_used() {
    let (dir, _tend, port) = start("fast-restart");
    let mut c = Client::connect(port);
    for _ in 0..3 {
        assert_eq!(c.get("/echo").status, 200);
    }
    ctl_ok(&dir, &["restart", "web"]);
    wait_ready(&dir);
    // The kept connection died with the old process: GET (retried) and POST (not
    // retried, but the dead connection is known before it is used) both succeed.
    assert_eq!(c.get("/echo").status, 200);
    c.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nhi");
    assert_eq!(c.response().expect("a response").status, 200);
}
