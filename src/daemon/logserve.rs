//! `tend logs` served from the rings: a LOGS request becomes a subscription (a
//! position in each requested ring), and `pump` sends what it has not sent yet as the
//! connection's queue makes room, both streams merged in the order tend read them.
//! Each LOG_DATA covers bytes read at one time and carries that time, so a client can
//! stamp and interleave lines.

use mio::Token;

use crate::daemon::control::{Conn, LogSub};
use crate::daemon::logview;
use crate::daemon::output::Ring;
use crate::daemon::supervisor::Supervisor;
use crate::proto::msg::{kind, End, ErrorCode, LogLost, LogsReq, Stream};

/// Largest LOG_DATA body sent at once.
const LOG_CHUNK: usize = 64 * 1024;

/// LOG_DATA with borrowed bytes (the same wire form as `LogData`).
#[derive(serde::Serialize)]
struct LogDataRef<'a> {
    id: u64,
    stream: Stream,
    #[serde(with = "serde_bytes")]
    data: &'a [u8],
    time_us: u64,
}

impl Supervisor {
    pub(super) fn logs(&mut self, token: Token, l: LogsReq) {
        let Some(idx) = self.find_unit(token, l.id, &l.service) else { return };
        if l.follow && l.until_us.is_some() {
            let msg = "until cannot be combined with follow: a follow has no end";
            self.control.error(token, l.id, ErrorCode::BadRequest, msg);
            return;
        }
        let wants = match l.stream {
            Stream::Stdout => [true, false],
            Stream::Stderr => [false, true],
            Stream::All => [true, true],
        };
        let svc = &self.svcs[idx];
        let rings = [&svc.out, &svc.err];
        let sel = rings.map(|r| logview::select(r, l.since_us, l.until_us, l.lines, l.bytes));
        let sub = LogSub {
            id: l.id,
            svc: idx,
            wants,
            follow: l.follow,
            next: sel.map(|(start, _)| start),
            end: sel.map(|(_, end)| end),
            lost: [0, 0],
        };
        let q = self.control.client_queue();
        let Some(c) = self.control.conns.get_mut(&token) else { return };
        c.logs.push(sub);
        let i = c.logs.len() - 1;
        if pump(q, c, i, rings) {
            self.control.recount();
        } else {
            end_snapshot(c, i);
        }
    }

    /// New output of service `idx` on stream `s` (0 stdout, 1 stderr): send it to its
    /// followers, as far as their queues allow.
    pub(super) fn pump_followers(&mut self, idx: usize, s: usize) {
        let q = self.control.client_queue();
        let svc = &self.svcs[idx];
        for (&token, c) in self.control.conns.iter_mut() {
            let mut touched = false;
            for i in 0..c.logs.len() {
                let sub = &c.logs[i];
                if sub.svc != idx || !sub.follow || !sub.wants[s] {
                    continue;
                }
                touched = true;
                pump(q, c, i, [&svc.out, &svc.err]);
            }
            if touched {
                self.dirty.push(token);
            }
        }
    }
}

/// Send what subscription `i` has not sent yet from `rings` (stdout, stderr), as far
/// as the queue allows, oldest first across both streams. Returns false when a
/// snapshot is complete (the caller ends it), true while there is more to send or to
/// follow.
pub(super) fn pump(q: usize, c: &mut Conn, i: usize, rings: [&Ring; 2]) -> bool {
    let follow = c.logs[i].follow;
    let mut limit = [0; 2];
    for (s, ring) in rings.iter().enumerate() {
        if !c.logs[i].wants[s] {
            continue;
        }
        limit[s] = if follow { ring.total } else { c.logs[i].end[s] };
        let first = ring.start().min(limit[s]);
        if c.logs[i].next[s] < first {
            c.logs[i].lost[s] += first - c.logs[i].next[s];
            c.logs[i].next[s] = first;
        }
        if c.logs[i].lost[s] > 0 && !flush_log_loss(q, c, i, s) {
            return true;
        }
    }
    let mut chunk = Vec::new();
    loop {
        // The stream whose next byte was read first (stdout on a tie).
        let mut pick: Option<(usize, u64)> = None;
        for (s, ring) in rings.iter().enumerate() {
            let next = c.logs[i].next[s];
            if !c.logs[i].wants[s] || next >= limit[s] {
                continue;
            }
            let t = ring.time_at(next).unwrap_or(0);
            if pick.is_none_or(|(_, pt)| t < pt) {
                pick = Some((s, t));
            }
        }
        let Some((s, t)) = pick else { break };
        let room = q.saturating_sub(c.queued() + 128);
        if room == 0 || c.is_closing() {
            return true;
        }
        let next = c.logs[i].next[s];
        let stop = limit[s].min(rings[s].next_mark(next));
        let want = (stop - next).min(LOG_CHUNK as u64).min(room as u64) as usize;
        chunk.clear();
        let n = rings[s].copy_at(next, want, &mut chunk);
        if n == 0 {
            break;
        }
        let stream = if s == 1 { Stream::Stderr } else { Stream::Stdout };
        let m = LogDataRef { id: c.logs[i].id, stream, data: &chunk, time_us: t };
        crate::proto::msg::encode(kind::LOG_DATA, &m, c.out_mut());
        c.logs[i].next[s] += n as u64;
    }
    follow
}

/// Remove finished snapshot `i` and queue its END.
pub(super) fn end_snapshot(c: &mut Conn, i: usize) {
    let sub = c.logs.swap_remove(i);
    crate::proto::msg::encode(kind::END, &End { id: sub.id }, c.out_mut());
}

fn flush_log_loss(q: usize, c: &mut Conn, i: usize, s: usize) -> bool {
    let sub: &LogSub = &c.logs[i];
    let m = LogLost { id: sub.id, stream: if s == 1 { Stream::Stderr } else { Stream::Stdout }, bytes: sub.lost[s] };
    if c.try_stream(q, kind::LOG_LOST, &m, 64) {
        c.logs[i].lost[s] = 0;
        true
    } else {
        false
    }
}
