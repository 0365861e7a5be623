//! Signals sent to `tend init` reach its child, as with tini: every signal but SIGCHLD
//! (tend's own business), SIGTTIN/SIGTTOU (tini ignores them) and the synchronous fault
//! signals, which tend never blocks or catches: sent with kill(2), one of those
//! terminates tend itself, as it terminates tini, and is not passed on.

mod common;

use common::*;

/// The representative set the child traps by name.
const TRAPPED: [(&str, i32); 12] = [
    ("HUP", libc::SIGHUP),
    ("INT", libc::SIGINT),
    ("QUIT", libc::SIGQUIT),
    ("USR1", libc::SIGUSR1),
    ("USR2", libc::SIGUSR2),
    ("TERM", libc::SIGTERM),
    ("WINCH", libc::SIGWINCH),
    ("CONT", libc::SIGCONT),
    ("ALRM", libc::SIGALRM),
    ("TSTP", libc::SIGTSTP),
    ("PIPE", libc::SIGPIPE),
    ("URG", libc::SIGURG),
];

#[test]
fn trapped_signals_reach_the_child() {
    let dir = TestDir::new("fwd_trapped");
    // The child traps each signal and logs its name; it exits 0 once `stop` exists.
    let script = r#"
        for s in HUP INT QUIT USR1 USR2 TERM WINCH CONT ALRM TSTP PIPE URG; do
            trap "echo $s >> log" $s
        done
        echo ready > ready
        while [ ! -e stop ]; do sleep 0.02; done
        exit 0
    "#;
    let mut t = spawn(&dir, tend(["init", "--", "sh", "-c", script]));
    wait_for_file(&dir.join("ready"));
    for (i, (name, sig)) in TRAPPED.iter().enumerate() {
        t.signal(*sig);
        wait_until(DEADLINE, &format!("the child to log SIG{name}"), || {
            dir.read("log").lines().count() > i && dir.read("log").lines().any(|l| l == *name)
        });
    }
    let log = dir.read("log");
    let want: Vec<&str> = TRAPPED.iter().map(|(n, _)| *n).collect();
    assert_eq!(log.lines().collect::<Vec<_>>(), want, "each signal exactly once, in order");
    std::fs::write(dir.join("stop"), "").expect("stop file");
    t.wait().assert_code(0);
}

/// Start tend with every signal blocked, so its child (`sleep`) inherits that mask and
/// every signal tend forwards stays visible in the child's pending set.
fn blocked_child(dir: &TestDir) -> (Spawned, i32) {
    let start = Start { block_all: true, ..Start::default() };
    let t = spawn_in(dir, tend(["init", "--", "sleep", "1000"]), &start, false);
    let child = t.child_pid();
    wait_until(DEADLINE, "the child to exec sleep", || stat(child).is_some_and(|s| s.comm == "sleep"));
    (t, child)
}

#[test]
fn every_forwardable_signal_reaches_the_child_and_sigchld_does_not() {
    let dir = TestDir::new("fwd_pending");
    let (mut t, child) = blocked_child(&dir);
    let pending = || shared_pending(child).expect("child still exists");
    assert_eq!(pending(), 0, "nothing pending at start: {:?}", sigset_names(pending()));

    // Not forwarded: CHLD, TTIN, TTOU. Then a marker: the kernel hands tend its pending
    // signals lowest number first and tend forwards in the order it reads, so once the
    // marker (the highest signal) is pending in the child, tend has dealt with the rest.
    let marker = libc::SIGRTMAX();
    for sig in [libc::SIGCHLD, libc::SIGTTIN, libc::SIGTTOU, marker] {
        t.signal(sig);
    }
    wait_until(DEADLINE, "the marker signal to reach the child", || pending() & sigbit(marker) != 0);
    assert_eq!(pending(), sigbit(marker), "only the marker was forwarded: {:?}", sigset_names(pending()));

    let faults = [libc::SIGILL, libc::SIGTRAP, libc::SIGABRT, libc::SIGBUS, libc::SIGFPE, libc::SIGSEGV, libc::SIGSYS];
    let not_forwarded = [libc::SIGKILL, libc::SIGSTOP, libc::SIGCHLD, libc::SIGTTIN, libc::SIGTTOU];
    let mut forwarded: Vec<i32> = (1..=31).filter(|s| !faults.contains(s) && !not_forwarded.contains(s)).collect();
    forwarded.extend([libc::SIGRTMIN(), libc::SIGRTMIN() + 5, libc::SIGRTMAX() - 1]);
    for sig in forwarded.iter().copied() {
        t.signal(sig);
        wait_until(DEADLINE, &format!("SIG{} to reach the child", signame(sig)), || pending() & sigbit(sig) != 0);
    }
    // A stop signal (TSTP, sent after CONT) discards a pending CONT: that is the kernel.
    let want = forwarded.iter().filter(|&&s| s != libc::SIGCONT).fold(sigbit(marker), |a, &s| a | sigbit(s));
    assert_eq!(pending(), want, "pending in the child: {:?}", sigset_names(pending()));
    assert!(t.running(), "tend exited while forwarding");
}

#[test]
fn fault_signals_kill_tend_and_are_not_forwarded() {
    for sig in [libc::SIGSEGV, libc::SIGBUS, libc::SIGILL, libc::SIGFPE, libc::SIGABRT, libc::SIGTRAP, libc::SIGSYS] {
        let dir = TestDir::new(&format!("fwd_fault_{}", signame(sig)));
        let (mut t, child) = blocked_child(&dir);
        t.track(child);
        t.signal(sig);
        let out = t.wait();
        assert_eq!(out.signal(), Some(sig), "tend should die of SIG{}: {:?}\n{}", signame(sig), out.status, out.stderr);
        let pending = shared_pending(child).expect("the child outlives tend");
        assert_eq!(pending & sigbit(sig), 0, "SIG{} was forwarded to the child", signame(sig));
    }
}

#[test]
fn a_signal_that_kills_the_child_is_its_exit_status() {
    // The child keeps default dispositions: a forwarded signal kills it and tend exits
    // with 128 + that signal.
    for (sig, code) in [(libc::SIGTERM, 143), (libc::SIGINT, 130), (libc::SIGHUP, 129), (libc::SIGUSR1, 138)] {
        let dir = TestDir::new(&format!("fwd_kills_{}", signame(sig)));
        let mut t = spawn(&dir, tend(["init", "--", "sleep", "1000"]));
        let child = t.child_pid();
        wait_until(DEADLINE, "the child to exec sleep", || stat(child).is_some_and(|s| s.comm == "sleep"));
        t.signal(sig);
        t.wait().assert_code(code);
    }
}
