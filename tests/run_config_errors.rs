//! A bad config file: exit 78 before anything starts, with `tend: FILE:LINE:COL: KEY:
//! MESSAGE` on stderr.

mod support;

use support::{Tend, TestDir};

/// Run tend on `text`; return (exit code, stderr, stdout).
fn run(dir: &TestDir, text: &str) -> (i32, String, String) {
    let mut tend = Tend::start(dir, text);
    let code = tend.exit_code();
    (code, tend.err.text(), tend.out.text())
}

/// A config whose line `line` has an error in `key`: exit 78, message `FILE:LINE:COL: KEY:`
/// containing `fragment`, and the valid service before it never started.
#[track_caller]
fn check(name: &str, bad: &str, line: usize, key: &str, fragment: &str) {
    let dir = TestDir::new(&format!("config-{name}"));
    // Line 1-2: a valid service that would leave a mark if it ran; the bad part follows.
    let text = format!("[service.first]\ncommand = \"touch {d}/started\"\n{bad}", d = dir.s());
    let (code, err, out) = run(&dir, &text);
    let path = dir.join("tend.toml").display().to_string();
    assert_eq!(code, 78, "exit code for {name}; stderr:\n{err}");
    let msg = err.lines().find(|l| l.starts_with("tend: ")).unwrap_or_else(|| panic!("no message:\n{err}"));
    let head = format!("tend: {path}:{line}:");
    assert!(msg.starts_with(&head), "{name}: expected {head:?}..., got {msg:?}");
    let col = msg[head.len()..].split(':').next().unwrap_or("");
    assert!(col.parse::<usize>().is_ok_and(|c| c >= 1), "{name}: no column in {msg:?}");
    if !key.is_empty() {
        assert!(msg.contains(&format!(": {key}: ")), "{name}: key {key:?} missing from {msg:?}");
    }
    assert!(msg.contains(fragment), "{name}: {fragment:?} missing from {msg:?}");
    assert_eq!(err.lines().count(), 1, "{name}: more than the error on stderr:\n{err}");
    assert!(out.trim().is_empty(), "{name}: output on stdout: {out:?}");
    assert!(!dir.join("started").exists(), "{name}: a service ran despite the config error");
}

#[test]
fn unknown_key() {
    check("unknown-key", "restrat = \"always\"\n", 3, "service.first.restrat", "unknown key \"restrat\"");
}

#[test]
fn bad_duration() {
    check(
        "bad-duration",
        "[service.second]\ncommand = \"true\"\nstop_timeout = \"5 parsecs\"\n",
        5,
        "service.second.stop_timeout",
        "invalid duration \"5 parsecs\"",
    );
}

#[test]
fn unknown_user() {
    check(
        "unknown-user",
        "[service.second]\ncommand = \"true\"\n\nuser = \"no-such-user-tend-test\"\n",
        6,
        "service.second.user",
        "unknown user \"no-such-user-tend-test\"",
    );
}

#[test]
fn bad_signal() {
    check("bad-signal", "stop_signal = \"SIGFOO\"\n", 3, "service.first.stop_signal", "invalid signal");
}

#[test]
fn toml_syntax_error() {
    check("syntax", "\n\nrestart = always\n", 5, "service.first.restart", "invalid TOML");
}

#[test]
fn unknown_restart_policy() {
    check("restart-value", "restart = \"sometimes\"\n", 3, "service.first.restart", "\"sometimes\"");
}

#[test]
fn nested_table_error() {
    check(
        "backoff",
        "[service.second]\ncommand = \"true\"\nbackoff = { initial = \"1s\", max = \"10ms\", factor = 0.5 }\n",
        5,
        "service.second.backoff.factor",
        "less than 1.0",
    );
}

#[test]
fn main_names_an_unknown_service() {
    let dir = TestDir::new("config-main");
    let (code, err, _) = run(&dir, "main = \"nope\"\n[service.a]\ncommand = \"true\"\n");
    assert_eq!(code, 78, "{err}");
    let path = dir.join("tend.toml").display().to_string();
    assert!(err.starts_with(&format!("tend: {path}:1:")), "{err}");
    assert!(err.contains("main: "), "{err}");
}

#[test]
fn missing_file() {
    let dir = TestDir::new("config-missing");
    let path = dir.join("absent.toml");
    let out = std::process::Command::new(support::TEND)
        .arg("run")
        .arg("-c")
        .arg(&path)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run tend");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "{err}");
    assert!(err.starts_with(&format!("tend: {}: ", path.display())), "{err}");
    assert!(err.contains("No such file or directory"), "{err}");
}

#[test]
fn dependency_cycle_names_the_cycle() {
    check(
        "dep-cycle",
        "[service.a]\ncommand = \"true\"\ndepends_on = { b = \"ready\" }\n\
         [service.b]\ncommand = \"true\"\ndepends_on = [\"c\"]\n\
         [service.c]\ncommand = \"true\"\ndepends_on = { a = \"started\" }\n",
        11,
        "service.c.depends_on",
        "dependency cycle: a -> b -> c -> a",
    );
}

#[test]
fn unknown_dependency() {
    check(
        "dep-unknown",
        "[service.web]\ncommand = \"true\"\ndepends_on = { dbb = \"ready\" }\n",
        5,
        "service.web.depends_on",
        "unknown service \"dbb\", expected one of \"first\"",
    );
}

#[test]
fn bad_readiness_settings() {
    check(
        "ready-host",
        "[service.web]\ncommand = \"true\"\nready = { tcp = \"db.internal:5432\" }\n",
        5,
        "service.web.ready.tcp",
        "names are not resolved",
    );
    check(
        "ready-two",
        "[service.web]\ncommand = \"true\"\nready = { fd = 3, tcp = \"127.0.0.1:1\" }\n",
        5,
        "service.web.ready.tcp",
        "`tcp` and `fd` are exclusive",
    );
    check(
        "ready-https",
        "[service.web]\ncommand = \"true\"\nhealth = { http = \"https://127.0.0.1/\" }\n",
        5,
        "service.web.health.http",
        "https is not supported",
    );
    check(
        "ready-cond",
        "[service.web]\ncommand = \"true\"\ndepends_on = { first = \"up\" }\n",
        5,
        "service.web.depends_on.first",
        "unknown value \"up\", expected one of \"started\", \"ready\", \"healthy\", \"completed\"",
    );
    check(
        "ready-unhealthy",
        "[service.web]\ncommand = \"true\"\nrestart_on_unhealthy = true\n",
        5,
        "service.web.restart_on_unhealthy",
        "restart_on_unhealthy requires health",
    );
    check(
        "ready-fd",
        "[service.web]\ncommand = \"true\"\nready = { fd = 2 }\n",
        5,
        "service.web.ready.fd",
        "expected an integer from 3 to 1023",
    );
}
