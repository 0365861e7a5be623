//! The properties the fuzz targets check, shared by the cargo-fuzz targets
//! (fuzz/fuzz_targets/*.rs, nightly) and the stable corpus replay
//! (tests/proto_corpus.rs), both of which include this file with `#[path]`. It only
//! uses `tend`'s public API and std, so it builds in either crate.
//!
//! Every check panics (assert) on a violated property; returning means the input is
//! fine, whether or not it was a valid message.

use tend::proto::frame::{self, Decoder, Frame, FrameError, DEFAULT_MAX_FRAME};
use tend::proto::msg::{DecodeError, Reply, Request};

/// The decoder's maximum in `check_stream`: what the daemon accepts from a client.
pub const MAX_FRAME: u32 = DEFAULT_MAX_FRAME;

/// Inputs up to this size are also decoded one byte per push.
const BYTEWISE_MAX: usize = 4096;

/// What a decoder made of a byte stream: the frames, the error that ended it (if
/// any) and, without an error, the bytes left pending as a partial frame.
#[derive(Debug, PartialEq, Eq)]
pub struct Outcome {
    pub frames: Vec<Frame>,
    pub error: Option<FrameError>,
    pub pending: usize,
}

/// Chunk sizes for `data`, derived from its first (up to 8) bytes: chunk i is
/// `1 + data[i % n]` bytes long, cycling, so the fuzzer steers the split points.
pub fn chunk_sizes(data: &[u8]) -> impl Iterator<Item = usize> + '_ {
    let key = &data[..data.len().min(8)];
    key.iter().cycle().map(|&b| 1 + usize::from(b))
}

/// Push `chunks` into a fresh decoder, draining complete frames after every push as
/// the daemon does, and stop at the first error.
pub fn decode_chunks<'a>(chunks: impl IntoIterator<Item = &'a [u8]>, max: u32) -> Outcome {
    let mut d = Decoder::new(max);
    let mut frames = Vec::new();
    for c in chunks {
        d.push(c);
        loop {
            match d.next_frame() {
                Ok(Some(f)) => {
                    assert!(f.body.len() < max as usize, "frame of {} bytes above the maximum {max}", f.body.len() + 1);
                    frames.push(f);
                }
                Ok(None) => {
                    // At most one partial frame is held.
                    assert!(d.pending() < frame::HEADER_LEN + max as usize, "{} bytes pending", d.pending());
                    break;
                }
                Err(e) => {
                    // The error sticks and the buffer is released.
                    assert_eq!(d.next_frame(), Err(e));
                    d.push(b"\0\0\0\x01\x10");
                    assert_eq!(d.next_frame(), Err(e));
                    assert_eq!(d.pending(), 0);
                    let _ = e.to_string();
                    return Outcome { frames, error: Some(e), pending: 0 };
                }
            }
        }
    }
    Outcome { frames, error: None, pending: d.pending() }
}

