//! What goes into a service's log file, as pure functions: the output of both streams
//! turned into whole lines (tend.toml(5), "Log files"), where a file may be cut for
//! rotation, and the names rotation moves files to. No I/O: `logfile.rs` writes.
//!
//! Two formats:
//! - plain (`timestamps = false`): the bytes the service wrote;
//! - stamped (`timestamps = true`): each line as `TIME STREAM TAG TEXT`, the CRI
//!   format of Kubernetes' container logs, where TIME is RFC 3339 UTC with
//!   microseconds, STREAM is `stdout` or `stderr` and TAG is `F` for a whole line or
//!   `P` for a piece of a line longer than [`MAX_LINE`] that the next record of the
//!   same stream continues.
//!
//! In both, each stream's lines are kept whole: a stream's unterminated line waits
//! until its newline arrives (so the two streams' lines never mix, and a rotation
//! never splits a line), up to [`MAX_LINE`] bytes, after which what has come is
//! written as a piece. When a stream ends (the process exited or closed it) with an
//! unterminated line, that line is written followed by [`NO_NEWLINE`] and a newline.

use std::ops::Range;
use std::path::{Path, PathBuf};

use crate::daemon::output::{Ring, RingView};

/// Longest line kept whole; longer lines are written in pieces of this size.
pub const MAX_LINE: usize = 64 * 1024;

/// Ends a line that the service's stream ended without a newline.
pub const NO_NEWLINE: &[u8] = b" [tend: no newline at end of output]";

/// Part of a batch: `len` bytes of `stream` (0 stdout, 1 stderr) read at `t_us`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Part {
    pub stream: u8,
    pub t_us: u64,
    pub len: usize,
}

/// What a file writer receives: bytes the loop read, in the order it read them. They
/// are either a view of the service's ring buffer (the bytes of one stream, contiguous
/// in its ring: nothing is copied) or, for anything else, a copy in `data`.
#[derive(Default)]
pub struct Batch {
    pub data: Vec<u8>,
    pub view: Option<RingView>,
    pub parts: Vec<Part>,
}

impl std::fmt::Debug for Batch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batch").field("len", &self.len()).field("view", &self.view.is_some()).finish()
    }
}

impl Batch {
    /// Append a copy of `bytes` of `stream` read at `t_us`.
    pub fn push(&mut self, stream: u8, t_us: u64, bytes: &[u8]) {
        if let Some(v) = self.view.take() {
            // From a view to a copy (the view is let go of once copied).
            self.data.extend_from_slice(v.bytes());
        }
        self.part(stream, t_us, bytes.len());
        self.data.extend_from_slice(bytes);
    }

    /// Append the last `n` bytes committed to `ring` (of `stream`, read at `t_us`)
    /// without copying them, if the batch is empty or a view they continue; false (and
    /// nothing appended) if not.
    pub fn push_view(&mut self, stream: u8, t_us: u64, ring: &mut Ring, n: usize) -> bool {
        let ok = match &mut self.view {
            Some(v) => self.parts.last().is_some_and(|p| p.stream == stream) && ring.extend_view(v, n),
            None if self.data.is_empty() => {
                self.view = ring.view(n);
                self.view.is_some()
            }
            None => false,
        };
        if ok {
            self.part(stream, t_us, n);
        }
        ok
    }

    fn part(&mut self, stream: u8, t_us: u64, len: usize) {
        match self.parts.last_mut() {
            Some(p) if p.stream == stream && p.t_us == t_us => p.len += len,
            _ => self.parts.push(Part { stream, t_us, len }),
        }
    }

    /// The bytes, in order.
    pub fn bytes(&self) -> &[u8] {
        match &self.view {
            Some(v) => v.bytes(),
            None => &self.data,
        }
    }

    pub fn len(&self) -> usize {
        self.view.as_ref().map_or(self.data.len(), RingView::len)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Empty it (a view is let go of).
    pub fn clear(&mut self) {
        self.data.clear();
        self.view = None;
        self.parts.clear();
    }
}

/// Whole lines ready to be written: owned bytes, or a range of the batch being
/// formatted (the service's own bytes, not copied).
#[derive(Debug, PartialEq, Eq)]
pub enum Chunk {
    Owned(Vec<u8>),
    Batch(Range<usize>),
}

/// A stream's line not yet complete.
#[derive(Default)]
struct Pending {
    bytes: Vec<u8>,
    /// When its first byte was read.
    t_us: u64,
}

/// Turns the parts of each batch into chunks of whole lines, keeping each stream's
/// unterminated line until it is complete.
pub struct Formatter {
    stamped: bool,
    pending: [Pending; 2],
    /// The last time formatted, and its text followed by a space.
    stamp: (u64, Vec<u8>),
}

const STREAM: [&[u8]; 2] = [b"stdout ", b"stderr "];

impl Formatter {
    pub fn new(stamped: bool) -> Formatter {
        Formatter { stamped, pending: Default::default(), stamp: (u64::MAX, Vec::new()) }
    }

