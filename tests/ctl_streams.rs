//! Streams over the control socket: `tend logs -f`, `tend events -f`, and what a slow
//! follower costs (nothing: its queue drops and it is told how much it lost).

mod support;

use support::start_serving as start;

use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{
    ctl_command, ctl_ok, rss_kib, status_json, wait_child, wait_until, Bg, Lines, Proc, Raw, TestDir, DEADLINE,
};
use tend::proto::msg::{kind, EventsReq, LogsReq, Stream, Target};
use tend::proto::{Reply, Request};

/// A service printing `tickN` ten times a second, with its pid in DIR/ticker.pid.
fn ticker(dir: &TestDir) -> String {
    format!(
        "[service.ticker]\ncommand = \"echo $$ > {}/ticker.pid; i=0; while :; do i=$((i+1)); echo tick$i; \
         sleep 0.1; done\"\n",
        dir.s()
    )
}

fn tick_number(line: &str) -> Option<u64> {
    line.strip_prefix("tick")?.parse().ok()
}

/// stdout_bytes of a service, from `tend status --json`.
#[track_caller]
fn stdout_bytes(dir: &TestDir, name: &str) -> u64 {
    status_json(dir, name)["stdout_bytes"].as_u64().expect("stdout_bytes")
}

#[test]
fn logs_follow_prints_new_output_as_it_arrives() {
    let dir = TestDir::new("ctl-logs-f");
    let _tend = start(&dir, &ticker(&dir));
    let pid = dir.wait_pid("ticker.pid");
    wait_until(DEADLINE, "a first tick", || stdout_bytes(&dir, "ticker") > 0);

    let f = Bg::spawn(ctl_command(&dir, &["logs", "ticker", "-f"]));
    let first = f.out.wait_for(DEADLINE, |l| tick_number(l).is_some()).expect("the snapshot");
    let first = tick_number(&first).unwrap_or_default();
    // What the ring held when we asked...
    let snap = ctl_ok(&dir, &["logs", "ticker"]);
    let in_snap = snap.out.lines().filter_map(tick_number).max().expect("ticks in the snapshot");
    // ...and lines written after that reach the follower, in order, with none missing.
    let want = in_snap + 5;
    let got = f.out.wait_for(DEADLINE, |l| tick_number(l) == Some(want));
    assert!(got.is_some(), "tick{want} never reached the follower\n{}", f.dump());
    let seen: Vec<u64> = f.out.snapshot().iter().filter_map(|l| tick_number(l)).collect();
    let expect: Vec<u64> = (first..first + seen.len() as u64).collect();
    assert_eq!(seen, expect, "the follower's lines are not consecutive");
    assert_eq!(f.err.text(), "\n", "the follower printed errors\n{}", f.dump());
    assert!(Proc::of(pid).alive());
}

#[test]
fn logs_follow_into_head_ends_when_head_exits() {
    let dir = TestDir::new("ctl-logs-head");
    let _tend = start(&dir, &ticker(&dir));
    let pid = dir.wait_pid("ticker.pid");

    let mut client = ctl_command(&dir, &["logs", "ticker", "-f", "--stdout"]);
    client.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut client = client.spawn().expect("spawn tend logs -f");
    let mut head = Command::new("head")
        .args(["-n", "3"])
        .stdin(Stdio::from(client.stdout.take().expect("stdout")))
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn head");
    let client_err = Lines::spawn(client.stderr.take().expect("stderr"));
    let head_out = Lines::spawn(head.stdout.take().expect("head stdout"));
    let client_pid = client.id() as i32;
    let head_pid = head.id() as i32;

    let hs =
        wait_child(&mut head, DEADLINE).unwrap_or_else(|| panic!("head -n 3 (pid {head_pid}) did not get 3 lines"));
    assert!(hs.success(), "head: {hs:?}");
    assert!(head_out.wait_eof(DEADLINE));
    let lines = head_out.snapshot();
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(lines.iter().all(|l| tick_number(l).is_some()), "{lines:?}");

    // The service keeps logging, so the client's next write finds the pipe closed.
    let Some(st) = wait_child(&mut client, DEADLINE) else {
        let _ = client.kill();
        let _ = client.wait();
        panic!("`tend logs -f | head -n 3` did not end after head exited (client pid {client_pid})");
    };
    assert!(
        st.code() == Some(0) || st.signal() == Some(libc::SIGPIPE),
        "the client ended with {st:?}, not cleanly (0 or SIGPIPE)\n{}",
        client_err.text()
    );
    assert!(client_err.wait_eof(DEADLINE));
    assert_eq!(client_err.text(), "\n", "the client complained on stderr");
    // The service and the daemon carry on.
    assert!(Proc::of(pid).alive(), "the service died with its follower");
    let before = stdout_bytes(&dir, "ticker");
    wait_until(DEADLINE, "the service to keep logging", || stdout_bytes(&dir, "ticker") > before);
}

