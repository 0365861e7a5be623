//! `drain = true`: a stop waits for the forwarded requests in flight (the stop signal
//! goes out only after their responses), new requests get 503 meanwhile, and tend's
//! shutdown closes the ingress listener first, then drains.

mod fwd;
mod support;

use std::time::{Duration, Instant, SystemTime};

use fwd::{free_port, get, upstream_service, wait_ready};
use support::{ctl, ctl_ok, parse_transition, start_serving, Tend, TestDir, DEADLINE};

fn start(name: &str, drain: &str) -> (TestDir, Tend, u16) {
    let dir = TestDir::new(name);
    let port = free_port();
    let cfg = format!(
        "[forward]\nrequest_timeout = \"10s\"\n[ingress]\nlisten = \"127.0.0.1:{port}\"\n\
         routes = {{ \"/\" = \"web\" }}\n\n{}",
        upstream_service(&dir, "web", drain)
    );
    let tend = start_serving(&dir, &cfg);
    wait_ready(&dir);
    (dir, tend, port)
}

fn now_micros() -> i64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).expect("clock").as_micros() as i64
}

#[test]
fn stop_waits_for_the_request_in_flight_and_refuses_new_ones() {
    let (dir, tend, port) = start("drain-stop", "drain = true\nstop_timeout = \"5s\"");
    let t0 = now_micros();
    let slow = std::thread::spawn(move || get(port, "/slow?ms=1500"));
    // The request reaches the upstream before the stop.
    std::thread::sleep(Duration::from_millis(400));
    let o = ctl_ok(&dir, &["stop", "--no-wait", "web"]);
    assert!(o.out.contains("web: draining (1 request(s) in flight)"), "{}", o.show());
    let st = ctl_ok(&dir, &["status", "web"]);
    assert!(st.out.contains("running (draining)"), "{}", st.show());
    let r = get(port, "/echo");
    assert_eq!(r.status, 503, "{}", r.text());
    assert_eq!(r.header("Content-Type"), Some("application/problem+json"));
    assert!(r.text().contains("web is draining"), "{}", r.text());
    let r = slow.join().expect("the slow client");
    let answered = now_micros();
    assert_eq!((r.status, r.text().as_str()), (200, "slow\n"), "the request in flight did not complete");
    let t = tend.wait_transition("web", "stopping");
    assert!(
        t.micros >= t0 + 1_400_000,
        "the stop signal went out {} ms after the request began",
        (t.micros - t0) / 1000
    );
    assert!(t.micros <= answered + 500_000, "the stop waited past the response");
    tend.wait_transition("web", "stopped");
}

#[test]
fn without_drain_the_stop_is_immediate() {
    let (dir, tend, port) = start("drain-off", "stop_timeout = \"5s\"");
    let t0 = now_micros();
    let slow = std::thread::spawn(move || get(port, "/slow?ms=1500"));
    std::thread::sleep(Duration::from_millis(400));
    ctl_ok(&dir, &["stop", "web"]);
    let t = tend.wait_transition("web", "stopping");
    assert!(t.micros < t0 + 1_400_000, "the stop waited without drain");
    // The upstream died with the request in hand: tend answers for it.
    let r = slow.join().expect("the slow client");
    assert!(r.status >= 500, "{}", r.status);
}

#[test]
fn drain_timeout_bounds_the_wait() {
    let (dir, tend, port) = start("drain-timeout", "drain = true\ndrain_timeout = \"300ms\"");
    let t0 = Instant::now();
    let slow = std::thread::spawn(move || get(port, "/slow?ms=3000"));
    std::thread::sleep(Duration::from_millis(300));
    ctl_ok(&dir, &["restart", "web"]);
    tend.wait_err("drain_timeout reached with 1 request(s) in flight");
    tend.wait_transition("web", "stopping");
    assert!(t0.elapsed() < Duration::from_millis(2500), "{:?}", t0.elapsed());
    assert!(slow.join().expect("client").status >= 500);
    tend.wait_transition_n("web", "running", 2);
}

#[test]
fn shutdown_closes_the_listener_first_then_drains() {
    let (dir, mut tend, port) = start("drain-shutdown", "drain = true");
    let slow = std::thread::spawn(move || get(port, "/slow?ms=1500"));
    std::thread::sleep(Duration::from_millis(400));
    let t0 = now_micros();
    ctl_ok(&dir, &["shutdown"]);
    // The listener is closed at once: new connections are refused.
    let refused =
        fwd::eventually(Duration::from_millis(500), || std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
    assert!(refused, "the ingress still accepts during the shutdown");
    let r = slow.join().expect("the slow client");
    assert_eq!((r.status, r.text().as_str()), (200, "slow\n"));
    assert_eq!(tend.exit_code_within(DEADLINE), 0, "{}", tend.dump());
    let stop = tend.err.snapshot().iter().filter_map(|l| parse_transition(l)).find(|t| t.to == "stopping");
    let stop = stop.unwrap_or_else(|| panic!("no stop\n{}", tend.dump()));
    assert!(stop.micros >= t0 + 900_000, "the stop signal went out before the request finished");
    let _ = ctl(&dir, &["ls"]);
}
