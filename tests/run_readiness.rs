//! Readiness (`ready`: notify, fd, exec/tcp/unix/http probes), `ready_timeout`, health
//! checks, the watchdog, and `depends_on` ordering, checked from the outside: real
//! services, a real sd_notify client (Python, speaking the documented datagram
//! protocol), time stamps from tend's event lines.

mod support;

use std::time::Duration;

use support::{ctl, ctl_ok, start_serving, status_json, Tend, TestDir};

/// A small sd_notify client: after DELAY seconds sends "STATUS=...\nREADY=1" to
/// $NOTIFY_SOCKET (an abstract name when it starts with '@'), then, with WATCHDOG=N,
/// sends WATCHDOG=1 N times 100ms apart and goes silent; with a FILE argument, it waits
/// for that file to exist before sending READY=1.
const NOTIFY_PY: &str = r#"
import os, socket, sys, time
delay = float(sys.argv[1]); pings = int(sys.argv[2]); gate = sys.argv[3] if len(sys.argv) > 3 else ""
time.sleep(delay)
while gate and not os.path.exists(gate):
    time.sleep(0.02)
addr = os.environ["NOTIFY_SOCKET"]
if addr.startswith("@"):
    addr = "\0" + addr[1:]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.connect(addr)
s.send(b"STATUS=accepting connections\nREADY=1\n")
for _ in range(pings):
    time.sleep(0.1)
    s.send(b"WATCHDOG=1")
time.sleep(1000)
"#;

fn notify_script(dir: &TestDir) -> String {
    dir.write("notify.py", NOTIFY_PY);
    dir.join("notify.py").display().to_string()
}

/// `web` records when its process started (µs since the epoch, from /proc uptime is
/// not portable: `date +%s%6N`).
fn dependent(dir: &TestDir, on: &str) -> String {
    format!(
        "[service.web]\ncommand = \"date +%s%6N > {d}/web.started; exec sleep 1000\"\ndepends_on = {{ {on} }}\n",
        d = dir.s()
    )
}

fn started_micros(dir: &TestDir) -> i64 {
    support::wait_until(support::DEADLINE, "web.started", || dir.read("web.started").trim().parse::<i64>().is_ok());
    dir.read("web.started").trim().parse().expect("a number")
}

/// The provider `db` becomes ready about 1 s after its spawn; `web` waits for it and
/// starts only after it is ready.
fn check_gated(dir: &TestDir, db: &str) -> Tend {
    let cfg = format!("[service.db]\n{db}\n{}", dependent(dir, "db = \"ready\""));
    let tend = Tend::start(dir, &cfg);
    let spawned = tend.wait_transition("db", "starting");
    let waiting = tend.wait_transition("web", "waiting");
    assert_eq!(waiting.reason, "waiting for db (ready)");
    let ready = tend.wait_transition("db", "running");
    let web = tend.wait_transition("web", "starting");
    let web_started = started_micros(dir);
    assert!(
        ready.micros - spawned.micros >= 900_000,
        "db was ready {}µs after its start, before it could be\n{}",
        ready.micros - spawned.micros,
        tend.dump()
    );
    assert!(web.micros >= ready.micros, "web was started before db was ready\n{}", tend.dump());
    assert!(web_started >= ready.micros, "web's process ran before db was ready\n{}", tend.dump());
    let before: Vec<_> = tend.transitions("web").into_iter().filter(|t| t.micros < ready.micros).collect();
    assert!(before.iter().all(|t| t.to == "waiting"), "{before:?}");
    eprintln!(
        "ready -> dependent started: {}µs (process running after {}µs)",
        web.micros - ready.micros,
        web_started - ready.micros
    );
    tend
}

#[test]
fn notify_ready_gates_the_dependent() {
    let dir = TestDir::new("ready-notify");
    let py = notify_script(&dir);
    let _tend = check_gated(&dir, &format!("command = [\"python3\", \"{py}\", \"1\", \"0\"]\nready = \"notify\""));
    let s = status_json(&dir, "db");
    assert_eq!(s["status_text"], "accepting connections", "{s}");
    assert_eq!(s["ready"], true);
    let w = status_json(&dir, "web");
    assert_eq!(w["depends_on"][0], "db=ready", "{w}");
}

#[test]
fn fd_ready_gates_the_dependent() {
    let dir = TestDir::new("ready-fd");
    check_gated(&dir, "command = \"sleep 1; echo >&3; exec sleep 1000\"\nready = { fd = 3 }");
}

