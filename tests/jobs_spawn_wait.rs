//! `tend spawn`, `tend wait` and `tend status %N`: a job's exit status as the shell
//! reports it, its descriptor and record, unknown ids, and version-1 clients.

mod support;

use serde_json::Value;
use support::{ctl, ctl_ok, hello_frame, job_json, jobs_config, spawn_job, start_serving, wait_job, Raw, TestDir};
use tend::proto::msg::ErrorCode;

#[test]
fn wait_exits_with_the_jobs_status() {
    let dir = TestDir::new("jobs-wait-codes");
    let _tend = start_serving(&dir, &jobs_config(&dir, ""));
    let ok = spawn_job(&dir, &["--", "true"]);
    let three = spawn_job(&dir, &["--", "sh", "-c", "exit 3"]);
    let killed = spawn_job(&dir, &["--", "sh", "-c", "kill -KILL $$"]);
    assert_eq!(wait_job(&dir, &ok), 0);
    assert_eq!(wait_job(&dir, &three), 3);
    assert_eq!(wait_job(&dir, &killed), 137);
    // Waiting again for an ended job answers at once, the same.
    assert_eq!(wait_job(&dir, &three), 3);
    // N works as well as %N.
    assert_eq!(wait_job(&dir, three.trim_start_matches('%')), 3);
    let j = job_json(&dir, &killed);
    assert_eq!(j["state"], "failed");
    assert_eq!(j["status"], 137);
    assert_eq!(j["exit"]["signal"], "SIGKILL");
    let j = job_json(&dir, &ok);
    assert_eq!((j["state"].as_str(), j["status"].as_i64()), (Some("exited"), Some(0)));
    // A command that does not exist: 127, as a shell says.
    let missing = spawn_job(&dir, &["--", "/nonexistent/command"]);
    assert_eq!(wait_job(&dir, &missing), 127);
    let j = job_json(&dir, &missing);
    assert!(j["reason"].as_str().unwrap().contains("spawn failed"), "{j}");
}

#[test]
fn status_shows_the_descriptor_and_the_record() {
    let dir = TestDir::new("jobs-status");
    let _tend = start_serving(&dir, &jobs_config(&dir, ""));
    let id = spawn_job(
        &dir,
        &[
            "--name",
            "migrate",
            "--env",
            "A=1",
            "--env",
            "B=two words",
            "--cwd",
            "/tmp",
            "--",
            "sh",
            "-c",
            "echo \"$A $B $(pwd) $TEND_JOB\"; exit 4",
        ],
    );
    assert_eq!(wait_job(&dir, &id), 4);
    let j: Value = job_json(&dir, &id);
    assert_eq!(j["job"].as_u64(), id[1..].parse().ok());
    assert_eq!(j["spec"]["name"], "migrate");
    assert_eq!(j["spec"]["command"], serde_json::json!(["sh", "-c", "echo \"$A $B $(pwd) $TEND_JOB\"; exit 4"]));
    assert_eq!(j["spec"]["env"], serde_json::json!([["A", "1"], ["B", "two words"]]));
    assert_eq!(j["spec"]["cwd"], "/tmp");
    assert_eq!(j["attempt"], 1);
    assert!(j.get("retry_of").is_none(), "{j}");
    assert!(j.get("timed_out").is_none(), "false is left out: {j}");
    for k in ["created", "started", "ended"] {
        assert!(support::parse_rfc3339_micros(j[k].as_str().unwrap_or("")).is_some(), "{k}: {j}");
    }
    // Who asked: this test process's child, the tend client, with our uid.
    // SAFETY: getuid has no failure mode.
    let uid = unsafe { libc::getuid() };
    assert_eq!(j["requestor"]["uid"], uid);
    assert_eq!(j["requestor"]["name"], "tend");
    assert!(j["requestor"]["pid"].as_i64().unwrap() > 0);
    // The output is kept: tend logs %N.
    let o = ctl_ok(&dir, &["logs", &id]);
    assert_eq!(o.out, format!("1 two words /tmp {id}\n"));
    // Its events name it where a service's would be named.
    let o = ctl_ok(&dir, &["events"]);
    assert!(o.out.contains(&format!(" {id} running->failed: exited with status 4")), "{}", o.out);
    let evs = ctl_ok(&dir, &["events", "--json"]).json_lines();
    let e = evs.iter().find(|e| e["to"] == "failed").unwrap_or_else(|| panic!("{evs:?}"));
    assert_eq!((e["job"].as_u64(), e["service"].as_str()), (id[1..].parse().ok(), Some("")), "{e}");
    // The text form.
    let o = ctl_ok(&dir, &["status", &id]);
    for want in ["name        migrate", "status      4", "attempt     1", &format!("requestor   uid {uid}")] {
        assert!(o.out.contains(want), "{want:?} missing from\n{}", o.out);
    }
}

#[test]
fn unknown_jobs_get_a_precise_error_and_exit_4() {
    let dir = TestDir::new("jobs-unknown");
    let _tend = start_serving(&dir, &jobs_config(&dir, ""));
    for args in [&["wait", "%99"][..], &["status", "%99"], &["retry", "99"], &["rm", "%99"]] {
        let o = ctl(&dir, args);
        assert_eq!(o.code, Some(4), "{args:?}\n{}", o.show());
        assert!(o.err.contains("no job %99"), "{args:?}\n{}", o.show());
    }
    // A bad id is a usage error.
    let o = ctl(&dir, &["wait", "x1"]);
    assert_eq!(o.code, Some(2), "{}", o.show());
    assert!(o.err.contains("bad job id \"x1\""), "{}", o.show());
    // A service name is not a job: status NAME is the service's.
    ctl_ok(&dir, &["status", "idle"]);
    // No command.
    let o = ctl(&dir, &["spawn"]);
    assert_eq!(o.code, Some(2), "{}", o.show());
}

#[test]
fn a_version_1_client_gets_the_version_error() {
    let dir = TestDir::new("jobs-api-v1");
    let _tend = start_serving(&dir, &jobs_config(&dir, ""));
    let mut r = Raw::connect(&dir.join("tend.sock"));
    r.send(&hello_frame(1));
    let e = r.expect_error_then_close(ErrorCode::UnsupportedVersion);
    assert!(e.message.contains("client speaks API version 1"), "{e:?}");
    assert!(e.message.contains("speaks 2"), "{e:?}");
}
