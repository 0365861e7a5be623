//! `tend top`: the live view in a real terminal (a tmux pane: send-keys in,
//! capture-pane out) — sorting keys, fitting the width and height through resizes,
//! quitting on q, Ctrl-C and SIGTERM with the terminal given back as it was (modes,
//! main screen, cursor) — and the one-shot table (text and JSON) when stdout is not a
//! terminal, including a request rate from a daemon that reports a `requests` counter.
//!
//! The tmux tests need tmux (`scripts/deps.sh test` installs it); without it they say
//! so on stderr and pass without checking anything.

mod support;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::*;

/// A busy loop, a sleeper and a service that failed, under names that sort
/// differently from the configuration's order.
const THREE: &str = "[service.idle]\ncommand = \"exec sleep 1000\"\n\
                     [service.busy]\ncommand = \"while :; do :; done\"\n\
                     [service.done]\ncommand = \"exit 3\"\nrestart = \"never\"\n";

// --- tmux --------------------------------------------------------------------------

/// A tmux server of one test: its own socket in the test dir, no configuration file,
/// one session `top` running `sh` in a pane of the given size. Killed on drop (its
/// processes also carry the test marker).
struct Tmux {
    sock: PathBuf,
}

impl Tmux {
    /// None (after saying why) when tmux is not installed.
    fn start(dir: &TestDir, test: &str, w: u32, h: u32) -> Option<Tmux> {
        if Command::new("tmux").arg("-V").output().map(|o| !o.status.success()).unwrap_or(true) {
            skip(test, "tmux is not installed (scripts/deps.sh test installs it)");
            return None;
        }
        let t = Tmux { sock: dir.join("tmux.sock") };
        let mut c = t.cmd(&["new-session", "-d", "-s", "top", "-x", &w.to_string(), "-y", &h.to_string(), "sh"]);
        c.current_dir(dir.path());
        c.env(MARKER_VAR, dir.s()).env("TEND_SOCKET", dir.join("tend.sock")).env("PS1", "$ ");
        let o = c.output().expect("running tmux");
        assert!(o.status.success(), "tmux new-session failed: {}", String::from_utf8_lossy(&o.stderr));
        // Typed before the prompt, a line would be echoed above it, and the prompt
        // would end up where top's output is expected.
        t.wait_screen("the shell's prompt", |s| !s.is_empty());
        Some(t)
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new("tmux");
        c.arg("-S").arg(&self.sock).args(["-f", "/dev/null"]).args(args);
        c.stdin(Stdio::null());
        c
    }

    #[track_caller]
    fn run(&self, args: &[&str]) -> String {
        let o = self.cmd(args).output().expect("running tmux");
        assert!(o.status.success(), "tmux {args:?} failed: {}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// Keys by tmux name (`q`, `C-c`, `Right`).
    fn keys(&self, keys: &[&str]) {
        let mut a = vec!["send-keys", "-t", "top"];
        a.extend_from_slice(keys);
        self.run(&a);
    }

    /// Type a command line and press Enter.
    fn type_line(&self, line: &str) {
        self.run(&["send-keys", "-t", "top", "-l", line]);
        self.keys(&["Enter"]);
    }

    /// The visible pane, one string per line, trailing blanks dropped.
    fn screen(&self) -> Vec<String> {
        let text = self.run(&["capture-pane", "-p", "-t", "top"]);
        let mut lines: Vec<String> = text.lines().map(|l| l.trim_end().to_string()).collect();
        while lines.last().is_some_and(|l| l.is_empty()) {
            lines.pop();
        }
        lines
    }

    /// A tmux format of the pane: `#{alternate_on}`, `#{cursor_flag}`.
    fn pane(&self, format: &str) -> String {
        self.run(&["display-message", "-p", "-t", "top", format]).trim().to_string()
    }

    fn resize(&self, w: u32, h: u32) {
        self.run(&["resize-window", "-t", "top", "-x", &w.to_string(), "-y", &h.to_string()]);
    }

    /// Wait until the screen satisfies `pred`; returns it.
    #[track_caller]
    fn wait_screen(&self, what: &str, pred: impl Fn(&[String]) -> bool) -> Vec<String> {
        let mut last = Vec::new();
        let ok = poll_until(DEADLINE, || {
            last = self.screen();
            pred(&last)
        });
        assert!(ok, "timed out waiting for {what}; the screen:\n{}", last.join("\n"));
        last
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]).output();
    }
}

