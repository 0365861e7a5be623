//! When tend is not PID 1, its services get PR_SET_PDEATHSIG(SIGKILL): if tend is killed
//! outright, they die with it instead of running on unsupervised.

mod support;

use support::{Proc, Tend, TestDir, DEADLINE};

#[test]
fn services_die_with_a_killed_tend() {
    let dir = TestDir::new("pdeathsig");
    let cfg = format!(
        "[service.a]\ncommand = \"echo $$ > {d}/a.pid; exec sleep 1000\"\n\
         [service.b]\ncommand = \"trap '' TERM HUP; echo $$ > {d}/b.pid; exec sleep 1000\"\n",
        d = dir.s()
    );
    let mut tend = Tend::start(&dir, &cfg);
    let a = Proc::of(dir.wait_pid("a.pid"));
    let b = Proc::of(dir.wait_pid("b.pid"));
    assert_eq!(a.ppid(), Some(tend.pid));
    tend.signal(libc::SIGKILL);
    assert!(tend.wait_timeout(DEADLINE).is_some(), "tend survived SIGKILL");
    // They may stay zombies of whoever inherits them; they must not run.
    assert!(support::poll_until(DEADLINE, || !a.alive() && !b.alive()), "a service outlived tend");
}

/// Readiness probes are children of tend too: one still running when tend is killed
/// dies with it (issue 9, faults).
#[test]
fn a_running_probe_dies_with_a_killed_tend() {
    let dir = TestDir::new("pdeathsig-probe");
    let cfg = format!(
        "[service.a]\ncommand = \"echo $$ > {d}/a.pid; exec sleep 1000\"\n\
         ready = {{ exec = [\"sh\", \"-c\", \"echo $$ > {d}/probe.pid; exec sleep 1000\"], timeout = \"60s\" }}\n",
        d = dir.s()
    );
    let mut tend = Tend::start(&dir, &cfg);
    let a = Proc::of(dir.wait_pid("a.pid"));
    let probe = Proc::of(dir.wait_pid("probe.pid"));
    assert_eq!(probe.ppid(), Some(tend.pid));
    tend.signal(libc::SIGKILL);
    assert!(tend.wait_timeout(DEADLINE).is_some(), "tend survived SIGKILL");
    assert!(support::poll_until(DEADLINE, || !a.alive() && !probe.alive()), "a service or a probe outlived tend");
}
