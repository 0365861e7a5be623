//! Service output passed through to tend's own stdout/stderr as `NAME | line`, and what
//! happens when tend's stdout is a slow pipe: a service is never blocked, what does not
//! fit in the 4 MiB queue is dropped and counted, and the count is reported in the
//! service's stream; with `log.backpressure` the service waits instead and nothing is lost.

mod support;

use std::process::ChildStdout;
use std::time::{Duration, Instant};

use support::{wait_until, Lines, Tend, TestDir, DEADLINE};

/// `yes LINE` writes 100-byte lines: 99 characters and a newline.
fn line() -> String {
    "a".repeat(99)
}
const MIB: usize = 1 << 20;

#[test]
fn lines_are_prefixed_padded_and_split_by_stream() {
    let dir = TestDir::new("output-prefix");
    let cfg = "[service.a]\ncommand = \"echo hello from a; echo oops from a >&2; printf 'no newline'\"\n\
               restart = \"never\"\n\
               [service.longname]\ncommand = \"echo x\"\nrestart = \"never\"\n\
               [service.merged]\ncommand = \"echo to-stdout >&2\"\nstderr = \"stdout\"\nrestart = \"never\"\n\
               [service.bare]\ncommand = \"echo raw line\"\nlog = { prefix = false }\nrestart = \"never\"\n\
               [service.hidden]\ncommand = \"echo not shown; echo nor this >&2\"\nstdout = \"capture\"\n\
               stderr = \"null\"\nrestart = \"never\"\n\
               [service.keeper]\ncommand = [\"sleep\", \"1000\"]\n";
    let mut tend = Tend::start(&dir, cfg);
    for name in ["a", "longname", "merged", "bare", "hidden"] {
        tend.wait_transition(name, "exited");
    }
    tend.wait_out("a        | no newline");
    tend.wait_out("merged   | to-stdout");
    tend.wait_out("raw line");
    tend.wait_err("a        | oops from a");
    tend.signal(libc::SIGTERM);
    assert_eq!(tend.exit_code(), 0, "{}", tend.dump());
    let mut out = tend.out.snapshot();
    out.sort();
    let want = ["a        | hello from a", "a        | no newline", "longname | x", "merged   | to-stdout", "raw line"];
    assert_eq!(out, want, "{}", tend.dump());
    let err: Vec<String> = tend.err.matching(|l| !l.starts_with("tend     | "));
    assert_eq!(err, ["a        | oops from a"], "{}", tend.dump());
    // tend's own lines are padded to the longest name too.
    assert!(tend.err.snapshot().iter().all(|l| !l.starts_with("tend") || l.starts_with("tend     | ")));
}

/// Passthrough accounting from tend's stdout: the data lines of `name` (every line of
/// its stream but drop notices and the `control` lines), their bytes with prefix and
/// newline, and the bytes announced as dropped.
struct Tally {
    lines: usize,
    bytes: usize,
    dropped: u64,
    notices: Vec<String>,
}

fn tally(lines: &[String], name: &str, control: &[&str]) -> Tally {
    let prefix = format!("{name:<4} | ");
    let notice = format!("{prefix}[tend: dropped ");
    let mut t = Tally { lines: 0, bytes: 0, dropped: 0, notices: Vec::new() };
    for l in lines {
        if let Some(rest) = l.strip_prefix(&notice) {
            let n = rest.split(' ').next().and_then(|n| n.parse::<u64>().ok());
            t.dropped += n.unwrap_or_else(|| panic!("bad notice {l:?}"));
            t.notices.push(l.clone());
        } else if let Some(data) = l.strip_prefix(&prefix) {
            if !control.contains(&data) {
                t.lines += 1;
                t.bytes += l.len() + 1;
            }
        }
    }
    t
}

/// A shell script that overflows tend's stdout so that the overflow is still unreported
/// when it ends, whatever the timing:
/// 1. 20 MB of 100-byte lines fill the 4 MiB queue; the room left is less than the
///    largest chunk tend reads at once (a 64 KiB read with prefixes, under 70,200 bytes);
/// 2. 120 lines of 1,000 bytes, each written on its own (1 ms apart) and so read as its
///    own chunk, use up that room (120,840 bytes > 70,200) until not even one of them
///    fits: the last of them are dropped;
/// 3. a 60,000-byte line, which cannot fit either, is dropped with nothing after it to
///    carry a notice.
fn overflow_script() -> String {
    format!(
        "M=$(printf %0999d 0); yes {} | head -c 20000000; \
         i=0; while [ $i -lt 120 ]; do echo $M; sleep 0.001; i=$((i+1)); done; \
         head -c 60000 /dev/zero | tr '\\\\0' b; echo",
        line()
    )
}

