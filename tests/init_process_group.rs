//! `-g` (or `TINI_KILL_PROCESS_GROUP` in the environment): forwarded signals go to the
//! child's whole process group, so a grandchild in that group gets them too. Without
//! it only the direct child is signalled, and a grandchild outlives a TERM (tini #167).

mod common;

use common::*;

/// The child, a shell, starts `sleep` in the background (same process group: a
/// non-interactive shell has no job control), writes its pid to `gc`, and waits.
const SCRIPT: &str = "sleep 1000 & echo $! > gc; wait";

/// Run the script under tend, TERM tend, check tend exits 143; returns the grandchild.
fn term_with(name: &str, flags: &[&str], env: Option<(&str, &str)>) -> (Spawned, i32) {
    let dir = TestDir::new(name);
    let mut cmd = init_sh(flags, SCRIPT);
    if let Some((k, v)) = env {
        cmd.env(k, v);
    }
    let mut t = spawn(&dir, cmd);
    let gc = dir.wait_pid("gc");
    t.track(gc);
    let child = t.child_pid();
    assert_eq!(stat(child).expect("child exists").pgrp, child, "the child leads its own process group");
    let gst = stat(gc).expect("grandchild exists");
    assert_eq!(gst.pgrp, child, "the grandchild is in the child's process group");
    let tend_pgrp = stat(t.pid()).expect("tend exists").pgrp;
    assert_ne!(tend_pgrp, child, "the child has its own process group, not tend's");
    t.signal(libc::SIGTERM);
    t.wait().assert_code(143);
    (t, gc)
}

#[test]
fn with_g_the_grandchild_gets_the_signal() {
    let (_t, gc) = term_with("pgrp_flag", &["-g"], None);
    // Signalled before the child died; it may linger as a zombie of whoever inherited it.
    wait_until(DEADLINE, &format!("grandchild {gc} to die of the TERM sent with -g"), || !alive(gc));
}

#[test]
fn tini_kill_process_group_env_works_like_g() {
    // Set to anything, even empty, counts (tini checks only that it is set).
    let (_t, gc) = term_with("pgrp_env", &[], Some(("TINI_KILL_PROCESS_GROUP", "")));
    wait_until(DEADLINE, &format!("grandchild {gc} to die of the TERM sent with TINI_KILL_PROCESS_GROUP"), || {
        !alive(gc)
    });
}

#[test]
fn without_g_only_the_direct_child_gets_the_signal() {
    let (_t, gc) = term_with("pgrp_none", &[], None);
    // tend has exited: it will send nothing more, so this needs no waiting.
    assert!(alive(gc), "grandchild {gc} was killed although only the child should be signalled");
}

/// Exact version, no timing: with every signal blocked from the start, the shell and
/// its background `sleep` inherit the full mask, so a forwarded USR1 stays pending
/// where it was delivered. One kill(2) to a group marks every member at once, so the
/// moment the child has it pending the grandchild has it too, or never will.
fn pending_in_grandchild(name: &str, flags: &[&str]) -> bool {
    let dir = TestDir::new(name);
    let start = Start { block_all: true, ..Start::default() };
    let mut t = spawn_in(&dir, init_sh(flags, SCRIPT), &start, false);
    let gc = dir.wait_pid("gc");
    let child = t.child_pid();
    wait_until(DEADLINE, "the grandchild to exec sleep", || stat(gc).is_some_and(|s| s.comm == "sleep"));
    for pid in [child, gc] {
        let text = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
        assert!(sigset_field(&text, "SigBlk") & sigbit(libc::SIGUSR1) != 0, "USR1 not blocked in {pid}");
    }
    t.signal(libc::SIGUSR1);
    wait_until(DEADLINE, "USR1 pending in the child", || {
        shared_pending(child).is_some_and(|p| p & sigbit(libc::SIGUSR1) != 0)
    });
    let in_gc = shared_pending(gc).is_some_and(|p| p & sigbit(libc::SIGUSR1) != 0);
    assert!(t.running());
    in_gc
}

#[test]
fn group_delivery_is_exact() {
    let with_g = pending_in_grandchild("pgrp_exact_g", &["-g"]);
    assert!(with_g, "with -g, USR1 did not reach the grandchild");
    let without = pending_in_grandchild("pgrp_exact_none", &[]);
    assert!(!without, "without -g, USR1 reached the grandchild");
}
