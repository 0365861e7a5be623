//! The child gets its arguments and tend's environment verbatim: bytes that are not
//! UTF-8, arguments that look like tini options, and the TINI_* variables themselves
//! (tini passes its environment on unchanged).

mod common;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

use common::*;

#[test]
fn arguments_reach_the_child_verbatim() {
    let dir = TestDir::new("argv_verbatim");
    let odd = OsStr::from_bytes(b"\xff\xfe-not-utf8");
    // The script writes each of its arguments on a line of its own.
    let script = r#"for a in "$@"; do printf '%s\n' "$a"; done"#;
    let mut cmd = tend(["init", "--", "sh", "-c", script, "sh"]);
    cmd.arg(odd).args(["-s", "-e", "5", "--", "", "two words"]);
    let out = spawn(&dir, cmd).wait();
    out.assert_code(0);
    let raw = out.stdout_bytes;
    let mut want = odd.as_bytes().to_vec();
    want.extend_from_slice(b"\n-s\n-e\n5\n--\n\ntwo words\n");
    assert_eq!(raw, want, "child's argv as received: {:?}", String::from_utf8_lossy(&raw));
}

#[test]
fn options_after_the_program_belong_to_the_program() {
    // tend stops parsing at the program name (tini built with glibc getopt would
    // permute; with `--`, the documented form, both agree).
    let dir = TestDir::new("argv_after_program");
    let script = dir.write_mode("args", "#!/bin/sh\necho \"$@\"\n", 0o755);
    let out = run(&dir, tend(["-s", script.to_str().expect("utf-8"), "-e", "5", "-g"]));
    out.assert_code(0);
    assert_eq!(out.stdout, "-e 5 -g\n");
}

#[test]
fn environment_reaches_the_child() {
    let dir = TestDir::new("argv_env");
    let mut cmd = tend(["init", "--", "sh", "-c", r#"echo "$FOO|${TINI_SUBREAPER-unset}|$TINI_KILL_PROCESS_GROUP""#]);
    cmd.env("FOO", "bar baz").env("TINI_SUBREAPER", "").env("TINI_KILL_PROCESS_GROUP", "1");
    let out = run(&dir, cmd);
    out.assert_code(0);
    assert_eq!(out.stdout, "bar baz||1\n");
}
