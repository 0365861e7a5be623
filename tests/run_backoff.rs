//! Restart backoff, measured from tend's own event time stamps: the gap between a
//! service's exit (`running->backoff`) and its next start (`backoff->starting`) is at
//! least the configured delay, grows by `factor`, stops at `max`, starts again from
//! `initial` after a run that lasted `reset_after`, and stays within `jitter`.

mod support;

use std::time::Duration;

use support::{Tend, TestDir, Transition};

/// Slack for the time between tend computing a deadline and stamping the exit event
/// (both happen in the same loop iteration, microseconds apart).
const STAMP_SLACK_US: i64 = 1_000;

/// The `n` first (exit, restart) event pairs of `service`.
fn restarts(tend: &Tend, service: &str, n: usize) -> Vec<(Transition, Transition)> {
    (1..=n)
        .map(|i| {
            let start = tend.wait_transition_n(service, "starting", i + 1);
            assert_eq!(start.from, "backoff", "{start:?}");
            let exit = tend.wait_transition_n(service, "backoff", i);
            assert!(exit.micros <= start.micros, "{exit:?} after {start:?}");
            (exit, start)
        })
        .collect()
}

/// The delay announced in "...; restarting in 123.4ms".
fn announced(t: &Transition) -> Duration {
    let s = t.reason.rsplit_once("restarting in ").unwrap_or_else(|| panic!("no delay in {t:?}")).1;
    let (num, scale) = if let Some(n) = s.strip_suffix("ms") {
        (n, 1e-3)
    } else if let Some(n) = s.strip_suffix("µs") {
        (n, 1e-6)
    } else if let Some(n) = s.strip_suffix("ns") {
        (n, 1e-9)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1.0)
    } else {
        panic!("unknown unit in {t:?}")
    };
    Duration::from_secs_f64(num.parse::<f64>().unwrap_or_else(|e| panic!("{t:?}: {e}")) * scale)
}

fn gap_us(pair: &(Transition, Transition)) -> i64 {
    pair.1.micros - pair.0.micros
}

#[test]
fn delay_grows_by_factor() {
    let dir = TestDir::new("backoff-grows");
    let cfg = "[service.crasher]\ncommand = \"exit 1\"\nrestart = \"always\"\n\
               backoff = { initial = \"100ms\", factor = 2, max = \"10s\" }\nstart_limit = { burst = 0 }\n";
    let mut tend = Tend::start(&dir, cfg);
    let pairs = restarts(&tend, "crasher", 4);
    tend.signal(libc::SIGTERM);
    let expected_ms = [100, 200, 400, 800];
    let gaps: Vec<i64> = pairs.iter().map(gap_us).collect();
    for (i, (pair, want)) in pairs.iter().zip(expected_ms).enumerate() {
        assert!(
            pair.0.reason.ends_with(&format!("restarting in {want}ms")),
            "restart {i}: expected a {want}ms delay: {:?}",
            pair.0
        );
        let gap = gaps[i];
        assert!(gap >= want * 1000 - STAMP_SLACK_US, "restart {i}: gap {gap}µs < {want}ms; gaps {gaps:?}");
        // Generous: a loaded machine may be late, never early.
        assert!(gap <= want * 1500 + 300_000, "restart {i}: gap {gap}µs far above {want}ms; gaps {gaps:?}");
    }
    for w in gaps.windows(2) {
        assert!(w[1] > w[0], "gaps do not grow: {gaps:?}");
    }
    assert_eq!(tend.exit_code(), 0, "{}", tend.dump());
    tend.assert_no_leftovers();
}

#[test]
fn delay_is_capped_and_reset_after_a_long_run() {
    let dir = TestDir::new("backoff-cap-reset");
    // Runs 1-3 and 5-6 fail at once; run 4 lasts 600ms, longer than reset_after.
    let cfg = format!(
        "[service.crasher]\n\
         command = \"n=$(cat {d}/n 2>/dev/null || echo 0); n=$((n+1)); echo $n > {d}/n; \
                    if [ $n -eq 4 ]; then sleep 0.6; fi; exit 1\"\n\
         restart = \"on-failure\"\n\
         backoff = {{ initial = \"50ms\", factor = 4, max = \"200ms\", reset_after = \"400ms\" }}\n\
         start_limit = {{ burst = 0 }}\n",
        d = dir.s()
    );
    let mut tend = Tend::start(&dir, &cfg);
    let pairs = restarts(&tend, "crasher", 5);
    tend.signal(libc::SIGTERM);
    // 50ms, 50*4 = 200ms, 800ms capped to 200ms, (long run: reset) 50ms, 200ms.
    let expected_ms: [i64; 5] = [50, 200, 200, 50, 200];
    let announced_ms: Vec<i64> = pairs.iter().map(|p| announced(&p.0).as_millis() as i64).collect();
    assert_eq!(announced_ms, expected_ms, "announced delays\n{}", tend.dump());
    for (i, (pair, want)) in pairs.iter().zip(expected_ms).enumerate() {
        let gap = gap_us(pair);
        assert!(gap >= want * 1000 - STAMP_SLACK_US, "restart {i}: gap {gap}µs < {want}ms");
        assert!(gap <= want * 1500 + 300_000, "restart {i}: gap {gap}µs far above {want}ms");
    }
    assert_eq!(tend.exit_code(), 0, "{}", tend.dump());
    tend.assert_no_leftovers();
}

#[test]
fn jitter_stays_within_its_range() {
    let dir = TestDir::new("backoff-jitter");
    let cfg = "[service.crasher]\ncommand = \"exit 1\"\nrestart = \"always\"\n\
               backoff = { initial = \"100ms\", factor = 1, max = \"100ms\", jitter = 0.5 }\n\
               start_limit = { burst = 0 }\n";
    let mut tend = Tend::start(&dir, cfg);
    let pairs = restarts(&tend, "crasher", 6);
    tend.signal(libc::SIGTERM);
    let delays: Vec<Duration> = pairs.iter().map(|p| announced(&p.0)).collect();
    for (pair, d) in pairs.iter().zip(&delays) {
        assert!(
            (Duration::from_millis(50)..=Duration::from_millis(150)).contains(d),
            "delay {d:?} outside 100ms ± 50%: {delays:?}"
        );
        let gap = gap_us(pair);
        assert!(gap >= d.as_micros() as i64 - STAMP_SLACK_US, "gap {gap}µs shorter than the announced {d:?}");
    }
    let mut unique = delays.clone();
    unique.sort();
    unique.dedup();
    assert!(unique.len() > 1, "jitter = 0.5 gave the same delay 6 times: {delays:?}");
    assert_eq!(tend.exit_code(), 0, "{}", tend.dump());
    tend.assert_no_leftovers();
}