#[test]
fn events_follow_receives_a_live_change() {
    let dir = TestDir::new("ctl-events-f");
    let tend = start(&dir, &ticker(&dir));
    tend.wait_transition("ticker", "running");

    let f = Bg::spawn(ctl_command(&dir, &["events", "-f", "--json"]));
    // The history first...
    f.out.wait_for(DEADLINE, |l| l.contains("\"to\":\"running\"")).expect("the history");
    let o = ctl_ok(&dir, &["stop", "ticker", "--no-wait"]);
    // ...then the change, as it happens, with who asked for it.
    let line = f.out.wait_for(DEADLINE, |l| l.contains("\"to\":\"stopping\"")).unwrap_or_else(|| {
        panic!("the follower did not get the stop\n{}", f.dump());
    });
    let v: Value = serde_json::from_str(&line).expect("JSON");
    assert_eq!(v["service"], "ticker");
    assert_eq!(v["requestor"]["pid"], o.pid, "{v}");
    f.out.wait_for(DEADLINE, |l| l.contains("\"to\":\"stopped\"")).expect("stopped");
    let seqs: Vec<u64> = f
        .out
        .snapshot()
        .iter()
        .map(|l| serde_json::from_str::<Value>(l).expect("JSON")["seq"].as_u64().expect("seq"))
        .collect();
    let expect: Vec<u64> = (1..=seqs.len() as u64).collect();
    assert_eq!(seqs, expect, "events missing or repeated\n{}", f.dump());
    let mut f = f;
    assert!(f.try_wait().is_none(), "the follower ended\n{}", f.dump());

    // From a sequence number: only what came after it.
    let next = seqs.len() as u64 + 1;
    let from = next.to_string();
    let g = Bg::spawn(ctl_command(&dir, &["events", "-f", "--from", &from]));
    ctl_ok(&dir, &["start", "ticker"]);
    g.out.wait_for(DEADLINE, |l| l.contains("ticker starting->running")).expect("the start");
    let first = g.out.snapshot()[0].clone();
    assert!(first.trim_start().starts_with(&format!("{next} ")), "first line {first:?}, want seq {next}");
}

