//! `tend init` exits with its child's status: the exit code as is, 128 + the signal
//! number when the child was killed, and 0 for a code named with `-e` (tini's rules,
//! tini.c reap_zombies).

mod common;

use common::*;

fn exit_of(dir: &TestDir, flags: &[&str], script: &str) -> Outcome {
    run(dir, init_sh(flags, script))
}

#[test]
fn child_exit_codes_propagate() {
    let dir = TestDir::new("exit_codes_propagate");
    for code in [0, 1, 42, 255] {
        exit_of(&dir, &[], &format!("exit {code}")).assert_code(code);
    }
}

#[test]
fn child_killed_by_signal_gives_128_plus_signal() {
    let dir = TestDir::new("exit_codes_signal");
    exit_of(&dir, &[], "kill -TERM $$").assert_code(143);
    exit_of(&dir, &[], "kill -KILL $$").assert_code(137);
    exit_of(&dir, &[], "kill -USR1 $$").assert_code(128 + libc::SIGUSR1);
}

#[test]
fn expected_codes_are_remapped_to_zero() {
    let dir = TestDir::new("exit_codes_remap");
    exit_of(&dir, &["-e", "42"], "exit 42").assert_code(0);
    // attached argument, as getopt allows
    exit_of(&dir, &["-e42"], "exit 42").assert_code(0);
    // a code that is not named is passed through
    exit_of(&dir, &["-e", "42"], "exit 43").assert_code(43);
    exit_of(&dir, &["-e", "42"], "exit 0").assert_code(0);
    // repeated -e: every one counts
    exit_of(&dir, &["-e", "1", "-e", "42"], "exit 1").assert_code(0);
    exit_of(&dir, &["-e", "1", "-e", "42"], "exit 42").assert_code(0);
    exit_of(&dir, &["-e", "1", "-e", "42"], "exit 2").assert_code(2);
    // the remap applies to the 128+signal code too (tini does the same)
    exit_of(&dir, &["-e", "143"], "kill -TERM $$").assert_code(0);
    exit_of(&dir, &["-e", "137"], "kill -TERM $$").assert_code(143);
}

#[test]
fn exit_code_reported_even_when_started_with_sigchld_ignored() {
    // An inherited SIG_IGN for SIGCHLD makes the kernel auto-reap children, so the
    // status would be lost: tend must reset it for itself (PITFALLS §1).
    let dir = TestDir::new("exit_codes_sigchld_ign");
    let start = Start { ignore: vec![libc::SIGCHLD], ..Start::default() };
    let out = spawn_in(&dir, tend(["init", "--", "sh", "-c", "exit 7"]), &start, false).wait();
    out.assert_code(7);
}
