//! Faults (issue 9): tend itself SIGSTOPped for two seconds, then SIGCONTed. While it
//! is stopped a service keeps writing (its pipe fills and it waits), another exits,
//! and a client asks something. After SIGCONT the client is answered, the exited
//! service is reaped and restarted, the writer's output is all there in order (no byte
//! lost), and the sleeper is the same process.

mod support;

use std::time::Duration;

use support::{ctl_ok, stat, status_json, Raw, TestDir, DEADLINE};
use tend::proto::msg::Plain;
use tend::proto::{Reply, Request};

const LINES: u32 = 20_000;

#[test]
fn tend_stopped_and_continued_loses_nothing() {
    let dir = TestDir::new("fault-stop-cont");
    let cfg = format!(
        "[service.sleeper]\ncommand = \"echo $$ > {d}/sleeper.pid; exec sleep 1000\"\n\
         [service.crasher]\ncommand = \"sleep 0.5; exit 3\"\nrestart = \"always\"\n\
         backoff = {{ initial = \"100ms\", max = \"100ms\" }}\nstart_limit = {{ burst = 0 }}\n\
         [service.writer]\ncommand = \"touch {d}/go; while [ ! -e {d}/stopped ]; do sleep 0.01; done; \
         i=0; while [ $i -lt {LINES} ]; do echo line$i; i=$((i+1)); done; echo done; exec sleep 1000\"\n",
        d = dir.s()
    );
    let tend = support::start_serving(&dir, &cfg);
    let sleeper = dir.wait_pid("sleeper.pid");
    support::wait_until(DEADLINE, "the writer to start", || dir.join("go").exists());
    let crasher_before = status_json(&dir, "crasher")["restarts"].as_u64().unwrap_or(0);

    assert!(support::kill(tend.pid, libc::SIGSTOP));
    support::wait_until(DEADLINE, "tend stopped", || stat(tend.pid).is_some_and(|s| s.state == 'T'));
    // Now the writer starts its 20,000 lines; its pipe fills while tend is stopped.
    std::fs::write(dir.join("stopped"), "").expect("marker");
    let mut r = Raw::connect(&dir.join("tend.sock"));
    let mut b = support::hello_frame(tend::proto::msg::API_VERSION);
    b.extend_from_slice(&support::request(&Request::List(Plain { id: 7 })));
    r.send(&b);
    std::thread::sleep(Duration::from_secs(2));
    assert!(stat(tend.pid).is_some_and(|s| s.state == 'T'), "tend ran while stopped");
    assert!(support::kill(tend.pid, libc::SIGCONT));

    // The client queued during the stop is answered.
    assert!(matches!(r.reply(), Reply::Welcome(_)));
    assert!(matches!(r.reply(), Reply::List(l) if l.id == 7));
    // The crasher that exited meanwhile was reaped and restarted.
    support::wait_until(DEADLINE, "the crasher restarted", || {
        status_json(&dir, "crasher")["restarts"].as_u64().unwrap_or(0) > crasher_before
    });
    // The writer's output is complete and in order.
    support::wait_until(DEADLINE, "the writer's last line", || {
        tend.out.snapshot().iter().any(|l| l.starts_with("writer ") && l.ends_with("| done"))
    });
    let got: Vec<String> = tend
        .out
        .snapshot()
        .into_iter()
        .filter_map(|l| l.strip_prefix("writer").map(|r| r.trim_start().trim_start_matches("| ").to_string()))
        .collect();
    let want: Vec<String> = (0..LINES).map(|i| format!("line{i}")).chain(["done".to_string()]).collect();
    assert_eq!(got.len(), want.len(), "lines lost or added across SIGSTOP/SIGCONT");
    assert!(got == want, "the writer's lines are not line0..line{} in order", LINES - 1);
    // The sleeper never noticed.
    assert_eq!(dir.read_pid("sleeper.pid"), Some(sleeper));
    assert!(support::alive(sleeper));
    assert_eq!(status_json(&dir, "sleeper")["restarts"], 0);
    ctl_ok(&dir, &["ls"]);
    eprintln!(
        "SIGSTOP 2s / SIGCONT: {LINES} lines written meanwhile, 0 lost; queued client answered; crasher restarted"
    );
}
