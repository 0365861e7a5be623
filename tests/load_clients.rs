//! Load (issue 9): 1,000 control clients connected at once, each asking in turn for the
//! list, a status or the last lines of a log, for a bounded time, while 50 services
//! crash-loop (exit, back off, restart) and log on both streams. Every request gets its
//! reply (or an error frame with its id): none lost, none out of order; tend's RSS is
//! sampled throughout and its peak reported and bounded. `TEND_STRESS_SECONDS` sets
//! how long (default 5; `make stress` runs 60).

mod support;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use support::{request, rss_kib, Raw, TestDir};
use tend::proto::msg::{LogsReq, Plain, Stream, Target, API_VERSION};
use tend::proto::{Reply, Request};

const CLIENTS: usize = 1000;
const SERVICES: usize = 50;
const THREADS: usize = 8;

fn seconds() -> u64 {
    std::env::var("TEND_STRESS_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(5)
}

/// Request number `n` of client `c`: a mix of list, status and logs.
fn nth_request(c: usize, n: u64) -> Request {
    let id = n;
    let svc = format!("s{}", (c + n as usize) % SERVICES);
    match (c as u64 + n) % 3 {
        0 => Request::List(Plain { id }),
        1 => Request::Status(Target { id, service: svc, wait: false }),
        _ => Request::Logs(LogsReq { id, service: svc, stream: Stream::All, lines: Some(5), ..Default::default() }),
    }
}

#[derive(Default)]
struct Tally {
    sent: AtomicU64,
    answered: AtomicU64,
    errors: AtomicU64,
}

/// Read the frames answering request `id` (several for logs): Ok(true) for an error
/// frame, Ok(false) for a reply, Err for anything lost, misordered or undecodable.
fn answer(r: &mut Raw, id: u64) -> Result<bool, String> {
    loop {
        let f = r.next().map_err(|c| format!("connection closed ({c:?}) before the reply to {id}"))?;
        let reply = Reply::decode(f.kind, &f.body).map_err(|e| format!("undecodable frame: {e}"))?;
        let got = reply.id();
        if got != id {
            return Err(format!("a frame for {got} where {id} was due: {reply:?}"));
        }
        match reply {
            Reply::LogData(_) => continue,
            Reply::Error(_) => return Ok(true),
            Reply::List(_) | Reply::Status(_) | Reply::End(_) => return Ok(false),
            other => return Err(format!("an unexpected reply to {id}: {other:?}")),
        }
    }
}

#[test]
fn a_thousand_clients_while_fifty_services_crash_loop() {
    if !support::raise_nofile(4096) {
        support::skip("a_thousand_clients_while_fifty_services_crash_loop", "RLIMIT_NOFILE cannot be raised to 4096");
        return;
    }
    let dir = TestDir::new("load-clients");
    let mut cfg = String::new();
    for i in 0..SERVICES {
        cfg.push_str(&format!(
            "[service.s{i}]\ncommand = \"echo starting $$; echo oops >&2; sleep 0.0$(($$ % 9)); exit 1\"\n\
             restart = \"always\"\nbackoff = {{ initial = \"50ms\", max = \"300ms\" }}\nstart_limit = {{ burst = 0 }}\n"
        ));
    }
    let tend = support::start_serving(&dir, &cfg);
    let sock = dir.join("tend.sock");
    std::thread::sleep(Duration::from_millis(500));
    let rss_start = rss_kib(tend.pid);

    // All connected at once, and greeted, before any request.
    let mut conns: Vec<Raw> = (0..CLIENTS).map(|_| Raw::connect(&sock)).collect();
    for r in conns.iter_mut() {
        r.send(&support::hello_frame(API_VERSION));
    }
    for (i, r) in conns.iter_mut().enumerate() {
        assert!(matches!(r.reply(), Reply::Welcome(_)), "client {i} was not welcomed");
    }

    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Tally::default());
    let rss_peak = Arc::new(AtomicU64::new(rss_start));
    let sampler = {
        let (stop, peak, pid) = (stop.clone(), rss_peak.clone(), tend.pid);
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                peak.fetch_max(rss_kib(pid), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };
    let secs = seconds();
    let end = Instant::now() + Duration::from_secs(secs);
    let mut workers = Vec::new();
    let per = CLIENTS / THREADS;
    for t in 0..THREADS {
        let mut mine: Vec<Raw> = conns.drain(..per.min(conns.len())).collect();
        let tally = tally.clone();
        workers.push(std::thread::spawn(move || -> Result<(), String> {
            let mut n = 0u64;
            while Instant::now() < end {
                n += 1;
                // Every client of this thread sends, then every one reads its answer.
                for (k, r) in mine.iter_mut().enumerate() {
                    r.try_send(&request(&nth_request(t * per + k, n))).map_err(|e| format!("send: {e}"))?;
                    tally.sent.fetch_add(1, Ordering::Relaxed);
                }
                for (k, r) in mine.iter_mut().enumerate() {
                    let err = answer(r, n).map_err(|e| format!("client {}: {e}", t * per + k))?;
                    tally.answered.fetch_add(1, Ordering::Relaxed);
                    if err {
                        tally.errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            Ok(())
        }));
    }
    let mut failures = Vec::new();
    for w in workers {
        if let Err(e) = w.join().expect("worker thread") {
            failures.push(e);
        }
    }
    stop.store(true, Ordering::Relaxed);
    sampler.join().expect("sampler");
    let (sent, answered, errors) = (
        tally.sent.load(Ordering::Relaxed),
        tally.answered.load(Ordering::Relaxed),
        tally.errors.load(Ordering::Relaxed),
    );
    let restarts: u64 = support::ctl_ok(&dir, &["ls", "--json"])
        .json_lines()
        .iter()
        .flat_map(|v| v.as_array().cloned().unwrap_or_else(|| vec![v.clone()]))
        .map(|s| s["restarts"].as_u64().unwrap_or(0))
        .sum();
    let peak = rss_peak.load(Ordering::Relaxed);
    // The clients are gone (their threads dropped them): what tend keeps afterwards.
    std::thread::sleep(Duration::from_millis(500));
    let rss_after = rss_kib(tend.pid);
    let mut r = Raw::connect(&sock);
    r.hello();
    r.req(&Request::List(Plain { id: 1 }));
    let list_bytes = r.next().map(|f| f.body.len()).unwrap_or(0);
    eprintln!(
        "load: {CLIENTS} clients for {secs}s, {sent} requests, {answered} answered ({errors} error frames), \
         {} lost; {SERVICES} services crash-looping, {restarts} restarts; tend RSS {rss_start} KiB at start, \
         peak {peak} KiB, {rss_after} KiB once the clients left; a list reply is {list_bytes} bytes",
        sent - answered
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(sent, answered, "requests lost");
    assert!(sent >= CLIENTS as u64, "not even one round");
    assert!(restarts >= SERVICES as u64, "the services did not crash-loop ({restarts} restarts)");
    // A list of 50 services is ~75 KiB; a connection keeps no reply buffer above 16 KiB
    // once it is written (control.rs), so 1,000 clients cost little between replies.
    assert!(peak < rss_start + 24 * 1024, "tend's RSS went from {rss_start} to {peak} KiB");
    assert!(rss_after < rss_start + 16 * 1024, "tend kept {rss_after} KiB (from {rss_start}) once the clients left");
    drop(tend);
}