#[test]
fn exec_probe_gates_the_dependent() {
    let dir = TestDir::new("ready-exec");
    let cfg = format!(
        "command = \"sleep 1; touch {d}/up; exec sleep 1000\"\nready = {{ exec = \"test -e {d}/up\", interval = \"100ms\" }}",
        d = dir.s()
    );
    check_gated(&dir, &cfg);
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

#[test]
fn tcp_probe_gates_the_dependent() {
    let dir = TestDir::new("ready-tcp");
    let port = free_port();
    let cfg = format!(
        "command = [\"python3\", \"-c\", \"import socket,time; time.sleep(1); s=socket.socket(); \
         s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('127.0.0.1',{port})); s.listen(); time.sleep(1000)\"]\n\
         ready = {{ tcp = \"127.0.0.1:{port}\", interval = \"100ms\" }}"
    );
    check_gated(&dir, &cfg);
}

#[test]
fn unix_probe_gates_the_dependent() {
    let dir = TestDir::new("ready-unix");
    let sock = dir.join("db.sock");
    let cfg = format!(
        "command = [\"python3\", \"-c\", \"import socket,time; time.sleep(1); s=socket.socket(socket.AF_UNIX); \
         s.bind('{p}'); s.listen(); time.sleep(1000)\"]\n\
         ready = {{ unix = \"{p}\", interval = \"100ms\" }}",
        p = sock.display()
    );
    check_gated(&dir, &cfg);
}

#[test]
fn http_probe_gates_the_dependent_and_needs_a_2xx() {
    let dir = TestDir::new("ready-http");
    let port = free_port();
    // 503 for the first second, then 200.
    let server = format!(
        r#"
import http.server, time
t0 = time.time()
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if time.time() - t0 > 1 and self.path == "/health" else 503)
        self.end_headers()
    def log_message(self, *a): pass
http.server.HTTPServer(("127.0.0.1", {port}), H).serve_forever()
"#
    );
    dir.write("server.py", &server);
    let cfg = format!(
        "command = [\"python3\", \"{d}/server.py\"]\nready = {{ http = \"http://127.0.0.1:{port}/health\", interval = \"100ms\" }}",
        d = dir.s()
    );
    let _tend = check_gated(&dir, &cfg);
    let s = status_json(&dir, "db");
    assert!(s["probe"].as_str().unwrap_or("").starts_with("passed (http http://127.0.0.1"), "{s}");
}

#[test]
fn ready_timeout_fails_a_service_that_never_gets_ready() {
    let dir = TestDir::new("ready-timeout");
    let py = notify_script(&dir);
    let cfg = format!(
        "[service.db]\ncommand = [\"python3\", \"{py}\", \"1000\", \"0\"]\nready = \"notify\"\n\
         ready_timeout = \"500ms\"\nrestart = \"never\"\n{}",
        dependent(&dir, "db = \"ready\"")
    );
    let tend = Tend::start(&dir, &cfg);
    let stopping = tend.wait_transition("db", "stopping");
    assert!(stopping.reason.contains("not ready within ready_timeout"), "{stopping:?}");
    let failed = tend.wait_transition("db", "failed");
    assert!(failed.reason.contains("not ready within ready_timeout"), "{failed:?}");
    // The dependent keeps waiting (on_dependency_failure = "wait"), saying why.
    support::wait_until(support::DEADLINE, "web says db failed", || {
        tend.transitions("web").iter().any(|t| t.to == "waiting" && t.reason.contains("which failed"))
    });
    assert!(!dir.join("web.started").exists());
}

#[test]
fn a_failed_dependency_fails_the_dependent_when_asked() {
    let dir = TestDir::new("ready-depfail");
    let cfg = format!(
        "[service.db]\ncommand = \"exit 3\"\nrestart = \"never\"\n{}on_dependency_failure = \"fail\"\n",
        dependent(&dir, "db = \"completed\"")
    );
    let tend = Tend::start(&dir, &cfg);
    let t = tend.wait_transition("web", "failed");
    assert_eq!(t.reason, "dependency failed: db (completed: exited with status 3)", "{t:?}");
    assert!(!dir.join("web.started").exists());
}

#[test]
fn completed_waits_for_a_successful_exit() {
    let dir = TestDir::new("ready-completed");
    let cfg = format!(
        "[service.migrate]\ncommand = \"sleep 0.5; echo done > {d}/migrated\"\nrestart = \"never\"\n{}",
        dependent(&dir, "migrate = \"completed\""),
        d = dir.s()
    );
    let tend = Tend::start(&dir, &cfg);
    let done = tend.wait_transition("migrate", "exited");
    let web = tend.wait_transition("web", "starting");
    assert!(web.micros >= done.micros);
    assert!(dir.join("migrated").exists());
}