/// The table on a screen: each row's cells by column name (cells hold no spaces here).
fn table(lines: &[String]) -> Vec<HashMap<String, String>> {
    let Some(h) = lines.iter().position(|l| l.starts_with("NAME ")) else { return Vec::new() };
    let cols: Vec<&str> = lines[h].split_whitespace().collect();
    lines[h + 1..]
        .iter()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .take_while(|cells| cells.len() == cols.len())
        .map(|cells| cols.iter().zip(cells).map(|(c, v)| (c.to_string(), v.to_string())).collect())
        .collect()
}

fn names(t: &[HashMap<String, String>]) -> Vec<String> {
    t.iter().map(|r| r["NAME"].clone()).collect()
}

fn cpu(t: &[HashMap<String, String>], name: &str) -> Option<f64> {
    t.iter().find(|r| r["NAME"] == name)?.get("CPU%")?.parse().ok()
}

fn title(s: &[String]) -> String {
    s.iter().find(|l| l.starts_with("sort: ")).cloned().unwrap_or_default()
}

/// The shell's terminal modes before and after top, as files in the test dir, and
/// top's exit status as `top-exit=N` (written so that the typed line does not hold
/// that text itself).
fn stty_line(dir: &TestDir, top_args: &str) -> String {
    format!(
        "stty -g > {d}/stty.before; {TEND} top {top_args}; echo \"top-ex\"\"it=$?\"; stty -g > {d}/stty.after",
        d = dir.s()
    )
}

/// top has exited with `code`, and the terminal is as it was: same modes, main screen,
/// cursor shown.
#[track_caller]
fn assert_restored(tmux: &Tmux, dir: &TestDir, code: i32) {
    // (After the prompt when the line was typed ahead of it: the shell's prompt came
    // after the echo of the typed line, and top's cursor went back there.)
    let s = tmux.wait_screen("top to exit", |s| s.iter().any(|l| l.contains("top-exit=")));
    let exit = s.iter().find_map(|l| l.split("top-exit=").nth(1)).unwrap_or_default();
    assert_eq!(exit, code.to_string(), "top's exit status:\n{}", s.join("\n"));
    wait_until(DEADLINE, "stty.after", || dir.read("stty.after").ends_with('\n'));
    assert_eq!(dir.read("stty.before"), dir.read("stty.after"), "terminal modes not restored");
    assert_eq!(tmux.pane("#{alternate_on}"), "0", "still on the alternate screen");
    assert_eq!(tmux.pane("#{cursor_flag}"), "1", "cursor still hidden");
    assert!(!s.iter().any(|l| l.contains("| q quit")), "top's screen left on the main screen:\n{}", s.join("\n"));
}

