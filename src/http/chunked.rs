//! The chunked transfer coding (RFC 9112 §7.1), decoded sans-IO: bytes in, body bytes
//! out, in whatever pieces they arrive. Strict on purpose, since a proxy and the server
//! behind it must agree on where a body ends (request smuggling): every line ends in
//! CRLF, a chunk size is 1 to 16 hex digits, extensions and trailers are skipped but
//! bounded in size.

/// Longest chunk-extension, or trailer section, accepted.
const MAX_LINE_EXTRA: usize = 4096;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum St {
    /// Reading the hex size; `digits` read so far.
    Size {
        digits: u8,
    },
    /// After the size: a chunk extension up to the CR.
    Ext,
    /// The LF of a size line.
    SizeLf,
    /// Chunk data left to copy.
    Data(u64),
    DataCr,
    DataLf,
    /// Trailer lines: `at_line_start` while the next byte begins a line.
    Trailer {
        at_line_start: bool,
    },
    TrailerLf {
        empty: bool,
    },
    Done,
}

/// Why a chunked body is malformed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChunkError(pub &'static str);

impl std::fmt::Display for ChunkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "bad chunked body: {}", self.0)
    }
}

/// The decoder. Feed it bytes until [`Decoder::is_done`]; what follows the last chunk's
/// trailer is not consumed.
#[derive(Clone, Debug)]
pub struct Decoder {
    st: St,
    size: u64,
    /// Extension or trailer bytes seen (bounded by `MAX_LINE_EXTRA`).
    extra: usize,
    /// Body bytes produced so far.
    pub total: u64,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder::new()
    }
}

impl Decoder {
    pub fn new() -> Decoder {
        Decoder { st: St::Size { digits: 0 }, size: 0, extra: 0, total: 0 }
    }

    pub fn is_done(&self) -> bool {
        self.st == St::Done
    }

    /// Decode from `input`, appending body bytes to `out`. Returns how many input bytes
    /// were consumed: all of them, unless the body ended within `input`.
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<usize, ChunkError> {
        let mut i = 0;
        while i < input.len() {
            let b = input[i];
            match self.st {
                St::Done => return Ok(i),
                St::Data(left) => {
                    let n = (input.len() - i).min(usize::try_from(left).unwrap_or(usize::MAX));
                    out.extend_from_slice(&input[i..i + n]);
                    self.total += n as u64;
                    i += n;
                    let left = left - n as u64;
                    self.st = if left == 0 { St::DataCr } else { St::Data(left) };
                    continue;
                }
                St::Size { digits } => match hex(b) {
                    Some(v) => {
                        if digits >= 16 {
                            return Err(ChunkError("chunk size has more than 16 hex digits"));
                        }
                        self.size = (self.size << 4) | u64::from(v);
                        self.st = St::Size { digits: digits + 1 };
                    }
                    None if digits == 0 => return Err(ChunkError("chunk size is not a hex number")),
                    None => match b {
                        b'\r' => self.st = St::SizeLf,
                        b';' => {
                            self.extra = 0;
                            self.st = St::Ext;
                        }
                        _ => return Err(ChunkError("unexpected byte after the chunk size")),
                    },
                },
                St::Ext => match b {
                    b'\r' => self.st = St::SizeLf,
                    b'\n' => return Err(ChunkError("bare LF in a chunk extension")),
                    _ => {
                        self.extra += 1;
                        if self.extra > MAX_LINE_EXTRA {
                            return Err(ChunkError("chunk extension too long"));
                        }
                    }
                },
                St::SizeLf => {
                    if b != b'\n' {
                        return Err(ChunkError("chunk size line does not end in CRLF"));
                    }
                    let size = std::mem::take(&mut self.size);
                    self.st = if size == 0 {
                        self.extra = 0;
                        St::Trailer { at_line_start: true }
                    } else {
                        St::Data(size)
                    };
                }
                St::DataCr => {
                    if b != b'\r' {
                        return Err(ChunkError("chunk data is longer than its size"));
                    }
                    self.st = St::DataLf;
                }
                St::DataLf => {
                    if b != b'\n' {
                        return Err(ChunkError("chunk data does not end in CRLF"));
                    }
                    self.st = St::Size { digits: 0 };
                }
                St::Trailer { at_line_start } => match b {
                    b'\r' => self.st = St::TrailerLf { empty: at_line_start },
                    b'\n' => return Err(ChunkError("bare LF in the trailer")),
                    _ => {
                        self.extra += 1;
                        if self.extra > MAX_LINE_EXTRA {
                            return Err(ChunkError("trailer section too long"));
                        }
                        self.st = St::Trailer { at_line_start: false };
                    }
                },
                St::TrailerLf { empty } => {
                    if b != b'\n' {
                        return Err(ChunkError("trailer line does not end in CRLF"));
                    }
                    if empty {
                        self.st = St::Done;
                        return Ok(i + 1);
                    }
                    self.st = St::Trailer { at_line_start: true };
                }
            }
            i += 1;
        }
        Ok(i)
    }
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Append `data` as one chunk (nothing for empty data: an empty chunk would end the body).
pub fn encode_chunk(data: &[u8], out: &mut Vec<u8>) {
    if data.is_empty() {
        return;
    }
    use std::io::Write;
    let _ = write!(out, "{:x}\r\n", data.len());
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

/// The last chunk, with no trailer.
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(input: &[u8], step: usize) -> Result<(Vec<u8>, usize), ChunkError> {
        let mut d = Decoder::new();
        let mut out = Vec::new();
        let mut used = 0;
        for c in input.chunks(step.max(1)) {
            used += d.feed(c, &mut out)?;
            if d.is_done() {
                return Ok((out, used));
            }
        }
        Err(ChunkError("incomplete"))
    }

    #[test]
    fn decodes_split_anywhere() {
        let body = b"5\r\nhello\r\n1;ext=1\r\n \r\nA\r\n0123456789\r\n0\r\nX-T: 1\r\n\r\nNEXT";
        for step in [1, 2, 3, 5, 7, 100] {
            let (out, used) = decode_all(body, step).unwrap();
            assert_eq!(out, b"hello 0123456789");
            assert_eq!(&body[used..], b"NEXT", "step {step}");
        }
    }

    #[test]
    fn round_trips_the_encoder() {
        let mut enc = Vec::new();
        encode_chunk(b"abc", &mut enc);
        encode_chunk(b"", &mut enc);
        encode_chunk(&[7u8; 300], &mut enc);
        enc.extend_from_slice(LAST_CHUNK);
        let (out, used) = decode_all(&enc, 4).unwrap();
        assert_eq!(used, enc.len());
        assert_eq!(out.len(), 303);
    }

    #[test]
    fn refuses_bad_shapes() {
        for bad in [
            &b"x\r\n"[..],
            b"5\nhello\r\n0\r\n\r\n",
            b"5\r\nhelloX\r\n0\r\n\r\n",
            b"5\r\nhello\n0\r\n\r\n",
            b"11111111111111111\r\n",
            b"5 \r\nhello\r\n",
            b"0\r\nX: 1\n\r\n",
            b"-1\r\n",
        ] {
            let mut d = Decoder::new();
            assert!(d.feed(bad, &mut Vec::new()).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
        let mut long = b"1;".to_vec();
        long.extend(std::iter::repeat_n(b'a', MAX_LINE_EXTRA + 1));
        assert!(Decoder::new().feed(&long, &mut Vec::new()).is_err());
    }
}
