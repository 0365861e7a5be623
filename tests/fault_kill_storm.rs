//! Faults (issue 9): services SIGKILLed at random, every 10 ms, for a while. Every
//! kill is one restart (none lost, none doubled), the control socket answers all along,
//! every service is running again at the end, no zombie is left, and tend's RSS stays
//! where it was. `TEND_STRESS_SECONDS` sets how long (default 4; `make stress` runs 60).

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use support::{ctl_ok, kill, rss_kib, zombies_of, Raw, TestDir, DEADLINE};
use tend::proto::msg::Plain;
use tend::proto::{Reply, Request};

const SERVICES: usize = 10;

/// Seconds the storm lasts.
fn storm_seconds() -> u64 {
    std::env::var("TEND_STRESS_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(4)
}

/// xorshift64: the test prints its seed, so a failing run can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// The sum of `restarts` and the services not running, from `tend ls --json`.
fn restarts_and_down(dir: &TestDir) -> (u64, Vec<String>) {
    let o = ctl_ok(dir, &["ls", "--json"]);
    let mut sum = 0;
    let mut down = Vec::new();
    for v in o.json_lines() {
        let list = if v.is_array() { v.as_array().cloned().unwrap_or_default() } else { vec![v] };
        for s in list {
            sum += s["restarts"].as_u64().unwrap_or(0);
            if s["state"] != "running" {
                down.push(format!("{}: {}", s["name"], s["state"]));
            }
        }
    }
    (sum, down)
}

#[test]
fn services_killed_at_random_are_all_restarted() {
    let dir = TestDir::new("fault-kill-storm");
    let mut cfg = String::new();
    for i in 0..SERVICES {
        cfg.push_str(&format!(
            "[service.s{i}]\ncommand = \"while :; do echo tick; sleep 0.02; done\"\nrestart = \"always\"\n\
             backoff = {{ initial = \"5ms\", max = \"20ms\" }}\nstart_limit = {{ burst = 0 }}\n"
        ));
    }
    let tend = support::start_serving(&dir, &cfg);
    support::wait_until(DEADLINE, "all services running", || restarts_and_down(&dir).1.is_empty());
    let rss_before = rss_kib(tend.pid);

    // Another client asks all along and must always be answered.
    let stop = Arc::new(AtomicBool::new(false));
    let asker = {
        let (sock, stop) = (dir.join("tend.sock"), stop.clone());
        std::thread::spawn(move || {
            let mut r = Raw::connect(&sock);
            r.hello();
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                r.req(&Request::List(Plain { id: n }));
                match r.reply() {
                    Reply::List(l) if l.id == n && l.services.len() == SERVICES => {}
                    other => panic!("request {n}: {other:?}"),
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            n
        })
    };

    let seed =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64) | 1;
    let mut rng = Rng(seed);
    let secs = storm_seconds();
    let end = Instant::now() + Duration::from_secs(secs);
    let mut kills = 0u64;
    let mut rss_peak = rss_before;
    // Asks tend which pids are the services' main processes: a child of tend called
    // `sh` may also be an orphan (a service's child between fork and exec, re-parented
    // to tend when the service was killed), whose death restarts nothing.
    let mut ask = Raw::connect(&dir.join("tend.sock"));
    ask.hello();
    // A SIGKILLed process takes a moment to die and be reaped: never count one twice.
    let mut killed = std::collections::HashSet::new();
    let mut n = 0;
    while Instant::now() < end {
        n += 1;
        ask.req(&Request::List(Plain { id: n }));
        let Reply::List(l) = ask.reply() else { panic!("no list reply") };
        let mains: Vec<i32> =
            l.services.iter().filter(|s| s.state == "running").filter_map(|s| s.pid).map(|p| p as i32).collect();
        // Forget pids tend no longer reports: they are gone (and may be reused).
        killed.retain(|p| mains.contains(p));
        let fresh: Vec<i32> = mains.into_iter().filter(|p| !killed.contains(p)).collect();
        if !fresh.is_empty() {
            let victim = fresh[(rng.next() % fresh.len() as u64) as usize];
            if kill(victim, libc::SIGKILL) {
                killed.insert(victim);
                kills += 1;
            }
        }
        rss_peak = rss_peak.max(rss_kib(tend.pid));
        std::thread::sleep(Duration::from_millis(10));
    }
    stop.store(true, Ordering::Relaxed);
    let answered = asker.join().expect("the other client");
    // With no kill at all, "each kill was exactly one restart" below would hold trivially.
    assert!(kills > 0, "no service was killed in {secs}s (seed {seed})\n{}", tend.dump());

    // Everything comes back, and each kill was exactly one restart.
    let mut last = (0, Vec::new());
    let back = support::poll_until(DEADLINE, || {
        last = restarts_and_down(&dir);
        last.1.is_empty() && last.0 >= kills
    });
    assert!(back, "after {kills} kills (seed {seed}): restarts {}, not running: {:?}\n{}", last.0, last.1, tend.dump());
    assert_eq!(last.0, kills, "restarts counted vs kills sent (seed {seed})");
    support::wait_until(DEADLINE, "no zombies", || zombies_of(tend.pid).is_empty());
    let rss_after = rss_kib(tend.pid);
    eprintln!(
        "kill storm: {kills} SIGKILLs over {secs}s on {SERVICES} services (seed {seed}), {} restarts, \
         the other client answered {answered} times; RSS {rss_before} -> {rss_after} KiB (peak {rss_peak})",
        last.0
    );
    assert!(rss_peak < rss_before + 4 * 1024, "tend's RSS grew from {rss_before} to {rss_peak} KiB");
    assert!(support::alive(tend.pid));
}
