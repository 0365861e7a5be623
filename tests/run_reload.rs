//! SIGHUP reloads the config file: added services start, removed ones stop, changed ones
//! restart with the new settings, unchanged ones keep running with the same pid; a file
//! with errors is reported and the running configuration kept.

mod support;

use std::time::Duration;

use support::{sleeper, Proc, Tend, TestDir, DEADLINE};

#[test]
fn reload_adds_removes_changes_and_keeps() {
    let dir = TestDir::new("reload-diff");
    let before =
        [sleeper(&dir, "keep", ""), sleeper(&dir, "change", "env = { V = \"1\" }\n"), sleeper(&dir, "gone", "")]
            .concat();
    let mut tend = Tend::start(&dir, &before);
    let keep = Proc::of(dir.wait_pid("keep.pid"));
    let change_old = Proc::of(dir.wait_pid("change.pid"));
    let gone = Proc::of(dir.wait_pid("gone.pid"));
    std::fs::remove_file(dir.join("change.pid")).expect("rm change.pid");

    let changed = format!(
        "[service.change]\ncommand = \"echo $V > {d}/change.v; echo $$ > {d}/change.pid; exec sleep 1000\"\n\
         env = {{ V = \"2\" }}\n",
        d = dir.s()
    );
    let after = [sleeper(&dir, "keep", ""), changed, sleeper(&dir, "added", "")].concat();
    std::fs::write(&tend.config, after).expect("rewrite config");
    tend.signal(libc::SIGHUP);
    tend.wait_err(&format!("reloaded {}: 1 added, 1 changed, 1 removed", tend.config.display()));

    let added = Proc::of(dir.wait_pid("added.pid"));
    let change_new = Proc::of(dir.wait_pid("change.pid"));
    assert!(added.alive(), "the added service is not running");
    assert_ne!(change_new.pid, change_old.pid, "the changed service kept its process");
    assert!(change_new.alive());
    assert_eq!(dir.read("change.v"), "2\n", "the changed service runs with its old settings");
    assert!(change_old.wait_gone(DEADLINE), "the changed service's old process is still there");
    assert!(gone.wait_gone(DEADLINE), "the removed service's process is still there");
    assert!(keep.alive(), "the unchanged service was stopped");
    assert_eq!(dir.read_pid("keep.pid"), Some(keep.pid), "the unchanged service was restarted");
    assert!(
        !tend.transitions("keep").iter().any(|t| t.to == "stopping"),
        "the unchanged service was touched\n{}",
        tend.dump()
    );
    tend.wait_transition("gone", "stopped");
    tend.wait_transition("added", "running");
    tend.wait_transition_n("change", "running", 2);

    tend.signal(libc::SIGTERM);
    assert_eq!(tend.exit_code(), 0, "{}", tend.dump());
    for p in [keep, change_new, added] {
        assert!(!p.exists(), "{} is still there", p.pid);
    }
    tend.assert_no_leftovers();
}

#[test]
fn a_broken_file_keeps_the_running_configuration() {
    let dir = TestDir::new("reload-broken");
    let mut tend = Tend::start(&dir, &sleeper(&dir, "keep", ""));
    let keep = Proc::of(dir.wait_pid("keep.pid"));
    let path = tend.config.display().to_string();

    // Not TOML at all.
    std::fs::write(&tend.config, "[service.keep\ncommand = \n").expect("write");
    tend.signal(libc::SIGHUP);
    let line = tend.wait_err("reload failed, keeping the running configuration: ");
    assert!(line.contains(&format!("{path}:1:")), "no file:line in {line:?}");

    // Valid TOML, invalid config: the line of the bad key.
    std::fs::write(&tend.config, format!("{}restrat = \"always\"\n", sleeper(&dir, "keep", ""))).expect("write");
    tend.signal(libc::SIGHUP);
    let line = tend.wait_err_n("reload failed, keeping the running configuration: ", 2);
    assert!(line.contains(&format!("{path}:3:")), "no file:line in {line:?}");
    assert!(line.contains("service.keep.restrat"), "no key in {line:?}");

    std::thread::sleep(Duration::from_millis(100));
    assert!(keep.alive(), "the running service was stopped by a failed reload\n{}", tend.dump());
    assert!(tend.transitions("keep").iter().all(|t| t.to != "stopping"), "{}", tend.dump());
    assert!(tend.try_wait().is_none(), "tend exited after a failed reload\n{}", tend.dump());

    // A good file afterwards is applied.
    std::fs::write(&tend.config, [sleeper(&dir, "keep", ""), sleeper(&dir, "more", "")].concat()).expect("write");
    tend.signal(libc::SIGHUP);
    tend.wait_err(&format!("reloaded {path}: 1 added, 0 changed, 0 removed"));
    let more = Proc::of(dir.wait_pid("more.pid"));
    assert!(keep.alive());
    assert_eq!(dir.read_pid("keep.pid"), Some(keep.pid));

    tend.signal(libc::SIGTERM);
    assert_eq!(tend.exit_code(), 0, "{}", tend.dump());
    assert!(!keep.exists() && !more.exists());
    tend.assert_no_leftovers();
}