#[test]
fn live_view_sorts_on_keys_and_quits_on_q() {
    let dir = TestDir::new("top-keys");
    let _tend = start_serving(&dir, THREE);
    let Some(tmux) = Tmux::start(&dir, "live_view_sorts_on_keys_and_quits_on_q", 120, 30) else { return };
    tmux.type_line("echo marker-before");
    tmux.wait_screen("the marker", |s| s.iter().any(|l| l == "marker-before"));
    tmux.type_line(&stty_line(&dir, "--sort name"));

    let s = tmux.wait_screen("the first screen", |s| names(&table(s)) == ["busy", "done", "idle"]);
    let t = title(&s);
    assert!(t.starts_with("sort: name ascending | 3 services: 2 running, 1 failed | q quit"), "{t:?}");
    assert_eq!(tmux.pane("#{alternate_on}"), "1", "not on the alternate screen");
    assert_eq!(tmux.pane("#{cursor_flag}"), "0", "cursor not hidden");
    let header = s.iter().find(|l| l.starts_with("NAME ")).expect("header");
    let cols: Vec<&str> = header.split_whitespace().collect();
    assert_eq!(cols, ["NAME", "STATE", "PID", "UPTIME", "RESTARTS", "CPU%", "RSS", "READY", "HEALTH", "REQ/S"]);
    let row = |s: &[String], n: &str| table(s).into_iter().find(|r| r["NAME"] == n).expect("row");
    let done = row(&s, "done");
    assert_eq!((done["STATE"].as_str(), done["PID"].as_str(), done["READY"].as_str()), ("failed", "-", "no"));
    assert_eq!(row(&s, "idle")["READY"], "yes");
    // No daemon here counts requests: a dash, not a made-up zero.
    assert!(table(&s).iter().all(|r| r["REQ/S"] == "-"), "{s:?}");

    // CPU % from the cpu_ms difference between refreshes: the busy loop burns, the
    // sleeper does not, the failed service has no process.
    let s = tmux.wait_screen("CPU % of the busy loop", |s| cpu(&table(s), "busy").is_some_and(|c| c > 0.0));
    assert_eq!(cpu(&table(&s), "idle"), Some(0.0), "{s:?}");
    assert_eq!(row(&s, "done")["CPU%"], "-");

    tmux.keys(&["c"]);
    // (A refresh on a loaded machine may see no CPU tick for the busy loop, and a tie
    // keeps the configuration's order: wait for a screen that shows it.)
    tmux.wait_screen("sort by CPU, the busy loop first", |s| {
        title(s).starts_with("sort: cpu descending") && names(&table(s)) == ["busy", "idle", "done"]
    });
    tmux.keys(&["r"]);
    // Rows without a value stay last either way.
    tmux.wait_screen("reversed", |s| {
        title(s).starts_with("sort: cpu ascending") && names(&table(s)) == ["idle", "busy", "done"]
    });
    tmux.keys(&["s"]);
    let s = tmux.wait_screen("sort by state", |s| title(s).starts_with("sort: state trouble first"));
    assert_eq!(names(&table(&s))[0], "done", "{s:?}");
    tmux.keys(&["Right"]);
    tmux.wait_screen("the next column (arrow key)", |s| title(s).starts_with("sort: pid ascending"));
    tmux.keys(&["<", "<"]);
    tmux.wait_screen("two columns back", |s| title(s).starts_with("sort: name ascending"));

    tmux.keys(&["q"]);
    assert_restored(&tmux, &dir, 0);
    // The main screen is back as it was.
    let s = tmux.screen();
    assert!(s.iter().any(|l| l == "marker-before"), "{s:?}");
}

#[test]
fn live_view_fits_the_terminal_through_resizes_and_quits_on_ctrl_c() {
    let dir = TestDir::new("top-resize");
    let config = format!(
        "[service.worker]\ncommand = \"exec sleep 1000\"\ninstances = 12\n\
         [service.a-service-with-a-rather-long-name]\ncommand = \"exec sleep 1000\"\n# {}\n",
        dir.s()
    );
    let _tend = start_serving(&dir, &config);
    let Some(tmux) = Tmux::start(&dir, "live_view_fits_the_terminal_through_resizes", 120, 40) else { return };
    tmux.type_line(&stty_line(&dir, "--sort name"));

    let fits = |s: &[String], w: usize, h: usize| s.len() <= h && s.iter().all(|l| l.chars().count() <= w);
    let s = tmux.wait_screen("all 13 services", |s| table(s).len() == 13);
    assert!(fits(&s, 120, 40), "{s:?}");
    assert!(s.iter().any(|l| l.starts_with("NAME ") && l.ends_with("REQ/S")), "{s:?}");
    assert_eq!(names(&table(&s))[0], "a-service-with-a-rather-long-name");

    // Narrower and shorter: names cut, PID and REQ/S dropped first, rows that do not
    // fit counted on the last line.
    tmux.resize(70, 10);
    let s = tmux.wait_screen("the 70x10 screen", |s| s.last().is_some_and(|l| l.starts_with("... ")));
    assert!(fits(&s, 70, 10), "{s:?}");
    let header = s.iter().find(|l| l.starts_with("NAME ")).expect("header");
    assert!(!header.contains("PID") && !header.contains("REQ/S"), "{s:?}");
    assert!(header.contains("CPU%") && header.contains("RSS"), "{s:?}");
    let shown = table(&s).len();
    assert_eq!(s.last().expect("last line"), &format!("... {} more", 13 - shown), "{s:?}");
    assert!(names(&table(&s))[0].ends_with('~'), "a long name is not cut: {s:?}");

    tmux.resize(24, 8);
    let s = tmux.wait_screen("the 24x8 screen", |s| s.iter().any(|l| l.starts_with("NAME ") && !l.contains("RSS")));
    assert!(fits(&s, 24, 8), "{s:?}");
    assert!(s.iter().any(|l| l.starts_with("NAME ") && l.contains("STATE")), "{s:?}");

    tmux.resize(120, 40);
    let s = tmux.wait_screen("every column back", |s| s.iter().any(|l| l.starts_with("NAME ") && l.ends_with("REQ/S")));
    assert_eq!(table(&s).len(), 13, "{s:?}");

    tmux.keys(&["C-c"]);
    assert_restored(&tmux, &dir, 0);
}

