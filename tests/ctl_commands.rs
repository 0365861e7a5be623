//! Every client command against a running `tend run`, the way a user runs them: the
//! built binary, real services, real signals, the real control socket. Each test checks
//! what the command printed and its exit code, and what really happened to the
//! processes.

mod support;

use support::start_serving as start;

use std::time::Duration;

use serde_json::Value;
use support::DEADLINE;
use support::{
    ctl, ctl_command, ctl_ok, parse_rfc3339_micros, run_output, sleeper, status_json, wait_until, Bg, Proc, Tend,
    TestDir,
};

/// The fields every service object carries in `ls --json` and `status --json`.
const SERVICE_FIELDS: &[&str] = &[
    "name",
    "state",
    "pid",
    "uptime_ms",
    "started",
    "restarts",
    "last_exit",
    "rss",
    "cpu_ms",
    "ready",
    "healthy",
    "paused",
    "autostart",
    "reason",
    "command",
    "stdout_bytes",
    "stderr_bytes",
    "dropped_bytes",
];

#[track_caller]
fn assert_service_object(v: &Value) {
    let o = v.as_object().unwrap_or_else(|| panic!("not an object: {v}"));
    for f in SERVICE_FIELDS {
        assert!(o.contains_key(*f), "field {f:?} missing from {v}");
    }
}

/// A shell script in the test directory, run by `sh`.
fn script(dir: &TestDir, name: &str, text: &str) -> String {
    dir.write(name, text);
    format!("[\"sh\", \"{}\"]", dir.join(name).display())
}

// --- ls and status --------------------------------------------------------------------

#[test]
fn ls_prints_a_table_and_json() {
    let dir = TestDir::new("ctl-ls");
    let cfg = format!("{}[service.three]\ncommand = \"exit 3\"\nrestart = \"never\"\n", sleeper(&dir, "web", ""));
    let tend = start(&dir, &cfg);
    let web = dir.wait_pid("web.pid");
    tend.wait_transition("three", "failed");

    let o = ctl_ok(&dir, &["ls"]);
    let lines: Vec<&str> = o.out.lines().collect();
    assert_eq!(lines.len(), 3, "a header and one row per service\n{}", o.show());
    let header: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(
        header,
        ["NAME", "STATE", "HEALTH", "PID", "UPTIME", "RESTARTS", "LAST", "EXIT", "RSS", "CPU"],
        "{}",
        o.show()
    );
    let row = |name: &str| -> Vec<&str> {
        let l = lines.iter().find(|l| l.split_whitespace().next() == Some(name));
        l.unwrap_or_else(|| panic!("no row for {name}\n{}", o.show())).split_whitespace().collect()
    };
    let w = row("web");
    assert_eq!(&w[1..4], ["running", "-", web.to_string().as_str()], "{}", o.show());
    let t = row("three");
    assert_eq!(t[1], "failed", "{}", o.show());
    assert_eq!(t[3], "-", "a failed service has no pid\n{}", o.show());
    let three = lines.iter().find(|l| l.starts_with("three")).expect("row of three");
    assert!(three.contains("exited with status 3"), "no last exit in the row of three\n{}", o.show());
    assert!(o.err.is_empty(), "{}", o.show());

    let o = ctl_ok(&dir, &["ls", "--json"]);
    assert_eq!(o.out.lines().count(), 1, "--json is one document on one line\n{}", o.show());
    let v: Value = serde_json::from_str(&o.out).unwrap_or_else(|e| panic!("ls --json: {e}\n{}", o.show()));
    let arr = v.as_array().unwrap_or_else(|| panic!("ls --json is not an array: {v}"));
    assert_eq!(arr.len(), 2, "{v}");
    for s in arr {
        assert_service_object(s);
    }
    let by = |n: &str| arr.iter().find(|s| s["name"] == n).unwrap_or_else(|| panic!("no {n} in {v}")).clone();
    let w = by("web");
    assert_eq!(w["state"], "running");
    assert_eq!(w["pid"], web);
    assert_eq!(w["restarts"], 0);
    assert!(w["rss"].as_u64().is_some_and(|r| r > 0), "rss of a running service: {w}");
    assert!(w["started"].as_str().and_then(parse_rfc3339_micros).is_some(), "started is not RFC 3339: {w}");
    let t = by("three");
    assert_eq!(t["state"], "failed");
    assert_eq!(t["pid"], Value::Null);
    assert_eq!(t["last_exit"]["code"], 3, "{t}");
    assert_eq!(t["command"], serde_json::json!(["/bin/sh", "-c", "exit 3"]), "{t}");
}

