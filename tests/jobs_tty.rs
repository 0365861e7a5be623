//! `tend spawn -t --attach` and `tend attach`: a job on a pseudo-terminal, driven
//! through the client running on a pseudo-terminal of the test's own (as a user at a
//! terminal would): keystrokes, the window size, raw mode restored, detaching (Ctrl-P
//! Ctrl-Q, or the client killed) and coming back to the same process.

mod support;

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::Child;
use std::time::{Duration, Instant};

use nix::sys::termios::{tcgetattr, LocalFlags};
use serde_json::Value;
use support::{ctl, ctl_command, ctl_ok, jobs_config, start_serving, TestDir};
use tend::daemon::pty::{self, WinSize};

/// A client command running on a terminal of the test's.
struct Term {
    master: OwnedFd,
    /// Kept open so that the terminal (and its modes) outlive the client.
    _slave: OwnedFd,
    child: Child,
    out: Vec<u8>,
}

impl Term {
    /// `tend ARGS` as the session leader of a new terminal of `rows` x `cols`.
    fn start(dir: &TestDir, args: &[&str], rows: u16, cols: u16) -> Term {
        let p = pty::open(Some(WinSize { rows, cols }), None).unwrap();
        // A new terminal is cooked: what raw mode changes, and must be restored.
        assert!(tcgetattr(p.master.as_fd()).unwrap().local_flags.contains(COOKED));
        let mut cmd = ctl_command(dir, args);
        cmd.stdin(p.slave.try_clone().unwrap())
            .stdout(p.slave.try_clone().unwrap())
            .stderr(p.slave.try_clone().unwrap());
        // SAFETY: setsid and ioctl are async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().unwrap();
        Term { master: p.master, _slave: p.slave, child, out: Vec::new() }
    }

    /// Read until the output has `needle`; the output so far.
    #[track_caller]
    fn until(&mut self, needle: &str) -> String {
        let end = Instant::now() + Duration::from_secs(20);
        let mut buf = [0u8; 4096];
        while !String::from_utf8_lossy(&self.out).contains(needle) {
            assert!(
                Instant::now() < end,
                "no {needle:?} on the terminal; got {:?}",
                String::from_utf8_lossy(&self.out)
            );
            match nix::unistd::read(&self.master, &mut buf) {
                Ok(n) if n > 0 => self.out.extend_from_slice(&buf[..n]),
                _ => std::thread::sleep(Duration::from_millis(10)),
            }
        }
        String::from_utf8_lossy(&self.out).into_owned()
    }

    fn send(&self, bytes: &[u8]) {
        assert_eq!(nix::unistd::write(&self.master, bytes).unwrap(), bytes.len());
    }

    /// The terminal's local modes (raw mode clears ECHO and ICANON).
    fn lflags(&self) -> LocalFlags {
        tcgetattr(self.master.as_fd()).unwrap().local_flags
    }

    /// Wait for the client's exit code, reading what it writes meanwhile.
    #[track_caller]
    fn exit_code(&mut self) -> i32 {
        let end = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                let mut buf = [0u8; 4096];
                while let Ok(n @ 1..) = nix::unistd::read(&self.master, &mut buf) {
                    self.out.extend_from_slice(&buf[..n]);
                }
                return st.code().unwrap_or(-1);
            }
            assert!(Instant::now() < end, "the client did not exit; got {:?}", String::from_utf8_lossy(&self.out));
            let mut buf = [0u8; 4096];
            match nix::unistd::read(&self.master, &mut buf) {
                Ok(n) if n > 0 => self.out.extend_from_slice(&buf[..n]),
                _ => std::thread::sleep(Duration::from_millis(10)),
            }
        }
    }
}

impl Drop for Term {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn nonblocking(fd: &OwnedFd) {
    // SAFETY: F_GETFL/F_SETFL on a descriptor we own.
    unsafe {
        let fl = libc::fcntl(fd.as_raw_fd(), libc::F_GETFL);
        libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, fl | libc::O_NONBLOCK);
    }
}

/// The one running job's number.
fn running_job(dir: &TestDir) -> u64 {
    let o = ctl_ok(dir, &["ls", "--jobs", "--state", "running", "--json"]);
    let v: Value = serde_json::from_str(o.out.trim_end()).unwrap();
    let a = v.as_array().unwrap();
    assert_eq!(a.len(), 1, "{v}");
    a[0]["job"].as_u64().unwrap()
}

const COOKED: LocalFlags = LocalFlags::ICANON.union(LocalFlags::ECHO);

#[test]
fn an_interactive_program_works_through_attach() {
    let dir = TestDir::new("tty-attach");
    let _tend = start_serving(&dir, &jobs_config(&dir, ""));
    let script = "stty size; test -t 0 && test -t 1 && test -t 2 && echo all-ttys; \
                  printf 'name? '; read name; echo hello:$name; exit 5";
    let mut t = Term::start(&dir, &["spawn", "-t", "--attach", "--", "sh", "-c", script], 33, 101);
    nonblocking(&t.master);
    let out = t.until("name? ");
    // The job's terminal has the client's size; all three streams are on it.
    assert!(out.contains("33 101\r\n"), "{out:?}");
    assert!(out.contains("all-ttys"), "{out:?}");
    // The client's terminal is raw while attached: the job's terminal echoes.
    assert!(!t.lflags().intersects(COOKED), "{:?}", t.lflags());
    t.send(b"world\r");
    let out = t.until("hello:world");
    assert_eq!(out.matches("world").count(), 2, "typed once, echoed once: {out:?}");
    assert_eq!(t.exit_code(), 5);
    // The modes are back as they were.
    assert!(t.lflags().contains(COOKED), "{:?}", t.lflags());
}