/// A raw client subscribes to a fast writer's output and does not read: the daemon drops
/// what does not fit its queue, the writer never slows down, other clients are served,
/// memory stays bounded, and the follower is told how many bytes it lost: every byte
/// written after the subscription is either sent or counted as lost.
#[test]
fn a_slow_follower_loses_data_not_the_daemon() {
    let dir = TestDir::new("ctl-slow");
    let cfg = "[control]\nclient_queue = \"64KiB\"\n\
               [service.fast]\ncommand = [\"yes\", \"0123456789abcdef0123456789abcdef0123456789abcdef\"]\n\
               stdout = \"capture\"\nstop_signal = \"KILL\"\n";
    let tend = start(&dir, cfg);
    // Past the ring's fill-up, so it does not count as growth below.
    wait_until(DEADLINE, "8 MiB of output", || stdout_bytes(&dir, "fast") > 8 << 20);
    let rss_before = rss_kib(tend.pid);

    let mut raw = Raw::connect(&dir.join("tend.sock"));
    raw.hello();
    // Follow with an empty snapshot, and in the same write ask for the byte count: both
    // are handled in one turn of the loop, so the count is where the follow starts.
    let mut b = support::request(&Request::Logs(LogsReq {
        id: 7,
        service: "fast".into(),
        stream: Stream::Stdout,
        lines: Some(0),
        bytes: None,
        follow: true,
        ..Default::default()
    }));
    b.extend(support::request(&Request::Status(Target { id: 8, service: "fast".into(), wait: false })));
    raw.send(&b);
    let Reply::Status(st) = raw.reply() else { panic!("the status reply did not come first") };
    let at_follow = st.service.stdout_bytes;

    // Not reading. The writer goes on at full speed meanwhile: were tend waiting on
    // this client, the pipe would fill and `yes` would block within a MiB or so.
    let mut rss_max = 0;
    wait_until(Duration::from_secs(60), "64 MiB more output while the follower is stalled", || {
        rss_max = rss_max.max(rss_kib(tend.pid));
        // Other clients are served meanwhile.
        stdout_bytes(&dir, "fast") > at_follow + (64 << 20)
    });
    rss_max = rss_max.max(rss_kib(tend.pid));
    let o = ctl_ok(&dir, &["ls"]);
    assert!(o.out.contains("fast"), "{}", o.show());
    assert!(
        rss_max < rss_before + 16 * 1024,
        "tend's RSS grew from {rss_before} KiB to {rss_max} KiB with a stalled follower"
    );

    // End the output, and wait until tend has read all of it.
    ctl_ok(&dir, &["stop", "fast"]);
    let mut total = 0;
    wait_until(DEADLINE, "the output count to settle", || {
        let t = stdout_bytes(&dir, "fast");
        let settled = t == total;
        total = t;
        settled
    });
    let written = total - at_follow;

    // Now read: data, and LOG_LOST frames saying how much was dropped, until every
    // byte written since the follow began is accounted for.
    let (mut data, mut lost, mut lost_frames) = (0u64, 0u64, 0);
    let deadline = Instant::now() + DEADLINE;
    while data + lost < written {
        assert!(
            Instant::now() < deadline,
            "of {written} bytes written, {data} were sent and {lost} reported lost ({lost_frames} LOG_LOST frames)"
        );
        let f = raw.next().expect("the follow stream ended");
        match Reply::decode(f.kind, &f.body).expect("decode") {
            Reply::LogData(d) => {
                assert_eq!((d.id, d.stream), (7, Stream::Stdout));
                data += d.data.len() as u64;
            }
            Reply::LogLost(l) => {
                assert_eq!(f.kind, kind::LOG_LOST);
                assert_eq!((l.id, l.stream), (7, Stream::Stdout), "{l:?}");
                assert!(l.bytes > 0, "a LOG_LOST of 0 bytes");
                lost += l.bytes;
                lost_frames += 1;
            }
            other => panic!("unexpected frame {other:?}"),
        }
    }
    assert_eq!(data + lost, written, "more bytes sent and lost than written ({data} sent, {lost} lost)");
    assert!(lost > 32 << 20, "only {lost} of {written} bytes lost through a 64 KiB queue: {data} sent");

    // Still responsive, on this very connection too.
    raw.req(&Request::Status(Target { id: 9, service: "fast".into(), wait: false }));
    match raw.reply() {
        Reply::Status(s) => assert_eq!((s.id, s.service.state.as_str()), (9, "stopped")),
        other => panic!("unexpected frame {other:?}"),
    }
    drop(raw);
    ctl_ok(&dir, &["ls"]);
}

