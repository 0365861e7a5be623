//! Socket activation (`listen`): tend binds a service's sockets once and passes them
//! to every incarnation as fds 3.. with LISTEN_FDS / LISTEN_PID / LISTEN_FDNAMES, so a
//! restart refuses no connection; other services get neither the fds nor the variables.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use support::{ctl_ok, start_serving, wait_until, Opts, Tend, TestDir, DEADLINE};

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

fn activated(dir: &TestDir, name: &str, listen: &str) -> String {
    let py = format!("{}/tests/data/activated.py", env!("CARGO_MANIFEST_DIR"));
    let _ = dir;
    format!("[service.{name}]\ncommand = [\"python3\", \"{py}\"]\nlisten = [{listen}]\n")
}

/// A service that prints its fds beyond 0-2 (with their targets) and its LISTEN_*
/// variables, then waits.
fn inspector(name: &str) -> String {
    let py = "import os,time\n\
              fds=sorted(int(f) for f in os.listdir('/proc/self/fd'))\n\
              t=[]\n\
              for fd in fds:\n    try: t.append('%d:%s' % (fd, os.readlink('/proc/self/fd/%d' % fd)))\n    except OSError: pass\n\
              print('inspect fds=' + ','.join(t[3:]) + ' env=' + ','.join(sorted(k for k in os.environ if k.startswith('LISTEN_'))), flush=True)\n\
              time.sleep(1000)\n";
    format!("[service.{name}]\ncommand = [\"python3\", \"-c\", {py:?}]\n")
}

/// One exchange: send a line, read "NAME PID".
fn ask(mut s: impl std::io::Read + Write) -> std::io::Result<String> {
    s.write_all(b"hello\n")?;
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line)?;
    Ok(line.trim().to_string())
}

fn ask_tcp(port: u16) -> std::io::Result<String> {
    let s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(DEADLINE))?;
    ask(s)
}

#[track_caller]
fn wait_line(tend: &Tend, prefix: &str, n: usize) -> String {
    let l = tend.out.wait_nth(n, DEADLINE, |l| l.contains(prefix));
    l.unwrap_or_else(|| panic!("no {prefix:?} line #{n}\n{}", tend.dump()))
}

#[test]
fn activated_service_answers_on_both_sockets_and_others_get_nothing() {
    let dir = TestDir::new("listen-both");
    let port = free_port();
    let sock = dir.join("act.sock");
    let cfg = format!(
        "{}{}",
        activated(&dir, "act", &format!("\"web=tcp:127.0.0.1:{port}\", \"admin=unix:{}\"", sock.display())),
        inspector("plain")
    );
    // tend itself was "activated": none of that may reach a service without listen.
    let wrap = ["env", "LISTEN_FDS=2", "LISTEN_PID=1", "LISTEN_FDNAMES=x:y"].map(String::from).to_vec();
    let tend = Tend::start_with(&dir, &cfg, Opts { wrap, ..Default::default() });
    let line = wait_line(&tend, "activated", 1);
    let pid: String = line.split("pid=").nth(1).and_then(|r| r.split(' ').next()).unwrap_or("").to_string();
    assert!(line.contains(" fds=2 names=web:admin "), "{line}");
    let targets = line.split("targets=").nth(1).unwrap_or("");
    let ts: Vec<&str> = targets.split(',').collect();
    assert_eq!(ts.len(), 2, "the service got more or fewer fds than 3 and 4: {line}");
    assert!(ts[0].starts_with("3:socket:[") && ts[1].starts_with("4:socket:["), "{line}");
    assert_eq!(ask_tcp(port).expect("tcp"), format!("web {pid}"));
    let u = UnixStream::connect(&sock).expect("unix");
    u.set_read_timeout(Some(DEADLINE)).expect("timeout");
    assert_eq!(ask(u).expect("unix"), format!("admin {pid}"));
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&sock).expect("socket").permissions());
    assert_eq!(mode & 0o777, 0o666, "socket mode {mode:o}");
    let st = ctl_ok(&dir, &["status", "act"]);
    let want = format!("listen      web=tcp:127.0.0.1:{port}, admin=unix:{}", sock.display());
    assert!(st.out.contains(&want), "{}", st.show());
    let plain = wait_line(&tend, "inspect", 1);
    assert!(plain.ends_with("inspect fds= env="), "another service got fds or LISTEN_*: {plain}");
    // tend's copies are close-on-exec and tend holds them: they are in /proc/TEND/fd.
    let tend_sockets = std::fs::read_dir(format!("/proc/{}/fd", tend.pid)).expect("fds").count();
    assert!(tend_sockets > 3);
}

