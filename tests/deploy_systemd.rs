//! deploy/tend.service: systemd accepts it (`systemd-analyze verify`, skipped where
//! systemd-analyze is not installed), and tend does what each of its settings counts
//! on: ExecStart's `run -c FILE`; SIGTERM to tend alone (KillMode=mixed) stops every
//! service, dependents first, and exits 0 (no restart under Restart=on-failure), well
//! within TimeoutStopSec; ExecReload's `tend reload` succeeds on a good file and fails
//! on a bad one while the services keep running; a bad file at start exits 78, the
//! status RestartPreventExitStatus names.

mod support;

use std::path::Path;
use std::process::Command;

use support::*;

fn unit() -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/tend.service");
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()))
}

/// The value of `Key=` in the unit (the last one wins, as in systemd).
fn setting(unit: &str, key: &str) -> String {
    unit.lines()
        .rev()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
        .unwrap_or_else(|| panic!("no {key}= in deploy/tend.service"))
        .trim()
        .to_string()
}

/// `30s`, `2min`, `90` (seconds) as seconds.
fn seconds(v: &str) -> u64 {
    let (n, mult) = if let Some(n) = v.strip_suffix("min") {
        (n, 60)
    } else if let Some(n) = v.strip_suffix('s') {
        (n, 1)
    } else {
        (v, 1)
    };
    n.trim().parse::<u64>().unwrap_or_else(|_| panic!("not a duration this test reads: {v:?}")) * mult
}

#[test]
fn systemd_accepts_the_unit() {
    let test = "systemd_accepts_the_unit";
    if Command::new("systemd-analyze").arg("--version").output().map(|o| !o.status.success()).unwrap_or(true) {
        skip(test, "systemd-analyze is not installed");
        return;
    }
    let dir = TestDir::new("systemd-verify");
    // verify checks that ExecStart's binary exists: point it at the one under test.
    let path = dir.join("tend.service");
    std::fs::write(&path, unit().replace("/usr/local/bin/tend", TEND)).expect("writing the unit");
    let o = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&path)
        .output()
        .expect("running systemd-analyze");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "systemd-analyze verify failed:\n{err}");
    // Unknown keys and bad values are only warnings, naming the file.
    let about_us: Vec<&str> = err.lines().filter(|l| l.contains("tend.service")).collect();
    assert!(about_us.is_empty(), "systemd-analyze has remarks:\n{err}");
}

#[test]
fn tend_does_what_the_unit_counts_on() {
    let unit = unit();
    assert_eq!(setting(&unit, "Type"), "exec", "tend does not send READY=1 itself: not Type=notify");
    assert_eq!(setting(&unit, "KillMode"), "mixed");
    assert_eq!(setting(&unit, "Delegate"), "yes");
    assert_eq!(setting(&unit, "Restart"), "on-failure");
    // tend's default shutdown_timeout is 10s (tend.toml(5)): its own SIGKILL comes first.
    assert!(seconds(&setting(&unit, "TimeoutStopSec")) > 10, "TimeoutStopSec within tend's shutdown_timeout");
    let start: Vec<String> = setting(&unit, "ExecStart").split_whitespace().map(String::from).collect();
    assert_eq!(start.get(1..3), Some(&["run".to_string(), "-c".to_string()][..]), "ExecStart: {start:?}");
    let reload: Vec<String> = setting(&unit, "ExecReload").split_whitespace().map(String::from).collect();
    assert_eq!(reload[0], start[0], "ExecReload runs the same binary");
    let reload: Vec<&str> = reload[1..].iter().map(String::as_str).collect();
    let bad_status: i32 = setting(&unit, "RestartPreventExitStatus").parse().expect("a status");

    let dir = TestDir::new("systemd-unit");
    let config = format!("{}{}", sleeper(&dir, "db", ""), sleeper(&dir, "app", "depends_on = { db = \"started\" }\n"));
    // ExecStart's shape: `tend run -c FILE`.
    let mut tend = start_serving(&dir, &config);
    let (db, app) = (Proc::of(dir.wait_pid("db.pid")), Proc::of(dir.wait_pid("app.pid")));

    // ExecReload: a good file is applied, a bad one refused (systemctl reload fails)
    // and nothing stops.
    let o = ctl(&dir, &reload);
    assert_eq!(o.code, Some(0), "{}", o.show());
    std::fs::write(&tend.config, "[service.x]\ncommand = 3\n").expect("writing a bad config");
    let o = ctl(&dir, &reload);
    assert_eq!(o.code, Some(1), "{}", o.show());
    assert!(o.err.contains("tend.toml:2"), "the error names the line: {}", o.show());
    assert!(db.alive() && app.alive(), "a refused reload stopped a service\n{}", tend.dump());
    std::fs::write(&tend.config, &config).expect("restoring the config");

    // KillMode=mixed: SIGTERM to tend alone.
    tend.signal(libc::SIGTERM);
    assert_eq!(tend.exit_code(), 0, "{}", tend.dump());
    let app_stop = tend.wait_transition("app", "stopped");
    let db_stop = tend.wait_transition("db", "stopped");
    assert!(app_stop.micros <= db_stop.micros, "the dependent stopped after its dependency\n{}", tend.dump());
    assert!(!db.exists() && !app.exists());
    tend.assert_no_leftovers();

    // A bad file at start: the status that RestartPreventExitStatus stops retrying on.
    let dir = TestDir::new("systemd-unit-bad");
    let mut tend = Tend::start(&dir, "[service.x]\ncommand = 3\n");
    assert_eq!(tend.exit_code(), bad_status, "{}", tend.dump());
}
