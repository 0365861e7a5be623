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

/// See [`support::check_config_error`].
#[track_caller]
fn check(name: &str, bad: &str, line: usize, key: &str, fragment: &str) {
    support::check_config_error("config", name, bad, line, key, fragment);
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

/// A table of broken configs (issue 9, hostile input): each is refused before anything
/// starts, with the file, line and key of the mistake.
#[test]
fn a_table_of_broken_configs() {
    let svc = "[service.second]\ncommand = \"true\"\n";
    let table: Vec<(&str, String, usize, &str, &str)> = vec![
        ("unterminated", "restart = \"always\n".into(), 3, "service.first.restart", "invalid basic string"),
        ("redefined-key", "command = []\n".into(), 3, "service.first.command", "duplicate key"),
        ("redefined-table", format!("{svc}[service.second]\ncommand = \"x\"\n"), 5, "service.second", "duplicate key"),
        ("array-of-tables", "[[service.second]]\ncommand = \"true\"\n".into(), 3, "service.second", "expected a table"),
        ("service-not-table", "[service]\nfirst = 3\n".into(), 4, "service.first", "duplicate key"),
        (
            "bad-service-name",
            "[service.\"bad name/\"]\ncommand = \"true\"\n".into(),
            3,
            "service.\"bad name/\"",
            "invalid service name",
        ),
        ("factor", format!("{svc}backoff = {{ factor = 0.5 }}\n"), 5, "service.second.backoff.factor", "less than 1.0"),
        (
            "initial-over-max",
            format!("{svc}backoff = {{ initial = \"1s\", max = \"10ms\" }}\n"),
            5,
            "service.second.backoff.initial",
            "greater than max",
        ),
        ("instances-0", format!("{svc}instances = 0\n"), 5, "service.second.instances", "from 1 to 1000"),
        ("instances-huge", format!("{svc}instances = 100000\n"), 5, "service.second.instances", "out of range"),
        ("signal", format!("{svc}stop_signal = \"SIGKILLX\"\n"), 5, "service.second.stop_signal", "invalid signal"),
        ("umask", format!("{svc}umask = \"0999\"\n"), 5, "service.second.umask", "invalid umask"),
        ("rlimit", format!("{svc}rlimits = {{ nproc = -5 }}\n"), 5, "service.second.rlimits.nproc", "out of range"),
        ("size", format!("{svc}max_rss = \"12 parsecs\"\n"), 5, "service.second.max_rss", "invalid size"),
        ("env-name", format!("{svc}env = {{ \"A=B\" = \"1\" }}\n"), 5, "service.second.env.\"A=B\"", "without '='"),
        ("env-type", format!("{svc}env = {{ A = 1 }}\n"), 5, "service.second.env.A", "expected a string"),
        ("burst", format!("{svc}start_limit = {{ burst = -1 }}\n"), 5, "service.second.start_limit.burst", "range"),
        (
            "log-size",
            format!("{svc}log = {{ max_size = \"1PiB\" }}\n"),
            5,
            "service.second.log.max_size",
            "invalid size",
        ),
        (
            "exit-code",
            format!("{svc}success_exit_codes = [300]\n"),
            5,
            "service.second.success_exit_codes[0]",
            "0 to 255",
        ),
        ("bool", format!("{svc}kill_group = \"yes\"\n"), 5, "service.second.kill_group", "expected a boolean"),
        ("uid", format!("{svc}user = 4294967295\n"), 5, "service.second.user", "invalid user id"),
        ("socket", format!("{svc}socket = \"\"\n"), 5, "service.second.socket", "must not be empty"),
        ("mode", "[control]\nmode = \"0777x\"\n".into(), 4, "control.mode", "invalid mode"),
        ("max-frame", "[control]\nmax_frame = \"1TiB\"\n".into(), 4, "control.max_frame", "out of range"),
        (
            "listen",
            "[ingress]\nlisten = \"not an address\"\nroutes = { \"/\" = \"first\" }\n".into(),
            4,
            "ingress.listen",
            "is not an address",
        ),
        (
            "route",
            "[ingress]\nlisten = \"127.0.0.1:1\"\nroutes = { \"/\" = \"nosuch\" }\n".into(),
            5,
            "ingress.routes.\"/\"",
            "unknown service \"nosuch\"",
        ),
        ("misplaced-global", "shutdown_timeout = \"1s\"\n".into(), 3, "service.first.shutdown_timeout", "did you mean"),
        ("nul", "restart = \"a\0b\"\n".into(), 3, "", "invalid TOML"),
    ];
    for (name, bad, line, key, fragment) in &table {
        check(name, bad, *line, key, fragment);
    }
    eprintln!("{} broken configs refused with their file, line and key", table.len());
}