/// The bytes `overflow_script` makes tend pass through, with the `big  | ` prefix.
const OVERFLOW_BYTES: u64 = 200_000 * 107 + 120 * (7 + 999 + 1) + (7 + 60_000 + 1);

/// Start reading tend's stdout now.
fn read_stdout(stdout: ChildStdout) -> Lines {
    Lines::spawn(stdout)
}

/// 100 MiB through a stdout nobody reads: the service finishes in seconds, the overflow
/// is dropped, and once tend's stdout flows again a notice in the service's stream
/// accounts for every byte that did not arrive.
#[test]
fn a_slow_stdout_never_blocks_a_service_and_drops_are_counted() {
    let dir = TestDir::new("output-slow-stdout");
    let total = 100 * MIB;
    let cfg = format!(
        "[service.big]\n\
         command = \"yes {l} | head -c {total}; touch {d}/written; \
                    while [ ! -e {d}/go ]; do sleep 0.02; done; echo after-drain\"\n\
         restart = \"never\"\n\
         [service.keep]\ncommand = [\"sleep\", \"1000\"]\n",
        d = dir.s(),
        l = line()
    );
    let mut tend = Tend::start_with(&dir, &cfg, support::Opts { raw_stdout: true, ..Default::default() });
    let stdout = tend.take_stdout();
    let t0 = Instant::now();
    // Nobody reads tend's stdout: a blocked service would never get here.
    wait_until(DEADLINE, "the service to write 100 MiB while tend's stdout is not read", || {
        dir.join("written").exists()
    });
    let took = t0.elapsed();
    eprintln!("100 MiB written in {took:?} with tend's stdout unread");
    // Now read, and let the service say one more line.
    let out = read_stdout(stdout);
    dir.write("go", "");
    let done = out.wait_for(DEADLINE, |l| l == "big  | after-drain");
    assert!(done.is_some(), "no line after the drain\n{}", tend.dump());
    let lines = out.snapshot();
    let t = tally(&lines, "big", &["after-drain"]);
    let expected_bytes = (total / 100) * (7 + 100); // "big  | " + 100-byte line
    assert!(t.lines > 0, "nothing of the 100 MiB got through");
    assert_eq!(t.bytes % 107, 0, "a line was cut: {} bytes", t.bytes);
    assert!(!t.notices.is_empty(), "no drop notice on tend's stdout");
    for n in &t.notices {
        assert!(n.ends_with("bytes of output: tend's stdout was not keeping up]"), "{n:?}");
    }
    assert!(t.dropped >= (total - 8 * MIB) as u64, "only {} bytes dropped out of {total}", t.dropped);
    assert_eq!(
        t.bytes as u64 + t.dropped,
        expected_bytes as u64,
        "passed through {} + dropped {} != produced {expected_bytes} ({} lines)",
        t.bytes,
        t.dropped,
        t.lines
    );
    // The notice comes before the line that followed the drop.
    let notice_at = lines.iter().position(|l| *l == t.notices[0]).expect("notice");
    let after_at = lines.iter().position(|l| l == "big  | after-drain").expect("after");
    assert!(notice_at < after_at, "the notice came after the next line");
    tend.signal(libc::SIGTERM);
    assert_eq!(tend.exit_code(), 0, "{}", tend.dump());
    tend.assert_no_leftovers();
}

