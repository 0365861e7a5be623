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