#[test]
fn a_slow_event_follower_is_told_which_events_it_lost() {
    let dir = TestDir::new("ctl-slow-events");
    let cfg = "[control]\nclient_queue = \"4KiB\"\nevents_history = 100000\n\
               [service.crash]\ncommand = [\"true\"]\nrestart = \"always\"\n\
               backoff = { initial = \"0s\", max = \"0s\" }\nstart_limit = { burst = 0 }\n";
    let _tend = start(&dir, cfg);
    let mut raw = Raw::connect(&dir.join("tend.sock"));
    raw.hello();
    raw.req(&Request::Events(EventsReq { id: 3, from: None, follow: true }));
    // Not reading, while the crash loop makes thousands of events: far more than the
    // queue and the socket buffer hold.
    let restarts = |dir: &TestDir| status_json(dir, "crash")["restarts"].as_u64().expect("restarts");
    let r0 = restarts(&dir);
    wait_until(Duration::from_secs(30), "1000 restarts", || restarts(&dir) > r0 + 1000);
    ctl_ok(&dir, &["stop", "crash"]);
    // The last event there is, once the loop has stopped.
    let evs = ctl_ok(&dir, &["events", "--from", "1", "--json"]).json_lines();
    let last = evs.last().expect("events")["seq"].as_u64().expect("seq");

    // Now read: every sequence number from the first on is either an event or inside a
    // lost range, in order, with no gap and no repeat.
    let (mut next, mut lost_ranges, mut events) = (None::<u64>, 0, 0);
    let deadline = Instant::now() + DEADLINE;
    while next.is_none_or(|n| n <= last) {
        assert!(
            Instant::now() < deadline,
            "stream stalled at {next:?} of {last}: {events} events, {lost_ranges} losses"
        );
        match raw.reply() {
            Reply::Event(e) => {
                assert_eq!(e.id, 3);
                if let Some(n) = next {
                    assert_eq!(e.event.seq, n, "an event out of order or missing");
                }
                next = Some(e.event.seq + 1);
                events += 1;
            }
            Reply::EventsLost(l) => {
                assert_eq!((l.id, l.reason.as_str()), (3, "queue_full"), "{l:?}");
                assert!(l.from < l.to, "an empty lost range: {l:?}");
                if let Some(n) = next {
                    assert_eq!(l.from, n, "a lost range that does not start where the stream was: {l:?}");
                }
                next = Some(l.to);
                lost_ranges += 1;
            }
            other => panic!("unexpected frame {other:?}"),
        }
    }
    assert_eq!(next, Some(last + 1));
    assert!(lost_ranges > 0, "{events} events and no loss through a 4 KiB queue");
    ctl_ok(&dir, &["ls"]);
}

#[test]
fn logs_follow_ends_when_the_service_is_removed() {
    let dir = TestDir::new("ctl-logs-removed");
    let tend = start(&dir, &ticker(&dir));
    let pid = Proc::of(dir.wait_pid("ticker.pid"));
    let mut f = Bg::spawn(ctl_command(&dir, &["logs", "ticker", "-f"]));
    f.out.wait_for(DEADLINE, |l| tick_number(l).is_some()).expect("output");

    std::fs::write(&tend.config, "[service.other]\ncommand = [\"sleep\", \"1000\"]\n").expect("write");
    ctl_ok(&dir, &["reload"]);
    let st = f.wait_timeout(DEADLINE).unwrap_or_else(|| panic!("the follower outlived its service\n{}", f.dump()));
    assert_eq!(st.code(), Some(0), "{}", f.dump());
    assert!(pid.wait_gone(DEADLINE));
}

#[test]
fn followers_end_cleanly_when_tend_shuts_down() {
    let dir = TestDir::new("ctl-follow-shutdown");
    let mut tend = start(&dir, &ticker(&dir));
    let mut logs = Bg::spawn(ctl_command(&dir, &["logs", "ticker", "-f"]));
    let mut events = Bg::spawn(ctl_command(&dir, &["events", "-f"]));
    logs.out.wait_for(DEADLINE, |l| tick_number(l).is_some()).expect("output");
    events.out.wait_for(DEADLINE, |l| l.contains("ticker starting->running")).expect("events");

    ctl_ok(&dir, &["shutdown"]);
    assert_eq!(tend.exit_code(), 0, "{}", tend.dump());
    // The events follower saw tend's last word...
    events.out.wait_for(DEADLINE, |l| l.contains("daemon: exiting with status 0")).expect("the exit event");
    // ...and both end, without calling a clean shutdown a protocol failure.
    for (name, f) in [("logs -f", &mut logs), ("events -f", &mut events)] {
        let st = f.wait_timeout(DEADLINE).unwrap_or_else(|| panic!("tend {name} outlived tend\n{}", f.dump()));
        assert_eq!(st.code(), Some(0), "tend {name} after a clean shutdown: {st:?}\n{}", f.dump());
    }
}