#[test]
fn sigterm_ends_the_live_view_and_restores_the_terminal() {
    let dir = TestDir::new("top-sigterm");
    let _tend = start_serving(&dir, THREE);
    let Some(tmux) = Tmux::start(&dir, "sigterm_ends_the_live_view", 100, 20) else { return };
    let line = format!(
        "stty -g > {d}/stty.before; sh -c 'echo $$ > {d}/top.pid; exec {TEND} top'; echo \"top-ex\"\"it=$?\"; \
         stty -g > {d}/stty.after",
        d = dir.s()
    );
    tmux.type_line(&line);
    tmux.wait_screen("the first screen", |s| table(s).len() == 3);
    let top = dir.wait_pid("top.pid");
    assert!(kill(top, libc::SIGTERM));
    assert_restored(&tmux, &dir, 0);
}

// --- not a terminal -------------------------------------------------------------------

#[test]
fn one_shot_table_when_stdout_is_not_a_terminal() {
    let dir = TestDir::new("top-oneshot");
    let _tend = start_serving(&dir, THREE);
    wait_until(DEADLINE, "done to fail", || ctl(&dir, &["status", "done"]).out.contains("failed"));
    // CPU time comes in clock ticks: on a loaded machine one interval may see none.
    let mut o = ctl(&dir, &["top", "--sort", "name", "--interval", "300ms"]);
    let t0 = Instant::now();
    wait_until(DEADLINE, "a CPU figure for the busy loop", || {
        o = ctl(&dir, &["top", "--sort", "name", "--interval", "300ms"]);
        let lines: Vec<String> = o.out.lines().map(String::from).collect();
        cpu(&table(&lines), "busy").is_some_and(|c| c > 0.0)
    });
    assert!(t0.elapsed() >= Duration::from_millis(300), "the table did not wait one interval");
    assert_eq!(o.code, Some(0), "{}", o.show());
    assert!(!o.out.contains('\x1b'), "escape sequences in the table: {:?}", o.out);
    let lines: Vec<String> = o.out.lines().map(String::from).collect();
    assert!(lines[0].starts_with("NAME "), "{}", o.show());
    assert_eq!(names(&table(&lines)), ["busy", "done", "idle"], "{}", o.show());
    assert_eq!(lines.len(), 4, "{}", o.show());
    assert_eq!(cpu(&table(&lines), "idle"), Some(0.0));

    let o = ctl_ok(&dir, &["top", "--json", "--sort", "state", "--interval", "100ms"]);
    let v: serde_json::Value = serde_json::from_str(o.out.trim_end()).expect("JSON");
    let rows = v.as_array().expect("an array");
    let names: Vec<&str> = rows.iter().map(|r| r["name"].as_str().unwrap_or_default()).collect();
    assert_eq!(names, ["done", "idle", "busy"], "{}", o.show());
    assert_eq!(rows[0]["state"], "failed");
    assert!(rows[0]["pid"].is_null() && rows[0]["cpu_percent"].is_null(), "{}", o.show());
    assert!(rows[1]["cpu_percent"].is_number() && rows[1]["rss"].is_number(), "{}", o.show());
    assert!(rows.iter().all(|r| r["requests_per_s"].is_null()), "{}", o.show());
    assert_eq!(rows[1]["ready"], true);
}

