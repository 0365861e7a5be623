//! `tend spawn --attach`: the job's output streamed to the command's own stdout and
//! stderr, its stdin piped with -i (also more than tend buffers), Ctrl-C (SIGINT to
//! the command) forwarded to the job, and the job's status as the exit status.

mod support;

use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

use support::{ctl_command, job_json, jobs_config, kill, run_output, start_serving, Bg, TestDir, DEADLINE};

#[test]
fn attach_streams_both_streams_and_exits_with_the_status() {
    let dir = TestDir::new("jobs-attach");
    let _tend = start_serving(&dir, &jobs_config(&dir, ""));
    let cmd = ctl_command(&dir, &["spawn", "-a", "--", "sh", "-c", "echo out1; echo err1 >&2; echo out2; exit 7"]);
    let o = run_output(cmd, DEADLINE);
    assert_eq!(o.code, Some(7), "{}", o.show());
    assert_eq!(o.out, "out1\nout2\n", "{}", o.show());
    assert_eq!(o.err, "err1\n", "{}", o.show());
    // Killed by a signal: 128 + N, as a shell says.
    let o = run_output(ctl_command(&dir, &["spawn", "--attach", "--", "sh", "-c", "kill -TERM $$"]), DEADLINE);
    assert_eq!(o.code, Some(143), "{}", o.show());
    // A command that is not there: 127, and why on stderr.
    let o = run_output(ctl_command(&dir, &["spawn", "-a", "--", "/nonexistent"]), DEADLINE);
    assert_eq!(o.code, Some(127), "{}", o.show());
    // --json: the job as created, then as ended.
    let o = run_output(ctl_command(&dir, &["spawn", "-a", "--json", "--", "true"]), DEADLINE);
    assert_eq!(o.code, Some(0), "{}", o.show());
    let j = o.json_lines();
    assert_eq!(j.len(), 2, "{}", o.show());
    assert!(j[0].get("status").is_none(), "{}", o.show());
    assert_eq!(j[1]["status"], 0, "{}", o.show());
    assert_eq!(j[0]["job"], j[1]["job"]);
}

#[test]
fn a_slow_reader_gets_all_the_output_in_order() {
    let dir = TestDir::new("jobs-attach-bulk");
    let _tend = start_serving(&dir, &jobs_config(&dir, ""));
    // 500000 numbered lines, about 3.4 MB: far more than the job's ring (256 KiB),
    // the client's queue in tend and the socket hold, read by a client that does not
    // read for a second. The job waits for it rather than lose output.
    let mut cmd = ctl_command(&dir, &["spawn", "-a", "--", "seq", "500000"]);
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawning tend spawn");
    let mut stdout = child.stdout.take().expect("stdout");
    std::thread::sleep(Duration::from_secs(1));
    let mut out = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut out).expect("reading");
    let st = child.wait_with_output().expect("tend spawn");
    assert_eq!(st.status.code(), Some(0), "{}", String::from_utf8_lossy(&st.stderr));
    assert!(st.stderr.is_empty(), "{}", String::from_utf8_lossy(&st.stderr));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 500_000);
    assert!(lines.iter().enumerate().all(|(i, l)| *l == (i + 1).to_string()), "lines out of order or lost");
    // Once ended, the job keeps its last 16 KiB.
    let o = support::ctl_ok(&dir, &["logs", "%1"]);
    assert!(o.out.len() <= 16 * 1024 && o.out.ends_with("499999\n500000\n"), "{} bytes", o.out.len());
}

#[test]
fn closing_stdout_ends_the_command_and_the_job_goes_on() {
    let dir = TestDir::new("jobs-attach-head");
    let _tend = start_serving(&dir, &jobs_config(&dir, ""));
    let mut cmd = ctl_command(&dir, &["spawn", "-a", "--", "seq", "500000"]);
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawning tend spawn");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut first = [0u8; 2];
    std::io::Read::read_exact(&mut stdout, &mut first).expect("reading");
    assert_eq!(&first, b"1\n");
    drop(stdout);
    let st = child.wait_with_output().expect("tend spawn");
    assert_eq!(st.status.code(), Some(0), "{}", String::from_utf8_lossy(&st.stderr));
    assert_eq!(support::wait_job(&dir, "%1"), 0);
}