#[test]
fn status_prints_one_service_human_and_json() {
    let dir = TestDir::new("ctl-status");
    let tend = start(&dir, &sleeper(&dir, "web", ""));
    let web = dir.wait_pid("web.pid");
    tend.wait_transition("web", "running");

    let o = ctl_ok(&dir, &["status", "web"]);
    let field = |k: &str| -> String {
        let l = o.out.lines().find(|l| l.split_whitespace().next() == Some(k));
        l.unwrap_or_else(|| panic!("no {k} line\n{}", o.show()))[k.len()..].trim().to_string()
    };
    assert_eq!(field("name"), "web");
    assert_eq!(field("state"), "running");
    assert_eq!(field("pid"), web.to_string());
    assert_eq!(field("restarts"), "0");
    assert!(parse_rfc3339_micros(&field("started")).is_some(), "{}", o.show());
    assert!(field("command").contains("exec sleep 1000"), "{}", o.show());

    let v = status_json(&dir, "web");
    assert_service_object(&v);
    assert_eq!(v["name"], "web");
    assert_eq!(v["state"], "running");
    assert_eq!(v["pid"], web);
    assert_eq!(v["autostart"], true);
}

// --- start, stop, restart --------------------------------------------------------------

/// A service whose main process exits at once on TERM while a second process of its
/// group lingers after TERM until DIR/release exists.
fn lingering(dir: &TestDir) -> String {
    let d = dir.s();
    let cmd = script(
        dir,
        "linger.sh",
        &format!(
            "sh -c 'trap \"while [ ! -f {d}/release ]; do sleep 0.02; done; exit 0\" TERM; \
             echo $$ > {d}/child.pid; while :; do sleep 0.05; done' &\n\
             echo $$ > {d}/main.pid\nexec sleep 1000\n"
        ),
    );
    format!("[service.svc]\ncommand = {cmd}\nkill_group = true\nstop_timeout = \"60s\"\n")
}

#[test]
fn stop_waits_until_the_process_group_is_gone() {
    let dir = TestDir::new("ctl-stop");
    let tend = start(&dir, &lingering(&dir));
    let main = Proc::of(dir.wait_pid("main.pid"));
    let child = Proc::of(dir.wait_pid("child.pid"));

    let mut stop = Bg::spawn(ctl_command(&dir, &["stop", "svc"]));
    // The main process goes at once; the group does not, so neither does `tend stop`.
    assert!(main.wait_gone(DEADLINE), "the main process did not stop\n{}", tend.dump());
    tend.wait_transition("svc", "stopping");
    std::thread::sleep(Duration::from_millis(300));
    assert!(child.alive(), "the lingering process died before it was released");
    assert!(stop.try_wait().is_none(), "tend stop returned while the group was still there\n{}", stop.dump());

    dir.write("release", "");
    let st = stop.wait_timeout(DEADLINE).unwrap_or_else(|| panic!("tend stop did not return\n{}", tend.dump()));
    // At this moment, nothing of the group may be left.
    assert!(!child.exists(), "tend stop returned while {} of the group still exists", child.pid);
    assert!(!main.exists());
    assert_eq!(st.code(), Some(0), "{}", stop.dump());
    assert!(stop.out.wait_eof(DEADLINE));
    assert_eq!(stop.out.text(), "svc: stopped\n", "{}", stop.dump());
    assert_eq!(status_json(&dir, "svc")["state"], "stopped");
    assert_eq!(status_json(&dir, "svc")["pid"], Value::Null);
}

#[test]
fn stop_no_wait_returns_while_the_group_is_stopping() {
    let dir = TestDir::new("ctl-stop-nowait");
    let tend = start(&dir, &lingering(&dir));
    let child = Proc::of(dir.wait_pid("child.pid"));
    dir.wait_pid("main.pid");

    let o = ctl_ok(&dir, &["stop", "svc", "--no-wait"]);
    assert_eq!(o.out, "svc: stopping\n", "{}", o.show());
    // Returned with the group still there: it waits for the release file.
    assert!(child.alive(), "the lingering process is gone before it was released");
    assert_eq!(status_json(&dir, "svc")["state"], "stopping");
    dir.write("release", "");
    assert!(child.wait_gone(DEADLINE));
    tend.wait_transition("svc", "stopped");
}

#[test]
fn start_waits_until_running() {
    let dir = TestDir::new("ctl-start");
    let tend = start(&dir, &sleeper(&dir, "lazy", "autostart = false\n"));
    assert_eq!(status_json(&dir, "lazy")["state"], "stopped");
    assert!(!dir.join("lazy.pid").exists(), "autostart = false started the service");

    let o = ctl_ok(&dir, &["start", "lazy"]);
    assert_eq!(o.out, "lazy: running\n", "{}", o.show());
    let pid = dir.wait_pid("lazy.pid");
    let v = status_json(&dir, "lazy");
    assert_eq!(v["state"], "running");
    assert_eq!(v["pid"], pid);
    assert!(Proc::of(pid).alive());
    tend.wait_transition("lazy", "running");

    // Starting a running service changes nothing.
    let o = ctl_ok(&dir, &["start", "lazy", "--json"]);
    assert_eq!(o.json_lines(), [serde_json::json!({ "message": "lazy: running" })], "{}", o.show());
    assert_eq!(status_json(&dir, "lazy")["pid"], pid);
}

