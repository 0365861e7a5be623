//! `tend logs` by line and time: `--since`, `--until`, `-t`, `--json`, both streams in
//! the order tend read them; and the last lines an exit carries (`tend events`,
//! `tend status`, `log.exit_lines`).

mod support;

use serde_json::Value;
use support::{ctl, ctl_ok, parse_rfc3339_micros, start_serving, status_json, wait_until, TestDir, DEADLINE};

/// A service that writes early lines, waits for DIR/late, then writes late ones. The
/// pauses between lines let tend read each on its own, so the order tend read them in
/// is the order they were written (what tend reads in one go from both pipes has no
/// order between the two).
fn two_phases(dir: &TestDir) -> String {
    format!(
        "[service.p]\ncommand = \"echo early1; sleep 0.05; echo early-err >&2; sleep 0.05; echo early2; \
         while [ ! -e {d}/late ]; do sleep 0.01; done; echo late1; sleep 0.05; echo late-err >&2; sleep 0.05; \
         echo late2; exec sleep 1000\"\n",
        d = dir.s()
    )
}

fn lines(s: &str) -> Vec<&str> {
    s.lines().collect()
}

#[test]
fn since_and_until_select_lines_by_the_time_they_were_read() {
    let dir = TestDir::new("logs-since");
    let _tend = start_serving(&dir, &two_phases(&dir));
    wait_until(DEADLINE, "the early lines", || ctl_ok(&dir, &["logs", "p", "--stdout"]).out == "early1\nearly2\n");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    dir.write("late", "");
    wait_until(DEADLINE, "the late lines", || ctl_ok(&dir, &["logs", "p", "--stdout"]).out.contains("late2"));

    // A duration ago.
    let o = ctl_ok(&dir, &["logs", "p", "--since", "1s"]);
    assert_eq!((o.out.as_str(), o.err.as_str()), ("late1\nlate2\n", "late-err\n"), "{}", o.show());
    let o = ctl_ok(&dir, &["logs", "p", "--since", "1h"]);
    assert_eq!(lines(&o.out), ["early1", "early2", "late1", "late2"]);

    // -t: each line with its time; both streams, in the order they were read.
    let o = ctl_ok(&dir, &["logs", "p", "-t", "--stdout"]);
    let stamped: Vec<(i64, &str)> = o
        .out
        .lines()
        .map(|l| {
            let (ts, text) = l.split_once(' ').expect("TIME line");
            (parse_rfc3339_micros(ts).unwrap_or_else(|| panic!("bad time in {l:?}")), text)
        })
        .collect();
    assert_eq!(stamped.iter().map(|s| s.1).collect::<Vec<_>>(), ["early1", "early2", "late1", "late2"]);
    assert!(stamped[2].0 - stamped[1].0 >= 1_400_000, "the late lines were read 1.5 s later: {stamped:?}");
    // An RFC 3339 time between the phases, both ways.
    let mid = stamped[2].0 - 700_000;
    let mid = {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_micros(mid as u64);
        tend::timefmt::rfc3339(t)
    };
    let o = ctl_ok(&dir, &["logs", "p", "--until", &mid]);
    assert_eq!((o.out.as_str(), o.err.as_str()), ("early1\nearly2\n", "early-err\n"), "{}", o.show());
    let o = ctl_ok(&dir, &["logs", "p", "--since", &mid, "-n", "1", "--stdout"]);
    assert_eq!(o.out, "late2\n");

    // --json: one object per line, both streams interleaved as read.
    let o = ctl_ok(&dir, &["logs", "p", "--json", "--all"]);
    let got: Vec<(String, String)> = o
        .json_lines()
        .iter()
        .map(|v| {
            assert_eq!(v["service"], "p");
            assert!(v["ts"].as_str().and_then(parse_rfc3339_micros).is_some(), "{v}");
            (v["stream"].as_str().unwrap_or_default().to_string(), v["line"].as_str().unwrap_or_default().to_string())
        })
        .collect();
    let want = [
        ("stdout", "early1"),
        ("stderr", "early-err"),
        ("stdout", "early2"),
        ("stdout", "late1"),
        ("stderr", "late-err"),
        ("stdout", "late2"),
    ]
    .map(|(a, b)| (a.to_string(), b.to_string()));
    assert_eq!(got, want);

    // Bad times and combinations are usage errors.
    for args in [&["logs", "p", "--since", "yesterday"][..], &["logs", "p", "-f", "--until", "1s"]] {
        let o = ctl(&dir, args);
        assert_eq!(o.code, Some(2), "{args:?}: {}", o.show());
    }
}

