//! `[job.NAME]` scheduled jobs: runs start on `every` and `cron`, each is recorded as a
//! job (`tend ls --jobs`, `tend status %N`), and `overlap` decides what a firing does
//! while a run still goes on.

mod support;

use std::fs;
use std::time::Duration;

use serde_json::Value;
use support::{ctl_ok, job_json, jobs_config, start_serving, wait_until, TestDir};

/// `tend ls --jobs --json`: an array of jobs.
fn jobs(dir: &TestDir) -> Vec<Value> {
    let o = ctl_ok(dir, &["ls", "--jobs", "--json"]);
    match serde_json::from_str(o.out.trim_end()) {
        Ok(Value::Array(a)) => a,
        _ => panic!("ls --jobs --json is not an array\n{}", o.show()),
    }
}

/// Lines of DIR/NAME (empty if it does not exist yet).
fn lines(dir: &TestDir, name: &str) -> Vec<String> {
    fs::read_to_string(dir.join(name)).unwrap_or_default().lines().map(str::to_string).collect()
}

/// A run's shell command: appends "start EPOCH_MS" / "end" lines to DIR/log, and a
/// line to DIR/overlap if another run was going on when it started.
fn run_cmd(dir: &TestDir, sleep: &str) -> String {
    let d = dir.s();
    format!(
        "if [ -e {d}/running ]; then echo $TEND_JOB >> {d}/overlap; fi; touch {d}/running; \
         echo start $TEND_JOB >> {d}/log; sleep {sleep}; rm -f {d}/running; echo end $TEND_JOB >> {d}/log"
    )
}

#[test]
fn every_runs_repeatedly_and_each_run_is_a_job() {
    let dir = TestDir::new("sched-every");
    let d = dir.s();
    let cfg = jobs_config(
        &dir,
        &format!("[job.tick]\ncommand = \"echo tick $TEND_JOB >> {d}/ticks; exit 3\"\nevery = \"300ms\"\n"),
    );
    let tend = start_serving(&dir, &cfg);
    wait_until(Duration::from_secs(20), "three runs", || lines(&dir, "ticks").len() >= 3);
    let all = jobs(&dir);
    let ticks: Vec<&Value> = all.iter().filter(|j| j["spec"]["name"] == "tick").collect();
    assert!(ticks.len() >= 3, "{all:?}");
    // Every run is a job of its own, with the table's descriptor and tend as requestor.
    let first = ticks[0]["job"].as_u64().unwrap();
    let j = job_json(&dir, &format!("%{first}"));
    assert_eq!(
        j["spec"]["command"],
        serde_json::json!(["/bin/sh", "-c", format!("echo tick $TEND_JOB >> {d}/ticks; exit 3")])
    );
    assert_eq!(j["status"], 3, "{j}");
    assert_eq!(j["requestor"]["pid"].as_i64(), Some(i64::from(tend.pid)), "{j}");
    let nums: Vec<u64> = ticks.iter().map(|j| j["job"].as_u64().unwrap()).collect();
    let mut sorted = nums.clone();
    sorted.dedup();
    assert_eq!(nums.len(), sorted.len(), "job numbers repeat: {nums:?}");
    // The run's TEND_JOB is its own number.
    assert_eq!(lines(&dir, "ticks")[0], format!("tick %{first}"));
    tend.wait_err(&format!("job tick: started %{first}"));
}

#[test]
fn overlap_skip_never_runs_two_at_once() {
    let dir = TestDir::new("sched-skip");
    // A run lasts 1.2s, the period is 400ms: two of every three firings are skipped.
    let cfg = jobs_config(&dir, &format!("[job.slow]\ncommand = \"{}\"\nevery = \"400ms\"\n", run_cmd(&dir, "1.2")));
    let tend = start_serving(&dir, &cfg);
    wait_until(Duration::from_secs(30), "two runs ended", || {
        lines(&dir, "log").iter().filter(|l| l.starts_with("end")).count() >= 2
    });
    assert!(lines(&dir, "overlap").is_empty(), "runs overlapped: {:?}", lines(&dir, "log"));
    // Starts and ends alternate: never two starts in a row.
    let log = lines(&dir, "log");
    for w in log.windows(2) {
        assert!(!(w[0].starts_with("start") && w[1].starts_with("start")), "{log:?}");
    }
    let line = tend.wait_err("job slow: skipped: the previous run is still going on");
    assert!(line.contains('%'), "{line}");
    // The skip is an event too.
    let ev = ctl_ok(&dir, &["events", "--json"]).json_lines();
    assert!(ev.iter().any(|e| e["kind"] == "skip" && e["job"].is_u64()), "{ev:?}");
}