#[test]
fn health_check_failures_mark_unhealthy_then_restart() {
    let dir = TestDir::new("health-restart");
    let cfg = format!(
        "[service.app]\ncommand = \"touch {d}/ok; echo $$ >> {d}/app.pids; exec sleep 1000\"\n\
         health = {{ exec = \"test -e {d}/ok\", interval = \"100ms\", timeout = \"1s\", retries = 3 }}\n\
         restart_on_unhealthy = true\nrestart = \"never\"\nbackoff = {{ initial = \"0s\" }}\n",
        d = dir.s()
    );
    let tend = start_serving(&dir, &cfg);
    support::wait_until(support::DEADLINE, "healthy", || status_json(&dir, "app")["health"] == "healthy");
    let first = dir.read("app.pids");
    std::fs::remove_file(dir.join("ok")).expect("rm ok");
    let line = tend.wait_err("app healthy->unhealthy: health check failed 3 time(s) in a row");
    assert!(line.contains("exited with status 1"), "{line}");
    let stop = tend.wait_transition("app", "stopping");
    assert!(stop.reason.starts_with("unhealthy; stopping"), "{stop:?}");
    // Restarted although restart = "never": restart_on_unhealthy asked for it.
    tend.wait_transition_n("app", "running", 2);
    support::wait_until(support::DEADLINE, "a second pid", || dir.read("app.pids").lines().count() == 2);
    assert_ne!(first, dir.read("app.pids"));
    support::wait_until(support::DEADLINE, "healthy again", || status_json(&dir, "app")["health"] == "healthy");
    let ev = ctl_ok(&dir, &["events", "--json"]);
    assert!(ev.json_lines().iter().any(|e| e["kind"] == "health" && e["to"] == "unhealthy"), "{}", ev.show());
}

#[test]
fn tend_check_reports_unhealthy_services() {
    let dir = TestDir::new("health-check-cmd");
    let cfg = format!(
        "[service.app]\ncommand = \"touch {d}/ok; exec sleep 1000\"\n\
         health = {{ exec = \"test -e {d}/ok\", interval = \"100ms\", retries = 1 }}\n",
        d = dir.s()
    );
    let _tend = start_serving(&dir, &cfg);
    support::wait_until(support::DEADLINE, "check passes", || ctl(&dir, &["check"]).code == Some(0));
    std::fs::remove_file(dir.join("ok")).expect("rm");
    support::wait_until(support::DEADLINE, "check fails", || ctl(&dir, &["check"]).code == Some(1));
    let o = ctl(&dir, &["check"]);
    assert!(o.err.contains("app: unhealthy (failed (exec /bin/sh -c test -e"), "{}", o.show());
    let ls = ctl_ok(&dir, &["ls"]);
    assert!(ls.out.lines().any(|l| l.starts_with("app") && l.contains("unhealthy")), "{}", ls.show());
}

#[test]
fn notify_from_a_foreign_process_is_ignored() {
    let dir = TestDir::new("notify-foreign");
    let py = notify_script(&dir);
    let gate = dir.join("go");
    let cfg = format!(
        "[service.db]\ncommand = \"echo $NOTIFY_SOCKET > {d}/sock; exec python3 {py} 0 0 {g}\"\nready = \"notify\"\n",
        d = dir.s(),
        g = gate.display()
    );
    let tend = start_serving(&dir, &cfg);
    support::wait_until(support::DEADLINE, "socket name", || dir.read("sock").trim().starts_with('@'));
    let name = dir.read("sock").trim().to_string();
    // This test process is not one of db's processes.
    use std::os::linux::net::SocketAddrExt;
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(&name.as_bytes()[1..]).expect("addr");
    let s = std::os::unix::net::UnixDatagram::unbound().expect("socket");
    s.send_to_addr(b"READY=1\nSTATUS=forged", &addr).expect("send");
    tend.wait_err("db: ignored a notify message from pid");
    let st = status_json(&dir, "db");
    assert_eq!(st["state"].as_str(), Some("starting"), "{st}");
    assert!(st.get("status_text").is_none(), "the forged STATUS= was taken: {st}");
    // The service's own message counts.
    std::fs::write(&gate, "").expect("gate");
    tend.wait_transition("db", "running");
}

#[test]
fn watchdog_expiry_fails_and_restarts() {
    let dir = TestDir::new("watchdog");
    let py = notify_script(&dir);
    let cfg = format!(
        "[service.db]\ncommand = \"echo $WATCHDOG_USEC > {d}/usec; exec python3 {py} 0 3\"\nready = \"notify\"\n\
         watchdog = \"500ms\"\nrestart = \"on-failure\"\nbackoff = {{ initial = \"0s\" }}\n",
        d = dir.s()
    );
    let tend = Tend::start(&dir, &cfg);
    let ready = tend.wait_transition("db", "running");
    let stop = tend.wait_transition("db", "stopping");
    assert!(stop.reason.starts_with("watchdog timeout"), "{stop:?}");
    // Three pings 100ms apart kept it alive ~300ms past READY=1, then 500ms of silence.
    let after = stop.micros - ready.micros;
    assert!((700_000..3_000_000).contains(&after), "watchdog fired {after}µs after ready\n{}", tend.dump());
    assert_eq!(dir.read("usec").trim(), "500000");
    tend.wait_transition_n("db", "running", 2);
}