/// The notice belongs to the stream that overflowed: a service whose stdout overflowed
/// and which then writes to stderr (which never overflowed) must not get a notice on
/// stderr, and the stdout notice must appear when its stdout flows again.
#[test]
fn the_drop_notice_names_and_goes_to_the_stream_that_overflowed() {
    let dir = TestDir::new("output-notice-stream");
    let cfg = format!(
        "[service.big]\n\
         command = \"{script}; echo on-stderr >&2; touch {d}/written; \
                    while [ ! -e {d}/go ]; do sleep 0.02; done; echo after-drain\"\n\
         restart = \"never\"\n\
         [service.keep]\ncommand = [\"sleep\", \"1000\"]\n",
        d = dir.s(),
        script = overflow_script()
    );
    let mut tend = Tend::start_with(&dir, &cfg, support::Opts { raw_stdout: true, ..Default::default() });
    let stdout = tend.take_stdout();
    wait_until(DEADLINE, "the service to overflow tend's stdout", || dir.join("written").exists());
    tend.wait_err("big  | on-stderr");
    let out = read_stdout(stdout);
    dir.write("go", "");
    assert!(out.wait_for(DEADLINE, |l| l == "big  | after-drain").is_some(), "{}", tend.dump());
    tend.signal(libc::SIGTERM);
    assert_eq!(tend.exit_code(), 0, "{}", tend.dump());
    let on_stderr = tend.err.matching(|l| l.contains("[tend: dropped"));
    let t = tally(&out.snapshot(), "big", &["after-drain"]);
    assert!(
        on_stderr.is_empty(),
        "tend's stderr never overflowed, yet it got a drop notice: {on_stderr:?}; notices on stdout: {:?}",
        t.notices
    );
    assert_eq!(t.bytes as u64 + t.dropped, OVERFLOW_BYTES, "bytes unaccounted for on stdout: {:?}", t.notices);
    for n in &t.notices {
        assert!(n.ends_with("tend's stdout was not keeping up]"), "{n:?}");
    }
}

/// A service that overflows tend's stdout and then exits without writing anything else:
/// its drops must still be reported once tend's stdout flows again.
#[test]
fn drops_at_the_end_of_a_services_output_are_reported() {
    let dir = TestDir::new("output-notice-at-exit");
    let cfg = format!(
        "[service.big]\ncommand = \"{script}\"\nrestart = \"never\"\n\
         [service.keep]\ncommand = [\"sleep\", \"1000\"]\n",
        script = overflow_script()
    );
    let mut tend = Tend::start_with(&dir, &cfg, support::Opts { raw_stdout: true, ..Default::default() });
    let stdout = tend.take_stdout();
    tend.wait_transition("big", "exited");
    let out = read_stdout(stdout);
    let complete = support::poll_until(Duration::from_secs(3), || {
        let t = tally(&out.snapshot(), "big", &[]);
        t.bytes as u64 + t.dropped == OVERFLOW_BYTES
    });
    let t = tally(&out.snapshot(), "big", &[]);
    tend.signal(libc::SIGTERM);
    assert_eq!(tend.exit_code(), 0, "{}", tend.dump());
    assert!(
        complete,
        "{} bytes passed through and {} reported dropped of {OVERFLOW_BYTES}: the last {} bytes dropped \
         were never reported (notices on stdout: {:?}; on stderr: {:?})",
        t.bytes,
        t.dropped,
        OVERFLOW_BYTES.saturating_sub(t.bytes as u64 + t.dropped),
        t.notices,
        tend.err.matching(|l| l.contains("[tend: dropped"))
    );
}

/// With `log.backpressure = true` the service waits for tend's stdout instead: it does not
/// finish while nobody reads, and nothing is lost.
#[test]
fn backpressure_blocks_the_service_and_loses_nothing() {
    let dir = TestDir::new("output-backpressure");
    let lines = 160_000; // 16 MB: more than the queue and the pipes hold
    let cfg = format!(
        "[service.big]\ncommand = \"yes {l} | head -n {lines}; touch {d}/written\"\nrestart = \"never\"\n\
         log = {{ backpressure = true }}\n\
         [service.keep]\ncommand = [\"sleep\", \"1000\"]\n",
        d = dir.s(),
        l = line()
    );
    let mut tend = Tend::start_with(&dir, &cfg, support::Opts { raw_stdout: true, ..Default::default() });
    let stdout = tend.take_stdout();
    tend.wait_transition("big", "running");
    std::thread::sleep(Duration::from_millis(1500));
    assert!(!dir.join("written").exists(), "the service finished although tend's stdout was not read");
    let out = read_stdout(stdout);
    wait_until(DEADLINE, "the service to finish once tend's stdout is read", || dir.join("written").exists());
    tend.wait_transition("big", "exited");
    let complete = support::poll_until(DEADLINE, || tally(&out.snapshot(), "big", &[]).lines == lines);
    let t = tally(&out.snapshot(), "big", &[]);
    assert!(complete, "{} of {lines} lines arrived", t.lines);
    assert_eq!(t.dropped, 0, "drops with backpressure: {:?}", t.notices);
    tend.signal(libc::SIGTERM);
    assert_eq!(tend.exit_code(), 0, "{}", tend.dump());
    tend.assert_no_leftovers();
}