/// Fuzz target `frame_decode`: `data` is a byte stream as a client would send it.
///
/// - Decoding it in chunks (sizes from `chunk_sizes`) and, for small inputs, one byte
///   at a time gives the same frames, error and leftover as decoding it whole.
/// - The frames re-encode to exactly the bytes they were decoded from.
/// - Every frame goes through `Request::decode` and `Reply::decode`; whatever decodes
///   round-trips (see `check_request` / `check_reply`).
pub fn check_stream(data: &[u8]) {
    let whole = decode_chunks([data], MAX_FRAME);

    let mut chunks = Vec::new();
    let mut rest = data;
    let mut sizes = chunk_sizes(data);
    while !rest.is_empty() {
        let n = sizes.next().unwrap_or(1).min(rest.len());
        let (c, r) = rest.split_at(n);
        chunks.push(c);
        rest = r;
    }
    assert_eq!(decode_chunks(chunks.iter().copied(), MAX_FRAME), whole, "chunked decoding differs from whole");
    if data.len() <= BYTEWISE_MAX {
        assert_eq!(decode_chunks(data.chunks(1), MAX_FRAME), whole, "bytewise decoding differs from whole");
    }

    let mut again = Vec::new();
    for f in &whole.frames {
        frame::encode(f.kind, &f.body, &mut again);
    }
    assert_eq!(again[..], data[..again.len()], "frames do not re-encode to their bytes");
    match whole.error {
        None => assert_eq!(again.len() + whole.pending, data.len(), "bytes lost between frames"),
        Some(FrameError::ZeroLength) => assert_eq!(data.get(again.len()..again.len() + 4), Some(&[0u8; 4][..])),
        Some(FrameError::TooLarge { len, max }) => {
            assert_eq!(max, MAX_FRAME);
            assert!(len > max);
            let at = again.len();
            assert_eq!(data.get(at..at + 4), Some(&len.to_be_bytes()[..]));
        }
    }

    for f in &whole.frames {
        let req = check_request(f.kind, &f.body);
        let rep = check_reply(f.kind, &f.body);
        // Request and reply type bytes are disjoint.
        assert!(!(req && rep), "type 0x{:02x} decodes as both a request and a reply", f.kind);
    }
}

/// Fuzz target `request_body`: the first byte is the type byte, the rest the body.
pub fn check_request_body(data: &[u8]) {
    if let Some((&kind, body)) = data.split_first() {
        check_request(kind, body);
    }
}

/// Fuzz target `reply_body`: the first byte is the type byte, the rest the body.
pub fn check_reply_body(data: &[u8]) {
    if let Some((&kind, body)) = data.split_first() {
        check_reply(kind, body);
    }
}

/// `Request::decode`; if it succeeds, the request's own encoding is one frame of the
/// same type that decodes to an equal request and re-encodes to the same bytes.
/// Returns whether the body decoded.
pub fn check_request(kind: u8, body: &[u8]) -> bool {
    match Request::decode(kind, body) {
        Ok(r) => {
            let mut enc = Vec::new();
            r.encode(&mut enc);
            let f = single_frame(&enc);
            assert_eq!(f.kind, kind, "{r:?} re-encodes with another type byte");
            let r2 = Request::decode(f.kind, &f.body)
                .unwrap_or_else(|e| panic!("{r:?} re-encodes to a body that does not decode: {e}"));
            assert_eq!(r2, r, "request changes across encode/decode");
            let _ = r2.id();
            let mut enc2 = Vec::new();
            r2.encode(&mut enc2);
            assert_eq!(enc2, enc, "request encoding is not stable");
            true
        }
        Err(e) => {
            check_decode_error(kind, &e);
            false
        }
    }
}

/// As `check_request`, for `Reply`.
pub fn check_reply(kind: u8, body: &[u8]) -> bool {
    match Reply::decode(kind, body) {
        Ok(r) => {
            let mut enc = Vec::new();
            r.encode(&mut enc);
            let f = single_frame(&enc);
            assert_eq!(f.kind, kind, "{r:?} re-encodes with another type byte");
            let r2 = Reply::decode(f.kind, &f.body)
                .unwrap_or_else(|e| panic!("{r:?} re-encodes to a body that does not decode: {e}"));
            assert_eq!(r2, r, "reply changes across encode/decode");
            let _ = r2.id();
            let mut enc2 = Vec::new();
            r2.encode(&mut enc2);
            assert_eq!(enc2, enc, "reply encoding is not stable");
            true
        }
        Err(e) => {
            check_decode_error(kind, &e);
            false
        }
    }
}

fn check_decode_error(kind: u8, e: &DecodeError) {
    match e {
        DecodeError::UnknownType(k) => assert_eq!(*k, kind),
        DecodeError::BadBody { kind: k, .. } => assert_eq!(*k, kind),
    }
    let _ = e.to_string();
}

