//! A log file that cannot be written: its output is held (the service waits, is not
//! killed), the failure is an event and shows in `tend status`, and writing resumes,
//! with nothing lost, once the cause is gone: a directory in the file's place, and a
//! full disk (a small tmpfs, mounted in a private mount namespace).

mod support;

use std::process::Command;

use serde_json::Value;
use support::{ctl_ok, skip, start_serving, status_json, wait_until, Opts, Tend, TestDir, DEADLINE};

/// A service writing `line0`..`line{n-1}`, then `done`, then sleeping.
fn counter(n: u32) -> String {
    format!("i=0; while [ $i -lt {n} ]; do echo line$i; i=$((i+1)); done; echo done; exec sleep 1000")
}

/// The events of kind `kind`, from `tend events --json`.
fn events_of(dir: &TestDir, kind: &str) -> Vec<Value> {
    let o = ctl_ok(dir, &["events", "--json"]);
    o.json_lines().into_iter().filter(|e| e["kind"] == kind).collect()
}

/// The lines of a log file are exactly line0..line{n-1}, then done.
#[track_caller]
fn assert_complete(text: &str, n: u32) {
    let mut want: Vec<String> = (0..n).map(|i| format!("line{i}")).collect();
    want.push("done".into());
    let got: Vec<&str> = text.lines().collect();
    assert_eq!(got.len(), want.len(), "lines in the file");
    assert!(got.iter().zip(&want).all(|(a, b)| a == b), "the file is not every line in order");
}

#[test]
fn a_file_that_cannot_be_opened_holds_output_until_it_can() {
    let dir = TestDir::new("logs-err-open");
    // A directory where the file should be: open(2) fails with EISDIR.
    std::fs::create_dir_all(dir.join("logs/c.log/in-the-way")).expect("mkdir");
    // 100,000 lines (1,088,900 bytes): more than the pipe and tend's queue hold.
    let cfg = format!(
        "log_dir = \"{d}/logs\"\n[service.c]\ncommand = \"{cmd}\"\nstdout = \"capture\"\nlog.file = true\n",
        d = dir.s(),
        cmd = counter(100_000)
    );
    let tend = start_serving(&dir, &cfg);
    let line = tend.wait_err("c: cannot write log file");
    assert!(line.contains("Is a directory") && line.contains("(output is held and retried)"), "{line}");
    assert_eq!(events_of(&dir, "log_error").len(), 1, "one event for the run of failures");
    // The service is held, not killed: it is running and has not got to the end.
    wait_until(DEADLINE, "a few failed attempts", || status_json(&dir, "c")["log_errors"].as_u64() >= Some(2));
    let st = status_json(&dir, "c");
    assert_eq!(st["state"], "running", "{st}");
    assert!(st["log_error"].as_str().is_some_and(|e| e.contains("Is a directory")), "{st}");
    assert_eq!(st["log_file"].as_str(), Some(dir.join("logs/c.log").to_str().unwrap_or_default()));
    // What tend holds is bounded: its queue (512 KiB), a batch and what it read into
    // the ring meanwhile; the rest waits in the service's pipe and write(2).
    let held = st["stdout_bytes"].as_u64().unwrap_or(0);
    assert!(held < 800_000, "the service was not held: {held} bytes read");
    assert!(support::rss_kib(tend.pid) < 16 << 10);
    let text = ctl_ok(&dir, &["status", "c"]).out;
    assert!(text.contains("failing: Is a directory"), "{text}");

    std::fs::remove_dir_all(dir.join("logs/c.log")).expect("removing the directory");
    tend.wait_err("c: writing log file");
    wait_until(DEADLINE, "the whole output in c.log", || dir.read("logs/c.log").ends_with("done\n"));
    assert_complete(&dir.read("logs/c.log"), 100_000);
    let st = status_json(&dir, "c");
    assert!(st.get("log_error").is_none(), "{st}");
    assert_eq!(events_of(&dir, "log").len(), 1);
}

#[test]
fn a_full_disk_yields_events_and_writing_resumes_when_space_is_freed() {
    let test = "a_full_disk_yields_events_and_writing_resumes_when_space_is_freed";
    let dir = TestDir::new("logs-err-full");
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs).expect("mkdir");
    // Can this machine mount a tmpfs in a private mount namespace?
    let probe = Command::new("unshare")
        .args(["-m", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs \"$0\" && umount \"$0\""])
        .arg(&logs)
        .output();
    match probe {
        Ok(o) if o.status.success() => {}
        Ok(o) => {
            let why = String::from_utf8_lossy(&o.stderr).trim().to_string();
            return skip(test, &format!("cannot mount a tmpfs in a private mount namespace (unshare -m): {why}"));
        }
        Err(e) => return skip(test, &format!("cannot run unshare: {e}")),
    }
    // tend runs in a mount namespace of its own where DIR/logs is a 256 KiB tmpfs, of
    // which a file takes all but about 20 KiB.
    let wrap = format!(
        "mount -t tmpfs -o size=256k tmpfs {l} && head -c 240000 /dev/zero > {l}/fill && exec \"$0\" \"$@\"",
        l = logs.display()
    );
    let opts = Opts { wrap: vec!["unshare".into(), "-m".into(), "sh".into(), "-c".into(), wrap], ..Default::default() };
    let cfg = format!(
        "log_dir = \"{d}/logs\"\n[service.c]\ncommand = \"{cmd}\"\nstdout = \"capture\"\nlog.file = true\n",
        d = dir.s(),
        cmd = counter(20_000)
    );
    let tend = Tend::start_with(&dir, &cfg, opts);
    wait_until(DEADLINE, "tend to answer", || support::ctl(&dir, &["ls"]).code == Some(0));
    let line = tend.wait_err("c: cannot write log file");
    assert!(line.contains("No space left on device"), "{line}");
    wait_until(DEADLINE, "a few failed attempts", || status_json(&dir, "c")["log_errors"].as_u64() >= Some(2));
    let st = status_json(&dir, "c");
    assert_eq!(st["state"], "running", "the service keeps running: {st}");
    assert!(st["log_error"].as_str().is_some_and(|e| e.contains("No space left")), "{st}");
    assert_eq!(events_of(&dir, "log_error").len(), 1);

    // Free the space, through tend's view of the file system.
    let fill = format!("/proc/{}/root{}/fill", tend.pid, logs.display());
    std::fs::remove_file(&fill).unwrap_or_else(|e| panic!("removing {fill}: {e}"));
    tend.wait_err("c: writing log file");
    let file = format!("/proc/{}/root{}/c.log", tend.pid, logs.display());
    let read = || std::fs::read_to_string(&file).unwrap_or_default();
    wait_until(DEADLINE, "the whole output in c.log", || read().ends_with("done\n"));
    assert_complete(&read(), 20_000);
    assert!(status_json(&dir, "c").get("log_error").is_none());
    // Nothing of it is visible outside tend's namespace.
    assert!(!logs.join("c.log").exists());
}
