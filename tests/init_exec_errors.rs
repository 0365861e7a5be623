//! What `tend init` does when it cannot run the command, or is given a bad command
//! line: tini's exit codes (127 not found, 126 not executable, 1 for usage errors) and
//! messages, usage on stderr for errors and on stdout for `-h`.

mod common;

use common::*;

fn init(dir: &TestDir, args: &[&str]) -> Outcome {
    let mut a = vec!["init"];
    a.extend_from_slice(args);
    run(dir, tend(a))
}

#[test]
fn missing_binary_exits_127() {
    let dir = TestDir::new("exec_missing");
    let out = init(&dir, &["--", "/nonexistent/cmd", "arg"]);
    out.assert_code(127);
    assert!(out.stderr.contains("exec /nonexistent/cmd failed: No such file or directory"), "stderr:\n{}", out.stderr);
    // not on $PATH either
    let out = init(&dir, &["--", "tend-no-such-command-anywhere"]);
    out.assert_code(127);
    assert!(
        out.stderr.contains("exec tend-no-such-command-anywhere failed: No such file or directory"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_file_that_is_not_executable_exits_126() {
    let dir = TestDir::new("exec_noexec");
    let file = dir.write_mode("script.sh", "#!/bin/sh\nexit 0\n", 0o644);
    let path = file.to_str().expect("utf-8").to_string();
    let out = init(&dir, &["--", &path]);
    out.assert_code(126);
    assert!(out.stderr.contains(&format!("exec {path} failed: Permission denied")), "stderr:\n{}", out.stderr);
    // a directory cannot be executed either
    init(&dir, &["--", &dir.s()]).assert_code(126);
}

#[test]
fn exec_failure_codes_can_be_remapped() {
    let dir = TestDir::new("exec_remap");
    init(&dir, &["-e", "127", "--", "/nonexistent/cmd"]).assert_code(0);
}

#[test]
fn no_command_prints_usage_on_stderr_and_exits_1() {
    let dir = TestDir::new("exec_nocmd");
    for args in [&[][..], &["--"][..], &["-s"][..], &["-s", "--"][..]] {
        let out = init(&dir, args);
        out.assert_code(1);
        assert!(out.stderr.contains("Usage:"), "{args:?}: no usage on stderr:\n{}", out.stderr);
        assert_eq!(out.stdout, "", "{args:?}: stdout should stay empty");
    }
}

#[test]
fn bad_options_exit_1_without_running_anything() {
    let dir = TestDir::new("exec_badopts");
    let bad: [&[&str]; 9] = [
        &["-e", "256"],
        &["-e", "-1"],
        &["-e", "abc"],
        &["-e", "4x"],
        &["-p", "NOPE"],
        &["-p", "SIGNOPE"],
        &["-p", "0"],
        &["-x"],
        &["-s", "-q"],
    ];
    for args in bad {
        let mut a = args.to_vec();
        a.extend_from_slice(&["--", "touch", "ran"]);
        let out = init(&dir, &a);
        out.assert_code(1);
        assert!(!dir.join("ran").exists(), "{args:?}: the command ran");
        assert!(!out.stderr.is_empty(), "{args:?}: no message");
    }
    // an option missing its argument
    for opt in ["-e", "-p"] {
        let out = init(&dir, &[opt]);
        out.assert_code(1);
        assert!(!out.stderr.is_empty(), "{opt} without argument: no message");
    }
}

#[test]
fn good_p_values_are_accepted() {
    let dir = TestDir::new("exec_goodp");
    // tini's form (SIGNAME), and tend's extensions (bare names, numbers)
    for sig in ["SIGKILL", "SIGTERM", "SIGUSR1", "KILL", "9"] {
        init(&dir, &["-p", sig, "--", "true"]).assert_code(0);
    }
}

#[test]
fn h_prints_usage_on_stdout_and_exits_0() {
    let dir = TestDir::new("exec_help");
    let out = init(&dir, &["-h"]);
    out.assert_code(0);
    assert!(out.stdout.contains("Usage:"), "stdout:\n{}", out.stdout);
    for opt in ["-s", "-g", "-p", "-e", "-v", "-w", "TINI_SUBREAPER", "TINI_KILL_PROCESS_GROUP"] {
        assert!(out.stdout.contains(opt), "usage does not mention {opt}");
    }
    // -h wins over a command
    let out = init(&dir, &["-h", "--", "touch", "ran"]);
    out.assert_code(0);
    assert!(!dir.join("ran").exists(), "-h ran the command");
}

#[test]
fn version_exits_0() {
    let dir = TestDir::new("exec_version");
    for args in [&["init", "--version"][..], &["--version"][..]] {
        let out = run(&dir, tend(args));
        out.assert_code(0);
        assert!(out.stdout.contains("version"), "{args:?}: stdout:\n{}", out.stdout);
    }
}