    /// Switch format (a reload changed `timestamps`); pending lines are kept.
    pub fn set_stamped(&mut self, stamped: bool) {
        self.stamped = stamped;
    }

    /// True if some stream has an unterminated line waiting.
    pub fn has_pending(&self) -> bool {
        self.pending.iter().any(|p| !p.bytes.is_empty())
    }

    /// Format `batch` into `out`, in order.
    pub fn feed(&mut self, batch: &Batch, out: &mut Vec<Chunk>) {
        let (parts, data) = (&batch.parts, batch.bytes());
        let (mut at, mut i) = (0, 0);
        while i < parts.len() {
            let (s, t_us) = (usize::from(parts[i].stream.min(1)), parts[i].t_us);
            let start = at;
            if self.stamped {
                at += parts[i].len;
                i += 1;
                self.feed_stamped(s, t_us, &data[start..at], out);
            } else {
                // Without time stamps a run of one stream's parts is one piece of text.
                while i < parts.len() && usize::from(parts[i].stream.min(1)) == s {
                    at += parts[i].len;
                    i += 1;
                }
                self.feed_plain(s, t_us, data, start..at, out);
            }
        }
    }

    fn feed_plain(&mut self, s: usize, t_us: u64, data: &[u8], range: Range<usize>, out: &mut Vec<Chunk>) {
        let bytes = &data[range.clone()];
        let Some(last_nl) = bytes.iter().rposition(|&b| b == b'\n') else {
            self.keep(s, t_us, bytes, out);
            return;
        };
        let mut from = range.start;
        let pending = &mut self.pending[s];
        if !pending.bytes.is_empty() {
            // The pending line and the rest of it, as one owned chunk (copies one line).
            let first_nl = bytes.iter().position(|&b| b == b'\n').unwrap_or(last_nl);
            let mut line = std::mem::take(&mut pending.bytes);
            line.extend_from_slice(&bytes[..=first_nl]);
            out.push(Chunk::Owned(line));
            from = range.start + first_nl + 1;
        }
        let end = range.start + last_nl + 1;
        if from < end {
            out.push(Chunk::Batch(from..end));
        }
        self.keep(s, t_us, &data[end..range.end], out);
    }

    /// Hold `bytes` (no newline in them) as the rest of stream `s`'s line; a line that
    /// reaches MAX_LINE is written as a piece.
    fn keep(&mut self, s: usize, t_us: u64, mut bytes: &[u8], out: &mut Vec<Chunk>) {
        while !bytes.is_empty() {
            let p = &mut self.pending[s];
            if p.bytes.is_empty() {
                p.t_us = t_us;
            }
            let take = bytes.len().min(MAX_LINE - p.bytes.len());
            p.bytes.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if p.bytes.len() >= MAX_LINE {
                let piece = std::mem::take(&mut p.bytes);
                let t = p.t_us;
                if self.stamped {
                    let mut v = take_owned(out);
                    self.stamped_line(&mut v, s, t, b'P', &piece, b"");
                    out.push(Chunk::Owned(v));
                } else {
                    out.push(Chunk::Owned(piece));
                }
            }
        }
    }

    fn feed_stamped(&mut self, s: usize, t_us: u64, bytes: &[u8], out: &mut Vec<Chunk>) {
        let mut rest = bytes;
        while let Some(i) = rest.iter().position(|&b| b == b'\n') {
            let p = &mut self.pending[s];
            let (t, head) =
                if p.bytes.is_empty() { (t_us, Vec::new()) } else { (p.t_us, std::mem::take(&mut p.bytes)) };
            let mut v = take_owned(out);
            self.stamped_line(&mut v, s, t, b'F', &head, &rest[..i]);
            out.push(Chunk::Owned(v));
            rest = &rest[i + 1..];
        }
        self.keep(s, t_us, rest, out);
    }

    /// `TIME STREAM TAG HEAD+TAIL\n`.
    fn stamped_line(&mut self, v: &mut Vec<u8>, s: usize, t_us: u64, tag: u8, head: &[u8], tail: &[u8]) {
        if self.stamp.0 != t_us {
            self.stamp.0 = t_us;
            self.stamp.1.clear();
            self.stamp.1.extend_from_slice(crate::timefmt::rfc3339_us(t_us).as_bytes());
            self.stamp.1.push(b' ');
        }
        v.extend_from_slice(&self.stamp.1);
        v.extend_from_slice(STREAM[s]);
        v.push(tag);
        v.push(b' ');
        v.extend_from_slice(head);
        v.extend_from_slice(tail);
        v.push(b'\n');
    }