#[test]
fn stdin_is_piped_with_i_and_ends_with_eof() {
    let dir = TestDir::new("jobs-attach-stdin");
    let _tend = start_serving(&dir, &jobs_config(&dir, ""));
    // More than tend queues for a job (256 KiB), through a job that reads slowly at
    // first: the client is held, nothing is lost.
    let input: Vec<u8> = (0..400_000u32).flat_map(|i| format!("{i}\n").into_bytes()).collect();
    let mut cmd = ctl_command(&dir, &["spawn", "-a", "-i", "--", "sh", "-c", "sleep 0.3; wc -lc"]);
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawning tend spawn");
    let mut stdin = child.stdin.take().expect("stdin");
    let data = input.clone();
    let writer = std::thread::spawn(move || stdin.write_all(&data));
    let out = child.wait_with_output().expect("tend spawn");
    writer.join().expect("writer").expect("writing stdin");
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let got: Vec<u64> =
        String::from_utf8_lossy(&out.stdout).split_whitespace().map(|w| w.parse().expect("a number")).collect();
    assert_eq!(got, vec![400_000, input.len() as u64]);
    // Without -i the job's stdin is /dev/null: cat ends at once.
    let o = run_output(ctl_command(&dir, &["spawn", "-a", "--", "cat"]), DEADLINE);
    assert_eq!((o.code, o.out.as_str()), (Some(0), ""), "{}", o.show());
    // -i without --attach is a usage error.
    let o = run_output(ctl_command(&dir, &["spawn", "-i", "--", "cat"]), DEADLINE);
    assert_eq!(o.code, Some(2), "{}", o.show());
    assert!(o.err.contains("-i needs --attach"), "{}", o.show());
}

#[test]
fn ctrl_c_reaches_the_job_and_the_command_exits_130() {
    let dir = TestDir::new("jobs-attach-ctrl-c");
    let _tend = start_serving(&dir, &jobs_config(&dir, ""));
    let script = "trap 'echo got INT; exit 130' INT; echo ready; sleep 1000 & wait";
    let mut bg = Bg::spawn(ctl_command(&dir, &["spawn", "-a", "--name", "interrupt-me", "--", "sh", "-c", script]));
    assert!(bg.out.wait_for(DEADLINE, |l| l == "ready").is_some(), "the job did not start\n{}", bg.dump());
    // What a terminal does on Ctrl-C: SIGINT to the command (the job is in a session
    // of its own, so only tend can pass it on).
    assert!(kill(bg.pid, libc::SIGINT));
    let st = bg.wait_timeout(DEADLINE).unwrap_or_else(|| panic!("tend spawn -a did not end\n{}", bg.dump()));
    assert_eq!(st.code(), Some(130), "{}", bg.dump());
    assert!(bg.out.wait_for(Duration::from_secs(1), |l| l == "got INT").is_some(), "{}", bg.dump());
    let j = job_json(&dir, "%1");
    assert_eq!((j["status"].as_i64(), j["spec"]["name"].as_str()), (Some(130), Some("interrupt-me")), "{j}");
    // The signal is an event, from the client.
    let evs = support::ctl_ok(&dir, &["events", "--json"]).json_lines();
    let e = evs.iter().find(|e| e["kind"] == "signal" && e["job"] == 1).unwrap_or_else(|| panic!("{evs:?}"));
    assert!(e["reason"].as_str().unwrap().starts_with("sent SIGINT to process "), "{e}");
    assert_eq!(e["requestor"]["pid"], bg.pid, "{e}");
}
