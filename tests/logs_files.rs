//! Log files (`log_dir`, `log.file`): every byte reaches the file through rotation, a
//! slow follower and a slow stdout; rotation keeps exactly `keep` files; `tend logs
//! --rotate` and SIGUSR1; lines without a newline; the stamped format; tend.log.

mod support;

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::{
    ctl, ctl_command, ctl_ok, kill, parse_rfc3339_micros, poll_until, start_serving, status_field, wait_until, Opts,
    Tend, TestDir, DEADLINE,
};

/// `sha256sum` of what `script` prints (run by sh).
fn sha_of(script: &str) -> String {
    let out = Command::new("sh").arg("-c").arg(format!("{script} | sha256sum")).output().expect("running sha256sum");
    assert!(out.status.success(), "{script}: {:?}", out);
    String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap_or_default().to_string()
}

/// DIR/logs/NAME.log.N, for N from `keep` down to 1, then DIR/logs/NAME.log: those that exist.
fn log_files(dir: &TestDir, name: &str, keep: u32) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = (1..=keep).rev().map(|n| dir.join(format!("logs/{name}.log.{n}"))).collect();
    v.push(dir.join(format!("logs/{name}.log")));
    v.into_iter().filter(|p| p.exists()).collect()
}

/// Reads `r` slowly (4 KiB every 2 ms) until EOF, on a thread; returns the bytes read.
fn slow_reader(mut r: impl Read + Send + 'static) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        let mut total = 0u64;
        loop {
            match r.read(&mut buf) {
                Ok(0) | Err(_) => return total,
                Ok(n) => total += n as u64,
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    })
}

#[test]
fn a_gibibyte_through_rotation_with_slow_readers_is_byte_identical() {
    let dir = TestDir::new("logs-gib");
    // seq 1 120000000 is 1,088,888,898 bytes: just over 1 GiB.
    const N: u64 = 120_000_000;
    let cfg = format!(
        "log_dir = \"{d}/logs\"\n\
         [service.flood]\n\
         command = \"seq 1 {N}; touch {d}/flood.done; exec sleep 1000\"\n\
         log = {{ file = true, max_size = \"100MiB\", keep = 12 }}\n",
        d = dir.s()
    );
    let mut tend = Tend::start_with(&dir, &cfg, Opts { raw_stdout: true, ..Default::default() });
    // tend's own stdout (where the passthrough goes) is read slowly...
    let slow_stdout = slow_reader(tend.take_stdout());
    wait_until(DEADLINE, "tend to answer", || ctl(&dir, &["ls"]).code == Some(0));
    // ...and so is a follower.
    let mut follow = ctl_command(&dir, &["logs", "flood", "-f"]);
    follow.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut follower = follow.spawn().expect("spawning tend logs -f");
    let slow_follow = slow_reader(follower.stdout.take().expect("stdout"));
    let follow_err = slow_reader(follower.stderr.take().expect("stderr"));

    let started = Instant::now();
    let done = poll_until(Duration::from_secs(600), || dir.join("flood.done").exists());
    assert!(done, "seq did not finish within 10 minutes\n{}", tend.dump());
    let elapsed = started.elapsed();
    // Everything it wrote is in the files once tend's queue is written out.
    let total: u64 = 1_088_888_898;
    let in_files =
        || log_files(&dir, "flood", 12).iter().map(|p| p.metadata().map(|m| m.len()).unwrap_or(0)).sum::<u64>();
    wait_until(Duration::from_secs(60), "all bytes in the files", || in_files() == total);

    let files = log_files(&dir, "flood", 12);
    assert!(files.len() >= 11, "expected rotation into at least 11 files, got {files:?}");
    for f in &files {
        let len = f.metadata().expect("stat").len();
        assert!(len <= 100 << 20, "{} is {len} bytes, over max_size", f.display());
        assert_eq!(f.metadata().expect("stat").permissions().mode() & 0o777, 0o640, "{}", f.display());
    }
    let names: Vec<String> = files.iter().map(|p| format!("'{}'", p.display())).collect();
    assert_eq!(sha_of(&format!("cat {}", names.join(" "))), sha_of(&format!("seq 1 {N}")), "the files differ from seq");
    // Neither slow reader held the service up, and both were slow: the passthrough
    // dropped output, the follower was told what it lost.
    let st = support::status_json(&dir, "flood");
    assert!(st["dropped_bytes"].as_u64().unwrap_or(0) > 0, "tend's slow stdout dropped nothing: {st}");
    assert_eq!(st["stdout_bytes"].as_u64(), Some(total));
    let events = ctl_ok(&dir, &["events", "--json"]).json_lines();
    assert!(events.iter().any(|e| e["kind"] == "output_dropped" && e["service"] == "flood"), "no output_dropped event");
    let hwm = status_field(tend.pid, "VmHWM").unwrap_or_default();
    let hwm_kib: u64 = hwm.split_whitespace().next().and_then(|v| v.parse().ok()).unwrap_or(u64::MAX);
    assert!(hwm_kib < 32 << 10, "tend's peak RSS grew to {hwm}");
    kill(follower.id() as i32, libc::SIGKILL);
    let _ = follower.wait();
    let followed = slow_follow.join().unwrap_or(0);
    let follow_err = follow_err.join().unwrap_or(0);
    assert!(followed < total, "the slow follower got everything ({followed} bytes): it was not slow");
    assert!(follow_err > 0, "the follower was not told it lost output");
    ctl_ok(&dir, &["shutdown"]);
    assert_eq!(tend.exit_code(), 0);
    assert!(slow_stdout.join().unwrap_or(0) > 0);
    eprintln!("1 GiB through tend with files on in {elapsed:?}");
}

