//! The frame codec, sans-IO: bytes in, frames out, and frames into a caller's buffer.
//!
//! A frame is `u32 big-endian length | u8 type | body`, where the length counts the
//! type byte and the body (so it is never 0). The decoder takes arbitrary chunks (one
//! byte at a time or many frames at once) and never holds more than one partial frame
//! plus the chunk it was given: a length above the maximum is an error as soon as the
//! four length bytes are in, before anything is reserved for the body (PITFALLS §12).
//! After an error the decoder stays failed: a stream that lost its framing cannot be
//! resynchronised, so the connection is closed.

use std::fmt;

/// Length prefix plus type byte.
pub const HEADER_LEN: usize = 5;
/// Default maximum of the length field for frames a client sends.
pub const DEFAULT_MAX_FRAME: u32 = 1 << 20;
/// Maximum a client accepts from the server (log snapshots come in chunks far below).
pub const CLIENT_MAX_FRAME: u32 = 16 << 20;

/// One decoded frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub kind: u8,
    pub body: Vec<u8>,
}

/// Why a byte stream is not a valid sequence of frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// A length field of 0: there is not even a type byte.
    ZeroLength,
    /// A length field above the maximum.
    TooLarge { len: u32, max: u32 },
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::ZeroLength => write!(f, "frame length is 0 (a frame holds at least its type byte)"),
            FrameError::TooLarge { len, max } => write!(f, "frame length {len} is above the maximum of {max} bytes"),
        }
    }
}

/// Incremental decoder.
#[derive(Debug)]
pub struct Decoder {
    buf: Vec<u8>,
    /// Start of the unconsumed bytes in `buf`.
    pos: usize,
    max: u32,
    failed: Option<FrameError>,
}

impl Decoder {
    pub fn new(max: u32) -> Self {
        Decoder { buf: Vec::new(), pos: 0, max: max.max(1), failed: None }
    }

    /// Append received bytes. Call [`Decoder::next_frame`] until it returns `Ok(None)`
    /// before pushing more, so the buffer holds at most one partial frame.
    pub fn push(&mut self, data: &[u8]) {
        if self.failed.is_some() {
            return;
        }
        if self.pos > 0 && self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        }
        self.buf.extend_from_slice(data);
    }

    /// Bytes received but not yet returned as frames.
    pub fn pending(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// The next complete frame, `Ok(None)` if more bytes are needed, or the error that
    /// ends this stream (returned again on every later call).
    pub fn next_frame(&mut self) -> Result<Option<Frame>, FrameError> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        let avail = &self.buf[self.pos..];
        let Some(len_bytes) = avail.get(..4) else {
            self.compact();
            return Ok(None);
        };
        let len = u32::from_be_bytes([len_bytes[0], len_bytes[1], len_bytes[2], len_bytes[3]]);
        if len == 0 {
            return Err(self.fail(FrameError::ZeroLength));
        }
        if len > self.max {
            return Err(self.fail(FrameError::TooLarge { len, max: self.max }));
        }
        let total = 4 + len as usize;
        if avail.len() < total {
            self.compact();
            return Ok(None);
        }
        let frame = Frame { kind: avail[4], body: avail[HEADER_LEN..total].to_vec() };
        self.pos += total;
        Ok(Some(frame))
    }

    fn fail(&mut self, e: FrameError) -> FrameError {
        self.failed = Some(e);
        self.buf = Vec::new();
        self.pos = 0;
        e
    }

    /// Move a partial frame to the front so the buffer does not grow with the stream.
    fn compact(&mut self) {
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
    }
}

/// Append one frame to `out`.
pub fn encode(kind: u8, body: &[u8], out: &mut Vec<u8>) {
    let len = (body.len() + 1) as u32;
    out.reserve(HEADER_LEN + body.len());
    out.extend_from_slice(&len.to_be_bytes());
    out.push(kind);
    out.extend_from_slice(body);
}

/// Start a frame in `out` whose body the caller appends; returns the mark for
/// [`finish`]. Saves a copy when the body is serialized straight into `out`.
pub fn begin(kind: u8, out: &mut Vec<u8>) -> usize {
    let mark = out.len();
    out.extend_from_slice(&[0, 0, 0, 0, kind]);
    mark
}