#[test]
fn restart_gives_a_new_process() {
    let dir = TestDir::new("ctl-restart");
    let tend = start(&dir, &sleeper(&dir, "web", ""));
    let old = Proc::of(dir.wait_pid("web.pid"));
    std::fs::remove_file(dir.join("web.pid")).expect("rm pid");

    let o = ctl_ok(&dir, &["restart", "web"]);
    assert_eq!(o.out, "web: running\n", "{}", o.show());
    // When restart returns, the old process is gone and the new one runs.
    assert!(!old.exists(), "the old process is still there after restart returned");
    let new = Proc::of(dir.wait_pid("web.pid"));
    assert_ne!(new.pid, old.pid);
    assert!(new.alive());
    let v = status_json(&dir, "web");
    assert_eq!(v["pid"], new.pid);
    assert_eq!(v["state"], "running");
    tend.wait_transition_n("web", "running", 2);
}

#[test]
fn restart_no_wait_returns_while_stopping() {
    let dir = TestDir::new("ctl-restart-nowait");
    let tend = start(&dir, &lingering(&dir));
    let old_main = Proc::of(dir.wait_pid("main.pid"));
    let child = Proc::of(dir.wait_pid("child.pid"));
    std::fs::remove_file(dir.join("main.pid")).expect("rm");

    let o = ctl_ok(&dir, &["restart", "svc", "--no-wait"]);
    assert_eq!(o.out, "svc: stopping\n", "{}", o.show());
    assert!(child.alive());
    dir.write("release", "");
    let new_main = Proc::of(dir.wait_pid("main.pid"));
    assert_ne!(new_main.pid, old_main.pid);
    tend.wait_transition_n("svc", "running", 2);
}

// --- signal ---------------------------------------------------------------------------

/// A service that logs the signals it traps to DIR/got, with a second process in its
/// group that logs to DIR/got too.
fn trapper(dir: &TestDir) -> String {
    let d = dir.s();
    let cmd = script(
        dir,
        "trap.sh",
        &format!(
            "sh -c 'for s in HUP USR1 USR2; do trap \"echo child $s >> {d}/got\" $s; done; \
             echo $$ > {d}/child.pid; while :; do sleep 0.02; done' &\n\
             for s in HUP USR1 USR2; do trap \"echo main $s >> {d}/got\" $s; done\n\
             echo $$ > {d}/main.pid\nwhile :; do sleep 0.02; done\n"
        ),
    );
    format!("[service.svc]\ncommand = {cmd}\nkill_group = true\n")
}

#[track_caller]
fn wait_got(dir: &TestDir, line: &str) {
    wait_until(DEADLINE, &format!("{line:?} in {}", dir.join("got").display()), || {
        dir.read("got").lines().any(|l| l == line)
    });
}

#[test]
fn signal_by_name_and_by_number() {
    let dir = TestDir::new("ctl-signal");
    let _tend = start(&dir, &trapper(&dir));
    let main = dir.wait_pid("main.pid");
    dir.wait_pid("child.pid");

    let first = ctl_ok(&dir, &["signal", "svc", "USR1"]);
    assert_eq!(first.out, format!("svc: sent SIGUSR1 to process {main}\n"), "{}", first.show());
    wait_got(&dir, "main USR1");
    let o = ctl_ok(&dir, &["signal", "svc", "SIGHUP"]);
    assert_eq!(o.out, format!("svc: sent SIGHUP to process {main}\n"), "{}", o.show());
    wait_got(&dir, "main HUP");
    let usr2 = libc::SIGUSR2.to_string();
    let o = ctl_ok(&dir, &["signal", "svc", &usr2]);
    assert_eq!(o.out, format!("svc: sent SIGUSR2 to process {main}\n"), "{}", o.show());
    wait_got(&dir, "main USR2");
    let o = ctl_ok(&dir, &["signal", "svc", "usr1", "--json"]);
    assert_eq!(o.json_lines(), [serde_json::json!({ "message": format!("svc: sent SIGUSR1 to process {main}") })]);
    wait_until(DEADLINE, "a second main USR1", || dir.read("got").matches("main USR1").count() == 2);
    // Only the main process got them.
    assert!(!dir.read("got").contains("child"), "a signal without --group reached the group:\n{}", dir.read("got"));
    // Each is an event, with who sent it.
    let evs = ctl_ok(&dir, &["events", "--json"]).json_lines();
    let sigs: Vec<&Value> = evs.iter().filter(|e| e["kind"] == "signal").collect();
    assert_eq!(sigs.len(), 4, "{evs:?}");
    assert_eq!(sigs[0]["reason"], format!("sent SIGUSR1 to process {main}"), "{}", sigs[0]);
    assert_eq!(sigs[0]["service"], "svc");
    assert_eq!(sigs[0]["requestor"]["pid"], first.pid, "{}", sigs[0]);
}

