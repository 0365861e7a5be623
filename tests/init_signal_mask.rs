//! The child starts with the signal mask and the ignored signals tend itself was
//! started with, as tini does (`nohup tend init -- cmd` keeps SIGHUP ignored), and not
//! with the mask tend runs under (nearly everything blocked).
//!
//! The child is `cat /proc/self/status`, exec'd by tend directly, so what it prints is
//! exactly the state tend handed over at exec.

mod common;

use common::*;

struct ChildSignals {
    blocked: u64,
    ignored: u64,
}

fn child_signals(name: &str, start: Start) -> ChildSignals {
    let dir = TestDir::new(name);
    let out = spawn_in(&dir, tend(["init", "--", "cat", "/proc/self/status"]), &start, false).wait();
    out.assert_code(0);
    ChildSignals { blocked: sigset_field(&out.stdout, "SigBlk"), ignored: sigset_field(&out.stdout, "SigIgn") }
}

fn set(sigs: &[i32]) -> u64 {
    sigs.iter().map(|&s| sigbit(s)).fold(0, |a, b| a | b)
}

#[track_caller]
fn assert_set(what: &str, got: u64, want: u64) {
    assert_eq!(got, want, "{what}: got {:?}, want {:?}", sigset_names(got), sigset_names(want));
}

#[test]
fn clean_start_gives_the_child_an_empty_mask_and_no_ignored_signals() {
    let c = child_signals("mask_clean", Start::default());
    assert_set("child's SigBlk", c.blocked, 0);
    assert_set("child's SigIgn", c.ignored, 0);
}

#[test]
fn tend_itself_runs_with_signals_blocked() {
    // The check above means something only if tend's own mask is not empty. (tend
    // keeps its signals blocked for its signalfd; tini, waiting in sigtimedwait, shows
    // them unblocked in /proc while it waits, so this one is tend's own design.)
    let dir = TestDir::new("mask_tend_own");
    let out = run(&dir, tend(["init", "--", "sh", "-c", "cat /proc/$PPID/status"]));
    out.assert_code(0);
    let blocked = sigset_field(&out.stdout, "SigBlk");
    for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP, libc::SIGCHLD, libc::SIGUSR1] {
        assert!(blocked & sigbit(sig) != 0, "tend does not block {}: {:?}", signame(sig), sigset_names(blocked));
    }
    for sig in [libc::SIGSEGV, libc::SIGBUS, libc::SIGILL, libc::SIGFPE, libc::SIGABRT, libc::SIGTRAP, libc::SIGSYS] {
        assert!(blocked & sigbit(sig) == 0, "tend blocks the fault signal {}", signame(sig));
    }
}

#[test]
fn nohup_and_blocked_signals_are_handed_to_the_child() {
    let start = Start { ignore: vec![libc::SIGHUP], block: vec![libc::SIGUSR1, libc::SIGTERM], ..Start::default() };
    let c = child_signals("mask_nohup_blocked", start);
    assert_set("child's SigBlk", c.blocked, set(&[libc::SIGUSR1, libc::SIGTERM]));
    assert_set("child's SigIgn", c.ignored, set(&[libc::SIGHUP]));
}

#[test]
fn ignored_sigpipe_stays_ignored() {
    // tend's main is no_main so that Rust's runtime does not make SIGPIPE ignored for
    // everyone; when tend *is* started with it ignored, the child keeps it ignored, even
    // though std's Command resets SIGPIPE in every child it spawns.
    let c = child_signals("mask_sigpipe_ign", Start { ignore: vec![libc::SIGPIPE], ..Start::default() });
    assert_set("child's SigIgn", c.ignored, set(&[libc::SIGPIPE]));
    assert_set("child's SigBlk", c.blocked, 0);
}

#[test]
fn ignored_sigchld_stays_ignored_for_the_child() {
    // tend resets SIGCHLD to SIG_DFL for itself (or it could not collect exit statuses)
    // but gives the child what tend was started with.
    let c = child_signals("mask_sigchld_ign", Start { ignore: vec![libc::SIGCHLD], ..Start::default() });
    assert_set("child's SigIgn", c.ignored, set(&[libc::SIGCHLD]));
}

#[test]
fn a_fully_blocked_mask_is_handed_over_whole() {
    let c = child_signals("mask_all_blocked", Start { block_all: true, ..Start::default() });
    // sigfillset leaves out the C library's two internal real-time signals and the
    // kernel never lets KILL and STOP be blocked.
    let expect = (1..=64)
        .filter(|&s| s != libc::SIGKILL && s != libc::SIGSTOP && s != 32 && s != 33)
        .fold(0u64, |a, s| a | sigbit(s));
    assert_set("child's SigBlk", c.blocked, expect);
    assert_set("child's SigIgn", c.ignored, 0);
}
