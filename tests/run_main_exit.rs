//! `main`: its exit ends tend with its status (128+signal if killed), whatever its
//! restart policy, and stops every other service; signals other than TERM/INT/HUP sent to
//! tend are forwarded to it.

mod support;

use support::{Proc, Tend, TestDir, DEADLINE};

/// A config with `main = "app"` running `app`, plus a side service recording its pid.
fn config(dir: &TestDir, app: &str, extra: &str) -> String {
    format!(
        "main = \"app\"\n\
         [service.app]\ncommand = \"while [ ! -e {d}/go ]; do sleep 0.01; done; {app}\"\n{extra}\n\
         [service.side]\ncommand = \"echo $$ > {d}/side.pid; exec sleep 1000\"\n",
        d = dir.s()
    )
}

#[test]
fn main_exit_status_is_tends() {
    let dir = TestDir::new("main-exit-7");
    let mut tend = Tend::start(&dir, &config(&dir, "exit 7", ""));
    let side = Proc::of(dir.wait_pid("side.pid"));
    dir.write("go", "");
    assert_eq!(tend.exit_code(), 7, "{}", tend.dump());
    tend.wait_err("main service app exited with status 7: shutting down");
    assert!(!side.exists(), "the other service is still there");
    assert_eq!(tend.transitions("side").last().map(|t| t.to.clone()).as_deref(), Some("stopped"));
    tend.assert_no_leftovers();
}

#[test]
fn main_killed_by_a_signal_gives_128_plus_the_signal() {
    let dir = TestDir::new("main-killed");
    let app = format!("echo $$ > {}/app.pid; exec sleep 1000", dir.s());
    let mut tend = Tend::start(&dir, &config(&dir, &app, ""));
    let side = Proc::of(dir.wait_pid("side.pid"));
    dir.write("go", "");
    let app = dir.wait_pid("app.pid");
    assert!(support::kill(app, libc::SIGTERM));
    assert_eq!(tend.exit_code(), 128 + libc::SIGTERM, "{}", tend.dump());
    tend.wait_err("main service app killed by SIGTERM: shutting down");
    assert!(!side.exists());
    tend.assert_no_leftovers();
}

#[test]
fn main_is_not_restarted_whatever_its_policy() {
    let dir = TestDir::new("main-always");
    let app = format!("echo run >> {}/app.runs; exit 0", dir.s());
    let mut tend = Tend::start(&dir, &config(&dir, &app, "restart = \"always\""));
    let side = Proc::of(dir.wait_pid("side.pid"));
    dir.write("go", "");
    assert_eq!(tend.exit_code(), 0, "{}", tend.dump());
    assert_eq!(dir.read("app.runs"), "run\n", "main was restarted\n{}", tend.dump());
    assert!(!side.exists());
    tend.assert_no_leftovers();
}

#[test]
fn other_signals_are_forwarded_to_main() {
    let dir = TestDir::new("main-forward");
    let app = format!("trap 'exit 42' USR1; echo $$ > {}/app.pid; while :; do sleep 0.02; done", dir.s());
    let mut tend = Tend::start(&dir, &config(&dir, &app, ""));
    let side = Proc::of(dir.wait_pid("side.pid"));
    dir.write("go", "");
    dir.wait_pid("app.pid");
    tend.signal(libc::SIGUSR1);
    assert_eq!(tend.exit_code(), 42, "{}", tend.dump());
    assert!(!side.exists());
    tend.assert_no_leftovers();
}

#[test]
fn sigterm_to_tend_with_main_exits_0() {
    let dir = TestDir::new("main-sigterm");
    let app = format!("echo $$ > {}/app.pid; exec sleep 1000", dir.s());
    let mut tend = Tend::start(&dir, &config(&dir, &app, ""));
    let side = Proc::of(dir.wait_pid("side.pid"));
    dir.write("go", "");
    let app = Proc::of(dir.wait_pid("app.pid"));
    tend.signal(libc::SIGTERM);
    // A requested shutdown is a success, even though main died of the SIGTERM it got.
    assert_eq!(tend.exit_code_within(DEADLINE), 0, "{}", tend.dump());
    assert!(!side.exists() && !app.exists());
    tend.assert_no_leftovers();
}