#[test]
fn overlap_queue_starts_one_run_after_the_running_one() {
    let dir = TestDir::new("sched-queue");
    let cfg = jobs_config(
        &dir,
        &format!("[job.q]\ncommand = \"{}\"\nevery = \"300ms\"\noverlap = \"queue\"\n", run_cmd(&dir, "1")),
    );
    let tend = start_serving(&dir, &cfg);
    wait_until(Duration::from_secs(30), "three runs ended", || {
        lines(&dir, "log").iter().filter(|l| l.starts_with("end")).count() >= 3
    });
    assert!(lines(&dir, "overlap").is_empty(), "runs overlapped: {:?}", lines(&dir, "log"));
    tend.wait_err("job q: queued: starts when the previous run ends");
    // Firings while one is queued are folded into it.
    tend.wait_err("job q: skipped: a run is already queued behind the running one");
}

#[test]
fn overlap_allow_runs_alongside() {
    let dir = TestDir::new("sched-allow");
    let cfg = jobs_config(
        &dir,
        &format!("[job.a]\ncommand = \"{}\"\nevery = \"300ms\"\noverlap = \"allow\"\n", run_cmd(&dir, "1")),
    );
    let _tend = start_serving(&dir, &cfg);
    wait_until(Duration::from_secs(20), "an overlapping run", || !lines(&dir, "overlap").is_empty());
}

#[test]
fn cron_with_seconds_runs_each_second() {
    let dir = TestDir::new("sched-cron");
    let d = dir.s();
    let cfg = jobs_config(&dir, &format!("[job.c]\ncommand = \"date +%s >> {d}/secs\"\ncron = \"* * * * * *\"\n"));
    let _tend = start_serving(&dir, &cfg);
    wait_until(Duration::from_secs(20), "three runs", || lines(&dir, "secs").len() >= 3);
    let secs: Vec<u64> = lines(&dir, "secs").iter().map(|l| l.parse().unwrap()).collect();
    // One run per second: three runs take at least two seconds.
    assert!(secs[2] >= secs[0] + 2, "{secs:?}");
    let all = jobs(&dir);
    assert!(all.iter().filter(|j| j["spec"]["name"] == "c").count() >= 3, "{all:?}");
}

#[test]
fn reload_removes_and_adds_schedules() {
    let dir = TestDir::new("sched-reload");
    let d = dir.s();
    let job = |name: &str| format!("[job.{name}]\ncommand = \"echo {name} >> {d}/runs\"\nevery = \"200ms\"\n");
    let tend = start_serving(&dir, &jobs_config(&dir, &job("one")));
    wait_until(Duration::from_secs(20), "a run of one", || lines(&dir, "runs").contains(&"one".to_string()));
    fs::write(dir.join("tend.toml"), jobs_config(&dir, &job("two"))).unwrap();
    let out = ctl_ok(&dir, &["reload"]);
    assert!(out.out.contains("scheduled jobs: 1 added, 0 changed, 1 removed"), "{}", out.show());
    // Wait for two runs of "two" after the reload; no "one" after the first "two".
    wait_until(Duration::from_secs(20), "runs of two", || {
        lines(&dir, "runs").iter().filter(|l| *l == "two").count() >= 3
    });
    let runs = lines(&dir, "runs");
    let first_two = runs.iter().position(|l| l == "two").unwrap();
    // A run of "one" started just before the reload may still end after it: at most one.
    assert!(runs[first_two..].iter().filter(|l| *l == "one").count() <= 1, "{runs:?}");
    drop(tend);
}
