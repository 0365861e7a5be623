//! A job's life after its spawn: the timeout, automatic retries, `tend retry`, the
//! bounded history (`job_history`), `tend rm` and `tend ls --jobs` with its filters.

mod support;

use std::time::{Duration, Instant};

use support::{ctl, ctl_ok, job_json, jobs_config, spawn_job, start_serving, wait_job, TestDir};

#[test]
fn a_timeout_stops_the_job_and_is_recorded() {
    let dir = TestDir::new("jobs-timeout");
    let _tend = start_serving(&dir, &jobs_config(&dir, ""));
    let t0 = Instant::now();
    let id = spawn_job(&dir, &["--timeout", "300ms", "--", "sleep", "100"]);
    assert_eq!(wait_job(&dir, &id), 143, "killed by the stop signal, SIGTERM");
    let took = t0.elapsed();
    assert!(took >= Duration::from_millis(300) && took < Duration::from_secs(5), "{took:?}");
    let j = job_json(&dir, &id);
    assert_eq!(j["timed_out"], true, "{j}");
    assert_eq!(j["state"], "failed", "{j}");
    assert_eq!(j["exit"]["signal"], "SIGTERM", "{j}");
    assert_eq!(j["spec"]["timeout_ms"], 300, "{j}");
    assert!(j["reason"].as_str().unwrap().contains("timed out after 300ms"), "{j}");
    // One that ignores SIGTERM is killed after the stop timeout (5s).
    let id = spawn_job(&dir, &["--timeout", "200ms", "--", "sh", "-c", "trap '' TERM; sleep 100"]);
    assert_eq!(wait_job(&dir, &id), 137);
    assert_eq!(job_json(&dir, &id)["timed_out"], true);
    // A job that ends in time is not timed out.
    let id = spawn_job(&dir, &["--timeout", "10s", "--", "true"]);
    assert_eq!(wait_job(&dir, &id), 0);
    assert!(job_json(&dir, &id).get("timed_out").is_none());
    // A bad timeout is a usage error.
    let o = ctl(&dir, &["spawn", "--timeout", "soon", "--", "true"]);
    assert_eq!(o.code, Some(2), "{}", o.show());
    // wait --timeout gives up with 8; the job goes on.
    let id = spawn_job(&dir, &["--", "sleep", "100"]);
    let t0 = Instant::now();
    let o = ctl(&dir, &["wait", "--timeout", "200ms", &id]);
    assert_eq!(o.code, Some(8), "{}", o.show());
    assert!(o.err.contains(&format!("job {id} has not ended within 200ms")), "{}", o.show());
    assert!(t0.elapsed() < Duration::from_secs(3), "{:?}", t0.elapsed());
    assert_eq!(job_json(&dir, &id)["state"], "running");
}

#[test]
fn retries_run_a_failing_job_again_and_count_the_attempts() {
    let dir = TestDir::new("jobs-retries");
    let _tend = start_serving(&dir, &jobs_config(&dir, ""));
    // Fails twice, then succeeds: a counter file in the test directory.
    let counter = dir.join("count");
    let script =
        format!("n=$(cat {c} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {c}; [ $n -ge 3 ]", c = counter.display());
    let id = spawn_job(&dir, &["--retries", "5", "--", "sh", "-c", &script]);
    assert_eq!(wait_job(&dir, &id), 0);
    let j = job_json(&dir, &id);
    assert_eq!((j["attempt"].as_u64(), j["state"].as_str()), (Some(3), Some("exited")), "{j}");
    // Always failing: retries + 1 attempts, then the last status.
    let id = spawn_job(&dir, &["--retries", "2", "--", "sh", "-c", "exit 9"]);
    assert_eq!(wait_job(&dir, &id), 9);
    let j = job_json(&dir, &id);
    assert_eq!(j["attempt"], 3, "{j}");
    assert!(j["reason"].as_str().unwrap().ends_with("(attempt 3 of 3)"), "{j}");
}

#[test]
fn retry_makes_a_new_job_from_the_same_descriptor() {
    let dir = TestDir::new("jobs-retry");
    let _tend = start_serving(&dir, &jobs_config(&dir, ""));
    let first = spawn_job(&dir, &["--name", "again", "--env", "X=42", "--", "sh", "-c", "echo $X; exit 2"]);
    assert_eq!(wait_job(&dir, &first), 2);
    let o = ctl_ok(&dir, &["retry", &first]);
    let second = o.out.trim().to_string();
    assert_ne!(second, first);
    assert_eq!(wait_job(&dir, &second), 2);
    let (a, b) = (job_json(&dir, &first), job_json(&dir, &second));
    assert_eq!(a["spec"], b["spec"], "the same descriptor");
    assert_eq!(b["retry_of"].as_u64(), first[1..].parse().ok(), "{b}");
    assert_eq!(ctl_ok(&dir, &["logs", &second]).out, "42\n");
    // Retrying a job that runs is an error.
    let running = spawn_job(&dir, &["--", "sleep", "100"]);
    let o = ctl(&dir, &["retry", &running]);
    assert_eq!(o.code, Some(1), "{}", o.show());
    assert!(o.err.contains(&format!("job {running} is still running")), "{}", o.show());
    // So is removing it; signal it first.
    let o = ctl(&dir, &["rm", &running]);
    assert_eq!(o.code, Some(1), "{}", o.show());
    let o = ctl_ok(&dir, &["signal", &running, "KILL"]);
    assert!(o.out.starts_with(&format!("{running}: sent SIGKILL to process ")), "{}", o.show());
    assert_eq!(wait_job(&dir, &running), 137);
    ctl_ok(&dir, &["rm", &running]);
    // --json gives the new job.
    let o = ctl_ok(&dir, &["retry", &first, "--json"]);
    let j = &o.json_lines()[0];
    assert_eq!(j["retry_of"].as_u64(), first[1..].parse().ok(), "{j}");
}

