//! The child of `tend init` gets only fds 0, 1 and 2: none of tend's own (its
//! signalfd, its epoll instance...) leaks through exec (PITFALLS §8).
//!
//! tend is started with nothing but 0, 1, 2 (the helpers mark every other inherited fd
//! close-on-exec), so any other fd in the child was opened by tend.

mod common;

use common::*;

fn fd_names(dir: &std::path::Path) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = std::fs::read_dir(dir)
        .expect("fd dir")
        .filter_map(|e| {
            let e = e.ok()?;
            let target = std::fs::read_link(e.path()).map(|p| p.display().to_string()).unwrap_or_default();
            Some((e.file_name().to_string_lossy().into_owned(), target))
        })
        .collect();
    v.sort();
    v
}

fn check(name: &str, flags: &[&str]) {
    let dir = TestDir::new(name);
    // `ls` runs as a separate process, so its own directory fd is not in the list: the
    // list is exactly the shell's fds, as tend handed them over. (It prints to stdout:
    // a redirection such as `> file` would make dash save fd 1 on fd 10 first.)
    let script = "ls /proc/$$/fd; echo > ready; while [ ! -e stop ]; do sleep 0.02; done";
    let mut t = spawn(&dir, init_sh(flags, script));
    wait_for_file(&dir.join("ready"));
    let mut fds: Vec<String> = t.stdout_now().lines().map(str::to_string).collect();
    fds.sort();
    assert_eq!(fds, ["0", "1", "2"], "the child's fds");

    // The check means something only if tend itself holds more than that.
    let own = fd_names(std::path::Path::new(&format!("/proc/{}/fd", t.pid())));
    assert!(
        own.iter().any(|(_, target)| target.contains("signalfd")),
        "tend holds no signalfd, so this test checks nothing: {own:?}"
    );
    assert!(own.len() > 3, "tend has only {own:?}");

    std::fs::write(dir.join("stop"), "").expect("stop file");
    t.wait().assert_code(0);
}

#[test]
fn child_gets_only_stdio() {
    check("fds_plain", &[]);
}

#[test]
fn child_gets_only_stdio_with_subreaper_and_group() {
    check("fds_flags", &["-s", "-g"]);
}
