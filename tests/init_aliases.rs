//! Under the names `tini`, `docker-init` and `podman-init` (a symlink, a hard link, or
//! where podman mounts it: `/run/podman-init -- CMD`), and when the first argument is
//! `--` or a tini flag, tend takes tini's command line directly.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::*;

const NAMES: [&str; 3] = ["tini", "docker-init", "podman-init"];

fn symlink(dir: &TestDir, name: &str) -> PathBuf {
    let link = dir.join(name);
    std::os::unix::fs::symlink(TEND, &link).expect("symlink");
    link
}

/// The tini command line works under `exe` (whose file name is `name`).
fn behaves_as_tini(dir: &TestDir, exe: &PathBuf, name: &str) {
    let cmd = |args: &[&str]| {
        let mut c = Command::new(exe);
        c.args(args);
        clear_tini_env(&mut c);
        c
    };
    run(dir, cmd(&["--", "sh", "-c", "exit 5"])).assert_code(5);
    // options are tini's
    run(dir, cmd(&["-e", "5", "--", "sh", "-c", "exit 5"])).assert_code(0);
    run(dir, cmd(&["-e5", "-s", "--", "sh", "-c", "exit 5"])).assert_code(0);
    // -s is taken: no warning about reaping
    let out = run(dir, cmd(&["-s", "--", "true"]));
    out.assert_code(0);
    assert!(!out.stderr.contains(REAPER_WARNING), "{name}: -s not honoured:\n{}", out.stderr);
    // like tini, the program may come without `--` (with no options of its own: tini's
    // getopt would take those as its own, tend stops at the program name)
    let script = dir.write_mode("exit3", "#!/bin/sh\nexit 3\n", 0o755);
    run(dir, cmd(&[script.to_str().expect("utf-8")])).assert_code(3);
    // usage under the name it was called by, on stdout
    let out = run(dir, cmd(&["-h"]));
    out.assert_code(0);
    assert!(out.stdout.contains(&format!("Usage: {name} ")), "{name}: usage:\n{}", out.stdout);
    // usage error with tini's code
    run(dir, cmd(&[])).assert_code(1);
    run(dir, cmd(&["--version"])).assert_code(0);
}

#[test]
fn symlinks_take_the_tini_command_line() {
    let dir = TestDir::new("alias_symlink");
    for name in NAMES {
        let link = symlink(&dir, name);
        behaves_as_tini(&dir, &link, name);
    }
}

#[test]
fn hard_links_take_the_tini_command_line() {
    let dir = TestDir::new("alias_hardlink");
    for name in NAMES {
        let link = dir.join(name);
        match std::fs::hard_link(TEND, &link) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EXDEV) => {
                // The temp dir is on another file system: a copy has the same argv[0].
                eprintln!("note: {} and {TEND} are on different file systems: copying", link.display());
                std::fs::copy(TEND, &link).expect("copy");
            }
            Err(e) => panic!("hard link {}: {e}", link.display()),
        }
        behaves_as_tini(&dir, &link, name);
    }
}

#[test]
fn podman_init_path_forwards_signals() {
    // How podman runs it: `/run/podman-init -- CMD...`, no flags, no TINI_* variables.
    let dir = TestDir::new("alias_podman_init");
    let link = symlink(&dir, "podman-init");
    let mut cmd = Command::new(&link);
    cmd.args(["--", "sleep", "1000"]);
    let mut t = spawn(&dir, cmd);
    let child = t.child_pid();
    wait_until(DEADLINE, "the child to exec sleep", || stat(child).is_some_and(|s| s.comm == "sleep"));
    t.signal(libc::SIGTERM);
    t.wait().assert_code(143);
}

#[test]
fn tend_with_a_tini_flag_first_takes_the_tini_command_line() {
    let dir = TestDir::new("alias_flag_first");
    run(&dir, tend(["--", "sh", "-c", "exit 4"])).assert_code(4);
    run(&dir, tend(["-s", "--", "sh", "-c", "exit 4"])).assert_code(4);
    run(&dir, tend(["-sg", "--", "sh", "-c", "exit 4"])).assert_code(4);
    run(&dir, tend(["-e", "4", "--", "sh", "-c", "exit 4"])).assert_code(0);
    run(&dir, tend(["-e4", "--", "sh", "-c", "exit 4"])).assert_code(0);
    let out = run(&dir, tend(["-s", "--", "true"]));
    out.assert_code(0);
    assert!(!out.stderr.contains(REAPER_WARNING), "tend -s: -s not honoured:\n{}", out.stderr);
    run(&dir, tend(["-s"])).assert_code(1);
}

#[test]
fn other_names_do_not_take_the_tini_command_line() {
    // Under any other name a bare command is not run as tini would run it.
    let dir = TestDir::new("alias_other");
    let link = symlink(&dir, "not-tini");
    let mut cmd = Command::new(&link);
    cmd.args(["touch", "ran"]);
    let out = run(&dir, cmd);
    assert_ne!(out.code(), Some(0), "`not-tini touch ran` succeeded");
    assert!(!dir.join("ran").exists(), "`not-tini touch ran` ran the command");
    let out = run(&dir, tend(["touch", "ran"]));
    assert_ne!(out.code(), Some(0), "`tend touch ran` succeeded");
    assert!(!dir.join("ran").exists(), "`tend touch ran` ran the command");
}
