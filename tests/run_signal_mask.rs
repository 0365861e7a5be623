//! A service starts with a clean signal state: nothing blocked (SigBlk all zero) and
//! nothing ignored (SigIgn all zero), whatever tend itself was started with, as
//! `nohup tend run` starts it with SIGHUP ignored.

mod support;

use support::{Opts, Tend, TestDir};

/// The SigBlk/SigIgn/SigPnd lines a service printed about itself (from grep, exec'd
/// directly by tend, so nothing in between changes them).
fn signal_state(dir: &TestDir, opts: Opts) -> Vec<(String, u64)> {
    let cfg =
        "[service.mask]\ncommand = [\"grep\", \"-E\", \"^(SigBlk|SigIgn|ShdPnd|SigPnd)\", \"/proc/self/status\"]\n\
               restart = \"never\"\n\
               [service.keep]\ncommand = [\"sleep\", \"1000\"]\n";
    let mut tend = Tend::start_with(dir, cfg, opts);
    tend.wait_transition("mask", "exited");
    let lines: Vec<(String, u64)> = (0..4)
        .map(|i| {
            let l = tend
                .out
                .wait_nth(i + 1, support::DEADLINE, |l| l.starts_with("mask | Sig") || l.starts_with("mask | Shd"));
            let l = l.unwrap_or_else(|| panic!("no signal state line\n{}", tend.dump()));
            let (k, v) = l["mask | ".len()..].split_once(':').expect("field");
            let v = u64::from_str_radix(v.trim(), 16).unwrap_or_else(|e| panic!("{l:?}: {e}"));
            (k.to_string(), v)
        })
        .collect();
    // SIGHUP still reloads tend, even though it was started with SIGHUP ignored.
    tend.signal(libc::SIGHUP);
    tend.wait_err("reloaded ");
    tend.signal(libc::SIGTERM);
    assert_eq!(tend.exit_code(), 0, "{}", tend.dump());
    tend.assert_no_leftovers();
    lines
}

#[test]
fn sighup_ignored_and_signals_blocked_in_tend_are_not_passed_on() {
    let dir = TestDir::new("sigmask-nohup");
    let opts = Opts {
        ignore: vec![libc::SIGHUP, libc::SIGPIPE, libc::SIGUSR2],
        block: vec![libc::SIGUSR1, libc::SIGTERM, libc::SIGINT],
        ..Default::default()
    };
    for (k, v) in signal_state(&dir, opts) {
        assert_eq!(v, 0, "{k} is {v:016x} in a service of a tend started with SIGHUP ignored");
    }
}

#[test]
fn every_signal_ignored_in_tend_is_reset_in_services() {
    let dir = TestDir::new("sigmask-all-ignored");
    // Everything that can be ignored, the C library's own real-time signals (32, 33)
    // included: a multi-threaded glibc parent's posix_spawn can leave those ignored.
    let ignore: Vec<i32> =
        (1..=64).filter(|&s| s != libc::SIGKILL && s != libc::SIGSTOP && s != libc::SIGCHLD).collect();
    let opts = Opts { ignore, ..Default::default() };
    for (k, v) in signal_state(&dir, opts) {
        let names: Vec<i32> = (1..=64).filter(|s| v & (1u64 << (s - 1)) != 0).collect();
        assert_eq!(
            v, 0,
            "{k} is {v:016x} (signals {names:?}) in a service of a tend started with every signal ignored"
        );
    }
}