#[test]
fn rotation_keeps_exactly_keep_files() {
    let dir = TestDir::new("logs-keep");
    // 2000 lines of 100 bytes: 200,000 bytes, rotated every 8 KiB (81 lines).
    let cfg = format!(
        "log_dir = \"{d}/logs\"\n\
         [service.w]\n\
         command = \"i=1000; while [ $i -lt 3000 ]; do printf '%099d\\\\n' $i; i=$((i+1)); done; exec sleep 1000\"\n\
         stdout = \"capture\"\n\
         log = {{ file = true, max_size = \"8KiB\", keep = 3 }}\n",
        d = dir.s()
    );
    let _tend = start_serving(&dir, &cfg);
    let want_last = format!("{:099}", 2999);
    wait_until(DEADLINE, "the last line in w.log", || dir.read("logs/w.log").contains(&want_last));
    for n in 1..=3 {
        assert!(dir.join(format!("logs/w.log.{n}")).exists(), "w.log.{n} is missing");
    }
    let names: Vec<String> = std::fs::read_dir(dir.join("logs"))
        .expect("logs dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    let mut names: Vec<&str> = names.iter().map(String::as_str).filter(|n| n.starts_with("w.log")).collect();
    names.sort_unstable();
    assert_eq!(names, ["w.log", "w.log.1", "w.log.2", "w.log.3"], "exactly keep = 3 rotated files");
    // Each file is whole lines, at most 8 KiB, and together they are the end of the
    // output, in order.
    let mut text = String::new();
    for f in log_files(&dir, "w", 3) {
        let s = std::fs::read_to_string(&f).expect("reading a log file");
        assert!(s.len() <= 8192 && s.ends_with('\n'), "{}: {} bytes", f.display(), s.len());
        text.push_str(&s);
    }
    let nums: Vec<u64> = text.lines().map(|l| l.parse().expect("a numbered line")).collect();
    let first = nums[0];
    assert_eq!(nums, (first..3000).collect::<Vec<_>>(), "the files are not the last lines in order");
    assert_eq!(nums.len(), 81 * 3 + (2000 % 81), "three full files of 81 lines and the rest");
}

#[test]
fn rotate_on_request_and_reopen_on_sigusr1() {
    let dir = TestDir::new("logs-rotate");
    let cfg = format!(
        "log_dir = \"{d}/logs\"\n\
         [service.t]\n\
         command = \"i=0; while :; do if [ -e {d}/go$i ]; then echo line$i; i=$((i+1)); fi; sleep 0.01; done\"\n\
         log = {{ file = true, keep = 2 }}\n\
         [service.quiet]\n\
         command = \"exec sleep 1000\"\n\
         log.file = true\n",
        d = dir.s()
    );
    let tend = start_serving(&dir, &cfg);
    let step = |i: u32| {
        dir.write(format!("go{i}"), "");
        wait_until(DEADLINE, &format!("line{i} in t.log"), || dir.read("logs/t.log").contains(&format!("line{i}\n")));
    };
    step(0);
    let o = ctl_ok(&dir, &["logs", "t", "--rotate"]);
    assert_eq!(o.out, "rotated 1 log file(s)\n");
    assert_eq!(dir.read("logs/t.log.1"), "line0\n");
    step(1);
    assert_eq!(dir.read("logs/t.log"), "line1\n");
    // Every file: t.log and tend.log (quiet.log is empty, so only reopened).
    let o = ctl_ok(&dir, &["logs", "--rotate", "--json"]);
    assert_eq!(o.out, "{\"message\":\"rotated 2 log file(s)\"}\n");
    assert_eq!(dir.read("logs/t.log.2"), "line0\n");
    assert_eq!(dir.read("logs/t.log.1"), "line1\n");
    assert!(dir.read("logs/tend.log.1").contains("supervising"));
    assert!(!dir.join("logs/quiet.log.1").exists());
    // An outside tool moves the file away; SIGUSR1 makes tend open t.log again.
    step(2);
    std::fs::rename(dir.join("logs/t.log"), dir.join("moved.log")).expect("moving t.log");
    tend.signal(libc::SIGUSR1);
    wait_until(DEADLINE, "tend to reopen", || ctl(&dir, &["ls"]).code == Some(0));
    std::thread::sleep(Duration::from_millis(100));
    step(3);
    assert_eq!(dir.read("moved.log"), "line2\n");
    assert_eq!(dir.read("logs/t.log"), "line3\n");

    // What cannot be rotated says why.
    let o = ctl(&dir, &["logs", "nosuch", "--rotate"]);
    assert_eq!(o.code, Some(4), "{}", o.show());
    let o = ctl(&dir, &["logs", "--rotate", "-f"]);
    assert_eq!(o.code, Some(2), "{}", o.show());
    let o = ctl(&dir, &["logs"]);
    assert_eq!(o.code, Some(2), "{}", o.show());
    assert!(o.err.contains("name a service"), "{}", o.show());
}

#[test]
fn rotate_without_files_fails_with_a_reason() {
    let dir = TestDir::new("logs-rotate-none");
    let _tend = start_serving(&dir, "[service.a]\ncommand = \"exec sleep 1000\"\n");
    let o = ctl(&dir, &["logs", "--rotate"]);
    assert_eq!(o.code, Some(1), "{}", o.show());
    assert!(o.err.contains("log_dir is not set"), "{}", o.show());
    let dir2 = TestDir::new("logs-rotate-nofile");
    let cfg = format!("log_dir = \"{}/logs\"\n[service.a]\ncommand = \"exec sleep 1000\"\n", dir2.s());
    let _tend2 = start_serving(&dir2, &cfg);
    let o = ctl(&dir2, &["logs", "a", "--rotate"]);
    assert_eq!(o.code, Some(1), "{}", o.show());
    assert!(o.err.contains("writes no log file"), "{}", o.show());
}

#[test]
fn a_child_that_writes_without_newlines() {
    let dir = TestDir::new("logs-nonl");
    // 200,000 'x' with no newline, then "tail", then exit: both formats.
    let script = "head -c 200000 /dev/zero | tr '\\\\0' x; printf tail; exit 3";
    let cfg = format!(
        "log_dir = \"{d}/logs\"\n\
         [service.plain]\ncommand = \"{script}\"\nrestart = \"never\"\nlog.file = true\n\
         [service.stamped]\ncommand = \"exec >&2; {script}\"\nrestart = \"never\"\n\
         log = {{ file = true, timestamps = true }}\n",
        d = dir.s()
    );
    let mut tend = Tend::start(&dir, &cfg);
    assert_eq!(tend.exit_code(), 3, "all finished, some failed\n{}", tend.dump());
    let plain = std::fs::read(dir.join("logs/plain.log")).expect("plain.log");
    let mut want = vec![b'x'; 200_000];
    want.extend_from_slice(b"tail [tend: no newline at end of output]\n");
    assert_eq!(plain.len(), want.len());
    assert!(plain == want, "plain.log is not the bytes written plus the marker");

    // Stamped: pieces of 64 KiB tagged P, the end tagged F with the marker.
    let stamped = std::fs::read_to_string(dir.join("logs/stamped.log")).expect("stamped.log");
    let lines: Vec<&str> = stamped.lines().collect();
    assert_eq!(lines.len(), 4, "three 64 KiB pieces and the rest");
    let mut text = String::new();
    for (i, l) in lines.iter().enumerate() {
        let mut f = l.splitn(4, ' ');
        let (ts, stream, tag, rest) = (f.next().unwrap(), f.next().unwrap(), f.next().unwrap(), f.next().unwrap());
        assert!(parse_rfc3339_micros(ts).is_some(), "bad time {ts:?}");
        assert_eq!(stream, "stderr");
        assert_eq!(tag, if i < 3 { "P" } else { "F" }, "line {i}");
        text.push_str(rest);
    }
    let mut want = "x".repeat(200_000);
    want.push_str("tail [tend: no newline at end of output]");
    assert_eq!(text, want);

    // The exit event's last line is the unterminated one, cut to 512 bytes.
    let events = std::fs::read_to_string(dir.join("logs/tend.log")).expect("tend.log");
    let cut = format!("    stdout | {} [...]", "x".repeat(512));
    assert!(events.lines().any(|l| l == cut), "no cut last line in tend.log:\n{events}");
}

/// Both streams flat out into one file, in runs of small writes and bursts of big
/// ones, with the default ring (the file is written from it) and a 4 KiB ring (from
/// copies): each stream's lines are all there, whole and in order.
#[test]
fn both_streams_flat_out_lose_nothing_whatever_the_ring() {
    let dir = TestDir::new("logs-both");
    // Stream o gets single lines and, every 50 lines, a 200 KiB write of 3,200 lines;
    // stream e a line now and then. Each line: "o N" or "e N" padded to 64 bytes.
    let script = "import os\n\
                  def line(s, n): return (s + ' %d ' % n).ljust(63, '.').encode() + b'\\n'\n\
                  o = e = 0\n\
                  for i in range(6000):\n\
                  \x20   if i % 50 == 0:\n\
                  \x20       os.write(1, b''.join(line('o', o + k) for k in range(3200))); o += 3200\n\
                  \x20   os.write(1, line('o', o)); o += 1\n\
                  \x20   if i % 3 == 0:\n\
                  \x20       os.write(2, line('e', e)); e += 1\n\
                  print('o', o, 'e', e, file=open('COUNTS', 'w'))\n";
    for ring in ["big", "small"] {
        std::fs::write(
            dir.join(format!("{ring}.py")),
            script.replace("COUNTS", &dir.join(format!("{ring}.counts")).to_string_lossy()),
        )
        .expect("writing the script");
    }
    let cfg = format!(
        "log_dir = \"{d}/logs\"\n\
         [service.big]\ncommand = [\"python3\", \"{d}/big.py\"]\nrestart = \"never\"\n\
         stdout = \"capture\"\nstderr = \"capture\"\nlog = {{ file = true, max_size = 0 }}\n\
         [service.small]\ncommand = [\"python3\", \"{d}/small.py\"]\nrestart = \"never\"\n\
         stdout = \"capture\"\nstderr = \"capture\"\n\
         log = {{ file = true, max_size = 0, buffer = \"4KiB\" }}\n",
        d = dir.s()
    );
    let mut tend = Tend::start(&dir, &cfg);
    assert_eq!(tend.exit_code(), 0, "all finished\n{}", tend.dump());
    for ring in ["big", "small"] {
        let counts = std::fs::read_to_string(dir.join(format!("{ring}.counts"))).expect("counts");
        let c: Vec<u64> = counts.split_whitespace().filter_map(|w| w.parse().ok()).collect();
        let text = std::fs::read_to_string(dir.join(format!("logs/{ring}.log"))).expect("the log file");
        let mut next = [0u64; 2];
        for (i, l) in text.lines().enumerate() {
            assert_eq!(l.len(), 63, "{ring}.log line {i} is not whole: {l:?}");
            let mut f = l.split(' ');
            let s = match f.next() {
                Some("o") => 0,
                Some("e") => 1,
                other => panic!("{ring}.log line {i}: stream {other:?}"),
            };
            let n: u64 = f.next().and_then(|n| n.parse().ok()).expect("a number");
            assert_eq!(n, next[s], "{ring}.log line {i}: out of order or lost");
            next[s] += 1;
        }
        assert_eq!(next.to_vec(), c, "{ring}.log: lines per stream");
    }
}

#[test]
fn tend_log_has_the_events_after_tend_is_gone() {
    let dir = TestDir::new("logs-tend-log");
    let cfg = format!(
        "log_dir = \"{d}/logs\"\nmain = \"m\"\n\
         [service.m]\ncommand = \"echo starting; echo 'fatal: no config' >&2; exit 4\"\n",
        d = dir.s()
    );
    let mut tend = Tend::start(&dir, &cfg);
    assert_eq!(tend.exit_code(), 4);
    let log = dir.read("logs/tend.log");
    let lines: Vec<&str> = log.lines().collect();
    assert!(lines[0].contains("supervising 1 service(s)"), "{log}");
    let exit = lines.iter().position(|l| l.contains(" m running->") && l.contains("exited with status 4"));
    let exit = exit.unwrap_or_else(|| panic!("no exit of m in tend.log:\n{log}"));
    assert_eq!(lines[exit + 1], "    stdout | starting");
    assert_eq!(lines[exit + 2], "    stderr | fatal: no config");
    assert!(lines.last().unwrap_or(&"").ends_with("exiting with status 4"), "{log}");
    for l in lines.iter().filter(|l| !l.starts_with("    ")) {
        let ts = l.split(' ').next().unwrap_or_default();
        assert!(parse_rfc3339_micros(ts).is_some(), "no time stamp: {l:?}");
    }
    let mode = dir.join("logs/tend.log").metadata().expect("stat").permissions().mode() & 0o777;
    assert_eq!(mode, 0o640);
}

#[test]
fn log_file_config_errors_name_the_line() {
    let dir = TestDir::new("logs-config");
    let mut tend = Tend::start(&dir, "[service.a]\ncommand = \"true\"\n[service.a.log]\nfile = true\n");
    assert_eq!(tend.exit_code(), 78);
    let err = tend.err.text();
    assert!(err.contains("tend.toml:4:1: service.a.log.file: log.file = true requires the top-level log_dir"), "{err}");
    let mut tend = Tend::start(&dir, "log_dir = \"l\"\n[service.a]\ncommand = \"true\"\nlog.max_size = \"1KiB\"\n");
    assert_eq!(tend.exit_code(), 78);
    assert!(tend.err.text().contains("tend.toml:4:16: service.a.log.max_size:"), "{}", tend.err.text());
}