/// `bytes` is exactly one frame: decode it with the largest maximum a client uses.
fn single_frame(bytes: &[u8]) -> Frame {
    let mut d = Decoder::new(frame::CLIENT_MAX_FRAME.max(bytes.len() as u32));
    d.push(bytes);
    let f = match d.next_frame() {
        Ok(Some(f)) => f,
        other => panic!("an encoded message is not one frame: {other:?}"),
    };
    assert_eq!(d.pending(), 0, "an encoded message is more than one frame");
    f
}

// --- HTTP (the ingress's front) -------------------------------------------------------

/// Limits of the `http_request` target: small, so the fuzzer reaches them.
pub const HTTP_LIMITS: tend::http::request::Limits =
    tend::http::request::Limits { max_head: 2048, max_headers: 16, max_body: 4096 };

/// Fuzz target `http_request`: `data` is what an ingress client sends.
///
/// - A request head parses the same whole and fed in growing prefixes: every prefix
///   shorter than the head is incomplete (or over the head limit), never a different
///   verdict.
/// - A parsed head respects the limits, and the head tend rebuilds for the upstream
///   parses again to the same method, target and a Content-Length body framing (no
///   request that tend forwards can be read two ways).
/// - The chunked decoder gives the same body, end and error fed whole or in pieces.
/// - The upstream response parser never panics and never claims more than it was given.
pub fn check_http_request(data: &[u8]) {
    use tend::http::request::{self, BodyKind};
    let whole = request::parse(data, &HTTP_LIMITS);
    if let Ok(Some((h, n))) = &whole {
        assert!(*n <= data.len() && *n <= HTTP_LIMITS.max_head);
        if let BodyKind::Length(l) = h.body {
            assert!(l > 0 && l <= HTTP_LIMITS.max_body);
        }
        for k in chunk_sizes(data).scan(0usize, |at, c| {
            *at += c;
            Some(*at)
        }) {
            if k >= *n {
                break;
            }
            match request::parse(&data[..k], &HTTP_LIMITS) {
                Ok(None) => {}
                Err(r) if r.status == 431 => {}
                other => panic!("prefix of {k} bytes of a {n}-byte head gives {other:?}"),
            }
        }
        assert_eq!(request::parse(&data[..*n], &HTTP_LIMITS), whole.clone().map(|o| o.map(|(h, _)| (h, *n))));
        let body = [b'b'; 3];
        let mut up = Vec::new();
        let fwd = request::Forwarded { client_ip: "127.0.0.1", proto: "http" };
        request::upstream_head(&h.method, &h.target, &h.authority, &h.headers, body.len(), Some(&fwd), &mut up);
        let big = request::Limits { max_head: 1 << 20, max_headers: 1000, max_body: 1 << 20 };
        let again = request::parse(&up, &big).unwrap_or_else(|e| panic!("rebuilt head refused: {e:?}\n{up:?}"));
        let (h2, n2) = again.unwrap_or_else(|| panic!("rebuilt head incomplete: {up:?}"));
        assert_eq!(n2, up.len());
        assert_eq!((h2.method.as_str(), h2.target.as_str()), (h.method.as_str(), h.target.as_str()));
        assert_eq!(h2.body, BodyKind::Length(3));
    }
    if let Err(r) = &whole {
        assert!([400, 413, 417, 431, 501, 505].contains(&r.status), "status {}", r.status);
    }

    let decode = |chunks: &mut dyn Iterator<Item = &[u8]>| {
        let mut d = tend::http::chunked::Decoder::new();
        let mut out = Vec::new();
        let mut used = 0;
        for c in chunks {
            match d.feed(c, &mut out) {
                Ok(n) => {
                    used += n;
                    if d.is_done() {
                        break;
                    }
                }
                Err(e) => return (out, used, d.is_done(), Some(e)),
            }
        }
        (out, used, d.is_done(), None)
    };
    let one = decode(&mut std::iter::once(data));
    let mut rest = data;
    let mut sizes = chunk_sizes(data);
    let mut pieces = Vec::new();
    while !rest.is_empty() {
        let n = sizes.next().unwrap_or(1).min(rest.len());
        let (c, r) = rest.split_at(n);
        pieces.push(c);
        rest = r;
    }
    let many = decode(&mut pieces.into_iter());
    // An error may be found at a different byte (more was fed before it), but not
    // whether there is one, nor the body before it when there is none.
    assert_eq!(one.3.is_some(), many.3.is_some(), "chunked: whole {:?} vs pieces {:?}", one.3, many.3);
    if one.3.is_none() {
        assert_eq!((one.0, one.1, one.2), (many.0, many.1, many.2));
    }

    for head_req in [false, true] {
        if let Ok(Some((h, n))) = tend::http::response::parse(data, head_req, 4096) {
            assert!(n <= data.len());
            assert!((100..=999).contains(&h.status));
        }
    }
}

