//! A deadline heap: the loop's poll timeout is the time to the nearest entry.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

/// What a timer is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Timer {
    /// A service's state-machine timer (backoff, stop timeout), by index and generation.
    Service { idx: usize, gen: u64 },
    /// A service's probe is due, or the one in flight timed out (by generation).
    Probe { idx: usize, gen: u64 },
    /// A service's watchdog deadline may have passed (by generation).
    Watchdog { idx: usize, gen: u64 },
    /// Look again whether leftover process groups are empty.
    GroupPoll,
    /// Once a second: RSS budgets.
    RssTick,
    /// The shutdown deadline: SIGKILL whatever is left.
    ShutdownDeadline,
    /// Orphans left at the end of shutdown were sent SIGTERM; now SIGKILL.
    OrphanKill,
    /// Stop waiting and exit.
    ForceExit,
    /// Accepting on the control socket failed (no fds): try again.
    AcceptRetry,
    /// Close control connections stuck with no hello or half a frame.
    ControlSweep,
    /// Once a second while the ingress has a listener or connections: idle timeouts.
    IngressSweep,
    /// A job's timeout, for one attempt (stale once another attempt started).
    JobTimeout { job: u64, attempt: u32 },
}

#[derive(Default)]
pub struct Timers {
    heap: BinaryHeap<Reverse<(Instant, u64, Timer)>>,
    seq: u64,
}

impl Timers {
    pub fn add(&mut self, at: Instant, t: Timer) {
        self.seq += 1;
        self.heap.push(Reverse((at, self.seq, t)));
    }

    /// Time until the nearest deadline (zero if one is due), or None if there is none.
    pub fn timeout(&self, now: Instant) -> Option<Duration> {
        self.heap.peek().map(|Reverse((at, _, _))| at.saturating_duration_since(now))
    }

    /// Remove and return every timer due at `now`.
    pub fn expired(&mut self, now: Instant) -> Vec<Timer> {
        let mut out = Vec::new();
        while let Some(Reverse((at, _, _))) = self.heap.peek() {
            if *at > now {
                break;
            }
            if let Some(Reverse((_, _, t))) = self.heap.pop() {
                out.push(t);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_first() {
        let now = Instant::now();
        let mut t = Timers::default();
        assert_eq!(t.timeout(now), None);
        t.add(now + Duration::from_secs(2), Timer::RssTick);
        t.add(now + Duration::from_secs(1), Timer::GroupPoll);
        assert_eq!(t.timeout(now), Some(Duration::from_secs(1)));
        assert_eq!(t.expired(now + Duration::from_millis(1500)), vec![Timer::GroupPoll]);
        assert_eq!(t.expired(now + Duration::from_secs(3)), vec![Timer::RssTick]);
        assert!(t.expired(now + Duration::from_secs(9)).is_empty());
    }
}
