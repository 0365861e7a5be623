//! Stopping: the stop signal, then SIGKILL to the whole group after `stop_timeout`; a
//! stop is complete only when no process of the group is left.

mod support;

use std::time::{Duration, Instant};

use support::{Proc, Tend, TestDir, DEADLINE};

#[test]
fn a_term_ignoring_service_is_killed_after_stop_timeout() {
    let dir = TestDir::new("stop-timeout-leader");
    let cfg = format!(
        "[service.stubborn]\ncommand = \"trap '' TERM; echo $$ > {d}/stubborn.pid; exec sleep 1000\"\n\
         stop_timeout = \"300ms\"\n",
        d = dir.s()
    );
    let mut tend = Tend::start(&dir, &cfg);
    let leader = Proc::of(dir.wait_pid("stubborn.pid"));
    tend.wait_transition("stubborn", "running");
    let t0 = Instant::now();
    tend.signal(libc::SIGTERM);
    let stopping = tend.wait_transition("stubborn", "stopping");
    assert_eq!(stopping.reason, "shutting down");
    // Still there: it ignores SIGTERM.
    std::thread::sleep(Duration::from_millis(100));
    assert!(leader.alive(), "the service died of a signal it ignores\n{}", tend.dump());
    let killed = tend.wait_err("stubborn stopping->stopping: stop_timeout elapsed, sent SIGKILL");
    let stopped = tend.wait_transition("stubborn", "stopped");
    assert_eq!(stopped.reason, "stopped (killed after stop_timeout)");
    assert_eq!(tend.exit_code(), 0, "{}", tend.dump());
    let elapsed = t0.elapsed();
    assert!(elapsed >= Duration::from_millis(300), "tend exited after {elapsed:?}, before stop_timeout");
    assert!(elapsed < Duration::from_secs(3), "tend took {elapsed:?} to stop a service with stop_timeout 300ms");
    let kill_at = support::parse_note(&killed).expect("note").micros;
    assert!(
        kill_at - stopping.micros >= 300_000 - 1_000,
        "SIGKILL sent {}µs after the stop",
        kill_at - stopping.micros
    );
    assert!(!leader.exists(), "the service's process is still there");
    tend.assert_no_leftovers();
}

/// A leader and a grandchild that both ignore SIGTERM; with kill_group the whole group is
/// SIGKILLed after stop_timeout.
#[test]
fn kill_group_kills_term_ignoring_grandchildren() {
    let dir = TestDir::new("stop-timeout-group");
    let cfg = format!(
        "[service.family]\n\
         command = \"trap '' TERM; sleep 1000 & echo $! > {d}/grandchild.pid; echo $$ > {d}/leader.pid; wait\"\n\
         kill_group = true\nstop_timeout = \"300ms\"\n",
        d = dir.s()
    );
    let mut tend = Tend::start(&dir, &cfg);
    let leader = Proc::of(dir.wait_pid("leader.pid"));
    let grandchild = Proc::of(dir.wait_pid("grandchild.pid"));
    assert_eq!(grandchild.ppid(), Some(leader.pid));
    tend.signal(libc::SIGTERM);
    tend.wait_transition("family", "stopping");
    std::thread::sleep(Duration::from_millis(100));
    assert!(leader.alive() && grandchild.alive(), "SIGTERM is ignored by both\n{}", tend.dump());
    let stopped = tend.wait_transition("family", "stopped");
    assert_eq!(stopped.reason, "stopped (killed after stop_timeout)");
    assert_eq!(tend.exit_code(), 0, "{}", tend.dump());
    assert!(!leader.exists(), "leader {} is still there", leader.pid);
    assert!(!grandchild.exists(), "grandchild {} is still there\n{}", grandchild.pid, tend.dump());
    tend.assert_no_leftovers();
}

/// The leader dies of SIGTERM at once, a grandchild in its group does not: the stop is
/// not over until the grandchild is gone too (SIGKILL after stop_timeout).
fn stop_waits_for_the_group(kill_group: bool) {
    let dir = TestDir::new(&format!("stop-timeout-wait-group-{kill_group}"));
    let cfg = format!(
        "[service.family]\n\
         command = \"sh -c 'trap \\\"\\\" TERM; touch {d}/ready; exec sleep 1000' & \
                    echo $! > {d}/grandchild.pid; echo $$ > {d}/leader.pid; exec sleep 1000\"\n\
         kill_group = {kill_group}\nstop_timeout = \"400ms\"\n",
        d = dir.s()
    );
    let mut tend = Tend::start(&dir, &cfg);
    let leader = Proc::of(dir.wait_pid("leader.pid"));
    let grandchild = Proc::of(dir.wait_pid("grandchild.pid"));
    tend.wait_transition("family", "running");
    // The grandchild ignores SIGTERM from here on.
    support::wait_until(DEADLINE, "the grandchild to be ready", || dir.join("ready").exists());
    let t0 = Instant::now();
    tend.signal(libc::SIGTERM);
    tend.wait_transition("family", "stopping");
    assert!(leader.wait_gone(DEADLINE), "the leader did not die of SIGTERM\n{}", tend.dump());
    // The leader is gone, its group is not: still stopping.
    std::thread::sleep(Duration::from_millis(100));
    assert!(grandchild.alive(), "the grandchild ignores SIGTERM, yet it is gone after {:?}", t0.elapsed());
    assert!(tend.try_wait().is_none(), "tend exited while a process of the group was left\n{}", tend.dump());
    assert!(
        !tend.transitions("family").iter().any(|t| t.to == "stopped"),
        "the stop was reported complete with the grandchild alive\n{}",
        tend.dump()
    );
    let stopped = tend.wait_transition("family", "stopped");
    assert_eq!(stopped.reason, "stopped (killed after stop_timeout)");
    assert_eq!(tend.exit_code(), 0, "{}", tend.dump());
    assert!(t0.elapsed() >= Duration::from_millis(400));
    assert!(!grandchild.exists(), "grandchild {} is still there", grandchild.pid);
    tend.assert_no_leftovers();
}

#[test]
fn stop_waits_for_the_whole_group_with_kill_group() {
    stop_waits_for_the_group(true);
}

#[test]
fn stop_waits_for_the_whole_group_without_kill_group() {
    stop_waits_for_the_group(false);
}

#[test]
fn stop_signal_is_what_the_service_gets() {
    let dir = TestDir::new("stop-signal");
    let cfg = format!(
        "[service.polite]\n\
         command = \"trap 'echo USR1 > {d}/got; exit 0' USR1; echo $$ > {d}/polite.pid; \
                    while :; do sleep 0.02; done\"\n\
         stop_signal = \"USR1\"\nstop_timeout = \"5s\"\n",
        d = dir.s()
    );
    let mut tend = Tend::start(&dir, &cfg);
    let leader = Proc::of(dir.wait_pid("polite.pid"));
    tend.signal(libc::SIGTERM);
    let stopped = tend.wait_transition("polite", "stopped");
    assert_eq!(stopped.reason, "stopped", "{}", tend.dump());
    assert_eq!(tend.exit_code(), 0, "{}", tend.dump());
    assert_eq!(dir.read("got"), "USR1\n");
    assert!(!leader.exists());
    tend.assert_no_leftovers();
}
