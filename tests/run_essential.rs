//! `essential = true`: a service that ends up `failed` ends tend with its status; one
//! that finishes successfully does not.

mod support;

use std::time::Duration;

use support::{signalled, Proc, Tend, TestDir};

/// An essential service `db` running `script` once the side service is up.
fn config(dir: &TestDir, script: &str, extra: &str) -> String {
    format!(
        "[service.db]\ncommand = \"while [ ! -e {d}/go ]; do sleep 0.01; done; echo run >> {d}/db.runs; {script}\"\n\
         essential = true\n{extra}\n\
         [service.side]\ncommand = \"echo $$ > {d}/side.pid; exec sleep 1000\"\n",
        d = dir.s()
    )
}

#[test]
fn a_failed_essential_service_ends_tend_with_its_status() {
    let dir = TestDir::new("essential-failed");
    let mut tend = Tend::start(&dir, &config(&dir, "exit 5", "restart = \"never\""));
    let side = Proc::of(dir.wait_pid("side.pid"));
    dir.write("go", "");
    assert_eq!(tend.exit_code(), 5, "{}", tend.dump());
    tend.wait_err("essential service db failed: shutting down");
    assert!(!side.exists(), "the other service is still there");
    tend.assert_no_leftovers();
}

#[test]
fn an_essential_service_fails_after_its_start_limit() {
    let dir = TestDir::new("essential-limit");
    let extra = "restart = \"on-failure\"\nbackoff = { initial = \"10ms\", max = \"10ms\" }\n\
                 start_limit = { burst = 3, interval = \"10s\" }";
    let mut tend = Tend::start(&dir, &config(&dir, "exit 6", extra));
    let side = Proc::of(dir.wait_pid("side.pid"));
    dir.write("go", "");
    assert_eq!(tend.exit_code(), 6, "{}", tend.dump());
    assert_eq!(dir.read("db.runs").lines().count(), 3, "restarts before failing\n{}", tend.dump());
    assert!(tend.wait_transition("db", "failed").reason.contains("start limit reached"));
    assert!(!side.exists());
    tend.assert_no_leftovers();
}

#[test]
fn an_essential_service_killed_by_a_signal() {
    let dir = TestDir::new("essential-killed");
    let mut tend = Tend::start(&dir, &config(&dir, "kill -KILL $$", "restart = \"never\""));
    dir.wait_pid("side.pid");
    dir.write("go", "");
    assert_eq!(tend.exit_code(), signalled(libc::SIGKILL), "{}", tend.dump());
    tend.assert_no_leftovers();
}

#[test]
fn an_essential_service_that_succeeds_does_not_end_tend() {
    let dir = TestDir::new("essential-ok");
    let mut tend = Tend::start(&dir, &config(&dir, "exit 0", "restart = \"on-failure\""));
    let side = Proc::of(dir.wait_pid("side.pid"));
    dir.write("go", "");
    tend.wait_transition("db", "exited");
    std::thread::sleep(Duration::from_millis(300));
    assert!(tend.try_wait().is_none(), "tend exited after an essential service succeeded\n{}", tend.dump());
    assert!(side.alive());
    tend.signal(libc::SIGTERM);
    assert_eq!(tend.exit_code(), 0, "{}", tend.dump());
    tend.assert_no_leftovers();
}