#[test]
fn signal_group_reaches_every_process_of_the_group() {
    let dir = TestDir::new("ctl-signal-group");
    let _tend = start(&dir, &trapper(&dir));
    let main = dir.wait_pid("main.pid");
    dir.wait_pid("child.pid");

    // USR1 to the main process only, then USR2 to the group: a shell runs pending traps
    // in signal-number order, so a USR1 that reached the child is logged before its USR2.
    ctl_ok(&dir, &["signal", "svc", "USR1"]);
    wait_got(&dir, "main USR1");
    let o = ctl_ok(&dir, &["signal", "svc", "USR2", "--group"]);
    assert_eq!(o.out, format!("svc: sent SIGUSR2 to process group {main}\n"), "{}", o.show());
    wait_got(&dir, "main USR2");
    wait_got(&dir, "child USR2");
    let o = ctl_ok(&dir, &["signal", "svc", "HUP", "-g"]);
    assert!(o.out.contains("process group"), "{}", o.show());
    wait_got(&dir, "main HUP");
    wait_got(&dir, "child HUP");
    assert!(!dir.read("got").contains("child USR1"), "USR1 without --group reached the child:\n{}", dir.read("got"));
}

// --- logs snapshot ----------------------------------------------------------------------

/// A service that writes out1..out5 to stdout and err1..err5 to stderr, then sleeps.
fn writer(dir: &TestDir) -> Tend {
    let cfg = "[service.w]\ncommand = \"for i in 1 2 3 4 5; do echo out$i; echo err$i >&2; done; exec sleep 1000\"\n";
    let tend = start(dir, cfg);
    wait_until(DEADLINE, "all output captured", || {
        let v = status_json(dir, "w");
        v["stdout_bytes"] == 25 && v["stderr_bytes"] == 25
    });
    tend
}

#[test]
fn logs_snapshot_separates_streams_and_tails() {
    let dir = TestDir::new("ctl-logs");
    let _tend = writer(&dir);
    let all_out = "out1\nout2\nout3\nout4\nout5\n";
    let all_err = "err1\nerr2\nerr3\nerr4\nerr5\n";

    let check = |args: &[&str], out: &str, err: &str| {
        let o = ctl_ok(&dir, args);
        assert_eq!((o.out.as_str(), o.err.as_str()), (out, err), "tend {}\n{}", args.join(" "), o.show());
    };
    check(&["logs", "w"], all_out, all_err);
    check(&["logs", "w", "-n", "2"], "out4\nout5\n", "err4\nerr5\n");
    check(&["logs", "w", "-n", "0"], "", "");
    check(&["logs", "w", "-n", "100"], all_out, all_err);
    check(&["logs", "w", "--bytes", "5"], "out5\n", "err5\n");
    check(&["logs", "w", "--bytes", "7"], "4\nout5\n", "4\nerr5\n");
    check(&["logs", "w", "--stderr"], "", all_err);
    check(&["logs", "w", "--stdout"], all_out, "");
    check(&["logs", "w", "--stdout", "-n", "1"], "out5\n", "");
    check(&["logs", "w", "--stderr", "-n", "3", "--bytes", "10"], "", "err4\nerr5\n");
}

#[test]
fn logs_json_is_one_object_per_line() {
    let dir = TestDir::new("ctl-logs-json");
    let _tend = writer(&dir);
    let o = ctl_ok(&dir, &["logs", "w", "--json"]);
    assert!(o.err.is_empty(), "{}", o.show());
    let mut out = Vec::new();
    let mut err = Vec::new();
    for v in o.json_lines() {
        assert_eq!(v["service"], "w", "{v}");
        assert!(v["ts"].as_str().is_some_and(|t| t.ends_with('Z')), "{v}");
        let line = v["line"].as_str().unwrap_or_else(|| panic!("no line in {v}")).to_string();
        match v["stream"].as_str() {
            Some("stdout") => out.push(line),
            Some("stderr") => err.push(line),
            _ => panic!("bad stream in {v}"),
        }
    }
    assert_eq!(out, ["out1", "out2", "out3", "out4", "out5"]);
    assert_eq!(err, ["err1", "err2", "err3", "err4", "err5"]);
}

// --- events ---------------------------------------------------------------------------------