#[test]
fn the_history_keeps_the_last_ended_jobs() {
    let dir = TestDir::new("jobs-history");
    let _tend = start_serving(&dir, &jobs_config(&dir, "job_history = 3"));
    let ids: Vec<String> = (0..5)
        .map(|i| {
            let id = spawn_job(&dir, &["--", "sh", "-c", &format!("echo job{i}")]);
            assert_eq!(wait_job(&dir, &id), 0);
            id
        })
        .collect();
    for old in &ids[..2] {
        let o = ctl(&dir, &["status", old]);
        assert_eq!(o.code, Some(4), "{}", o.show());
        assert!(
            o.err.contains(&format!("no job {old}: removed or evicted from the history (job_history = 3)")),
            "{}",
            o.show()
        );
    }
    for (i, kept) in ids[2..].iter().enumerate() {
        assert_eq!(ctl_ok(&dir, &["logs", kept]).out, format!("job{}\n", i + 2));
    }
    let listed: Vec<u64> = ctl_ok(&dir, &["ls", "--jobs", "--json"]).json_lines()[0]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["job"].as_u64().unwrap())
        .collect();
    assert_eq!(listed, vec![3, 4, 5]);
    // A running job does not count, and is never evicted.
    let running = spawn_job(&dir, &["--", "sleep", "100"]);
    for _ in 0..3 {
        let id = spawn_job(&dir, &["--", "true"]);
        wait_job(&dir, &id);
    }
    assert_eq!(job_json(&dir, &running)["state"], "running");
    // rm forgets an ended job at once.
    let o = ctl_ok(&dir, &["rm", "%8"]);
    assert_eq!(o.out, "removed job %8\n");
    assert_eq!(ctl(&dir, &["status", "%8"]).code, Some(4));
    // A reload with a smaller job_history applies at once: the oldest ended go.
    std::fs::write(dir.join("tend.toml"), jobs_config(&dir, "job_history = 1")).expect("writing the config");
    ctl_ok(&dir, &["reload"]);
    let listed: Vec<u64> = ctl_ok(&dir, &["ls", "--jobs", "--json"]).json_lines()[0]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["job"].as_u64().unwrap())
        .collect();
    assert_eq!(listed, vec![6, 9], "the running job and the last ended one");
}

#[test]
fn ls_jobs_filters_by_state_name_and_time() {
    let dir = TestDir::new("jobs-ls");
    let _tend = start_serving(&dir, &jobs_config(&dir, ""));
    let ok = spawn_job(&dir, &["--name", "backup-daily", "--", "true"]);
    let bad = spawn_job(&dir, &["--name", "backup-weekly", "--", "false"]);
    let run = spawn_job(&dir, &["--name", "migrate", "--", "sleep", "100"]);
    wait_job(&dir, &ok);
    wait_job(&dir, &bad);
    let ids = |args: &[&str]| -> Vec<String> {
        let mut all = vec!["ls", "--jobs", "--json"];
        all.extend_from_slice(args);
        ctl_ok(&dir, &all).json_lines()[0].as_array().unwrap().iter().map(|j| format!("%{}", j["job"])).collect()
    };
    assert_eq!(ids(&[]), [ok.as_str(), &bad, &run]);
    assert_eq!(ids(&["--state", "running"]), [run.as_str()]);
    assert_eq!(ids(&["--state", "exited"]), [ok.as_str()]);
    assert_eq!(ids(&["--state", "failed"]), [bad.as_str()]);
    assert_eq!(ids(&["--name", "backup-*"]), [ok.as_str(), &bad]);
    assert_eq!(ids(&["--name", "*-w?ekly"]), [bad.as_str()]);
    assert_eq!(ids(&["--since", "1h"]), [ok.as_str(), &bad, &run]);
    assert!(ids(&["--since", "2099-01-01T00:00:00Z"]).is_empty());
    // The table.
    let o = ctl_ok(&dir, &["ls", "--jobs"]);
    let lines: Vec<&str> = o.out.lines().collect();
    assert!(lines[0].starts_with("ID  NAME"), "{}", o.out);
    assert!(
        lines[2].contains("backup-weekly")
            && lines[2].contains("failed")
            && lines[2].contains("1 (exited with status 1)"),
        "{}",
        o.out
    );
    assert!(lines[3].contains("migrate") && lines[3].contains("running"), "{}", o.out);
    // Bad filters.
    let o = ctl(&dir, &["ls", "--jobs", "--state", "done"]);
    assert_eq!(o.code, Some(2), "{}", o.show());
    let o = ctl(&dir, &["ls", "--state", "running"]);
    assert_eq!(o.code, Some(2), "{}", o.show());
    // Services are not jobs, and jobs are not services.
    let svc: Vec<String> = ctl_ok(&dir, &["ls", "--json"]).json_lines()[0]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(svc, ["idle"]);
}