#[test]
fn bad_arguments_and_no_daemon() {
    let dir = TestDir::new("top-errors");
    let o = ctl(&dir, &["top", "--sort", "colour"]);
    assert_eq!(o.code, Some(2), "{}", o.show());
    assert!(o.err.contains("unknown sort column \"colour\""), "{}", o.show());
    let o = ctl(&dir, &["top", "--interval", "10ms"]);
    assert_eq!(o.code, Some(2), "{}", o.show());
    assert!(o.err.contains("--interval 10ms: must be at least 100ms"), "{}", o.show());
    let o = ctl(&dir, &["top", "--interval", "soon"]);
    assert_eq!(o.code, Some(2), "{}", o.show());
    assert!(o.err.contains("invalid duration"), "{}", o.show());
    // No tend on the test's socket.
    let o = ctl(&dir, &["top"]);
    assert_eq!(o.code, Some(5), "{}", o.show());
    assert!(o.err.contains("not running"), "{}", o.show());
}

/// A stand-in daemon: answers the hello, then each LIST with one service whose
/// `requests` counter grows by 50 per LIST, a field tend's ServiceInfo does not have.
fn counting_daemon(listener: UnixListener) {
    use tend::proto::msg::{self, kind};
    let Ok((mut s, _)) = listener.accept() else { return };
    let mut dec = tend::proto::Decoder::new(1 << 20);
    let mut buf = [0u8; 4096];
    let mut count = 1000u64;
    loop {
        let f = match dec.next_frame() {
            Ok(Some(f)) => f,
            Ok(None) => match s.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    dec.push(&buf[..n]);
                    continue;
                }
            },
            Err(_) => return,
        };
        let mut out = Vec::new();
        match tend::proto::Request::decode(f.kind, &f.body) {
            Ok(tend::proto::Request::Hello(_)) => msg::encode(
                kind::WELCOME,
                &serde_json::json!({ "api": msg::API_VERSION, "version": "test", "pid": 1 }),
                &mut out,
            ),
            Ok(tend::proto::Request::List(p)) => {
                msg::encode(
                    kind::LIST_REPLY,
                    &serde_json::json!({ "id": p.id, "services": [
                        { "name": "api", "state": "running", "pid": 7, "cpu_ms": 0, "uptime_ms": 60000, "ready": true, "requests": count },
                        { "name": "db", "state": "running", "pid": 8, "cpu_ms": 0, "uptime_ms": 60000, "ready": true },
                    ] }),
                    &mut out,
                );
                count += 50;
            }
            _ => return,
        }
        if s.write_all(&out).is_err() {
            return;
        }
    }
}

#[test]
fn the_request_rate_comes_from_a_requests_counter_when_the_daemon_sends_one() {
    let dir = TestDir::new("top-requests");
    let sock = dir.join("tend.sock");
    let listener = UnixListener::bind(&sock).expect("bind");
    let daemon = std::thread::spawn(move || counting_daemon(listener));
    let o = ctl_ok(&dir, &["top", "--json", "--interval", "500ms"]);
    let _ = daemon.join();
    let v: serde_json::Value = serde_json::from_str(o.out.trim_end()).expect("JSON");
    // 50 requests in one interval of 500 ms (a little more, measured by the client).
    let rate = v[0]["requests_per_s"].as_f64().unwrap_or_else(|| panic!("no rate: {}", o.show()));
    assert!((60.0..=100.0).contains(&rate), "rate {rate}: {}", o.show());
    assert_eq!(v[0]["name"], "api");
    assert!(v[1]["requests_per_s"].is_null(), "{}", o.show());
}