#[test]
fn events_history_human_and_json() {
    let dir = TestDir::new("ctl-events");
    let tend = start(&dir, &sleeper(&dir, "web", ""));
    let pid = dir.wait_pid("web.pid");
    tend.wait_transition("web", "running");

    let o = ctl_ok(&dir, &["events"]);
    let lines: Vec<&str> = o.out.lines().collect();
    assert!(lines.len() >= 3, "{}", o.show());
    assert!(lines[0].trim_start().starts_with("1 ") && lines[0].contains("daemon: tend "), "{}", o.show());
    assert!(lines.iter().any(|l| l.contains("web stopped->starting: start requested")), "{}", o.show());
    assert!(lines.iter().any(|l| l.contains(&format!("web starting->running: started (pid {pid})"))), "{}", o.show());

    let o = ctl_ok(&dir, &["events", "--json"]);
    let evs = o.json_lines();
    assert_eq!(evs.len(), lines.len(), "the same events in both forms\n{}", o.show());
    let mut last = 0;
    for e in &evs {
        let obj = e.as_object().unwrap_or_else(|| panic!("not an object: {e}"));
        for k in ["seq", "ts", "service", "kind", "from", "to", "reason", "requestor"] {
            assert!(obj.contains_key(k), "field {k:?} missing from {e}");
        }
        let seq = e["seq"].as_u64().unwrap_or_else(|| panic!("seq: {e}"));
        assert_eq!(seq, last + 1, "sequence numbers are not consecutive: {e}");
        last = seq;
        assert!(e["ts"].as_str().and_then(parse_rfc3339_micros).is_some(), "ts: {e}");
    }
    let run = evs.iter().find(|e| e["service"] == "web" && e["to"] == "running").expect("web ->running");
    assert_eq!((&run["kind"], &run["from"]), (&Value::from("state"), &Value::from("starting")), "{run}");
    assert_eq!(run["requestor"], Value::Null, "tend's own start has no requestor: {run}");
}

#[test]
fn events_record_the_real_requestor() {
    let dir = TestDir::new("ctl-events-who");
    let tend = start(&dir, &sleeper(&dir, "web", ""));
    dir.wait_pid("web.pid");
    tend.wait_transition("web", "running");

    let stop = ctl_ok(&dir, &["stop", "web"]);
    let started = run_output(ctl_command(&dir, &["start", "web"]), DEADLINE);
    assert_eq!(started.code, Some(0), "{}", started.show());

    let evs = ctl_ok(&dir, &["events", "--json"]).json_lines();
    // SAFETY: no failure modes.
    let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
    let stopping = evs
        .iter()
        .find(|e| e["service"] == "web" && e["from"] == "running" && e["to"] == "stopping")
        .unwrap_or_else(|| panic!("no running->stopping event: {evs:?}"));
    let r = &stopping["requestor"];
    assert_eq!(r["pid"], stop.pid, "the requestor is not the `tend stop` process: {stopping}");
    assert_eq!(r["uid"], uid, "{stopping}");
    assert_eq!(r["gid"], gid, "{stopping}");
    assert_eq!(r["name"], "tend", "{stopping}");
    let starting = evs
        .iter()
        .rev()
        .find(|e| e["service"] == "web" && e["from"] == "stopped" && e["to"] == "starting")
        .unwrap_or_else(|| panic!("no stopped->starting event: {evs:?}"));
    assert_eq!(starting["requestor"]["pid"], started.pid, "{starting}");
    // The human form says who, too.
    let o = ctl_ok(&dir, &["events"]);
    assert!(o.out.contains(&format!("(by uid {uid}, pid {} tend)", stop.pid)), "{}", o.show());
    tend.wait_err(&format!("web running->stopping: stop requested (by uid {uid}, pid {} tend)", stop.pid));
}

#[test]
fn events_from_a_sequence_number() {
    let dir = TestDir::new("ctl-events-from");
    let tend = start(&dir, &[sleeper(&dir, "a", ""), sleeper(&dir, "b", "")].concat());
    tend.wait_transition("a", "running");
    tend.wait_transition("b", "running");
    let all = ctl_ok(&dir, &["events", "--json"]).json_lines();
    assert!(all.len() >= 5, "{all:?}");
    let o = ctl_ok(&dir, &["events", "--from", "3", "--json"]);
    let seqs: Vec<u64> = o.json_lines().iter().map(|e| e["seq"].as_u64().expect("seq")).collect();
    let want: Vec<u64> = (3..=all.len() as u64).collect();
    assert_eq!(seqs, want, "{}", o.show());
    assert_eq!(o.json_lines()[0], all[2]);
    // Past the end: nothing, successfully.
    let o = ctl_ok(&dir, &["events", "--from", "1000"]);
    assert_eq!(o.out, "", "{}", o.show());
}