/// Patch the length of the frame started at `mark`.
pub fn finish(out: &mut [u8], mark: usize) {
    let len = (out.len() - mark - 4) as u32;
    out[mark..mark + 4].copy_from_slice(&len.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(chunks: &[&[u8]], max: u32) -> (Vec<Frame>, Option<FrameError>) {
        let mut d = Decoder::new(max);
        let mut out = Vec::new();
        for c in chunks {
            d.push(c);
            loop {
                match d.next_frame() {
                    Ok(Some(f)) => out.push(f),
                    Ok(None) => break,
                    Err(e) => return (out, Some(e)),
                }
            }
        }
        (out, None)
    }

    fn stream() -> Vec<u8> {
        let mut v = Vec::new();
        encode(1, b"hello", &mut v);
        encode(0x10, b"", &mut v);
        encode(0xff, &[0u8; 300], &mut v);
        encode(7, b"x", &mut v);
        v
    }

    #[test]
    fn golden_bytes() {
        let mut v = Vec::new();
        encode(0x10, &[0x81, 0xa2, b'i', b'd', 0x07], &mut v);
        assert_eq!(v, [0, 0, 0, 6, 0x10, 0x81, 0xa2, b'i', b'd', 0x07]);
    }

    #[test]
    fn begin_finish_equals_encode() {
        let mut a = Vec::new();
        encode(3, b"body", &mut a);
        let mut b = vec![];
        let m = begin(3, &mut b);
        b.extend_from_slice(b"body");
        finish(&mut b, m);
        assert_eq!(a, b);
    }

    #[test]
    fn whole_stream() {
        let (f, e) = frames(&[&stream()], DEFAULT_MAX_FRAME);
        assert_eq!(e, None);
        assert_eq!(f.len(), 4);
        assert_eq!(f[0], Frame { kind: 1, body: b"hello".to_vec() });
        assert_eq!(f[1], Frame { kind: 0x10, body: vec![] });
        assert_eq!(f[2].body.len(), 300);
        assert_eq!(f[3], Frame { kind: 7, body: b"x".to_vec() });
    }

    #[test]
    fn split_anywhere_equals_whole() {
        let s = stream();
        let (whole, _) = frames(&[&s], DEFAULT_MAX_FRAME);
        // Every pair of split points is quadratic: under Miri (`make miri`), a sample.
        let step = if cfg!(miri) { 11 } else { 1 };
        for i in (0..=s.len()).step_by(step) {
            for j in (i..=s.len()).step_by(step) {
                let (f, e) = frames(&[&s[..i], &s[i..j], &s[j..]], DEFAULT_MAX_FRAME);
                assert_eq!(e, None);
                assert_eq!(f, whole, "split at {i},{j}");
            }
        }
        let bytes: Vec<&[u8]> = s.chunks(1).collect();
        assert_eq!(frames(&bytes, DEFAULT_MAX_FRAME).0, whole);
    }

    #[test]
    fn every_truncation_needs_more() {
        let s = stream();
        let (whole, _) = frames(&[&s], DEFAULT_MAX_FRAME);
        for i in 0..s.len() {
            let (f, e) = frames(&[&s[..i]], DEFAULT_MAX_FRAME);
            assert_eq!(e, None);
            assert!(f.len() < whole.len());
            assert_eq!(f[..], whole[..f.len()]);
        }
    }

    #[test]
    fn oversized_length_fails_before_the_body_arrives() {
        let (f, e) = frames(&[&[0, 0x10, 0, 1]], 1 << 20);
        assert!(f.is_empty());
        assert_eq!(e, Some(FrameError::TooLarge { len: 0x100001, max: 1 << 20 }));
        let (_, e) = frames(&[&[0xff, 0xff, 0xff, 0xff, 1]], 1 << 20);
        assert_eq!(e, Some(FrameError::TooLarge { len: u32::MAX, max: 1 << 20 }));
        // Exactly the maximum is fine.
        let mut v = Vec::new();
        encode(1, &[0; 99], &mut v);
        assert_eq!(frames(&[&v], 100).0.len(), 1);
        assert!(frames(&[&v], 99).1.is_some());
    }

    #[test]
    fn zero_length_is_an_error_and_sticks() {
        let mut d = Decoder::new(100);
        d.push(&[0, 0, 0, 0, 1, 2, 3]);
        assert_eq!(d.next_frame(), Err(FrameError::ZeroLength));
        d.push(&stream());
        assert_eq!(d.next_frame(), Err(FrameError::ZeroLength));
        assert_eq!(d.pending(), 0);
    }

    #[test]
    fn buffer_does_not_grow_with_the_stream() {
        let mut d = Decoder::new(1 << 20);
        let s = stream();
        for _ in 0..10_000 {
            d.push(&s);
            while let Ok(Some(_)) = d.next_frame() {}
        }
        assert_eq!(d.pending(), 0);
        assert!(d.buf.capacity() < 4 * s.len());
    }
}
