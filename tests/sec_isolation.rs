//! Security (issue 9): what one service can see and reach.
//! - Services run with `user` really have that uid, gid and groups in every field of
//!   /proc/PID/status (real, effective, saved, filesystem), seen from outside.
//! - From inside a service, the control socket (inherited as $TEND_SOCKET) refuses a
//!   uid that `allow_uids` does not name, and lets in the one it does.
//! - Readiness and health probes (`exec`) inherit no fd of tend's: only 0, 1 and 2.
//! - One service's `env` does not leak into another service, nor into tend's other
//!   probes. tests/run_fd_hygiene.rs covers the services' fds, tests/run_user.rs the
//!   identity as the service itself reports it, tests/ctl_access.rs clients run by hand.

mod support;

use std::os::unix::fs::PermissionsExt;

use support::{is_root, status_field, TestDir, DEADLINE, TEND};

const ALLOWED: u32 = 4243;
const DENIED: u32 = 4244;

/// Replace the shell by `ls -l` of its own fds, written to FILE.
fn list_fds(file: &str) -> String {
    format!("exec ls -l /proc/self/fd/ > {file}")
}

fn environ(pid: i32) -> Vec<String> {
    std::fs::read(format!("/proc/{pid}/environ"))
        .unwrap_or_default()
        .split(|&b| b == 0)
        .filter(|s| !s.is_empty())
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect()
}

/// The fds other than 0, 1, 2 (and ls's own, on /proc/.../fd) in a listing made by
/// `list_fds`.
fn extra_fds(listing: &str) -> Vec<String> {
    listing
        .lines()
        .filter_map(|l| l.split_once(" -> "))
        .filter(|(left, target)| {
            let fd: u32 = left.rsplit(' ').next().and_then(|n| n.parse().ok()).unwrap_or(0);
            fd > 2 && !(target.starts_with("/proc/") && target.ends_with("/fd"))
        })
        .map(|(l, t)| format!("{l} -> {t}"))
        .collect()
}

#[test]
fn probes_get_no_fd_and_env_does_not_leak() {
    let dir = TestDir::new("sec-probes-env");
    let d = dir.s();
    let cfg = format!(
        "[service.a]\ncommand = \"echo $$ > {d}/a.pid; exec sleep 1000\"\nenv = {{ SECRET_A = \"alpha\" }}\n\
         ready = {{ exec = [\"sh\", \"-c\", \"env > {d}/ready.env; {ready}\"], interval = \"50ms\" }}\n\
         health = {{ exec = [\"sh\", \"-c\", \"{health}\"], interval = \"100ms\" }}\n\
         [service.b]\ncommand = \"echo $$ > {d}/b.pid; exec sleep 1000\"\nenv = {{ SECRET_B = \"beta\" }}\n\
         ready = {{ exec = [\"sh\", \"-c\", \"env > {d}/b-ready.env\"], interval = \"50ms\" }}\n",
        ready = list_fds(&format!("{d}/ready.fds")),
        health = list_fds(&format!("{d}/health.fds")),
    );
    let _tend = support::start_serving(&dir, &cfg);
    let a = dir.wait_pid("a.pid");
    let b = dir.wait_pid("b.pid");
    support::wait_until(DEADLINE, "the probes ran", || {
        ["ready.fds", "health.fds", "ready.env", "b-ready.env"].iter().all(|f| !dir.read(f).is_empty())
    });
    for f in ["ready.fds", "health.fds"] {
        let listing = dir.read(f);
        assert!(listing.matches(" -> ").count() >= 3, "{f}: {listing}");
        assert_eq!(extra_fds(&listing), Vec::<String>::new(), "{f}: a probe inherited fds of tend's");
    }
    let env_a = environ(a);
    let env_b = environ(b);
    assert!(env_a.iter().any(|e| e == "SECRET_A=alpha"), "{env_a:?}");
    assert!(!env_a.iter().any(|e| e.starts_with("SECRET_B=")), "b's env leaked into a: {env_a:?}");
    assert!(env_b.iter().any(|e| e == "SECRET_B=beta"), "{env_b:?}");
    assert!(!env_b.iter().any(|e| e.starts_with("SECRET_A=")), "a's env leaked into b: {env_b:?}");
    let b_probe = dir.read("b-ready.env");
    assert!(!b_probe.contains("SECRET_A="), "a's env leaked into b's probe:\n{b_probe}");
    let a_probe = dir.read("ready.env");
    assert!(!a_probe.contains("SECRET_B="), "b's env leaked into a's probe:\n{a_probe}");
}

/// Every field of the `Uid:` or `Gid:` line of /proc/PID/status.
fn ids(pid: i32, field: &str) -> Vec<u32> {
    status_field(pid, field).unwrap_or_default().split_whitespace().filter_map(|s| s.parse().ok()).collect()
}

#[test]
fn services_run_as_their_user_and_reach_the_socket_only_if_allowed() {
    const TEST: &str = "services_run_as_their_user_and_reach_the_socket_only_if_allowed";
    if !is_root() {
        support::skip(TEST, "needs root to run services as other users");
        return;
    }
    // The users must be able to run the binary under test.
    let probe = std::process::Command::new("setpriv")
        .args(["--reuid", &DENIED.to_string(), "--regid", &DENIED.to_string(), "--clear-groups"])
        .args(["test", "-x", TEND])
        .status();
    if !probe.is_ok_and(|s| s.success()) {
        support::skip(TEST, &format!("uid {DENIED} cannot execute {TEND}"));
        return;
    }
    let dir = TestDir::new("sec-users");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let d = dir.s();
    // Each asks for the list through $TEND_SOCKET, writes the exit code, then sleeps.
    let asker = |name: &str, uid: u32| {
        format!(
            "[service.{name}]\ncommand = \"echo $$ > {d}/{name}.pid; {TEND} ls > {d}/{name}.out 2>&1; \
             echo $? > {d}/{name}.code; exec sleep 1000\"\nuser = {uid}\n"
        )
    };
    let cfg = format!(
        "[control]\nmode = \"0666\"\nallow_uids = [{ALLOWED}]\n{}{}",
        asker("allowed", ALLOWED),
        asker("denied", DENIED)
    );
    let _tend = support::start_serving(&dir, &cfg);
    for (name, uid) in [("allowed", ALLOWED), ("denied", DENIED)] {
        let pid = dir.wait_pid(&format!("{name}.pid"));
        support::wait_until(DEADLINE, &format!("{name}'s exit code"), || {
            dir.read(format!("{name}.code")).ends_with('\n')
        });
        // The shell has exec'd sleep by now or will: the same process either way.
        assert_eq!(ids(pid, "Uid"), vec![uid; 4], "{name}: real, effective, saved and fs uid");
        assert_eq!(ids(pid, "Gid"), vec![uid; 4], "{name}: real, effective, saved and fs gid");
        assert_eq!(status_field(pid, "Groups").unwrap_or_default().trim(), uid.to_string(), "{name}: groups");
    }
    let (ok, no) = (dir.read("allowed.code"), dir.read("denied.code"));
    assert_eq!(ok.trim(), "0", "the allowed uid was refused: {}", dir.read("allowed.out"));
    assert!(dir.read("allowed.out").contains("denied"), "{}", dir.read("allowed.out"));
    assert_eq!(no.trim(), "6", "the other uid was not refused: {}", dir.read("denied.out"));
    assert!(dir.read("denied.out").contains(&format!("uid {DENIED}")), "{}", dir.read("denied.out"));
}
