//! The start limit: more than `burst` starts within `interval` make a service `failed`;
//! tend then exits 3 when that was its only service and there is no `main`. Starts
//! spread wider than the interval never hit the limit.

mod support;

use std::time::Duration;

use support::{wait_until, Tend, TestDir, DEADLINE};

/// Start tend (in a new test directory `dir_name`) with its only service, `service`,
/// which notes each run in DIR/runs and exits with `code` at once: `restart = "always"`
/// after 10ms, with the start limit `burst` in `interval`.
fn restart_loop(dir_name: &str, service: &str, code: i32, burst: u32, interval: &str) -> (TestDir, Tend) {
    let dir = TestDir::new(dir_name);
    let cfg = format!(
        // shutdown_timeout only bounds how long tend lingers (see run_all_finished.rs).
        "shutdown_timeout = \"2s\"\n\
         [service.{service}]\ncommand = \"echo run >> {d}/runs; exit {code}\"\nrestart = \"always\"\n\
         backoff = {{ initial = \"10ms\", max = \"10ms\" }}\n\
         start_limit = {{ burst = {burst}, interval = \"{interval}\" }}\n",
        d = dir.s()
    );
    let tend = Tend::start(&dir, &cfg);
    (dir, tend)
}

#[test]
fn crash_loop_ends_failed_and_tend_exits_3() {
    let (dir, mut tend) = restart_loop("start-limit-failed", "crasher", 1, 3, "10s");
    let failed = tend.wait_transition("crasher", "failed");
    assert_eq!(failed.from, "running", "{failed:?}");
    assert!(failed.reason.starts_with("exited with status 1; start limit reached"), "{failed:?}");
    assert_eq!(tend.exit_code(), 3, "{}", tend.dump());
    assert_eq!(dir.read("runs").lines().count(), 3, "expected exactly `burst` runs\n{}", tend.dump());
    let starts = tend.transitions("crasher").iter().filter(|t| t.to == "running").count();
    assert_eq!(starts, 3, "{}", tend.dump());
    tend.assert_no_leftovers();
}

#[test]
fn starts_spread_wider_than_the_interval_never_fail() {
    let dir = TestDir::new("start-limit-window");
    // Each restart waits 250ms, so no 200ms window ever holds more than the run that
    // just ended: the limit of 2 is never reached.
    let cfg = format!(
        "[service.crasher]\ncommand = \"echo run >> {d}/runs; exit 1\"\nrestart = \"always\"\n\
         backoff = {{ initial = \"250ms\", max = \"250ms\" }}\n\
         start_limit = {{ burst = 2, interval = \"200ms\" }}\n",
        d = dir.s()
    );
    let mut tend = Tend::start(&dir, &cfg);
    wait_until(DEADLINE, "5 runs", || dir.read("runs").lines().count() >= 5);
    tend.signal(libc::SIGTERM);
    assert_eq!(tend.exit_code(), 0, "{}", tend.dump());
    let t = tend.transitions("crasher");
    assert!(!t.iter().any(|t| t.to == "failed"), "hit the start limit: {t:?}");
}

#[test]
fn the_limit_counts_a_clean_exit_under_always() {
    let (dir, mut tend) = restart_loop("start-limit-always", "looper", 0, 4, "1m");
    let failed = tend.wait_transition("looper", "failed");
    assert!(failed.reason.contains("start limit reached"), "{failed:?}");
    // The service itself never failed, but it ended `failed`: tend exits 3.
    assert_eq!(tend.exit_code_within(DEADLINE + Duration::from_secs(2)), 3, "{}", tend.dump());
    assert_eq!(dir.read("runs").lines().count(), 4);
}
