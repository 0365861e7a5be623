//! `[job.NAME]` tables that are wrong: exit 78 before anything starts, with `tend:
//! FILE:LINE:COL: KEY: MESSAGE` on stderr (as tests/run_config_errors.rs for services).

mod support;

/// See [`support::check_config_error`].
#[track_caller]
fn check(name: &str, bad: &str, line: usize, key: &str, fragment: &str) {
    support::check_config_error("jobcfg", name, bad, line, key, fragment);
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