#[test]
fn a_follow_by_line_stamps_new_lines() {
    let dir = TestDir::new("logs-follow-t");
    let _tend = start_serving(&dir, &two_phases(&dir));
    wait_until(DEADLINE, "the early lines", || ctl_ok(&dir, &["logs", "p", "--stdout"]).out.contains("early2"));
    let f = support::Bg::spawn(support::ctl_command(&dir, &["logs", "p", "-f", "--json", "--since", "1h"]));
    f.out.wait_for(DEADLINE, |l| l.contains("early2")).expect("the snapshot");
    dir.write("late", "");
    let l = f.out.wait_for(DEADLINE, |l| l.contains("late2")).expect("a late line");
    let v: Value = serde_json::from_str(&l).expect("JSON");
    assert_eq!((v["stream"].as_str(), v["line"].as_str()), (Some("stdout"), Some("late2")));
}

#[test]
fn exits_carry_the_last_lines_in_events_and_status() {
    let dir = TestDir::new("logs-exit-lines");
    let cfg = "[service.crash]\n\
         command = \"i=0; while [ $i -lt 30 ]; do echo out$i; sleep 0.01; echo err$i >&2; sleep 0.01; \
         i=$((i+1)); done; exit 2\"\n\
         restart = \"never\"\n\
         [service.short]\n\
         command = \"echo a; echo b; echo c; exit 0\"\n\
         restart = \"never\"\n\
         log.exit_lines = 2\n\
         [service.keep]\n\
         command = \"exec sleep 1000\"\n";
    let _tend = start_serving(&dir, cfg);
    wait_until(DEADLINE, "both to exit", || {
        status_json(&dir, "crash")["state"] == "failed" && status_json(&dir, "short")["state"] == "exited"
    });
    let events = ctl_ok(&dir, &["events", "--json"]).json_lines();
    let exit_of = |name: &str| -> Value {
        events
            .iter()
            .find(|e| e["service"] == name && e["exit"].is_object())
            .cloned()
            .unwrap_or_else(|| panic!("no exit event of {name}"))
    };
    let crash = exit_of("crash");
    let out = crash["output"].as_array().expect("output lines");
    assert_eq!(out.len(), 20, "the default exit_lines");
    // The last 20 of 60 lines, the two streams in the order they were written.
    let got: Vec<String> =
        out.iter().map(|l| format!("{}:{}", l["stream"].as_str().unwrap(), l["line"].as_str().unwrap())).collect();
    let want: Vec<String> = (20..30).flat_map(|i| [format!("stdout:out{i}"), format!("stderr:err{i}")]).collect();
    assert_eq!(got, want);
    assert!(out.iter().all(|l| l["ts"].as_str().and_then(parse_rfc3339_micros).is_some()));
    let short = exit_of("short");
    let got: Vec<&str> = short["output"].as_array().unwrap().iter().map(|l| l["line"].as_str().unwrap()).collect();
    assert_eq!(got, ["b", "c"]);
    // Events that are not exits carry none.
    assert!(events.iter().filter(|e| !e["exit"].is_object()).all(|e| e.get("output").is_none()));

    // The human forms.
    let text = ctl_ok(&dir, &["events"]).out;
    let at = text.find("short running->exited").expect(&text);
    let after: Vec<&str> = text[at..].lines().skip(1).take(2).collect();
    assert_eq!(after, ["      stdout | b", "      stdout | c"]);
    let st = ctl_ok(&dir, &["status", "short"]).out;
    assert!(st.contains("last lines before the last exit (2):\n  stdout | b\n  stdout | c\n"), "{st}");
    let st = status_json(&dir, "crash");
    assert_eq!(st["last_output"].as_array().map(Vec::len), Some(20));
    assert!(status_json(&dir, "keep").get("last_output").is_none());
}
