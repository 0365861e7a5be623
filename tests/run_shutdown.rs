//! Orderly shutdown on SIGTERM/SIGINT: every service is stopped in parallel, tend exits
//! 0 once all are gone; a second SIGTERM kills everything at once; `shutdown_timeout`
//! bounds the whole shutdown.

mod support;

use std::time::{Duration, Instant};

use support::{Proc, Tend, TestDir, DEADLINE};

#[test]
fn fifty_services_stop_well_within_the_deadline() {
    let dir = TestDir::new("shutdown-fifty");
    let mut cfg = String::from("shutdown_timeout = \"30s\"\n");
    for i in 0..50 {
        cfg.push_str(&format!(
            "[service.s{i:02}]\ncommand = \"echo $$ > {d}/s{i:02}.pid; exec sleep 1000\"\n",
            d = dir.s()
        ));
    }
    let mut tend = Tend::start(&dir, &cfg);
    let procs: Vec<Proc> = (0..50).map(|i| Proc::of(dir.wait_pid(&format!("s{i:02}.pid")))).collect();
    for i in 0..50 {
        tend.wait_transition(&format!("s{i:02}"), "running");
    }
    let t0 = Instant::now();
    tend.signal(libc::SIGTERM);
    let code = tend.exit_code();
    let elapsed = t0.elapsed();
    assert_eq!(code, 0, "{}", tend.dump());
    // s6-svscan needs 50ms, supervisord 1.5s; the deadline is 30s.
    assert!(elapsed < Duration::from_secs(3), "stopping 50 services took {elapsed:?}\n{}", tend.dump());
    tend.wait_err("received SIGTERM: shutting down");
    tend.wait_err("exiting with status 0");
    for (i, p) in procs.iter().enumerate() {
        assert!(!p.exists(), "s{i:02} (pid {}) is still there", p.pid);
    }
    for i in 0..50 {
        let t = tend.transitions(&format!("s{i:02}"));
        let last = t.last().expect("transitions");
        assert_eq!((last.to.as_str(), last.reason.as_str()), ("stopped", "stopped"), "s{i:02}: {t:?}");
    }
    tend.assert_no_leftovers();
    eprintln!("50 services stopped in {elapsed:?}");
}

#[test]
fn sigint_shuts_down_too() {
    let dir = TestDir::new("shutdown-sigint");
    let cfg = format!("[service.a]\ncommand = \"echo $$ > {d}/a.pid; exec sleep 1000\"\n", d = dir.s());
    let mut tend = Tend::start(&dir, &cfg);
    let a = Proc::of(dir.wait_pid("a.pid"));
    tend.signal(libc::SIGINT);
    assert_eq!(tend.exit_code(), 0, "{}", tend.dump());
    tend.wait_err("received SIGINT: shutting down");
    assert!(!a.exists());
    tend.assert_no_leftovers();
}

/// A service that ignores SIGTERM and has a long stop_timeout.
fn stubborn(dir: &TestDir, shutdown_timeout: &str) -> String {
    format!(
        "shutdown_timeout = \"{shutdown_timeout}\"\n\
         [service.stubborn]\ncommand = \"trap '' TERM; echo $$ > {d}/stubborn.pid; exec sleep 1000\"\n\
         stop_timeout = \"60s\"\n\
         [service.easy]\ncommand = \"echo $$ > {d}/easy.pid; exec sleep 1000\"\n",
        d = dir.s()
    )
}

#[test]
fn a_second_sigterm_kills_everything_at_once() {
    let dir = TestDir::new("shutdown-second-term");
    let mut tend = Tend::start(&dir, &stubborn(&dir, "60s"));
    let s = Proc::of(dir.wait_pid("stubborn.pid"));
    let e = Proc::of(dir.wait_pid("easy.pid"));
    tend.signal(libc::SIGTERM);
    tend.wait_transition("stubborn", "stopping");
    assert!(e.wait_gone(DEADLINE), "the service that honours SIGTERM did not stop");
    std::thread::sleep(Duration::from_millis(100));
    assert!(s.alive(), "the TERM-ignoring service is gone after the first SIGTERM");
    let t0 = Instant::now();
    tend.signal(libc::SIGTERM);
    let code = tend.exit_code();
    let elapsed = t0.elapsed();
    assert_eq!(code, 0, "{}", tend.dump());
    assert!(elapsed < Duration::from_secs(3), "exit took {elapsed:?} after the second SIGTERM");
    tend.wait_err("received SIGTERM again: killing everything now");
    assert!(!s.exists(), "stubborn is still there");
    tend.assert_no_leftovers();
}

#[test]
fn shutdown_timeout_bounds_the_shutdown() {
    let dir = TestDir::new("shutdown-deadline");
    let mut tend = Tend::start(&dir, &stubborn(&dir, "500ms"));
    let s = Proc::of(dir.wait_pid("stubborn.pid"));
    dir.wait_pid("easy.pid");
    let t0 = Instant::now();
    tend.signal(libc::SIGTERM);
    let code = tend.exit_code();
    let elapsed = t0.elapsed();
    assert_eq!(code, 0, "{}", tend.dump());
    assert!(elapsed >= Duration::from_millis(500), "exited after {elapsed:?}, before shutdown_timeout");
    assert!(elapsed < Duration::from_secs(3), "shutdown_timeout 500ms, exit after {elapsed:?}");
    tend.wait_err("shutdown_timeout reached: killing what is left");
    assert!(!s.exists(), "stubborn is still there");
    tend.assert_no_leftovers();
}
