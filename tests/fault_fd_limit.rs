//! Faults (issue 9): tend started with `ulimit -n 32` and twelve services. The spawns
//! that find no fd left fail with EMFILE, are reported (`spawn failed: pipe ...: Too
//! many open files`) and retried with a growing backoff; a client that connects meanwhile
//! is not accepted but waits (reported: `accepting control connections failed`); and tend
//! does not spin (its CPU time over two seconds is measured from /proc/PID/stat). Once the
//! limit is raised (fds free up), every service starts and the waiting client is
//! answered. tests/ctl_protocol.rs (`running_out_of_fds_pauses_accepting_and_recovers`)
//! covers the accept side with a limit lowered while tend runs.

mod support;

use std::time::Duration;

use support::{ctl, Opts, Raw, Tend, TestDir};
use tend::proto::Reply;

const SERVICES: usize = 12;

/// CPU time (user + system) of `pid`, in clock ticks.
fn cpu_ticks(pid: i32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let f: Vec<&str> = s.get(s.rfind(')').map_or(0, |i| i + 2)..).unwrap_or("").split_whitespace().collect();
    // utime and stime: fields 14 and 15, the 12th and 13th after the comm.
    f.get(11).and_then(|u| u.parse::<u64>().ok()).unwrap_or(0)
        + f.get(12).and_then(|u| u.parse::<u64>().ok()).unwrap_or(0)
}

fn set_nofile(pid: i32, soft: u64) {
    let mut old = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    let none = std::ptr::null::<libc::rlimit>();
    // SAFETY: a valid rlimit out-pointer; reading another process's limit.
    let r = unsafe { libc::syscall(libc::SYS_prlimit64, pid, libc::RLIMIT_NOFILE, none, &mut old) };
    assert_eq!(r, 0, "prlimit: {}", std::io::Error::last_os_error());
    let lim = libc::rlimit { rlim_cur: soft, rlim_max: old.rlim_max.max(soft) };
    // SAFETY: a valid rlimit; changing another process's limit (we are its parent's user).
    let r = unsafe { libc::syscall(libc::SYS_prlimit64, pid, libc::RLIMIT_NOFILE, &lim, none) };
    assert_eq!(r, 0, "prlimit: {}", std::io::Error::last_os_error());
}

#[test]
fn out_of_fds_spawns_are_retried_with_backoff_and_resume() {
    let dir = TestDir::new("fault-fd-limit");
    let mut cfg = String::new();
    for i in 0..SERVICES {
        cfg.push_str(&format!(
            "[service.s{i}]\ncommand = \"exec sleep 1000\"\nbackoff = {{ initial = \"100ms\", max = \"1s\" }}\n\
             start_limit = {{ burst = 0 }}\n"
        ));
    }
    let opts = Opts { wrap: vec!["prlimit".into(), "--nofile=32:4096".into(), "--".into()], ..Opts::default() };
    let tend = Tend::start_with(&dir, &cfg, opts);
    tend.wait_err("supervising");
    let failed = tend.wait_err("Too many open files");
    assert!(failed.contains("spawn failed"), "{failed}");
    // The retries back off: some service gets to the 1s maximum.
    tend.wait_err("spawn failed; restarting in 1s");

    // A client now: tend cannot accept it, says so, and does not spin.
    let mut waiting = Raw::connect(&dir.join("tend.sock"));
    waiting.send(&support::hello_frame(tend::proto::msg::API_VERSION));
    tend.wait_err("accepting control connections failed (out of file descriptors?)");
    let t0 = cpu_ticks(tend.pid);
    std::thread::sleep(Duration::from_secs(2));
    let burnt = cpu_ticks(tend.pid) - t0;
    let failures = tend.err.matching(|l| l.contains("spawn failed")).len();

    // fds free up: every service starts and the client is answered.
    set_nofile(tend.pid, 4096);
    assert!(matches!(waiting.reply(), Reply::Welcome(_)), "the waiting client was never accepted");
    support::wait_until(Duration::from_secs(15), "every service running", || {
        let o = ctl(&dir, &["ls", "--json"]);
        o.code == Some(0) && o.out.matches("\"running\"").count() == SERVICES
    });
    eprintln!(
        "ulimit -n 32 with {SERVICES} services: {failures} spawn failures reported and retried with backoff, \
         {burnt} CPU ticks in 2s while out of fds; all running once fds were available"
    );
    assert!(burnt < 20, "tend used {burnt} ticks of CPU in 2s while out of fds\n{}", tend.dump());
}
