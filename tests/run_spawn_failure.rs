//! A service whose program cannot be executed: a `spawn failed` event with the step and
//! the errno text, restarts by policy, and the failures count toward the start limit.

mod support;

use support::{Tend, TestDir};

#[test]
fn a_missing_binary_counts_toward_the_start_limit() {
    let dir = TestDir::new("spawn-missing");
    let cfg = "shutdown_timeout = \"2s\"\n\
               [service.ghost]\ncommand = [\"/nonexistent/tend-test-prog\", \"--flag\"]\nrestart = \"always\"\n\
               backoff = { initial = \"10ms\", max = \"10ms\" }\nstart_limit = { burst = 3, interval = \"10s\" }\n";
    let mut tend = Tend::start(&dir, cfg);
    let failed = tend.wait_transition("ghost", "failed");
    assert_eq!(failed.from, "starting", "{failed:?}");
    assert!(failed.reason.starts_with("spawn failed; start limit reached"), "{failed:?}");
    // The only service ended failed: 3.
    assert_eq!(tend.exit_code(), 3, "{}", tend.dump());
    let msg = "ghost: spawn failed: exec /nonexistent/tend-test-prog: No such file or directory";
    let lines = tend.err.matching(|l| support::parse_note(l).is_some_and(|n| n.msg == msg));
    assert_eq!(lines.len(), 3, "expected 3 spawn failures (burst = 3)\n{}", tend.dump());
    let t = tend.transitions("ghost");
    assert!(!t.iter().any(|t| t.to == "running"), "{t:?}");
    assert_eq!(t.iter().filter(|t| t.to == "backoff").count(), 2, "{t:?}");
    tend.assert_no_leftovers();
}

#[test]
fn exec_errors_name_the_errno() {
    let dir = TestDir::new("spawn-errno");
    let script = dir.write_mode("not-executable.sh", "#!/bin/sh\necho should not run\n", 0o644);
    let cfg = format!(
        "[service.noexec]\ncommand = [\"{s}\"]\nrestart = \"never\"\n\
         [service.nopath]\ncommand = [\"tend-test-no-such-command\"]\nrestart = \"never\"\n\
         [service.keeper]\ncommand = [\"sleep\", \"1000\"]\n",
        s = script.display()
    );
    let mut tend = Tend::start(&dir, &cfg);
    tend.wait_err(&format!("noexec: spawn failed: exec {}: Permission denied", script.display()));
    tend.wait_err("nopath: spawn failed: exec tend-test-no-such-command: No such file or directory");
    for name in ["noexec", "nopath"] {
        let t = tend.wait_transition(name, "failed");
        assert_eq!((t.from.as_str(), t.reason.as_str()), ("starting", "spawn failed"), "{t:?}");
    }
    // The failures leave the others alone.
    tend.wait_transition("keeper", "running");
    assert!(tend.try_wait().is_none(), "{}", tend.dump());
    tend.signal(libc::SIGTERM);
    assert_eq!(tend.exit_code(), 0, "{}", tend.dump());
    assert!(!tend.out.text().contains("should not run"));
    tend.assert_no_leftovers();
}

/// A `cwd` that does not exist: the spawn fails, and the message names the directory,
/// not the (existing) program.
#[test]
fn a_missing_cwd_is_named() {
    let dir = TestDir::new("spawn-cwd");
    let missing = dir.join("no-such-dir");
    let cfg = format!(
        "[service.lost]\ncommand = [\"true\"]\ncwd = \"{}\"\nrestart = \"never\"\n\
         [service.keeper]\ncommand = [\"sleep\", \"1000\"]\n",
        missing.display()
    );
    let mut tend = Tend::start(&dir, &cfg);
    let t = tend.wait_transition("lost", "failed");
    assert_eq!(t.reason, "spawn failed", "{t:?}");
    let line = tend.wait_err("lost: spawn failed: ");
    tend.signal(libc::SIGTERM);
    assert_eq!(tend.exit_code(), 0, "{}", tend.dump());
    assert!(
        line.contains(&missing.display().to_string()) && !line.contains("exec true"),
        "the message should name the missing directory {}, got {line:?}",
        missing.display()
    );
}
