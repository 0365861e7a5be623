//! `tend init` as the real PID 1 of a new PID namespace (`unshare -fp --mount-proc`):
//! it reaps orphans (no subreaper needed), passes the exit code on, and a SIGTERM sent
//! to it from outside the namespace reaches its child. (The kernel drops signals to a
//! namespace init at SIG_DFL, PITFALLS §1; tend keeps them blocked and reads them.)
//!
//! Needs root (or user namespaces) for unshare; if the probe is refused the tests say
//! so on stderr and pass without checking anything.

mod common;

use common::*;

/// Can we make a PID namespace here? Err(reason) if unshare is missing or refused;
/// any other failure fails the test.
fn probe() -> Result<(), String> {
    let out = std::process::Command::new("unshare")
        .args(["-fp", "--mount-proc", "true"])
        .stdin(std::process::Stdio::null())
        .output();
    match out {
        Err(e) => Err(format!("cannot run unshare(1) (util-linux): {e}")),
        Ok(o) if o.status.success() => Ok(()),
        Ok(o) => {
            let err = String::from_utf8_lossy(&o.stderr).trim().to_string();
            if err.contains("Operation not permitted") || err.contains("Permission denied") {
                Err(format!("`unshare -fp --mount-proc true` was refused: {err}"))
            } else {
                panic!("`unshare -fp --mount-proc true` failed ({}): {err}", o.status)
            }
        }
    }
}

/// `unshare -fp --mount-proc tend init ARGS...`, or None (after saying why) if not possible.
fn in_namespace(dir: &TestDir, test: &str, args: &[&str]) -> Option<Spawned> {
    if let Err(why) = probe() {
        skip(test, &format!("no PID namespace available: {why}"));
        return None;
    }
    let mut cmd = std::process::Command::new("unshare");
    cmd.args(["-fp", "--mount-proc", TEND, "init"]).args(args);
    clear_tini_env(&mut cmd);
    Some(spawn(dir, cmd))
}

#[test]
fn pid1_reaps_orphans_and_passes_the_exit_code_on() {
    let dir = TestDir::new("pidns_reap");
    let Some(mut u) = in_namespace(&dir, "pid1_reaps_orphans", &["--", "sh", "-c", PID1_REAP_SCRIPT, "sh", "", "42"])
    else {
        return;
    };
    let out = u.wait();
    out.assert_code(42);
    assert!(out.stdout.contains("ok: orphans"), "script output:\n{}\nstderr:\n{}", out.stdout, out.stderr);
    assert!(!out.stderr.contains(REAPER_WARNING), "PID 1 warned about reaping:\n{}", out.stderr);
}

#[test]
fn pid1_exit_codes() {
    let dir = TestDir::new("pidns_codes");
    for (script, code) in [("exit 0", 0), ("exit 7", 7), ("kill -KILL $$", 137)] {
        let Some(mut u) = in_namespace(&dir, "pid1_exit_codes", &["--", "sh", "-c", script]) else {
            return;
        };
        u.wait().assert_code(code);
    }
}

#[test]
fn pid1_forwards_sigterm_from_outside_the_namespace() {
    let dir = TestDir::new("pidns_term");
    // The child keeps SIGTERM at SIG_DFL, so the forwarded TERM kills it.
    let script = "echo $$ $PPID > ready; while :; do sleep 0.02; done";
    let Some(mut u) = in_namespace(&dir, "pid1_forwards_sigterm", &["--", "sh", "-c", script]) else {
        return;
    };
    let ready = wait_for_file(&dir.join("ready"));
    assert_eq!(ready.trim(), "2 1", "inside the namespace the child is PID 2, tend PID 1");
    // tend, seen from here: unshare's only child, once it has exec'd tend.
    let mut tend_pid = 0;
    wait_until(DEADLINE, "tend running under unshare", || match children(u.pid()).as_slice() {
        [k] => {
            tend_pid = *k;
            stat(*k).is_some_and(|s| s.comm == "tend")
        }
        _ => false,
    });
    let sent = std::time::Instant::now();
    assert!(kill(tend_pid, libc::SIGTERM), "kill tend");
    let out = u.wait();
    out.assert_code(143);
    assert!(sent.elapsed() < std::time::Duration::from_secs(5), "TERM took {:?} to end tend", sent.elapsed());
}

#[test]
fn pid1_forwards_sigterm_from_inside_the_namespace() {
    // `kill 1` from within the container (docker exec ... kill 1): the kernel would drop
    // it for an init at SIG_DFL; tend reads it and passes it to the child.
    let dir = TestDir::new("pidns_term_inside");
    let script = "kill -TERM 1; while :; do sleep 0.02; done";
    let Some(mut u) = in_namespace(&dir, "pid1_forwards_sigterm_from_inside", &["--", "sh", "-c", script]) else {
        return;
    };
    u.wait().assert_code(143);
}
