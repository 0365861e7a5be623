//! `drain = true`: a stop, restart or shutdown of a service waits until the forwarded
//! requests it has in flight are answered (at most `drain_timeout`, else its request
//! timeout) before the stop signal goes out. Meanwhile the service is *draining*: new
//! requests are answered "not available" (503), and `tend status` shows it.

use std::time::Instant;

use crate::daemon::service::{Event, State};
use crate::daemon::supervisor::Supervisor;
use crate::daemon::timers::Timer;
use crate::proto::msg::EventInfo;

/// A stop held back while requests finish.
#[derive(Clone, Copy, Debug)]
pub struct Drain {
    /// What to feed once drained: Stop, Restart or Shutdown.
    pub ev: Event,
    pub until: Instant,
    pub gen: u64,
}

/// The event a pending drain ends with when another arrives: a stop or a shutdown
/// wins over a restart.
fn stronger(old: Event, new: Event) -> Event {
    match (old, new) {
        (Event::Shutdown, _) | (_, Event::Shutdown) => Event::Shutdown,
        (Event::Stop, _) | (_, Event::Stop) => Event::Stop,
        _ => new,
    }
}

impl Supervisor {
    /// Forwarded requests of service `idx` not finished yet.
    pub(super) fn in_flight(&self, idx: usize) -> usize {
        self.gw.jobs.values().filter(|p| p.svc == idx).count()
    }

    pub(super) fn draining(&self, idx: usize) -> bool {
        self.svcs.get(idx).is_some_and(|s| s.drain.is_some())
    }

    /// Feed `ev` (Stop, Restart or Shutdown) to service `idx`, after its requests in
    /// flight finish if it has `drain = true`.
    pub(super) fn stop_after_drain(&mut self, idx: usize, ev: Event) {
        if let Some(d) = &mut self.svcs[idx].drain {
            d.ev = stronger(d.ev, ev);
            return;
        }
        let s = &self.svcs[idx];
        let n = if s.cfg.drain && s.m.state == State::Running { self.in_flight(idx) } else { 0 };
        if n == 0 {
            return self.feed(idx, ev);
        }
        let s = &self.svcs[idx];
        let limit = s.cfg.drain_timeout.or(s.cfg.request_timeout).unwrap_or(self.cfg.forward.request_timeout);
        let until = Instant::now() + limit;
        self.drain_gen += 1;
        let gen = self.drain_gen;
        self.svcs[idx].drain = Some(Drain { ev, until, gen });
        self.timers.add(until, Timer::Drain { idx, gen });
        let name = self.svcs[idx].cfg.name.clone();
        let line = format!(
            "{name} draining: {n} request(s) in flight, stopping once they finish (at most {:.3}s)",
            limit.as_secs_f64()
        );
        let ev = EventInfo {
            service: name,
            kind: "drain".into(),
            reason: line.clone(),
            requestor: self.requestor.clone(),
            ..Default::default()
        };
        self.announce(&line, ev);
    }

    /// A request of service `idx` finished, or (`gen`) its drain deadline passed: end
    /// the drain once nothing is in flight or time is up.
    pub(super) fn drain_check(&mut self, idx: usize, gen: Option<u64>) {
        let Some(d) = self.svcs.get(idx).and_then(|s| s.drain) else { return };
        let expired = match gen {
            Some(g) if g != d.gen => return,
            Some(_) => true,
            None => false,
        };
        let left = self.in_flight(idx);
        if left > 0 && !expired {
            return;
        }
        self.svcs[idx].drain = None;
        let name = self.svcs[idx].cfg.name.clone();
        if left > 0 {
            self.note(&format!("{name}: drain_timeout reached with {left} request(s) in flight: stopping anyway"));
        }
        self.feed(idx, d.ev);
        self.check_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_and_shutdown_win_over_restart() {
        assert_eq!(stronger(Event::Restart, Event::Stop), Event::Stop);
        assert_eq!(stronger(Event::Stop, Event::Restart), Event::Stop);
        assert_eq!(stronger(Event::Restart, Event::Shutdown), Event::Shutdown);
        assert_eq!(stronger(Event::Restart, Event::Restart), Event::Restart);
    }
}
