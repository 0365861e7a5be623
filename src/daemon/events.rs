//! tend's event history: a bounded, sequence-numbered record of state changes and of
//! what clients asked for, served to `tend events` and to subscribers.

use std::collections::VecDeque;

use crate::proto::msg::EventInfo;

pub struct EventLog {
    buf: VecDeque<EventInfo>,
    cap: usize,
    /// Sequence number the next event gets; the first is 1.
    next: u64,
}

impl EventLog {
    pub fn new(cap: usize) -> Self {
        EventLog { buf: VecDeque::new(), cap: cap.max(1), next: 1 }
    }

    /// Record an event (its `seq` is assigned here); returns the stored copy.
    pub fn push(&mut self, mut ev: EventInfo) -> &EventInfo {
        ev.seq = self.next;
        self.next += 1;
        if self.buf.len() == self.cap {
            self.buf.pop_front();
        }
        self.buf.push_back(ev);
        // Just pushed: the deque is not empty.
        &self.buf[self.buf.len() - 1]
    }

    pub fn set_cap(&mut self, cap: usize) {
        self.cap = cap.max(1);
        while self.buf.len() > self.cap {
            self.buf.pop_front();
        }
    }

    pub fn next_seq(&self) -> u64 {
        self.next
    }

    /// The oldest retained sequence number (`next_seq` when empty).
    pub fn oldest(&self) -> u64 {
        self.buf.front().map(|e| e.seq).unwrap_or(self.next)
    }

    /// Retained events with `seq >= from`, oldest first, and the range `from..oldest`
    /// that was asked for but evicted (empty when nothing was).
    pub fn since(&self, from: u64) -> (impl Iterator<Item = &EventInfo>, std::ops::Range<u64>) {
        let oldest = self.oldest();
        let skip = from.saturating_sub(oldest).min(self.buf.len() as u64) as usize;
        let evicted = if from < oldest { from.max(1)..oldest } else { 0..0 };
        (self.buf.iter().skip(skip), evicted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(reason: &str) -> EventInfo {
        EventInfo {
            seq: 0,
            ts: String::new(),
            service: "s".into(),
            job: None,
            kind: "state".into(),
            from: String::new(),
            to: String::new(),
            reason: reason.into(),
            exit: None,
            requestor: None,
            output: vec![],
        }
    }

    #[test]
    fn bounded_with_increasing_sequence_numbers() {
        let mut l = EventLog::new(3);
        for i in 0..5 {
            assert_eq!(l.push(ev(&i.to_string())).seq, i + 1);
        }
        assert_eq!(l.oldest(), 3);
        assert_eq!(l.next_seq(), 6);
        let (it, evicted) = l.since(1);
        assert_eq!(it.map(|e| e.seq).collect::<Vec<_>>(), [3, 4, 5]);
        assert_eq!(evicted, 1..3);
        let (it, evicted) = l.since(4);
        assert_eq!(it.map(|e| e.seq).collect::<Vec<_>>(), [4, 5]);
        assert!(evicted.is_empty());
        let (it, evicted) = l.since(99);
        assert_eq!(it.count(), 0);
        assert!(evicted.is_empty());
        let (it, evicted) = l.since(0);
        assert_eq!(it.count(), 3);
        assert_eq!(evicted, 1..3);
    }

    #[test]
    fn empty_log() {
        let l = EventLog::new(10);
        let (it, evicted) = l.since(1);
        assert_eq!(it.count(), 0);
        assert!(evicted.is_empty());
        assert_eq!(l.oldest(), 1);
    }
}