// --- the config file ------------------------------------------------------------------

/// Fuzz target `config_parse`: `data` is a config file (tend.toml(5)).
///
/// - Parsing never panics, and parsing the same text twice gives the same verdict (the
///   parser is a pure function of the text, apart from user and group look-ups).
/// - An error names the file, and its position, when it has one, lies inside the text:
///   a line between 1 and the number of lines (plus one, for an error at the end), and
///   a column not past that line's end; the message is not empty.
/// - Bytes that are not UTF-8 are refused at the first bad byte, as `load` does.
pub fn check_config(data: &[u8]) {
    let path = std::path::Path::new("/fuzz/tend.toml");
    let text = match std::str::from_utf8(data) {
        Ok(t) => t,
        Err(e) => {
            let dir = std::env::temp_dir().join(format!("tend-fuzz-config-{}", std::process::id()));
            let _ = std::fs::create_dir_all(&dir);
            let file = dir.join("tend.toml");
            let loaded = std::fs::write(&file, data).map(|()| tend::config::load(&file));
            let _ = std::fs::remove_dir_all(&dir);
            if let Ok(loaded) = loaded {
                let err = loaded.expect_err("a file that is not UTF-8 was accepted");
                assert!(err.message().contains("UTF-8"), "{err}");
                let good = &data[..e.valid_up_to()];
                let line = 1 + good.iter().filter(|&&b| b == b'\n').count();
                assert_eq!(err.line(), Some(line), "{err}");
            }
            return;
        }
    };
    let first = tend::config::parse_str(text, path);
    let second = tend::config::parse_str(text, path);
    match (&first, &second) {
        (Ok(a), Ok(b)) => {
            // Debug, not PartialEq: a `factor = nan` is equal to itself here.
            assert_eq!(format!("{a:?}"), format!("{b:?}"), "the same text parsed twice differs");
            assert_eq!(a.path, path);
            let mut names: Vec<&str> = a.services.iter().map(|s| s.name.as_str()).collect();
            let n = names.len();
            names.sort_unstable();
            names.dedup();
            assert_eq!(names.len(), n, "two services with the same name");
        }
        (Err(a), Err(b)) => {
            assert_eq!(a.to_string(), b.to_string(), "the same text gives two errors");
            assert_eq!(a.file(), path);
            assert!(!a.message().is_empty(), "an empty message: {a}");
            let shown = a.to_string();
            assert!(shown.starts_with("/fuzz/tend.toml"), "{shown}");
            if let Some(line) = a.line() {
                let lines: Vec<&str> = text.split('\n').collect();
                assert!(line >= 1 && line <= lines.len(), "line {line} of a {}-line text: {shown}", lines.len());
                let col = a.column().unwrap_or(1);
                let width = lines[line - 1].chars().count();
                assert!(col >= 1 && col <= width + 1, "column {col} of a {width}-character line: {shown}");
                assert!(shown.starts_with(&format!("/fuzz/tend.toml:{line}:{col}: ")), "{shown}");
            }
        }
        _ => panic!("the same text parsed twice: {first:?} then {second:?}"),
    }
}
