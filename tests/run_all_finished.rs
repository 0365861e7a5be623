//! Without `main`, tend exits once every autostarted service has finished: 0 if none
//! failed, 3 if one did. It should do so promptly, not only when shutdown_timeout (10 s
//! by default) expires.

mod support;

use std::time::{Duration, Instant};

use support::{Tend, TestDir};

/// How long tend may take to exit after the last service finished.
const PROMPT: Duration = Duration::from_secs(3);

fn finish(name: &str, cfg: &str, want: i32) {
    let dir = TestDir::new(name);
    let mut tend = Tend::start(&dir, cfg);
    let last = tend.wait_err("all services finished");
    let t0 = Instant::now();
    let status = tend.wait_timeout(PROMPT);
    let waited = t0.elapsed();
    let Some(status) = status else {
        panic!("tend still running {waited:?} after {last:?} (default shutdown_timeout is 10s)\n{}", tend.dump());
    };
    assert_eq!(status.code(), Some(want), "{}", tend.dump());
    assert!(
        !tend.err.text().contains("shutdown_timeout reached"),
        "tend waited for shutdown_timeout to exit\n{}",
        tend.dump()
    );
    tend.assert_no_leftovers();
}

#[test]
fn all_succeeded_exits_0_promptly() {
    finish(
        "all-finished-ok",
        "[service.a]\ncommand = [\"true\"]\nrestart = \"never\"\n\
         [service.b]\ncommand = \"sleep 0.2\"\nrestart = \"on-failure\"\n",
        0,
    );
}

#[test]
fn one_failed_exits_3_promptly() {
    finish(
        "all-finished-failed",
        "[service.a]\ncommand = [\"true\"]\nrestart = \"never\"\n\
         [service.b]\ncommand = \"exit 1\"\nrestart = \"never\"\n",
        3,
    );
}