#[test]
fn events_evicted_from_a_small_history_are_reported() {
    let dir = TestDir::new("ctl-events-evict");
    let cfg = format!("[control]\nevents_history = 3\n{}{}", sleeper(&dir, "a", ""), sleeper(&dir, "b", ""));
    let tend = start(&dir, &cfg);
    tend.wait_transition("a", "running");
    tend.wait_transition("b", "running");
    // 1 daemon, 2 per service: 5 events, the last 3 kept.
    let o = ctl_ok(&dir, &["events"]);
    let seqs: Vec<&str> = o.out.lines().filter_map(|l| l.split_whitespace().next()).collect();
    assert_eq!(seqs, ["3", "4", "5"], "{}", o.show());
    // Asking for what is gone says so.
    let o = ctl_ok(&dir, &["events", "--from", "1"]);
    let seqs: Vec<&str> = o.out.lines().filter_map(|l| l.split_whitespace().next()).collect();
    assert_eq!(seqs, ["3", "4", "5"], "{}", o.show());
    assert!(o.err.contains("events 1 to 2 no longer retained"), "no eviction notice\n{}", o.show());

    let o = ctl_ok(&dir, &["events", "--from", "1", "--json"]);
    let v = o.json_lines();
    assert_eq!(v[0], serde_json::json!({ "lost": { "from": 1, "to": 3, "reason": "evicted" } }), "{}", o.show());
    let seqs: Vec<u64> = v[1..].iter().map(|e| e["seq"].as_u64().expect("seq")).collect();
    assert_eq!(seqs, [3, 4, 5], "{}", o.show());
    assert!(o.err.is_empty(), "{}", o.show());

    // A follower asking from 1 is told too, then gets what is kept.
    let f = Bg::spawn(ctl_command(&dir, &["events", "-f", "--from", "1", "--json"]));
    f.out.wait_for(DEADLINE, |l| l.contains("\"seq\":5")).unwrap_or_else(|| panic!("{}", f.dump()));
    assert_eq!(f.out.snapshot()[0], r#"{"lost":{"from":1,"reason":"evicted","to":3}}"#, "{}", f.dump());
    drop(f);

    let o = ctl_ok(&dir, &["events", "--from", "4", "--json"]);
    let seqs: Vec<u64> = o.json_lines().iter().map(|e| e["seq"].as_u64().expect("seq")).collect();
    assert_eq!(seqs, [4, 5], "nothing asked for was evicted\n{}", o.show());
}

// --- reload, shutdown, version ---------------------------------------------------------------

#[test]
fn reload_adds_a_service() {
    let dir = TestDir::new("ctl-reload");
    let tend = start(&dir, &sleeper(&dir, "keep", ""));
    let keep = Proc::of(dir.wait_pid("keep.pid"));
    std::fs::write(&tend.config, [sleeper(&dir, "keep", ""), sleeper(&dir, "added", "")].concat()).expect("write");

    let o = ctl_ok(&dir, &["reload"]);
    assert_eq!(o.out, format!("reloaded {}: 1 added, 0 changed, 0 removed\n", tend.config.display()), "{}", o.show());
    let added = Proc::of(dir.wait_pid("added.pid"));
    assert!(added.alive());
    assert!(keep.alive(), "the unchanged service was stopped");
    assert_eq!(dir.read_pid("keep.pid"), Some(keep.pid));
    wait_until(DEADLINE, "added in ls", || status_json(&dir, "added")["state"] == "running");
    let evs = ctl_ok(&dir, &["events", "--json"]).json_lines();
    let r = evs.iter().find(|e| e["kind"] == "reload").unwrap_or_else(|| panic!("no reload event: {evs:?}"));
    assert!(r["requestor"]["pid"].as_u64().is_some(), "{r}");
}

#[test]
fn reload_of_a_broken_file_fails_and_keeps_running() {
    let dir = TestDir::new("ctl-reload-bad");
    let tend = start(&dir, &sleeper(&dir, "keep", ""));
    let keep = Proc::of(dir.wait_pid("keep.pid"));
    let path = tend.config.display().to_string();

    std::fs::write(&tend.config, "[service.keep\ncommand = \n").expect("write");
    let o = ctl(&dir, &["reload"]);
    assert_eq!(o.code, Some(1), "{}", o.show());
    assert!(o.err.contains(&format!("{path}:1:")), "no file:line in the error\n{}", o.show());
    assert!(o.err.contains("keeping the running configuration"), "{}", o.show());
    assert_eq!(o.out, "", "{}", o.show());

    // Valid TOML, bad key on line 3.
    std::fs::write(&tend.config, format!("{}restrat = \"always\"\n", sleeper(&dir, "keep", ""))).expect("write");
    let o = ctl(&dir, &["reload", "--json"]);
    assert_eq!(o.code, Some(1), "{}", o.show());
    assert!(o.err.contains(&format!("{path}:3:")) && o.err.contains("restrat"), "{}", o.show());
    assert_eq!(o.out, "", "--json printed something besides JSON on failure\n{}", o.show());

    assert!(keep.alive(), "a failed reload stopped the running service");
    let v = status_json(&dir, "keep");
    assert_eq!((v["state"].clone(), v["pid"].clone()), (Value::from("running"), Value::from(keep.pid)));
    assert!(tend.transitions("keep").iter().all(|t| t.to != "stopping"), "{}", tend.dump());
}

#[test]
fn shutdown_stops_everything_and_removes_the_socket() {
    let dir = TestDir::new("ctl-shutdown");
    let mut tend = start(&dir, &sleeper(&dir, "web", ""));
    let web = Proc::of(dir.wait_pid("web.pid"));
    let sock = dir.join("tend.sock");
    assert!(sock.exists());

    let o = ctl_ok(&dir, &["shutdown"]);
    assert_eq!(o.out, "shutting down\n", "{}", o.show());
    assert_eq!(tend.exit_code(), 0, "{}", tend.dump());
    assert!(!web.exists(), "the service outlived tend");
    assert!(!sock.exists(), "the socket file is left behind after a clean exit");
    assert!(!dir.join("tend.sock.lock").exists(), "the lock file is left behind after a clean exit");
    tend.wait_err("shutdown requested (by uid");
    let o = ctl(&dir, &["ls"]);
    assert_eq!(o.code, Some(5), "{}", o.show());
}

#[test]
fn version_prints_client_and_daemon() {
    let dir = TestDir::new("ctl-version");
    let tend = start(&dir, &sleeper(&dir, "web", ""));
    let v = env!("CARGO_PKG_VERSION");

    let o = ctl_ok(&dir, &["version"]);
    let lines: Vec<&str> = o.out.lines().collect();
    assert_eq!(lines.len(), 2, "{}", o.show());
    assert_eq!(lines[0], format!("tend {v}"));
    assert!(lines[1].starts_with(&format!("daemon: tend {v} (api 2, pid {}, up ", tend.pid)), "{}", o.show());

    let o = ctl_ok(&dir, &["version", "--json"]);
    let j = o.json_lines();
    assert_eq!(j.len(), 1, "{}", o.show());
    assert_eq!(j[0]["version"], v);
    assert_eq!(j[0]["api"], 2);
    assert_eq!(j[0]["daemon"]["pid"], tend.pid);
    assert_eq!(j[0]["daemon"]["version"], v);
    assert!(j[0]["daemon"]["uptime_s"].as_u64().is_some(), "{}", o.show());
}

#[test]
fn version_without_a_daemon_prints_the_client_only() {
    let dir = TestDir::new("ctl-version-alone");
    let v = env!("CARGO_PKG_VERSION");
    let o = ctl_ok(&dir, &["version"]);
    assert_eq!(o.out, format!("tend {v}\n"), "{}", o.show());
    let o = ctl_ok(&dir, &["version", "--json"]);
    assert_eq!(o.json_lines(), [serde_json::json!({ "version": v, "api": 2, "daemon": null })], "{}", o.show());
}

// --- errors ---------------------------------------------------------------------------------

#[test]
fn unknown_service_exits_4_and_names_it() {
    let dir = TestDir::new("ctl-unknown");
    let _tend = start(&dir, &sleeper(&dir, "web", ""));
    for args in [
        &["status", "nope"][..],
        &["start", "nope"],
        &["stop", "nope"],
        &["restart", "nope"],
        &["signal", "nope", "HUP"],
        &["logs", "nope"],
        &["logs", "nope", "-f"],
        &["status", "nope", "--json"],
    ] {
        let o = ctl(&dir, args);
        assert_eq!(o.code, Some(4), "tend {}\n{}", args.join(" "), o.show());
        assert!(o.err.contains("no service named \"nope\""), "tend {}\n{}", args.join(" "), o.show());
        assert!(o.err.contains("web"), "the message does not list the services\n{}", o.show());
        assert_eq!(o.out, "", "tend {}\n{}", args.join(" "), o.show());
    }
}

#[test]
fn bad_signal_exits_2() {
    let dir = TestDir::new("ctl-badsig");
    let _tend = start(&dir, &sleeper(&dir, "web", ""));
    let pid = dir.wait_pid("web.pid");
    for sig in ["BOGUS", "SIGNOPE", "0", "99", ""] {
        let args = ["signal", "web", sig];
        let o = ctl(&dir, &args);
        assert_eq!(o.code, Some(2), "tend signal web {sig:?}\n{}", o.show());
        assert!(!o.err.is_empty(), "no message for {sig:?}\n{}", o.show());
        assert_eq!(o.out, "", "{}", o.show());
    }
    let o = ctl(&dir, &["signal", "web", "BOGUS", "--json"]);
    assert_eq!(o.code, Some(2), "{}", o.show());
    assert!(o.err.contains("BOGUS"), "{}", o.show());
    assert_eq!(o.out, "", "{}", o.show());
    assert!(Proc::of(pid).alive());
}

#[test]
fn no_daemon_exits_5_with_a_clear_message() {
    let dir = TestDir::new("ctl-nodaemon");
    let sock = dir.join("tend.sock").display().to_string();
    for args in [
        &["ls"][..],
        &["ls", "--json"],
        &["status", "web"],
        &["stop", "web"],
        &["signal", "web", "HUP"],
        &["logs", "web", "-f"],
        &["events", "-f"],
        &["reload"],
        &["shutdown"],
    ] {
        let o = ctl(&dir, args);
        assert_eq!(o.code, Some(5), "tend {}\n{}", args.join(" "), o.show());
        assert!(o.err.contains("not running") && o.err.contains(&sock), "unclear message\n{}", o.show());
        assert_eq!(o.out, "", "{}", o.show());
    }
    // --socket wins over $TEND_SOCKET.
    let other = dir.join("elsewhere.sock").display().to_string();
    let o = ctl(&dir, &["ls", "--socket", &other]);
    assert_eq!(o.code, Some(5), "{}", o.show());
    assert!(o.err.contains(&other), "{}", o.show());
}

#[test]
fn json_output_is_only_json() {
    let dir = TestDir::new("ctl-json-only");
    let tend = start(&dir, &sleeper(&dir, "web", "").replace("echo $$", "echo hello; echo $$"));
    dir.wait_pid("web.pid");
    tend.wait_transition("web", "running");
    for args in [
        &["ls", "--json"][..],
        &["status", "web", "--json"],
        &["signal", "web", "CONT", "--json"],
        &["restart", "web", "--json"],
        &["stop", "web", "--no-wait", "--json"],
        &["start", "web", "--json"],
        &["logs", "web", "--json"],
        &["events", "--json"],
        &["version", "--json"],
        &["reload", "--json"],
    ] {
        let o = ctl_ok(&dir, args);
        assert!(!o.out.is_empty(), "tend {}: no output\n{}", args.join(" "), o.show());
        for l in o.out.lines() {
            assert!(serde_json::from_str::<Value>(l).is_ok(), "tend {}: not JSON: {l:?}\n{}", args.join(" "), o.show());
        }
    }
    // Failures with --json: nothing on stdout.
    for (args, code) in [(&["status", "nope", "--json"][..], 4), (&["signal", "web", "NOPE", "--json"], 2)] {
        let o = ctl(&dir, args);
        assert_eq!(o.code, Some(code), "{}", o.show());
        assert_eq!(o.out, "", "tend {}\n{}", args.join(" "), o.show());
    }
}

#[test]
fn start_of_a_service_that_cannot_start_fails() {
    let dir = TestDir::new("ctl-start-fail");
    let cfg =
        "[service.broken]\ncommand = [\"/nonexistent/tend-test-binary\"]\nrestart = \"never\"\nautostart = false\n";
    let tend = start(&dir, cfg);
    let o = ctl(&dir, &["start", "broken"]);
    assert_eq!(o.code, Some(1), "{}", o.show());
    assert!(o.err.contains("broken did not start"), "{}", o.show());
    assert_eq!(o.out, "", "{}", o.show());
    let v = status_json(&dir, "broken");
    assert_eq!(v["state"], "failed", "{v}");
    tend.wait_err("broken: spawn failed");
}

#[test]
fn stopping_or_signalling_a_stopped_service() {
    let dir = TestDir::new("ctl-stopped");
    let _tend = start(&dir, &sleeper(&dir, "lazy", "autostart = false\n"));
    // Already stopped: nothing to wait for.
    let o = ctl_ok(&dir, &["stop", "lazy"]);
    assert_eq!(o.out, "lazy: stopped\n", "{}", o.show());
    // Nothing to signal: a failure that says so.
    let o = ctl(&dir, &["signal", "lazy", "HUP"]);
    assert_eq!(o.code, Some(1), "{}", o.show());
    assert!(o.err.contains("lazy is not running"), "{}", o.show());
    let o = ctl(&dir, &["signal", "lazy", "HUP", "-g"]);
    assert_eq!(o.code, Some(1), "{}", o.show());
    // Restart of a stopped service starts it.
    let o = ctl_ok(&dir, &["restart", "lazy"]);
    assert_eq!(o.out, "lazy: running\n", "{}", o.show());
    dir.wait_pid("lazy.pid");
}

#[test]
fn logs_snapshot_returns_everything_retained() {
    let dir = TestDir::new("ctl-logs-all");
    // 588,895 bytes: more than a quarter of the default client queue, less than the
    // default 1 MiB log buffer.
    let cfg = "[service.big]\ncommand = \"seq 1 100000; exec sleep 1000\"\nstdout = \"capture\"\n";
    let _tend = start(&dir, cfg);
    let want: String = (1..=100_000).map(|i| format!("{i}\n")).collect();
    wait_until(DEADLINE, "all output captured", || status_json(&dir, "big")["stdout_bytes"] == want.len());
    let o = ctl_ok(&dir, &["logs", "big"]);
    assert!(
        o.out == want,
        "tend logs printed {} of the {} bytes retained, starting {:?}, with stderr {:?}",
        o.out.len(),
        want.len(),
        o.out.lines().next().unwrap_or(""),
        o.err
    );
    let o = ctl_ok(&dir, &["logs", "big", "-n", "100000"]);
    assert_eq!(o.out.lines().count(), 100_000, "-n 100000 of 100000 retained lines");
    let o = ctl_ok(&dir, &["logs", "big", "-n", "3"]);
    assert_eq!(o.out, "99998\n99999\n100000\n");
}
