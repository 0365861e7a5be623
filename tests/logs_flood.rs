//! A service writing flat out does not starve anyone: while two services flood their
//! stdout (one, three writers on one pipe, into the ring buffer only; one into a
//! rotated log file), `tend status` answers promptly, again and again, and both floods
//! keep flowing.

mod support;

use std::time::{Duration, Instant};

use support::{ctl, start_serving, status_json, TestDir};

/// Far above a status round trip (about a millisecond), on a loaded machine too: what
/// starving looks like is no answer at all until a flood ends, and these never end.
const PROMPT: Duration = Duration::from_secs(3);

#[test]
fn a_flood_does_not_starve_the_control_socket() {
    let dir = TestDir::new("logs-flood");
    let cfg = format!(
        "log_dir = \"{d}/logs\"\n\
         [service.zeros]\ncommand = \"cat /dev/zero & cat /dev/zero & exec cat /dev/zero\"\nstdout = \"capture\"\n\
         [service.lines]\ncommand = [\"yes\", \"a line of a flood\"]\nstdout = \"capture\"\n\
         log = {{ file = true, max_size = \"1MiB\", keep = 1 }}\n",
        d = dir.s()
    );
    let tend = start_serving(&dir, &cfg);
    let read = |name: &str| status_json(&dir, name)["stdout_bytes"].as_u64().unwrap_or(0);
    let first = [read("zeros"), read("lines")];
    let mut slowest = Duration::ZERO;
    for i in 0..20 {
        let name = ["zeros", "lines"][i % 2];
        let t = Instant::now();
        let o = ctl(&dir, &["status", name]);
        let took = t.elapsed();
        assert_eq!(o.code, Some(0), "status {name} during the flood\n{}\n{}", o.show(), tend.dump());
        assert!(o.out.contains("running"), "{}", o.show());
        slowest = slowest.max(took);
    }
    assert!(slowest < PROMPT, "a status took {slowest:?} during the flood");
    // Both floods flowed all along: tend read on between the answers.
    let last = [read("zeros"), read("lines")];
    for (i, name) in ["zeros", "lines"].iter().enumerate() {
        assert!(last[i] > first[i] + (1 << 20), "{name}: {} then {} bytes read", first[i], last[i]);
    }
    // (lines.log may be between a rotation and the next write.)
    assert!(dir.join("logs/lines.log.1").exists(), "the log file was never rotated");
    eprintln!("slowest status during the flood: {slowest:?}; read {:?} -> {last:?}", first);
}
