//! Faults (issue 9): a fork bomb in a service is capped by the service's `nproc`
//! rlimit. The service runs as an otherwise unused uid (RLIMIT_NPROC counts the
//! processes of a real uid, and root is exempt), forks until fork(2) fails with EAGAIN,
//! and says how far it got. Meanwhile tend answers and can still start processes (a
//! restart of another service), and stopping the bomb's service removes every process
//! of that uid. Needs root (to run a service as another user).

mod support;

use support::{ctl_ok, is_root, status_json, TestDir, DEADLINE};

/// A uid no test and no system account uses.
const UID: u32 = 54_321;
const NPROC: u32 = 30;

const BOMB: &str = r#"import os, time
n = 0
while n < 10000:
    try:
        pid = os.fork()
    except OSError as e:
        print('capped', n, e.errno, flush=True)
        break
    if pid == 0:
        try:
            os.fork()
        except OSError:
            pass
        time.sleep(1000)
        os._exit(0)
    n += 1
else:
    print('not capped', n, flush=True)
time.sleep(1000)
"#;

/// Processes whose real uid is `uid`.
fn procs_of(uid: u32) -> Vec<i32> {
    support::all_pids()
        .into_iter()
        .filter(|&p| {
            support::status_field(p, "Uid").and_then(|u| u.split_whitespace().next()?.parse::<u32>().ok()) == Some(uid)
        })
        .collect()
}

#[test]
fn a_fork_bomb_is_capped_by_nproc() {
    if !is_root() {
        support::skip("a_fork_bomb_is_capped_by_nproc", "needs root to run a service as another uid");
        return;
    }
    assert!(procs_of(UID).is_empty(), "uid {UID} already has processes: the test needs it unused");
    let dir = TestDir::new("fault-fork-bomb");
    dir.write("bomb.py", BOMB);
    let cfg = format!(
        "[service.bomb]\ncommand = [\"python3\", \"{d}/bomb.py\"]\nuser = {UID}\nkill_group = true\n\
         restart = \"never\"\nrlimits = {{ nproc = {NPROC} }}\n\
         [service.other]\ncommand = \"echo $$ > {d}/other.pid; exec sleep 1000\"\n",
        d = dir.s()
    );
    // The bomb's uid must be able to read its script.
    std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
    let tend = support::start_serving(&dir, &cfg);
    let line = tend.wait_out("capped");
    let rest = line.split("| ").nth(1).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    assert_eq!(f.first(), Some(&"capped"), "the bomb was not capped: {line}\n{}", tend.dump());
    let forks: u32 = f.get(1).and_then(|n| n.parse().ok()).expect("a count");
    assert_eq!(f.get(2), Some(&"11"), "fork failed with another errno than EAGAIN: {line}");
    assert!(forks < NPROC, "{forks} forks with nproc = {NPROC}");
    let live = procs_of(UID).len() as u32;
    assert!(live <= NPROC, "{live} processes of uid {UID} with nproc = {NPROC}");

    // tend is unaffected: it answers and can start processes.
    let other = dir.wait_pid("other.pid");
    ctl_ok(&dir, &["restart", "other"]);
    support::wait_until(DEADLINE, "other restarted", || dir.read_pid("other.pid").is_some_and(|p| p != other));
    assert_eq!(status_json(&dir, "other")["state"], "running");

    // Stopping the bomb removes every process of its uid.
    ctl_ok(&dir, &["stop", "bomb"]);
    support::wait_until(DEADLINE, "every process of the bomb's uid gone", || procs_of(UID).is_empty());
    eprintln!("fork bomb: capped at {forks} forks ({live} processes) by nproc = {NPROC}; tend unaffected; all gone after stop");
    drop(tend);
}
