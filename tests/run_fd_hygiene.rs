//! A service inherits only fds 0, 1 and 2 (stdin /dev/null, its output pipes): none of
//! tend's own fds, none of the other services' pipes, and none that tend itself
//! inherited without close-on-exec.

mod support;

use std::os::fd::AsRawFd;

use support::{Opts, Tend, TestDir};

#[test]
fn a_service_sees_only_0_1_2() {
    let dir = TestDir::new("fd-hygiene");
    // A file the test opens and hands to tend as fd 9, without close-on-exec.
    let leaked = std::fs::File::create(dir.join("leaked")).expect("create");
    let opts = Opts { leak_fd: Some((leaked.as_raw_fd(), 9)), ..Default::default() };
    // Other services run (with their pipes open in tend) when `fds` starts.
    let cfg = "[service.one]\ncommand = [\"sleep\", \"1000\"]\n\
               [service.two]\ncommand = [\"sleep\", \"1000\"]\nstdout = \"capture\"\n\
               [service.fds]\ncommand = [\"ls\", \"-l\", \"/proc/self/fd/\"]\nrestart = \"never\"\n";
    let mut tend = Tend::start_with(&dir, cfg, opts);
    // tend has the leaked fd itself...
    let tend_fd9 = std::fs::read_link(format!("/proc/{}/fd/9", tend.pid));
    tend.wait_transition("fds", "exited");
    tend.signal(libc::SIGTERM);
    assert_eq!(tend.exit_code(), 0, "{}", tend.dump());
    assert_eq!(tend_fd9.ok(), Some(dir.join("leaked")), "the test did not manage to leak fd 9 to tend");

    let mut fds = Vec::new();
    for l in tend.out.snapshot() {
        let Some(entry) = l.strip_prefix("fds  | ") else { continue };
        let Some((left, target)) = entry.split_once(" -> ") else { continue };
        let fd: i32 = left.rsplit(' ').next().and_then(|n| n.parse().ok()).expect("fd number");
        fds.push((fd, target.to_string()));
    }
    assert!(fds.len() >= 3, "no fd listing\n{}", tend.dump());
    let extra: Vec<&(i32, String)> = fds
        .iter()
        // ls's own directory fd for /proc/self/fd.
        .filter(|(fd, t)| *fd > 2 && !(t.starts_with("/proc/") && t.ends_with("/fd")))
        .collect();
    assert!(extra.is_empty(), "a service inherited fds beyond 0, 1, 2: {extra:?}\nall: {fds:?}");
    assert_eq!(fds.iter().find(|f| f.0 == 0).map(|f| f.1.as_str()), Some("/dev/null"), "{fds:?}");
    for fd in [1, 2] {
        let t = fds.iter().find(|f| f.0 == fd).map(|f| f.1.clone()).unwrap_or_default();
        assert!(t.starts_with("pipe:["), "fd {fd} -> {t:?}");
    }
    tend.assert_no_leftovers();
}