#[test]
fn shutdown_stops_dependents_before_their_dependencies() {
    let dir = TestDir::new("shutdown-order");
    // web takes 300ms to stop; db must not get its stop signal before web is gone.
    let cfg = format!(
        "[service.db]\ncommand = \"exec sleep 1000\"\n\
         [service.web]\ncommand = \"trap 'kill $!; sleep 0.3; exit 0' TERM; sleep 1000 & echo $! > {d}/web.pid; wait\"\n\
         depends_on = {{ db = \"started\" }}\n\
         [service.proxy]\ncommand = \"exec sleep 1000\"\ndepends_on = [\"web\"]\n",
        d = dir.s()
    );
    let mut tend = Tend::start(&dir, &cfg);
    for s in ["db", "web", "proxy"] {
        tend.wait_transition(s, "running");
    }
    // The trap is set once web has written its child's pid.
    dir.wait_pid("web.pid");
    tend.signal(libc::SIGTERM);
    assert_eq!(tend.exit_code(), 0, "{}", tend.dump());
    let at = |s: &str, to: &str| {
        tend.transitions(s).iter().rev().find(|t| t.to == to).map(|t| t.micros).unwrap_or_else(|| panic!("{s} {to}"))
    };
    assert!(at("web", "stopping") >= at("proxy", "stopped"), "{}", tend.dump());
    assert!(at("db", "stopping") >= at("web", "stopped"), "{}", tend.dump());
    assert!(at("web", "stopped") - at("web", "stopping") >= 250_000, "{}", tend.dump());
}

#[test]
fn start_starts_dependencies_first() {
    let dir = TestDir::new("start-deps");
    let cfg = "[service.db]\ncommand = \"exec sleep 1000\"\nautostart = false\n\
               [service.web]\ncommand = \"exec sleep 1000\"\nautostart = false\ndepends_on = { db = \"ready\" }\n\
               [service.idle]\ncommand = \"exec sleep 1000\"\n";
    let tend = start_serving(&dir, cfg);
    ctl_ok(&dir, &["start", "web"]);
    let db = tend.wait_transition("db", "running");
    let web = tend.wait_transition("web", "running");
    assert!(web.micros >= db.micros);
}

#[test]
fn wait_ready_waits_fails_and_times_out() {
    let dir = TestDir::new("wait-ready");
    let py = notify_script(&dir);
    let gate = dir.join("go");
    let cfg = format!(
        "[service.db]\ncommand = [\"python3\", \"{py}\", \"0\", \"0\", \"{g}\"]\nready = \"notify\"\n\
         [service.bad]\ncommand = \"sleep 0.3; exit 2\"\nrestart = \"never\"\nautostart = false\nready = {{ exec = \"false\" }}\n\
         [service.worker]\ncommand = \"exec sleep 1000\"\ninstances = 2\n",
        g = gate.display()
    );
    let _tend = start_serving(&dir, &cfg);
    let o = ctl(&dir, &["wait-ready", "db", "--timeout", "300ms"]);
    assert_eq!(o.code, Some(8), "{}", o.show());
    assert!(o.err.contains("timed out waiting for: db: starting"), "{}", o.show());
    let o = ctl(&dir, &["wait-ready", "nosuch"]);
    assert_eq!(o.code, Some(4), "{}", o.show());
    let o = ctl(&dir, &["wait-ready", "db", "--timeout", "soon"]);
    assert_eq!(o.code, Some(2), "{}", o.show());
    let waiter = support::Bg::spawn(support::ctl_command(&dir, &["wait-ready", "--timeout", "20s"]));
    std::thread::sleep(Duration::from_millis(300));
    std::fs::write(&gate, "").expect("gate");
    let mut waiter = waiter;
    let st = waiter.wait_timeout(support::DEADLINE).expect("wait-ready returned");
    assert_eq!(st.code(), Some(0), "{}", waiter.dump());
    ctl_ok(&dir, &["wait-ready", "worker", "db"]);
    ctl_ok(&dir, &["start", "bad", "--no-wait"]);
    let o = ctl(&dir, &["wait-ready", "bad", "--timeout", "10s"]);
    assert_eq!(o.code, Some(1), "{}", o.show());
    assert!(o.err.contains("bad: failed: exited with status 2"), "{}", o.show());
}