#[test]
fn ctrl_c_interrupts_the_job_through_its_terminal() {
    let dir = TestDir::new("tty-ctrl-c");
    let _tend = start_serving(&dir, &jobs_config(&dir, ""));
    let mut t = Term::start(&dir, &["spawn", "-t", "--attach", "--", "sh", "-c", "echo ready; exec sleep 100"], 24, 80);
    nonblocking(&t.master);
    t.until("ready");
    // Ctrl-C is a key like any other: the job's terminal turns it into SIGINT.
    t.send(b"\x03");
    assert_eq!(t.exit_code(), 130);
}

#[test]
fn the_window_size_follows_the_client() {
    let dir = TestDir::new("tty-winch");
    let _tend = start_serving(&dir, &jobs_config(&dir, ""));
    let script = "trap 'echo winch' WINCH; stty size; while :; do read l && break; done; stty size";
    let mut t = Term::start(&dir, &["spawn", "-t", "--attach", "--", "sh", "-c", script], 24, 80);
    nonblocking(&t.master);
    t.until("24 80\r\n");
    // The client's window changes: the kernel sends it SIGWINCH, it sends RESIZE.
    pty::set_size(t.master.as_fd(), WinSize { rows: 50, cols: 132 }).unwrap();
    t.until("winch");
    t.send(b"\r");
    t.until("50 132\r\n");
    assert_eq!(t.exit_code(), 0);
}

#[test]
fn detach_and_attach_again_to_the_same_process() {
    let dir = TestDir::new("tty-reattach");
    let _tend = start_serving(&dir, &jobs_config(&dir, ""));
    let script = "echo pid=$$; read a; echo one:$a; read b; echo two:$b; read c; echo three:$c pid=$$; exit 7";
    let mut t = Term::start(&dir, &["spawn", "-t", "--attach", "--", "sh", "-c", script], 24, 80);
    nonblocking(&t.master);
    let out = t.until("pid=");
    let pid: String = out.split("pid=").nth(1).unwrap().chars().take_while(char::is_ascii_digit).collect();
    t.send(b"a\r");
    t.until("one:a");
    // The client is killed outright: the job goes on.
    t.child.kill().unwrap();
    t.child.wait().unwrap();
    let num = running_job(&dir);
    let id = format!("%{num}");

    // Back, from another terminal: the output so far, then the same shell.
    let mut t = Term::start(&dir, &["attach", &id], 24, 80);
    nonblocking(&t.master);
    t.until("one:a");
    t.send(b"b\r");
    t.until("two:b");
    // Ctrl-P Ctrl-Q detaches, the terminal is restored, the job still runs.
    t.send(b"\x10\x11");
    assert_eq!(t.exit_code(), 0);
    let out = String::from_utf8_lossy(&t.out).into_owned();
    assert!(out.contains(&format!("detached from job {id}")), "{out:?}");
    assert!(t.lflags().contains(COOKED), "{:?}", t.lflags());
    assert_eq!(running_job(&dir), num);

    // Once more, to the end: its status is the client's.
    let mut t = Term::start(&dir, &["attach", &num.to_string()], 24, 80);
    nonblocking(&t.master);
    t.until("two:b");
    t.send(b"c\r");
    let out = t.until("three:c");
    assert!(out.contains(&format!("three:c pid={pid}")), "{out:?}");
    assert_eq!(t.exit_code(), 7);
}

#[test]
fn a_tty_job_gets_no_descriptor_of_tends() {
    let dir = TestDir::new("tty-fds");
    let _tend = start_serving(&dir, &jobs_config(&dir, ""));
    let mut t = Term::start(
        &dir,
        &[
            "spawn",
            "-t",
            "--attach",
            "--",
            "sh",
            "-c",
            "readlink /proc/$$/fd/0; printf 'fds: '; exec ls -m /proc/self/fd",
        ],
        24,
        80,
    );
    nonblocking(&t.master);
    assert_eq!(t.exit_code(), 0);
    let out = String::from_utf8_lossy(&t.out).into_owned();
    let fds = out.split("fds: ").nth(1).unwrap().lines().next().unwrap().trim().to_string();
    // The terminal on 0, 1 and 2; 3 is ls's own directory; nothing else (no master,
    // no socket, no pipe of tend's).
    assert_eq!(fds, "0, 1, 2, 3", "{out:?}");
    assert!(out.starts_with("/dev/pts/"), "{out:?}");
}

#[test]
fn attach_errors() {
    let dir = TestDir::new("tty-errors");
    let _tend = start_serving(&dir, &jobs_config(&dir, ""));
    let o = ctl_ok(&dir, &["spawn", "--", "sleep", "100"]);
    let id = o.out.trim().to_string();
    let o = ctl(&dir, &["attach", &id]);
    assert_eq!(o.code, Some(1), "{}", o.show());
    assert!(o.err.contains("has no terminal (it was not spawned with --tty)"), "{}", o.show());
    let o = ctl(&dir, &["attach", "%999"]);
    assert_eq!(o.code, Some(4), "{}", o.show());
    let o = ctl(&dir, &["attach", "x"]);
    assert_eq!(o.code, Some(2), "{}", o.show());
    // A tty job that has ended.
    let o = ctl_ok(&dir, &["spawn", "-t", "--", "true"]);
    let ended = o.out.trim().to_string();
    assert_eq!(ctl(&dir, &["wait", &ended]).code, Some(0));
    let o = ctl(&dir, &["attach", &ended]);
    assert_eq!(o.code, Some(1), "{}", o.show());
    assert!(o.err.contains("has ended"), "{}", o.show());
}