#[test]
fn restarts_under_a_steady_client_refuse_no_connection() {
    let dir = TestDir::new("listen-restart");
    let port = free_port();
    let cfg = activated(&dir, "act", &format!("\"tcp:127.0.0.1:{port}\""));
    let tend = start_serving(&dir, &cfg);
    wait_line(&tend, "activated", 1);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let st = std::sync::Arc::clone(&stop);
    let latest = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let last = std::sync::Arc::clone(&latest);
    let client = std::thread::spawn(move || {
        let (mut ok, mut refused, mut other) = (0u32, 0u32, Vec::new());
        let mut pids = std::collections::BTreeSet::new();
        while !st.load(std::sync::atomic::Ordering::SeqCst) {
            match ask_tcp(port) {
                Ok(l) => {
                    ok += 1;
                    *last.lock().expect("lock") = l.clone();
                    pids.insert(l);
                }
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => refused += 1,
                Err(e) => other.push(e.to_string()),
            }
        }
        (ok, refused, other, pids)
    });
    let t0 = Instant::now();
    for _ in 0..4 {
        std::thread::sleep(Duration::from_millis(200));
        let before = latest.lock().expect("lock").clone();
        ctl_ok(&dir, &["restart", "act"]);
        // The next restart once the new process answers (a process killed before it
        // set up its SIGTERM handler would take its accepted connection with it).
        wait_until(DEADLINE, "an answer from the new process", || *latest.lock().expect("lock") != before);
    }
    while t0.elapsed() < Duration::from_millis(2000) {
        std::thread::sleep(Duration::from_millis(50));
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let (ok, refused, other, pids) = client.join().expect("client");
    assert_eq!(refused, 0, "connections refused during restarts ({ok} answered)\n{}", tend.dump());
    assert!(other.is_empty(), "failed exchanges: {other:?}");
    assert!(ok > 20, "only {ok} exchanges");
    assert_eq!(pids.len(), 5, "answers came from {} incarnation(s): {pids:?}", pids.len());
}

#[test]
fn reload_keeps_unchanged_sockets_binds_new_and_closes_removed() {
    let dir = TestDir::new("listen-reload");
    let (p1, p2) = (free_port(), free_port());
    let sock = dir.join("old.sock");
    let cfg = activated(&dir, "act", &format!("\"tcp:127.0.0.1:{p1}\", \"unix:{}\"", sock.display()));
    let tend = start_serving(&dir, &cfg);
    wait_line(&tend, "activated", 1);
    assert!(sock.exists());
    let cfg = activated(&dir, "act", &format!("\"tcp:127.0.0.1:{p1}\", \"tcp:127.0.0.1:{p2}\""));
    std::fs::write(dir.join("tend.toml"), cfg).expect("write");
    ctl_ok(&dir, &["reload"]);
    let line = wait_line(&tend, "activated", 2);
    assert!(line.contains(" fds=2 "), "{line}");
    let pid = line.split("pid=").nth(1).and_then(|r| r.split(' ').next()).unwrap_or("").to_string();
    assert_eq!(ask_tcp(p1).expect("kept socket"), format!("act {pid}"));
    assert_eq!(ask_tcp(p2).expect("new socket"), format!("act {pid}"));
    wait_until(DEADLINE, "the removed socket's file is gone", || !sock.exists());
    // A reload that cannot bind changes nothing.
    let busy = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let p3 = busy.local_addr().expect("addr").port();
    let cfg = activated(&dir, "act", &format!("\"tcp:127.0.0.1:{p1}\", \"tcp:127.0.0.1:{p3}\""));
    std::fs::write(dir.join("tend.toml"), cfg).expect("write");
    let o = support::ctl(&dir, &["reload"]);
    assert_ne!(o.code, Some(0), "{}", o.show());
    assert!(o.show().contains(&format!("cannot listen on tcp:127.0.0.1:{p3}")), "{}", o.show());
    assert_eq!(ask_tcp(p2).expect("the socket of the running configuration"), format!("act {pid}"));
}

#[test]
fn instances_share_the_sockets_and_files_go_at_exit() {
    let dir = TestDir::new("listen-instances");
    let sock = dir.join("inst.sock");
    let cfg = format!("{}instances = 2\n", activated(&dir, "act", &format!("\"unix:{}\"", sock.display())));
    let mut tend = start_serving(&dir, &cfg);
    let a = wait_line(&tend, "activated", 1);
    let b = wait_line(&tend, "activated", 2);
    let pid = |l: &str| l.split("pid=").nth(1).and_then(|r| r.split(' ').next()).unwrap_or("").to_string();
    assert_ne!(pid(&a), pid(&b));
    let socket_of = |l: &str| l.split("targets=3:").nth(1).unwrap_or("").to_string();
    assert_eq!(socket_of(&a), socket_of(&b), "the instances got different sockets:\n{a}\n{b}");
    for _ in 0..4 {
        let u = UnixStream::connect(&sock).expect("unix");
        u.set_read_timeout(Some(DEADLINE)).expect("timeout");
        let answer = ask(u).expect("an answer");
        assert!(answer == format!("act {}", pid(&a)) || answer == format!("act {}", pid(&b)), "{answer}");
    }
    tend.signal(libc::SIGTERM);
    assert_eq!(tend.exit_code(), 0, "{}", tend.dump());
    assert!(!sock.exists(), "the socket file outlived tend");
}

#[test]
fn a_busy_address_stops_tend_at_start() {
    let dir = TestDir::new("listen-busy");
    let busy = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = busy.local_addr().expect("addr").port();
    let mut tend = Tend::start(&dir, &activated(&dir, "act", &format!("\"tcp:127.0.0.1:{port}\"")));
    let code = tend.exit_code();
    let err = tend.err.text();
    assert_ne!(code, 0);
    assert!(err.contains(&format!("service act: cannot listen on tcp:127.0.0.1:{port}")), "{err}");
}

/// A config error: exit 78 and `FILE:LINE:COL: KEY: ...fragment`.
#[track_caller]
fn config_error(name: &str, text: &str, line: usize, fragment: &str) {
    let dir = TestDir::new(&format!("listen-cfg-{name}"));
    let mut tend = Tend::start(&dir, text);
    assert_eq!(tend.exit_code(), 78, "{}", tend.dump());
    let err = tend.err.text();
    let head = format!("tend: {}:{line}:", dir.join("tend.toml").display());
    assert!(err.starts_with(&head), "{name}: expected {head:?}, got {err}");
    assert!(err.contains(fragment), "{name}: {fragment:?} missing from {err}");
}

#[test]
fn config_errors_name_file_and_line() {
    let svc = "[service.a]\ncommand = \"true\"\n";
    config_error(
        "addr",
        &format!("{svc}listen = [\"tcp:localhost:80\"]\n"),
        3,
        "service.a.listen: \"localhost:80\" is not an address",
    );
    config_error("form", &format!("{svc}listen = [\"udp:1.2.3.4:5\"]\n"), 3, "expected \"tcp:IP:PORT\"");
    config_error("name", &format!("{svc}listen = [\"a b=tcp:1.2.3.4:5\"]\n"), 3, "bad name");
    config_error(
        "twice",
        &format!("{svc}listen = [\n  \"tcp:127.0.0.1:7001\",\n  \"tcp:127.0.0.1:7001\",\n]\n"),
        5,
        "tcp:127.0.0.1:7001 is listed twice",
    );
    config_error(
        "two-services",
        &format!(
            "{svc}listen = [\"unix:/tmp/x.sock\"]\n[service.b]\ncommand = \"true\"\nlisten = [\"unix:/tmp/x.sock\"]\n"
        ),
        6,
        "unix:/tmp/x.sock is already in the listen of service \"a\"",
    );
    config_error(
        "ready-fd",
        &format!("{svc}listen = [\"tcp:127.0.0.1:7001\", \"tcp:127.0.0.1:7002\"]\nready = {{ fd = 4 }}\n"),
        4,
        "ready fd 4 collides with the listen sockets, which are fds 3 to 4",
    );
    config_error("drain-timeout", &format!("{svc}drain_timeout = \"0s\"\n"), 3, "drain_timeout must be greater than 0");
}
