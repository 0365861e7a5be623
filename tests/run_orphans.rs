//! Orphans: tend is a child subreaper, so processes that outlive their parent are
//! re-parented to it and reaped; daemons that left their service's group (setsid) are
//! TERMed, then KILLed, at shutdown, and tend exits only once they are gone.

mod support;

use std::time::{Duration, Instant};

use support::{wait_until, zombies_of, Proc, Tend, TestDir, DEADLINE};

/// A service that starts a daemon in its own session (which writes its pid) and exits.
fn spawner(dir: &TestDir, daemon: &str) -> String {
    format!(
        "[service.spawner]\n\
         command = \"setsid sh -c \\\"{daemon}echo \\\\$\\\\$ > {d}/daemon.pid; exec sleep 1000\\\" </dev/null >/dev/null 2>&1 & \
                    while [ ! -s {d}/daemon.pid ]; do sleep 0.01; done; exit 0\"\n\
         restart = \"never\"\n\
         [service.keeper]\ncommand = \"echo $$ > {d}/keeper.pid; exec sleep 1000\"\n",
        d = dir.s()
    )
}

#[test]
fn an_orphaned_daemon_is_killed_and_reaped_at_shutdown() {
    let dir = TestDir::new("orphans-daemon");
    let mut tend = Tend::start(&dir, &spawner(&dir, ""));
    let daemon = Proc::of(dir.wait_pid("daemon.pid"));
    tend.wait_transition("spawner", "exited");
    // Its parent exited: re-parented to tend, the subreaper.
    wait_until(DEADLINE, "the daemon to be re-parented to tend", || daemon.ppid() == Some(tend.pid));
    tend.signal(libc::SIGTERM);
    assert_eq!(tend.exit_code(), 0, "{}", tend.dump());
    tend.wait_err("1 orphaned process(es) left: sent SIGTERM");
    assert!(!daemon.exists(), "the daemon {} is still there", daemon.pid);
    tend.assert_no_leftovers();
}

#[test]
fn a_term_ignoring_orphan_is_killed() {
    let dir = TestDir::new("orphans-stubborn");
    let mut tend = Tend::start(&dir, &spawner(&dir, "trap '' TERM; "));
    let daemon = Proc::of(dir.wait_pid("daemon.pid"));
    tend.wait_transition("spawner", "exited");
    wait_until(DEADLINE, "the daemon to be re-parented to tend", || daemon.ppid() == Some(tend.pid));
    let t0 = Instant::now();
    tend.signal(libc::SIGTERM);
    assert_eq!(tend.exit_code(), 0, "{}", tend.dump());
    let elapsed = t0.elapsed();
    // SIGTERM, then SIGKILL 2 seconds later.
    assert!(elapsed >= Duration::from_secs(2), "exited after {elapsed:?}: the orphan got no grace period?");
    assert!(elapsed < Duration::from_secs(6), "exited after {elapsed:?}");
    assert!(!daemon.exists(), "the daemon {} is still there", daemon.pid);
    tend.assert_no_leftovers();
}

#[test]
fn orphans_are_reaped_while_tend_runs() {
    let dir = TestDir::new("orphans-reaped");
    // Five double-forked processes that live 2 seconds.
    let cfg = format!(
        "[service.forker]\n\
         command = \"for i in 1 2 3 4 5; do (sh -c 'echo $$ >> {d}/orphans; exec sleep 2' &); done; \
                    echo $$ > {d}/forker.pid; exec sleep 1000\"\n",
        d = dir.s()
    );
    let mut tend = Tend::start(&dir, &cfg);
    dir.wait_pid("forker.pid");
    wait_until(DEADLINE, "5 orphans", || dir.read("orphans").lines().count() == 5);
    let orphans: Vec<Proc> = dir.read("orphans").lines().map(|l| Proc::of(l.parse().expect("pid"))).collect();
    for p in &orphans {
        // Their parent (a subshell) exited at once: they belong to tend now, not to the
        // service, nor to whatever reaps orphans above tend. (A zombie still shows its
        // parent: only an orphan already reaped shows none.)
        let mut ppid = None;
        wait_until(DEADLINE, "an orphan to be re-parented to tend", || {
            ppid = p.ppid();
            ppid.is_none_or(|pp| pp == tend.pid)
        });
        assert_eq!(ppid, Some(tend.pid), "orphan {} was gone before it was seen re-parented to tend", p.pid);
    }
    for p in &orphans {
        assert!(p.wait_gone(DEADLINE), "orphan {} was not reaped (zombie: {})", p.pid, p.exists());
    }
    let zombies = zombies_of(tend.pid);
    assert!(zombies.is_empty(), "zombie children of tend: {zombies:?}");
    assert!(tend.try_wait().is_none());
    tend.signal(libc::SIGTERM);
    assert_eq!(tend.exit_code(), 0, "{}", tend.dump());
    tend.assert_no_leftovers();
}
