//! Reading a service's captured output by line and by time, from its two rings
//! (stdout, stderr): which retained bytes a `tend logs --since/--until/-n` asks for,
//! and the last lines written before an exit. Pure functions over [`Ring`]s.

use crate::daemon::output::Ring;
use crate::proto::msg::{OutputLine, Stream};

/// Longest line kept in an exit's output (longer ones are cut and marked), and the
/// most text an exit keeps in all (its oldest lines go first): the event history
/// holds up to `control.events_history` of them.
pub const EXIT_LINE_MAX: usize = 512;
pub const EXIT_TEXT_MAX: usize = 4096;
/// How far back from the end of a ring the last lines are looked for.
const EXIT_SCAN: u64 = 64 << 10;

/// The retained part of `ring` that a request selects: whole lines read at or after
/// `since` and before `until` (µs since the epoch; a line's time is when its first
/// byte was read), then the last `lines` lines and at most `bytes` bytes of them.
/// Returns absolute positions `(start, end)`.
pub fn select(
    ring: &Ring,
    since: Option<u64>,
    until: Option<u64>,
    lines: Option<u64>,
    bytes: Option<u64>,
) -> (u64, u64) {
    let mut start = ring.start();
    let mut end = ring.total;
    if let Some(t) = since {
        // A line that began before `since` is left out, even if it ended after.
        start = ring.line_start_from(ring.first_at_or_after(t));
    }
    if let Some(t) = until {
        // A line that began before `until` is kept whole.
        end = ring.line_start_from(ring.first_at_or_after(t));
    }
    let end = end.max(start);
    (ring.tail_before(start, end, lines, bytes), end)
}

/// One retained line: stream, time, bytes (without its newline).
struct Line {
    stream: usize,
    t_us: u64,
    pos: u64,
    text: Vec<u8>,
}

/// The lines of `ring` from `from` to its end (a final unterminated line counts).
fn lines_of(ring: &Ring, stream: usize, from: u64) -> Vec<Line> {
    let mut buf = Vec::new();
    let len = usize::try_from(ring.total - from).unwrap_or(usize::MAX);
    ring.copy_at(from, len, &mut buf);
    let mut out = Vec::new();
    let mut pos = from;
    for piece in buf.split_inclusive(|&b| b == b'\n') {
        let text = piece.strip_suffix(b"\n").unwrap_or(piece).to_vec();
        out.push(Line { stream, t_us: ring.time_at(pos).unwrap_or(0), pos, text });
        pos += piece.len() as u64;
    }
    out
}

/// The last `n` lines of both streams together, in the order they were read
/// (oldest first), each cut to [`EXIT_LINE_MAX`] bytes.
pub fn last_lines(rings: [&Ring; 2], n: usize) -> Vec<OutputLine> {
    if n == 0 {
        return Vec::new();
    }
    let mut all = Vec::new();
    for (s, ring) in rings.iter().enumerate() {
        let floor = ring.total.saturating_sub(EXIT_SCAN).max(ring.start());
        let mut from = ring.tail_before(floor, ring.total, Some(n as u64), None);
        if from == floor && floor > ring.start() {
            // Cut off at the scan limit: begin at a line, unless the last line is
            // longer than the whole scan.
            let line = ring.line_start_from(floor);
            if line < ring.total {
                from = line;
            }
        }
        all.extend(lines_of(ring, s, from));
    }
    all.sort_by_key(|l| (l.t_us, l.stream, l.pos));
    let mut skip = all.len().saturating_sub(n);
    let size = |l: &Line| l.text.len().min(EXIT_LINE_MAX);
    let mut total: usize = all[skip..].iter().map(size).sum();
    while total > EXIT_TEXT_MAX && skip + 1 < all.len() {
        total -= size(&all[skip]);
        skip += 1;
    }
    all.into_iter()
        .skip(skip)
        .map(|l| {
            let cut = l.text.len() > EXIT_LINE_MAX;
            let mut line = String::from_utf8_lossy(&l.text[..l.text.len().min(EXIT_LINE_MAX)]).into_owned();
            if cut {
                line.push_str(" [...]");
            }
            OutputLine {
                stream: if l.stream == 1 { Stream::Stderr } else { Stream::Stdout },
                ts: crate::timefmt::rfc3339_us(l.t_us),
                line,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(parts: &[(&[u8], u64)]) -> Ring {
        let mut r = Ring::new(1 << 16);
        for (d, t) in parts {
            r.push(d, *t);
        }
        r
    }

    fn text(r: &Ring, (a, b): (u64, u64)) -> String {
        let mut v = Vec::new();
        r.copy_at(a, (b - a) as usize, &mut v);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn select_by_time_keeps_whole_lines() {
        let r = ring(&[(b"old\nspan", 10), (b"s\nnew1\n", 20), (b"new2\nlate\n", 30)]);
        assert_eq!(text(&r, select(&r, None, None, None, None)), "old\nspans\nnew1\nnew2\nlate\n");
        assert_eq!(text(&r, select(&r, Some(15), None, None, None)), "new1\nnew2\nlate\n", "`spans` began at 10");
        assert_eq!(text(&r, select(&r, Some(10), None, None, None)), "old\nspans\nnew1\nnew2\nlate\n");
        assert_eq!(text(&r, select(&r, None, Some(20), None, None)), "old\nspans\n", "`spans` began before 20");
        assert_eq!(text(&r, select(&r, Some(11), Some(30), None, None)), "new1\n");
        assert_eq!(text(&r, select(&r, Some(15), None, Some(2), None)), "new2\nlate\n");
        assert_eq!(text(&r, select(&r, Some(31), None, None, None)), "");
        assert_eq!(text(&r, select(&r, Some(25), Some(15), None, None)), "");
    }

    #[test]
    fn last_lines_interleave_both_streams_by_time() {
        let out = ring(&[(b"o1\no2\n", 1), (b"o3\npart", 5)]);
        let err = ring(&[(b"e1\n", 2), (b"e2\n", 6)]);
        let got: Vec<(Stream, String)> = last_lines([&out, &err], 4).into_iter().map(|l| (l.stream, l.line)).collect();
        // o3 and part share time 5, after e1 (2) but before e2 (6).
        let want = [(Stream::Stderr, "e1"), (Stream::Stdout, "o3"), (Stream::Stdout, "part"), (Stream::Stderr, "e2")];
        assert_eq!(got, want.map(|(s, l)| (s, l.to_string())));
        assert!(last_lines([&out, &err], 0).is_empty());
        let all = last_lines([&out, &err], 100);
        assert_eq!(all.len(), 6);
        assert_eq!(all[0].line, "o1");
        assert_eq!(all[0].ts, "1970-01-01T00:00:00.000001Z");
    }

    #[test]
    fn an_exit_keeps_at_most_4_kib() {
        let line = [vec![b'y'; 1000], b"\n".to_vec()].concat();
        let mut r = Ring::new(1 << 16);
        for t in 0..30 {
            r.push(&line, t);
        }
        let got = last_lines([&r, &Ring::new(16)], 20);
        assert_eq!(got.len(), EXIT_TEXT_MAX / EXIT_LINE_MAX, "8 cut lines of 512 bytes");
        assert_eq!(got.last().map(|l| l.ts.as_str()), Some("1970-01-01T00:00:00.000029Z"));
    }

    #[test]
    fn long_exit_lines_are_cut() {
        let long = vec![b'x'; 2000];
        let r = ring(&[(&long, 1)]);
        let got = last_lines([&r, &Ring::new(16)], 3);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].line.len(), EXIT_LINE_MAX + " [...]".len());
    }
}