/// The config file replaced by garbage, then `tend reload` (issue 9, faults): binary
/// bytes, a NUL, megabytes of junk, a file that is gone, a directory in its place. Each
/// reload exits 1 with the error (file and line where there is one), the error is an
/// event, and the running services are untouched; the good file put back reloads.
#[test]
fn garbage_then_tend_reload_keeps_the_running_configuration() {
    let dir = TestDir::new("reload-garbage");
    let good = sleeper(&dir, "keep", "");
    let tend = support::start_serving(&dir, &good);
    let keep = Proc::of(dir.wait_pid("keep.pid"));
    let path = tend.config.clone();
    let shown = path.display().to_string();
    let mut junk = Vec::new();
    let mut x: u32 = 0x9e37_79b9;
    for _ in 0..(3 << 20) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        junk.push(b' ' + (x % 95) as u8);
    }
    let cases: Vec<(&str, Option<Vec<u8>>, &str)> = vec![
        ("binary", Some(vec![0x7f, b'E', b'L', b'F', 2, 1, 1, 0, 0xff, 0xfe, 0, 0]), ":1:"),
        ("not UTF-8 after a good line", Some(b"# fine\nx = \"\xc3\x28\"\n".to_vec()), ":2:"),
        ("NUL", Some(b"[service.keep]\ncommand = \"a\0b\"\n".to_vec()), ":2:"),
        ("3 MiB of junk", Some(junk), ":1:"),
        ("gone", None, "cannot read"),
    ];
    for (what, contents, expect) in &cases {
        match contents {
            Some(b) => std::fs::write(&path, b).expect("write"),
            None => std::fs::remove_file(&path).expect("rm"),
        }
        let o = support::ctl(&dir, &["reload"]);
        assert_eq!(o.code, Some(1), "{what}: {}", o.show());
        assert!(o.err.contains(&shown) && o.err.contains(expect), "{what}: no {expect:?} in\n{}", o.show());
    }
    // A directory where the file was.
    std::fs::create_dir(&path).expect("mkdir");
    let o = support::ctl(&dir, &["reload"]);
    assert_eq!(o.code, Some(1), "directory: {}", o.show());
    std::fs::remove_dir(&path).expect("rmdir");

    // Every failure is an event; the service never noticed.
    let events = support::ctl_ok(&dir, &["events", "--json"]);
    let failed = events.json_lines().iter().filter(|e| e["kind"] == "reload").count();
    assert_eq!(failed, cases.len() + 1, "{}", events.show());
    assert!(keep.alive());
    assert_eq!(dir.read_pid("keep.pid"), Some(keep.pid));
    assert!(tend.transitions("keep").iter().all(|t| t.to != "stopping"), "{}", tend.dump());

    std::fs::write(&path, [good, sleeper(&dir, "more", "")].concat()).expect("write");
    let o = support::ctl_ok(&dir, &["reload"]);
    assert!(o.out.contains("1 added"), "{}", o.show());
    dir.wait_pid("more.pid");
    assert_eq!(dir.read_pid("keep.pid"), Some(keep.pid));
}