    /// Stream `stream` ended: its unterminated line, if any, is written with the
    /// [`NO_NEWLINE`] marker.
    pub fn end(&mut self, stream: u8, out: &mut Vec<Chunk>) {
        let s = usize::from(stream.min(1));
        let p = &mut self.pending[s];
        if p.bytes.is_empty() {
            return;
        }
        let line = std::mem::take(&mut p.bytes);
        let t = p.t_us;
        let mut v = Vec::with_capacity(line.len() + NO_NEWLINE.len() + 48);
        if self.stamped {
            self.stamped_line(&mut v, s, t, b'F', &line, NO_NEWLINE);
        } else {
            v.extend_from_slice(&line);
            v.extend_from_slice(NO_NEWLINE);
            v.push(b'\n');
        }
        out.push(Chunk::Owned(v));
    }

    /// Both streams ended (the file is closed).
    pub fn end_all(&mut self, out: &mut Vec<Chunk>) {
        self.end(0, out);
        self.end(1, out);
    }
}

/// The last chunk of `out` if it is owned (taken out, to be pushed back after
/// appending), else a new buffer: consecutive formatted lines share one chunk.
fn take_owned(out: &mut Vec<Chunk>) -> Vec<u8> {
    match out.pop() {
        Some(Chunk::Owned(v)) => v,
        Some(c) => {
            out.push(c);
            Vec::with_capacity(4096)
        }
        None => Vec::with_capacity(4096),
    }
}

/// How many bytes of `bytes` (whole lines) go into a file that has `room` bytes left
/// before it must rotate: all of them if they fit, else up to the last newline that
/// fits (0 if not even the first line does).
pub fn fit(bytes: &[u8], room: u64) -> usize {
    if bytes.len() as u64 <= room {
        return bytes.len();
    }
    let room = usize::try_from(room).unwrap_or(usize::MAX).min(bytes.len());
    bytes[..room].iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1)
}

/// `DIR/NAME.log`.
pub fn file_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.log"))
}

/// `PATH.N` (`web.log.3`).
pub fn rotated(path: &Path, n: u32) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(format!(".{n}"));
    PathBuf::from(s)
}

