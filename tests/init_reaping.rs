//! Orphans are re-parented to `tend init` when it is a child subreaper (`-s` or
//! `TINI_SUBREAPER`), and it reaps every one of them: while tend still runs, no zombie
//! whose parent is tend is left. Without `-s` (and not PID 1) tend prints tini's
//! warning that zombie reaping won't work. (As PID 1: init_pid_namespace.rs.)

mod common;

use common::*;

/// The child makes 5 long-lived orphans (double-forked `sleep`s, pids in `orphans`) and
/// 100 that exit at once (so tend gets zombies handed over), then waits for `stop`.
const SCRIPT: &str = r#"
    i=0
    while [ $i -lt 5 ]; do
        ( sleep 1000 </dev/null >/dev/null 2>&1 & echo $! >> orphans )
        i=$((i + 1))
    done
    i=0
    while [ $i -lt 100 ]; do
        ( (exit 0) & )
        i=$((i + 1))
    done
    echo $$ > ready
    while [ ! -e stop ]; do sleep 0.02; done
    exit 0
"#;

struct Case<'a> {
    name: &'a str,
    flags: &'a [&'a str],
    env: Option<(&'a str, &'a str)>,
}

/// Start tend with the script; return it, the child's pid and the orphans' pids.
fn start(dir: &TestDir, case: &Case) -> (Spawned, i32, Vec<i32>) {
    let mut cmd = init_sh(case.flags, SCRIPT);
    if let Some((k, v)) = case.env {
        cmd.env(k, v);
    }
    let mut t = spawn(dir, cmd);
    let child = dir.wait_pid("ready");
    let orphans: Vec<i32> = dir.read("orphans").lines().map(|l| l.parse().expect("orphan pid")).collect();
    assert_eq!(orphans.len(), 5, "orphans: {orphans:?}");
    for &o in &orphans {
        t.track(o);
    }
    (t, child, orphans)
}

fn subreaper_reaps(case: Case) {
    let dir = TestDir::new(case.name);
    let (mut t, child, orphans) = start(&dir, &case);
    let tend_pid = t.pid();
    for &o in &orphans {
        wait_until(DEADLINE, &format!("orphan {o} to be re-parented to tend {tend_pid}"), || {
            stat(o).is_some_and(|s| s.ppid == tend_pid)
        });
    }
    let starts: Vec<(i32, u64)> = orphans.iter().map(|&o| (o, stat(o).expect("orphan").starttime)).collect();
    for &o in &orphans {
        assert!(kill(o, libc::SIGTERM), "kill orphan {o}");
    }
    // Gone means reaped: not even a zombie (and not a new process that reused the pid).
    wait_until(DEADLINE, "every orphan reaped and no zombie child of tend left", || {
        let left = starts.iter().any(|&(p, st)| stat(p).is_some_and(|s| s.starttime == st));
        !left && zombies_of(tend_pid).is_empty() && children(tend_pid) == vec![child]
    });
    assert!(t.running(), "tend exited before its child");
    std::fs::write(dir.join("stop"), "").expect("stop file");
    let out = t.wait();
    out.assert_code(0);
    assert!(!out.stderr.contains(REAPER_WARNING), "subreaper warning printed anyway:\n{}", out.stderr);
    let reaped_msgs = out.stderr.matches("Reaped zombie process with pid=").count();
    if case.flags.contains(&"-w") {
        for o in &orphans {
            assert!(out.stderr.contains(&format!("Reaped zombie process with pid={o}\n")), "no -w line for {o}");
        }
        // 5 sleepers and the 100 short-lived orphans
        assert!(reaped_msgs >= 105, "only {reaped_msgs} reaped-zombie lines:\n{}", out.stderr);
    } else {
        assert_eq!(reaped_msgs, 0, "reaped-zombie lines without -w:\n{}", out.stderr);
    }
}

#[test]
fn subreaper_flag_reaps_orphans() {
    subreaper_reaps(Case { name: "reap_flag", flags: &["-s"], env: None });
}

#[test]
fn tini_subreaper_env_reaps_orphans() {
    // tini only checks that the variable is set: an empty value counts.
    subreaper_reaps(Case { name: "reap_env", flags: &[], env: Some(("TINI_SUBREAPER", "")) });
}

#[test]
fn w_reports_each_reaped_zombie() {
    subreaper_reaps(Case { name: "reap_warn", flags: &["-s", "-w"], env: None });
}

#[test]
fn without_subreaper_orphans_escape_and_tend_warns() {
    let dir = TestDir::new("reap_none");
    let (mut t, _child, orphans) = start(&dir, &Case { name: "reap_none", flags: &[], env: None });
    for &o in &orphans {
        let s = stat(o).expect("orphan exists");
        assert_ne!(s.ppid, t.pid(), "orphan {o} was re-parented to tend without -s");
    }
    wait_until(DEADLINE, "the warning on stderr", || t.stderr_now().contains(REAPER_WARNING));
    let err = t.stderr_now();
    assert!(err.contains("-s option") && err.contains("TINI_SUBREAPER"), "the warning says how to fix it:\n{err}");
    std::fs::write(dir.join("stop"), "").expect("stop file");
    t.wait().assert_code(0);
}

#[test]
fn no_warning_for_a_plain_run_with_subreaper() {
    let dir = TestDir::new("reap_quiet");
    let mut cmd = tend(["init", "-s", "--", "true"]);
    cmd.env_remove("TINI_VERBOSITY");
    let out = run(&dir, cmd);
    out.assert_code(0);
    assert_eq!(out.stderr, "", "tend -s printed something");
    let mut cmd = tend(["init", "--", "true"]);
    cmd.env_remove("TINI_VERBOSITY").env_remove("TINI_SUBREAPER");
    let out = run(&dir, cmd);
    out.assert_code(0);
    assert!(out.stderr.contains(REAPER_WARNING), "no warning without -s:\n{}", out.stderr);
    // TINI_VERBOSITY=0 leaves only fatal errors: no warning
    let mut cmd = tend(["init", "--", "true"]);
    cmd.env_remove("TINI_SUBREAPER").env("TINI_VERBOSITY", "0");
    let out = run(&dir, cmd);
    out.assert_code(0);
    assert_eq!(out.stderr, "", "TINI_VERBOSITY=0 still printed something");
}
