//! Restart policies with real processes: `always` restarts after success and failure,
//! `on-failure` only after a failure (an exit code outside `success_exit_codes`, or a
//! death by signal), `never` leaves the service `exited` or `failed`.

mod support;

use std::time::Duration;

use support::{wait_until, Tend, TestDir, DEADLINE};

/// How many times a service appended to DIR/NAME.runs.
fn runs(dir: &TestDir, name: &str) -> usize {
    dir.read(format!("{name}.runs")).lines().count()
}

/// A service that records each run, then runs `tail` (shell).
fn service(dir: &TestDir, name: &str, restart: &str, tail: &str, extra: &str) -> String {
    format!(
        "[service.{name}]\ncommand = \"echo run >> {d}/{name}.runs; {tail}\"\nrestart = \"{restart}\"\n\
         backoff = {{ initial = \"20ms\", max = \"20ms\" }}\nstart_limit = {{ burst = 0 }}\n{extra}\n",
        d = dir.s()
    )
}

const KEEPER: &str = "[service.keeper]\ncommand = [\"sleep\", \"1000\"]\n";

#[test]
fn always_restarts_after_success_and_after_failure() {
    let dir = TestDir::new("restart-always");
    let cfg = [service(&dir, "ok", "always", "exit 0", ""), service(&dir, "bad", "always", "exit 1", "")].concat();
    let mut tend = Tend::start(&dir, &cfg);
    wait_until(DEADLINE, "3 runs of each service", || runs(&dir, "ok") >= 3 && runs(&dir, "bad") >= 3);
    tend.wait_err("ok running->backoff: exited with status 0; restarting in 20ms");
    tend.wait_err("bad running->backoff: exited with status 1; restarting in 20ms");
    tend.signal(libc::SIGTERM);
    assert_eq!(tend.exit_code(), 0, "{}", tend.dump());
    for name in ["ok", "bad"] {
        let t = tend.transitions(name);
        assert!(!t.iter().any(|t| t.to == "exited" || t.to == "failed"), "{name} settled: {t:?}");
    }
    tend.assert_no_leftovers();
}

#[test]
fn on_failure_restarts_failures_only() {
    let dir = TestDir::new("restart-on-failure");
    let cfg = [
        service(&dir, "zero", "on-failure", "exit 0", ""),
        service(&dir, "one", "on-failure", "exit 1", ""),
        // 3 is listed as a success: not restarted.
        service(&dir, "three", "on-failure", "exit 3", "success_exit_codes = [0, 3]"),
        // 4 is not: restarted.
        service(&dir, "four", "on-failure", "exit 4", "success_exit_codes = [0, 3]"),
        // 0 is not listed at all: a clean exit counts as a failure.
        service(&dir, "strict", "on-failure", "exit 0", "success_exit_codes = [2]"),
        // Killed by a signal: a failure.
        service(&dir, "killed", "on-failure", "kill -KILL $$", ""),
        KEEPER.to_string(),
    ]
    .concat();
    let mut tend = Tend::start(&dir, &cfg);
    wait_until(DEADLINE, "the failing services to run 3 times", || {
        ["one", "four", "strict", "killed"].iter().all(|n| runs(&dir, n) >= 3)
    });
    let zero = tend.wait_transition("zero", "exited");
    assert_eq!(zero.from, "running");
    assert_eq!(zero.reason, "exited with status 0");
    let three = tend.wait_transition("three", "exited");
    assert_eq!(three.reason, "exited with status 3");
    tend.wait_err("killed running->backoff: killed by SIGKILL; restarting in 20ms");
    tend.wait_err("strict running->backoff: exited with status 0; restarting in 20ms");
    assert_eq!(runs(&dir, "zero"), 1, "a clean exit was restarted\n{}", tend.dump());
    assert_eq!(runs(&dir, "three"), 1, "a success exit code was restarted\n{}", tend.dump());
    tend.signal(libc::SIGTERM);
    assert_eq!(tend.exit_code(), 0, "{}", tend.dump());
    assert_eq!(runs(&dir, "zero"), 1);
    assert_eq!(runs(&dir, "three"), 1);
    tend.assert_no_leftovers();
}

#[test]
fn never_leaves_services_exited_or_failed() {
    let dir = TestDir::new("restart-never");
    let cfg = [
        // Only for the exit: see run_all_finished.rs for how long tend lingers without it.
        "shutdown_timeout = \"2s\"\n".to_string(),
        service(&dir, "fine", "never", "exit 0", ""),
        service(&dir, "broken", "never", "exit 1", ""),
        service(&dir, "listed", "never", "exit 9", "success_exit_codes = [9]"),
        service(&dir, "manual", "never", "exit 0", "autostart = false"),
    ]
    .concat();
    let mut tend = Tend::start(&dir, &cfg);
    assert_eq!(tend.wait_transition("fine", "exited").reason, "exited with status 0");
    assert_eq!(tend.wait_transition("broken", "failed").reason, "exited with status 1");
    assert_eq!(tend.wait_transition("listed", "exited").reason, "exited with status 9");
    // Every autostarted service finished, one of them failed: 3.
    assert_eq!(tend.exit_code(), 3, "{}", tend.dump());
    for name in ["fine", "broken", "listed"] {
        assert_eq!(runs(&dir, name), 1, "{name} ran more than once\n{}", tend.dump());
    }
    assert_eq!(runs(&dir, "manual"), 0, "a service with autostart = false was started\n{}", tend.dump());
    assert!(tend.transitions("manual").is_empty(), "{:?}", tend.transitions("manual"));
    tend.assert_no_leftovers();
}

#[test]
fn a_restarted_service_gets_a_new_process() {
    let dir = TestDir::new("restart-new-pid");
    let cfg = format!(
        "[service.flaky]\ncommand = \"echo $$ >> {d}/pids; sleep 0.05; exit 1\"\nrestart = \"always\"\n\
         backoff = {{ initial = \"10ms\", max = \"10ms\" }}\nstart_limit = {{ burst = 0 }}\n",
        d = dir.s()
    );
    let mut tend = Tend::start(&dir, &cfg);
    wait_until(DEADLINE, "3 runs", || dir.read("pids").lines().count() >= 3);
    let pids: Vec<String> = dir.read("pids").lines().map(String::from).collect();
    let mut unique = pids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), pids.len(), "pids repeat: {pids:?}");
    // Each start is announced with its pid.
    for pid in &pids[..3] {
        tend.wait_err(&format!("flaky starting->running: started (pid {pid})"));
    }
    tend.signal(libc::SIGTERM);
    assert_eq!(tend.exit_code_within(DEADLINE + Duration::from_secs(1)), 0);
    tend.assert_no_leftovers();
}
