//! Interactive use: when stdin is tend's controlling terminal, the child is put in its
//! own process group and that group is made the terminal's foreground group (tini's
//! isolate_child), so the child can read the terminal and gets ^C. Without a terminal
//! (or with one that is not tend's controlling terminal) the child runs all the same.
//!
//! The test opens a pseudo-terminal and, between fork and exec of tend, starts a new
//! session and makes the pty its controlling terminal (setsid + TIOCSCTTY on stdin).

mod common;

use std::io::Write;
use std::os::fd::OwnedFd;
use std::process::Stdio;

use common::*;

fn pty() -> (OwnedFd, OwnedFd) {
    let p = nix::pty::openpty(None, None).expect("openpty");
    (p.master, p.slave)
}

/// Run `tend init -- sh -c SCRIPT` with the pty slave as stdin, as its controlling
/// terminal if `ctty`. Returns tend's pid; `feed` is written to the terminal.
fn run_on_pty(dir: &TestDir, script: &str, ctty: bool, feed: &[u8]) -> i32 {
    let (master, slave) = pty();
    let mut cmd = tend(["init", "--", "sh", "-c", script]);
    cmd.stdin(Stdio::from(slave));
    let start = Start { controlling_tty: ctty, ..Start::default() };
    // The Command (and with it our copy of the slave) is dropped inside spawn_in.
    let mut t = spawn_in(dir, cmd, &start, true);
    if !feed.is_empty() {
        std::fs::File::from(master.try_clone().expect("dup master")).write_all(feed).expect("write to the pty");
    }
    let pid = t.pid();
    t.wait().assert_code(0);
    drop(master);
    pid
}

#[test]
fn child_gets_the_terminal_foreground() {
    let dir = TestDir::new("tty_foreground");
    // exec: the stat is the child's own (same pid), not a subprocess's.
    let tend_pid = run_on_pty(&dir, "exec cat /proc/self/stat > stat", true, b"");
    let s = parse_stat(&dir.read("stat")).expect("child's stat");
    assert_eq!(s.session, tend_pid, "the child is in tend's session");
    assert_ne!(s.tty_nr, 0, "the child has the controlling terminal");
    assert_eq!(s.pgrp, s.pid, "the child leads its own process group");
    assert_ne!(s.pgrp, tend_pid, "the child is not in tend's group");
    assert_eq!(s.tpgid, s.pgrp, "the child's group is the terminal's foreground group");
}

#[test]
fn child_can_read_the_terminal() {
    // A background group reading its terminal would be stopped by SIGTTIN (and tend
    // would wait forever): reading works only in the foreground.
    let dir = TestDir::new("tty_read");
    run_on_pty(&dir, "read -r line; echo \"got:$line\" > got", true, b"hello\n");
    assert_eq!(dir.read("got"), "got:hello\n");
}

#[test]
fn child_runs_without_a_controlling_terminal() {
    let dir = TestDir::new("tty_none");
    // stdin a terminal, but not tend's controlling one: tcsetpgrp fails, that is fine
    run_on_pty(&dir, "exec cat /proc/self/stat > stat", false, b"");
    let s = parse_stat(&dir.read("stat")).expect("child's stat");
    assert_eq!(s.pgrp, s.pid, "the child leads its own process group");
    // no terminal at all
    let out = run(&dir, tend(["init", "--", "sh", "-c", "exec cat /proc/self/stat"]));
    out.assert_code(0);
    let s = parse_stat(&out.stdout).expect("child's stat");
    assert_eq!(s.pgrp, s.pid, "the child leads its own process group");
}

#[test]
fn ctrl_c_on_the_terminal_interrupts_the_childs_whole_group() {
    // ^C makes the terminal send SIGINT to its foreground group: the child's group, with
    // the pipeline the child runs, not tend (which would pass it to the child only).
    let dir = TestDir::new("tty_ctrl_c");
    let (master, slave) = pty();
    let mut cmd = tend(["init", "--", "sh", "-c", "sleep 1000 | cat"]);
    cmd.stdin(Stdio::from(slave));
    let start = Start { controlling_tty: true, ..Start::default() };
    let mut t = spawn_in(&dir, cmd, &start, true);
    let child = t.child_pid();
    let mut pipeline = Vec::new();
    wait_until(DEADLINE, "the child's pipeline to start", || {
        pipeline = children(child);
        pipeline.len() == 2
    });
    let mut m = std::fs::File::from(master);
    m.write_all(b"\x03").expect("write ^C to the pty");
    t.wait().assert_code(130);
    for p in pipeline {
        wait_until(DEADLINE, &format!("{p} of the child's pipeline to die of the ^C"), || !alive(p));
    }
}
