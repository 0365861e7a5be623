//! `[job.NAME]` tables that are wrong: exit 78 before anything starts, with `tend:
//! FILE:LINE:COL: KEY: MESSAGE` on stderr (as tests/run_config_errors.rs for services).

mod support;

use support::{Tend, TestDir};

/// A config whose line `line` has an error in `key`: exit 78, one message
/// `FILE:LINE:COL: KEY: ...` containing `fragment`, and the valid service before it never
/// started.
#[track_caller]
fn check(name: &str, bad: &str, line: usize, key: &str, fragment: &str) {
    let dir = TestDir::new(&format!("jobcfg-{name}"));
    let text = format!("[service.first]\ncommand = \"touch {d}/started\"\n{bad}", d = dir.s());
    let mut tend = Tend::start(&dir, &text);
    let code = tend.exit_code();
    let (err, out) = (tend.err.text(), tend.out.text());
    let path = dir.join("tend.toml").display().to_string();
    assert_eq!(code, 78, "exit code for {name}; stderr:\n{err}");
    let msg = err.lines().find(|l| l.starts_with("tend: ")).unwrap_or_else(|| panic!("no message:\n{err}"));
    let head = format!("tend: {path}:{line}:");
    assert!(msg.starts_with(&head), "{name}: expected {head:?}..., got {msg:?}");
    assert!(msg.contains(&format!(": {key}: ")), "{name}: key {key:?} missing from {msg:?}");
    assert!(msg.contains(fragment), "{name}: {fragment:?} missing from {msg:?}");
    assert_eq!(err.lines().count(), 1, "{name}: more than the error on stderr:\n{err}");
    assert!(out.trim().is_empty(), "{name}: output on stdout: {out:?}");
    assert!(!dir.join("started").exists(), "{name}: a service ran despite the config error");
}

#[test]
fn every_and_cron_both_given() {
    check(
        "both",
        "[job.backup]\ncommand = \"true\"\nevery = \"10m\"\ncron = \"*/5 * * * *\"\n",
        6,
        "job.backup.cron",
        "job.backup.every is already set: give either every or cron, not both",
    );
}

#[test]
fn no_schedule() {
    check("none", "\n[job.backup]\ncommand = \"true\"\n", 4, "job.backup", "missing schedule: set every");
}

#[test]
fn no_command() {
    check("no-command", "[job.backup]\nevery = \"1h\"\n", 3, "job.backup", "missing required key \"command\"");
}

#[test]
fn bad_cron_expression() {
    check(
        "bad-cron",
        "[job.backup]\ncommand = \"true\"\ncron = \"*/5 * * *\"\n",
        5,
        "job.backup.cron",
        "invalid cron expression \"*/5 * * *\"",
    );
    check(
        "range-cron",
        "[job.backup]\ncommand = \"true\"\ncron = \"0 25 * * *\"\n",
        5,
        "job.backup.cron",
        "invalid cron expression \"0 25 * * *\"",
    );
}

#[test]
fn cron_that_never_fires() {
    check("never", "[job.backup]\ncommand = \"true\"\ncron = \"0 0 30 2 *\"\n", 5, "job.backup.cron", "never fires");
}

#[test]
fn cron_not_a_string() {
    check("cron-int", "[job.backup]\ncommand = \"true\"\ncron = 5\n", 5, "job.backup.cron", "expected a string");
}

#[test]
fn bad_overlap() {
    check(
        "overlap",
        "[job.backup]\ncommand = \"true\"\nevery = \"1h\"\noverlap = \"sometimes\"\n",
        6,
        "job.backup.overlap",
        "unknown value \"sometimes\", expected one of \"skip\", \"queue\", \"allow\"",
    );
}

#[test]
fn bad_every() {
    check("every-0", "[job.backup]\ncommand = \"true\"\nevery = \"0\"\n", 5, "job.backup.every", "at least 1ms");
    check(
        "every-unit",
        "[job.backup]\ncommand = \"true\"\nevery = \"10 minutes\"\n",
        5,
        "job.backup.every",
        "invalid duration",
    );
}

#[test]
fn bad_descriptor_keys() {
    check(
        "timeout",
        "[job.backup]\ncommand = \"true\"\nevery = \"1h\"\ntimeout = \"0\"\n",
        6,
        "job.backup.timeout",
        "timeout must be greater than 0",
    );
    check(
        "retries",
        "[job.backup]\ncommand = \"true\"\nevery = \"1h\"\nretries = -1\n",
        6,
        "job.backup.retries",
        "out of range",
    );
    check(
        "user",
        "[job.backup]\ncommand = \"true\"\nevery = \"1h\"\nuser = \"no-such-user-tend-test\"\n",
        6,
        "job.backup.user",
        "unknown user",
    );
    check(
        "cwd",
        "[job.backup]\ncommand = \"true\"\nevery = \"1h\"\ncwd = \"data\"\n",
        6,
        "job.backup.cwd",
        "must be an absolute path",
    );
    check(
        "empty-command",
        "[job.backup]\ncommand = []\nevery = \"1h\"\n",
        4,
        "job.backup.command",
        "must not be empty",
    );
}

#[test]
fn unknown_key_suggests() {
    check(
        "typo",
        "[job.backup]\ncommand = \"true\"\nevry = \"1h\"\n",
        5,
        "job.backup.evry",
        "unknown key \"evry\"; did you mean \"every\"?",
    );
}

#[test]
fn bad_job_name() {
    check("name", "[job.\"a b\"]\ncommand = \"true\"\nevery = \"1h\"\n", 3, "job.\"a b\"", "invalid job name \"a b\"");
}
