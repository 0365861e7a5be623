//! Per-service cgroup v2: a stop is complete only when no process of the service is
//! left, including daemons that called setsid; SIGKILL at stop_timeout reaches them
//! through cgroup.kill; tend removes its cgroups when it exits. Without a writable
//! cgroup2 hierarchy these tests skip, saying so.

mod support;

use std::path::PathBuf;
use std::time::Duration;

use support::{ctl_ok, skip, wait_until, Proc, Tend, TestDir, DEADLINE};

/// tend's would-be cgroup parent (the test's own cgroup), if cgroup2 is mounted and
/// a directory can be created in it.
fn cgroup2_writable() -> Option<PathBuf> {
    let cg = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let rel = cg.lines().find_map(|l| l.strip_prefix("0::"))?.trim().to_string();
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    let point = mounts.lines().find_map(|l| {
        let (pre, post) = l.split_once(" - ")?;
        (post.split(' ').next()? == "cgroup2").then(|| pre.split(' ').nth(4).map(str::to_string))?
    })?;
    let own = PathBuf::from(point).join(rel.trim_start_matches('/'));
    // One name per call: the tests run side by side, and each probes.
    static SEQ: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let probe = own.join(format!("tend-test-probe.{}.{n}", std::process::id()));
    std::fs::create_dir(&probe).ok()?;
    std::fs::remove_dir(&probe).ok()?;
    Some(own)
}

/// The test's cgroup (see [`cgroup2_writable`]), or return from the test after saying
/// why it is skipped.
macro_rules! require_cgroup2 {
    ($test:literal) => {
        match cgroup2_writable() {
            Some(p) => p,
            None => {
                skip($test, "no writable cgroup2 hierarchy here (needs cgroup2 mounted and root)");
                return;
            }
        }
    };
}

/// A service whose main process starts a daemon in its own session (which writes its
/// pid), then waits.
fn config(dir: &TestDir, extra: &str) -> String {
    format!(
        "{extra}\n[service.app]\n\
         command = \"setsid sh -c 'echo $$ > {d}/daemon.pid; exec sleep 1000' </dev/null >/dev/null 2>&1 & \
                    echo $$ > {d}/main.pid; exec sleep 1000\"\n\
         stop_timeout = \"1s\"\n",
        d = dir.s()
    )
}

/// `tend stop app`, which answers once the service is stopped.
#[track_caller]
fn stop_app(dir: &TestDir) {
    ctl_ok(dir, &["stop", "app"]);
}

fn cgroup_of(pid: i32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default()
}

#[test]
fn a_stop_kills_a_daemon_that_left_the_process_group() {
    let own = require_cgroup2!("a_stop_kills_a_daemon_that_left_the_process_group");
    let dir = TestDir::new("cgroup-stop");
    let mut tend = Tend::start(&dir, &config(&dir, ""));
    let main = Proc::of(dir.wait_pid("main.pid"));
    let daemon = Proc::of(dir.wait_pid("daemon.pid"));
    let want = format!("/tend.{}/app", tend.pid);
    assert!(cgroup_of(main.pid).contains(&want), "main not in {want}: {}", cgroup_of(main.pid));
    assert!(cgroup_of(daemon.pid).contains(&want), "daemon not in {want}: {}", cgroup_of(daemon.pid));
    let cgdir = own.join(format!("tend.{}", tend.pid)).join("app");
    assert!(cgdir.is_dir(), "{} missing", cgdir.display());

    stop_app(&dir);
    // `tend stop` answers once the service is stopped: by then nothing of it is left.
    assert!(!main.alive(), "main {} still alive after the stop", main.pid);
    assert!(!daemon.alive(), "the setsid daemon {} survived the stop", daemon.pid);
    tend.wait_err("app stopping->stopped: stopped (killed after stop_timeout)");

    tend.signal(libc::SIGTERM);
    assert_eq!(tend.exit_code(), 0, "{}", tend.dump());
    assert!(!own.join(format!("tend.{}", tend.pid)).exists(), "tend left its cgroup directory behind");
    tend.assert_no_leftovers();
}

#[test]
fn without_cgroups_the_daemon_outlives_the_stop_and_is_swept_at_shutdown() {
    let _own = require_cgroup2!("without_cgroups_the_daemon_outlives_the_stop_and_is_swept_at_shutdown");
    let dir = TestDir::new("cgroup-off");
    let mut tend = Tend::start(&dir, &config(&dir, "cgroups = false"));
    let main = Proc::of(dir.wait_pid("main.pid"));
    let daemon = Proc::of(dir.wait_pid("daemon.pid"));
    assert!(!cgroup_of(main.pid).contains("/tend."), "cgroups = false, yet: {}", cgroup_of(main.pid));
    stop_app(&dir);
    assert!(!main.alive());
    // Its own session: the process group stop cannot see it.
    assert!(daemon.alive(), "the daemon is gone without cgroups?");
    wait_until(DEADLINE, "the daemon to be re-parented to tend", || daemon.ppid() == Some(tend.pid));
    tend.signal(libc::SIGTERM);
    assert_eq!(tend.exit_code(), 0, "{}", tend.dump());
    assert!(daemon.wait_gone(Duration::from_secs(5)), "the daemon survived tend");
    tend.assert_no_leftovers();
}

#[test]
fn leftovers_of_a_service_that_exited_are_swept_at_shutdown() {
    let own = require_cgroup2!("leftovers_of_a_service_that_exited_are_swept_at_shutdown");
    let dir = TestDir::new("cgroup-leftover");
    let cfg = format!(
        "[service.spawner]\n\
         command = \"setsid sh -c 'echo $$ > {d}/daemon.pid; exec sleep 1000' </dev/null >/dev/null 2>&1 & \
                    while [ ! -s {d}/daemon.pid ]; do sleep 0.01; done; exit 0\"\n\
         restart = \"never\"\n\
         [service.keeper]\ncommand = \"exec sleep 1000\"\n",
        d = dir.s()
    );
    let mut tend = Tend::start(&dir, &cfg);
    let daemon = Proc::of(dir.wait_pid("daemon.pid"));
    tend.wait_transition("spawner", "exited");
    assert!(cgroup_of(daemon.pid).contains(&format!("/tend.{}/spawner", tend.pid)));
    tend.signal(libc::SIGTERM);
    assert_eq!(tend.exit_code_within(Duration::from_secs(8)), 0, "{}", tend.dump());
    assert!(!daemon.exists(), "the daemon {} is still there", daemon.pid);
    assert!(!own.join(format!("tend.{}", tend.pid)).exists(), "tend left its cgroup directory behind");
    tend.assert_no_leftovers();
}
