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