/// The renames of a rotation keeping `keep` old files, in the order to do them:
/// `PATH.(keep-1)` -> `PATH.keep`, ..., `PATH` -> `PATH.1`. `PATH.keep` is replaced by
/// the first rename. With `keep` 0 there is nothing to rename: the file is removed.
pub fn rotation(path: &Path, keep: u32) -> Vec<(PathBuf, PathBuf)> {
    let mut v = Vec::with_capacity(keep as usize);
    for n in (1..keep).rev() {
        v.push((rotated(path, n), rotated(path, n + 1)));
    }
    if keep > 0 {
        v.push((path.to_path_buf(), rotated(path, 1)));
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(parts: &[(u8, u64, &[u8])]) -> Batch {
        let mut b = Batch::default();
        for &(s, t, d) in parts {
            b.push(s, t, d);
        }
        b
    }

    /// Format `batches` and flatten to bytes.
    fn run(f: &mut Formatter, batches: &[Batch]) -> Vec<u8> {
        let mut v = Vec::new();
        for b in batches {
            let mut out = Vec::new();
            f.feed(b, &mut out);
            for c in out {
                match c {
                    Chunk::Owned(o) => v.extend_from_slice(&o),
                    Chunk::Batch(r) => v.extend_from_slice(&b.bytes()[r]),
                }
            }
        }
        v
    }

    fn ended(f: &mut Formatter) -> Vec<u8> {
        let mut out = Vec::new();
        f.end_all(&mut out);
        out.into_iter()
            .flat_map(|c| match c {
                Chunk::Owned(o) => o,
                Chunk::Batch(_) => panic!("end gives owned chunks"),
            })
            .collect()
    }

    #[test]
    fn plain_keeps_the_bytes_and_whole_lines() {
        let mut f = Formatter::new(false);
        let b1 = batch(&[(0, 1, b"one\ntw"), (1, 1, b"err1\ne"), (0, 2, b"o\nthree\n")]);
        let b2 = batch(&[(1, 3, b"rr2\n")]);
        assert_eq!(run(&mut f, &[b1, b2]), b"one\nerr1\ntwo\nthree\nerr2\n");
        assert!(!f.has_pending());
        assert!(ended(&mut f).is_empty());
    }

    #[test]
    fn plain_lines_are_not_copied() {
        let mut f = Formatter::new(false);
        let b = batch(&[(0, 1, b"a\nb\nc")]);
        let mut out = Vec::new();
        f.feed(&b, &mut out);
        assert_eq!(out, [Chunk::Batch(0..4)]);
        let b = batch(&[(0, 2, b"d\ne\nf\n")]);
        out.clear();
        f.feed(&b, &mut out);
        assert_eq!(out, [Chunk::Owned(b"cd\n".to_vec()), Chunk::Batch(2..6)]);
    }

    #[test]
    fn a_stream_that_ends_mid_line_gets_the_marker() {
        let mut f = Formatter::new(false);
        assert_eq!(run(&mut f, &[batch(&[(0, 1, b"abc"), (1, 1, b"x\n")])]), b"x\n");
        let mut want = b"abc".to_vec();
        want.extend_from_slice(NO_NEWLINE);
        want.push(b'\n');
        assert_eq!(ended(&mut f), want);
    }

    #[test]
    fn endless_lines_are_written_in_pieces() {
        let mut f = Formatter::new(false);
        let big = vec![b'a'; MAX_LINE + 10];
        let out = run(&mut f, &[batch(&[(0, 1, &big)])]);
        assert_eq!(out.len(), MAX_LINE, "a full piece goes out, without a newline added");
        assert!(f.has_pending());
        let out = run(&mut f, &[batch(&[(0, 2, b"b\n")])]);
        assert_eq!(out, [&[b'a'; 10][..], b"b\n"].concat());
    }

    #[test]
    fn stamped_lines_carry_time_stream_and_tag() {
        let mut f = Formatter::new(true);
        // 2026-11-22T15:52:01.123456Z
        let t = 1_795_362_721_123_456;
        let b = batch(&[(0, t, b"hello\nwor"), (1, t + 1, b"oops\n"), (0, t + 2, b"ld\n")]);
        let out = String::from_utf8(run(&mut f, &[b])).unwrap();
        assert_eq!(
            out,
            "2026-11-22T15:52:01.123456Z stdout F hello\n\
             2026-11-22T15:52:01.123457Z stderr F oops\n\
             2026-11-22T15:52:01.123456Z stdout F world\n"
        );
        run(&mut f, &[batch(&[(1, t, b"tail")])]);
        let end = String::from_utf8(ended(&mut f)).unwrap();
        assert_eq!(end, "2026-11-22T15:52:01.123456Z stderr F tail [tend: no newline at end of output]\n");
    }

    #[test]
    fn stamped_pieces_are_tagged_p() {
        let mut f = Formatter::new(true);
        let big = vec![b'a'; MAX_LINE + 1];
        let out = run(&mut f, &[batch(&[(0, 0, &big), (0, 1, b"\n")])]);
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].starts_with("1970-01-01T00:00:00.000000Z stdout P aaa"));
        assert_eq!(lines[0].len(), 27 + 10 + MAX_LINE);
        assert_eq!(lines[1], "1970-01-01T00:00:00.000000Z stdout F a");
    }

    #[test]
    fn fit_cuts_at_line_ends() {
        assert_eq!(fit(b"ab\ncd\n", 100), 6);
        assert_eq!(fit(b"ab\ncd\n", 6), 6);
        assert_eq!(fit(b"ab\ncd\n", 5), 3);
        assert_eq!(fit(b"ab\ncd\n", 2), 0);
        assert_eq!(fit(b"", 0), 0);
        assert_eq!(fit(b"abc", 2), 0);
    }

    #[test]
    fn rotation_shifts_the_old_files() {
        let p = Path::new("/l/web.log");
        let names = |v: Vec<(PathBuf, PathBuf)>| -> Vec<(String, String)> {
            v.into_iter().map(|(a, b)| (a.display().to_string(), b.display().to_string())).collect()
        };
        assert_eq!(
            names(rotation(p, 3)),
            [("/l/web.log.2", "/l/web.log.3"), ("/l/web.log.1", "/l/web.log.2"), ("/l/web.log", "/l/web.log.1")]
                .map(|(a, b)| (a.to_string(), b.to_string()))
        );
        assert_eq!(names(rotation(p, 1)), [("/l/web.log".to_string(), "/l/web.log.1".to_string())]);
        assert!(rotation(p, 0).is_empty());
        assert_eq!(file_path(Path::new("/l"), "web.0"), Path::new("/l/web.0.log"));
    }
}
