//! `-p SIG`: tend asks for SIG when its parent dies (PR_SET_PDEATHSIG), and forwards
//! it to the child like any other signal. Without `-p` nothing is sent.

mod common;

use common::*;

/// A shell starts `tend init FLAGS -- sleep` in the background, then becomes `sleep`
/// itself: it is tend's parent. Returns (the parent, tend's pid, the child's pid).
fn start(dir: &TestDir, flags: &str, st: &Start) -> (Spawned, i32, i32) {
    let script =
        format!(r#""$1" init {flags} -- sh -c 'echo $$ > child; exec sleep 1000' & echo $! > tend; exec sleep 1000"#);
    let mut cmd = std::process::Command::new("sh");
    cmd.args(["-c", &script, "sh", TEND]);
    let mut parent = spawn_in(dir, cmd, st, false);
    let tend_pid = dir.wait_pid("tend");
    let child = dir.wait_pid("child");
    parent.track(tend_pid);
    parent.track(child);
    wait_until(DEADLINE, "the child to exec sleep", || stat(child).is_some_and(|s| s.comm == "sleep"));
    assert_eq!(stat(tend_pid).expect("tend").ppid, parent.pid(), "tend's parent is the shell");
    (parent, tend_pid, child)
}

#[test]
fn parent_death_signal_is_forwarded_to_the_child() {
    let dir = TestDir::new("pdeath_term");
    let (mut parent, tend_pid, child) = start(&dir, "-p SIGTERM", &Start::default());
    parent.signal(libc::SIGKILL);
    parent.wait();
    wait_until(DEADLINE, "the child to die of the forwarded TERM", || !alive(child));
    wait_until(DEADLINE, "tend to exit after its child", || !alive(tend_pid));
}

#[test]
fn without_p_nothing_is_sent_when_the_parent_dies() {
    // Everything blocked from the start, so whatever tend forwards stays pending in the
    // child; after the parent's death a marker (the highest signal, which tend reads
    // last) shows when tend has passed on all it had.
    let dir = TestDir::new("pdeath_none");
    let (mut parent, tend_pid, child) = start(&dir, "", &Start { block_all: true, ..Start::default() });
    parent.signal(libc::SIGKILL);
    parent.wait();
    // The kernel sends the parent-death signal as it re-parents.
    wait_until(DEADLINE, "tend to be re-parented", || stat(tend_pid).is_some_and(|s| s.ppid != parent.pid()));
    let marker = libc::SIGRTMAX();
    assert!(kill(tend_pid, marker), "kill tend");
    let pending = || shared_pending(child).expect("the child is alive");
    wait_until(DEADLINE, "the marker to reach the child", || pending() & sigbit(marker) != 0);
    assert_eq!(pending(), sigbit(marker), "forwarded to the child: {:?}", sigset_names(pending()));
    assert!(alive(tend_pid), "tend died with its parent");
}

#[test]
fn parent_death_signal_reaches_a_blocking_child_exactly() {
    let dir = TestDir::new("pdeath_exact");
    let (mut parent, tend_pid, child) = start(&dir, "-p SIGUSR2", &Start { block_all: true, ..Start::default() });
    parent.signal(libc::SIGKILL);
    parent.wait();
    let pending = || shared_pending(child).expect("the child is alive");
    wait_until(DEADLINE, "USR2 pending in the child", || pending() & sigbit(libc::SIGUSR2) != 0);
    assert!(alive(tend_pid), "tend died of its own parent-death signal");
    // Exactly USR2: once a marker sent after it is pending too, tend has passed on all it
    // had (see without_p_nothing_is_sent_when_the_parent_dies).
    let marker = libc::SIGRTMAX();
    assert!(kill(tend_pid, marker), "kill tend");
    wait_until(DEADLINE, "the marker to reach the child", || pending() & sigbit(marker) != 0);
    let want = sigbit(libc::SIGUSR2) | sigbit(marker);
    assert_eq!(pending(), want, "forwarded to the child: {:?}", sigset_names(pending()));
}
