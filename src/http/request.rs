//! The ingress's side of HTTP/1.1: a request head parsed (with `httparse`) and checked,
//! sans-IO. Shapes that let two parsers disagree on where a request ends (request
//! smuggling) are refused with 400: Content-Length together with Transfer-Encoding,
//! more than one Content-Length, a Content-Length that is not plain digits, a
//! Transfer-Encoding other than `chunked` alone, obs-fold line continuations (httparse
//! refuses them in requests), and a missing or repeated Host in HTTP/1.1. The head is
//! then rebuilt for the upstream by tend (`upstream_head`), never passed through.

use std::io::Write;

/// Limits of one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of the request line and headers (431 above).
    pub max_head: usize,
    /// Number of header fields (431 above).
    pub max_headers: usize,
    /// Bytes of the body, after de-chunking (413 above).
    pub max_body: u64,
}

/// How the request's body is framed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyKind {
    None,
    Length(u64),
    Chunked,
}

/// A parsed, checked request head.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Head {
    pub method: String,
    /// The origin-form target (`/path?query`), also for an absolute-form request line.
    pub target: String,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor: u8,
    /// The host without a port, lowercased ("" if none).
    pub host: String,
    /// The Host header (or the absolute-form authority) as sent, port included.
    pub authority: String,
    /// Every header field, in order, as sent.
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: BodyKind,
    pub keep_alive: bool,
    pub expect_continue: bool,
}

impl Head {
    /// The path without the query.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }
}

/// Why a request is refused, with the status to answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    pub detail: String,
}

fn refuse(status: u16, detail: impl Into<String>) -> Refusal {
    Refusal { status, detail: detail.into() }
}

/// The value of a header as text, trimmed (httparse leaves trailing whitespace).
fn text(v: &[u8]) -> &str {
    std::str::from_utf8(v).unwrap_or("\u{fffd}").trim_matches(|c| c == ' ' || c == '\t')
}

/// Comma-separated tokens of a header value, lowercased.
fn tokens(v: &[u8]) -> impl Iterator<Item = String> + '_ {
    text(v).split(',').map(|t| t.trim().to_ascii_lowercase()).filter(|t| !t.is_empty())
}

/// Parse a request head at the start of `buf`. `Ok(None)`: incomplete (and still within
/// the limit); `Ok(Some((head, n)))`: the head is the first `n` bytes.
pub fn parse(buf: &[u8], lim: &Limits) -> Result<Option<(Head, usize)>, Refusal> {
    // On the stack for the usual limits (no allocation per request), else on the heap.
    let mut stack = [httparse::EMPTY_HEADER; 128];
    let mut heap = Vec::new();
    let hdrs: &mut [httparse::Header] = if lim.max_headers <= stack.len() {
        &mut stack[..lim.max_headers]
    } else {
        heap.resize(lim.max_headers, httparse::EMPTY_HEADER);
        &mut heap
    };
    let mut req = httparse::Request::new(hdrs);
    let n = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => {
            bare_lf(&buf[..n])?;
            n
        }
        Ok(httparse::Status::Partial) => {
            bare_lf(buf)?;
            if buf.len() > lim.max_head {
                return Err(refuse(431, format!("request head larger than {} bytes", lim.max_head)));
            }
            return Ok(None);
        }
        Err(httparse::Error::TooManyHeaders) => {
            return Err(refuse(431, format!("more than {} header fields", lim.max_headers)))
        }
        Err(httparse::Error::Version) => return Err(refuse(505, "only HTTP/1.0 and HTTP/1.1 are served")),
        Err(e) => return Err(refuse(400, format!("malformed request head: {e}"))),
    };
    if n > lim.max_head {
        return Err(refuse(431, format!("request head larger than {} bytes", lim.max_head)));
    }
    let method = req.method.unwrap_or_default().to_string();
    let raw_target = req.path.unwrap_or_default();
    let minor = req.version.unwrap_or(1);
    let headers: Vec<(String, Vec<u8>)> = req.headers.iter().map(|h| (h.name.to_string(), h.value.to_vec())).collect();

    let mut lengths = Vec::new();
    let mut te: Vec<String> = Vec::new();
    let mut hosts = Vec::new();
    let mut close = false;
    let mut keep = false;
    let mut expect_continue = false;
    for (name, value) in &headers {
        if name.eq_ignore_ascii_case("content-length") {
            lengths.push(value);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            te.extend(tokens(value));
            if text(value).is_empty() {
                return Err(refuse(400, "empty Transfer-Encoding"));
            }
        } else if name.eq_ignore_ascii_case("host") {
            hosts.push(text(value).to_string());
        } else if name.eq_ignore_ascii_case("connection") {
            for t in tokens(value) {
                close |= t == "close";
                keep |= t == "keep-alive";
            }
        } else if name.eq_ignore_ascii_case("expect") {
            if text(value).eq_ignore_ascii_case("100-continue") {
                expect_continue = true;
            } else {
                return Err(refuse(417, format!("unsupported expectation {:?}", text(value))));
            }
        }
    }

    let body = match (lengths.as_slice(), te.is_empty()) {
        ([], true) => BodyKind::None,
        ([_, _, ..], _) => return Err(refuse(400, "more than one Content-Length")),
        ([_], false) => return Err(refuse(400, "both Content-Length and Transfer-Encoding")),
        ([v], true) => {
            let t = text(v);
            if t.is_empty() || t.len() > 19 || !t.bytes().all(|b| b.is_ascii_digit()) {
                return Err(refuse(400, format!("bad Content-Length {t:?}")));
            }
            let len: u64 = t.parse().map_err(|_| refuse(400, format!("bad Content-Length {t:?}")))?;
            if len == 0 {
                BodyKind::None
            } else {
                BodyKind::Length(len)
            }
        }
        ([], false) => {
            if minor == 0 {
                return Err(refuse(400, "Transfer-Encoding in an HTTP/1.0 request"));
            }
            match te.as_slice() {
                [only] if only == "chunked" => BodyKind::Chunked,
                [.., last] if last == "chunked" => {
                    return Err(refuse(501, format!("unsupported transfer coding {:?}", te.join(", "))))
                }
                _ => return Err(refuse(400, format!("Transfer-Encoding {:?} does not end in chunked", te.join(", ")))),
            }
        }
    };
    if let BodyKind::Length(l) = body {
        if l > lim.max_body {
            return Err(refuse(413, format!("body of {l} bytes is larger than {} bytes", lim.max_body)));
        }
    }

    // The target: origin-form, or absolute-form (whose authority replaces Host).
    let (target, authority) = if raw_target.starts_with('/') {
        match hosts.as_slice() {
            [] if minor == 1 => return Err(refuse(400, "missing Host")),
            [] => (raw_target.to_string(), String::new()),
            [h] => (raw_target.to_string(), h.clone()),
            _ => return Err(refuse(400, "more than one Host")),
        }
    } else if let Some(rest) =
        raw_target.strip_prefix("http://").or_else(|| raw_target.strip_prefix("https://")).filter(|_| hosts.len() <= 1)
    {
        let (auth, path) = match rest.find(['/', '?']) {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let path = if path.starts_with('?') { format!("/{path}") } else { path.to_string() };
        (path, auth.to_string())
    } else if raw_target == "*" && method == "OPTIONS" {
        ("*".to_string(), hosts.first().cloned().unwrap_or_default())
    } else {
        return Err(refuse(400, format!("unsupported request target {raw_target:?}")));
    };
    if authority.bytes().any(|b| b <= b' ' || b == b'/' || b == b'@' || b >= 0x7f) {
        return Err(refuse(400, format!("bad Host {authority:?}")));
    }
    let host = host_of(&authority);
    let keep_alive = if minor == 1 { !close } else { keep && !close };
    Ok(Some((Head { method, target, minor, host, authority, headers, body, keep_alive, expect_continue }, n)))
}

/// Refuse a head with a line that ends in a bare LF. httparse accepts them (RFC 9112
/// section 2.2 allows it), but a head that mixes LF and CRLF endings is read differently by
/// different servers, the stuff of request smuggling (issue 9); tend answers 400, as
/// every client that is not hand-typed ends its lines in CRLF.
fn bare_lf(head: &[u8]) -> Result<(), Refusal> {
    let mut prev = 0u8;
    for &b in head {
        if b == b'\n' && prev != b'\r' {
            return Err(refuse(400, "a line of the request head ends in a bare LF, not CRLF"));
        }
        prev = b;
    }
    Ok(())
}

/// The host part of an authority (`Example.com:8080` -> `example.com`, `[::1]:80` ->
/// `[::1]`), lowercased.
pub fn host_of(authority: &str) -> String {
    let h = if authority.starts_with('[') {
        match authority.find(']') {
            Some(i) => &authority[..=i],
            None => authority,
        }
    } else {
        authority.rsplit_once(':').map_or(authority, |(h, _)| h)
    };
    h.to_ascii_lowercase()
}

/// Hop-by-hop fields (RFC 9110 §7.6.1), and those tend sets itself: never forwarded.
pub fn is_hop_by_hop(name: &str) -> bool {
    const HOP: [&str; 11] = [
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "content-length",
        "expect",
    ];
    HOP.iter().any(|h| name.eq_ignore_ascii_case(h))
}

/// Where the forwarded request comes from, for X-Forwarded-For / -Proto.
pub struct Forwarded<'a> {
    pub client_ip: &'a str,
    pub proto: &'a str,
}

/// The request head tend sends upstream: `METHOD TARGET HTTP/1.1`, Host, the client's
/// end-to-end fields (hop-by-hop ones and those named by Connection dropped),
/// X-Forwarded-For (the client appended to any value it sent), X-Forwarded-Proto, and
/// a Content-Length for the (de-chunked) body. The upstream connection is kept alive.
pub fn upstream_head(
    method: &str,
    target: &str,
    authority: &str,
    headers: &[(String, Vec<u8>)],
    body_len: usize,
    fwd: Option<&Forwarded>,
    out: &mut Vec<u8>,
) {
    let named: Vec<String> = headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("connection"))
        .flat_map(|(_, v)| tokens(v).collect::<Vec<_>>())
        .collect();
    let _ = write!(
        out,
        "{method} {target} HTTP/1.1\r\nHost: {}\r\n",
        if authority.is_empty() { "localhost" } else { authority }
    );
    let mut xff: Option<Vec<u8>> = None;
    for (name, value) in headers {
        let lower = name.to_ascii_lowercase();
        if is_hop_by_hop(&lower) || lower == "host" || named.contains(&lower) {
            continue;
        }
        if fwd.is_some() && lower == "x-forwarded-for" {
            let v = xff.get_or_insert_with(Vec::new);
            if !v.is_empty() {
                v.extend_from_slice(b", ");
            }
            v.extend_from_slice(text(value).as_bytes());
            continue;
        }
        if fwd.is_some() && lower == "x-forwarded-proto" {
            continue;
        }
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
    if let Some(f) = fwd {
        let mut v = xff.unwrap_or_default();
        if !v.is_empty() {
            v.extend_from_slice(b", ");
        }
        v.extend_from_slice(f.client_ip.as_bytes());
        out.extend_from_slice(b"X-Forwarded-For: ");
        out.extend_from_slice(&v);
        let _ = write!(out, "\r\nX-Forwarded-Proto: {}\r\n", f.proto);
    }
    if body_len > 0 || matches!(method, "POST" | "PUT" | "PATCH") {
        let _ = write!(out, "Content-Length: {body_len}\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// A header name is a token (RFC 9110 §5.6.2).
pub fn valid_name(n: &str) -> bool {
    !n.is_empty() && n.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// A header value has no CR, LF or NUL.
pub fn valid_value(v: &[u8]) -> bool {
    !v.iter().any(|&b| b == b'\r' || b == b'\n' || b == 0)
}

/// A method is a token.
pub fn valid_method(m: &str) -> bool {
    valid_name(m)
}

/// A request target tend accepts from a client of the control socket: starts with
/// `/`, no whitespace or control bytes.
pub fn valid_target(t: &str) -> bool {
    t.starts_with('/') && !t.bytes().any(|b| b <= b' ' || b == 0x7f)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIM: Limits = Limits { max_head: 8192, max_headers: 32, max_body: 1 << 20 };

    fn ok(s: &str) -> (Head, usize) {
        parse(s.as_bytes(), &LIM).unwrap().unwrap()
    }

    fn status(s: &str) -> u16 {
        parse(s.as_bytes(), &LIM).unwrap_err().status
    }

    #[test]
    fn simple_get_and_pipelining() {
        let two = "GET /a?x=1 HTTP/1.1\r\nHost: Example.com:8080\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n";
        let (h, n) = ok(two);
        assert_eq!(h.method, "GET");
        assert_eq!(h.target, "/a?x=1");
        assert_eq!(h.path(), "/a");
        assert_eq!(h.host, "example.com");
        assert_eq!(h.authority, "Example.com:8080");
        assert!(h.keep_alive);
        assert_eq!(h.body, BodyKind::None);
        assert_eq!(&two[n..n + 6], "GET /b");
        assert!(parse(&two.as_bytes()[..10], &LIM).unwrap().is_none());
    }

    #[test]
    fn keep_alive_rules() {
        assert!(!ok("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").0.keep_alive);
        assert!(!ok("GET / HTTP/1.0\r\n\r\n").0.keep_alive);
        assert!(ok("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").0.keep_alive);
    }

    #[test]
    fn bodies() {
        assert_eq!(ok("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n").0.body, BodyKind::Length(5));
        assert_eq!(ok("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n").0.body, BodyKind::None);
        assert_eq!(ok("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\n\r\n").0.body, BodyKind::Chunked);
        assert!(
            ok("POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n").0.expect_continue
        );
    }

    #[test]
    fn smuggling_shapes_are_refused() {
        let cases = [
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 5\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n",
            "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n folded\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: x\r\nContent-Length : 1\r\n\r\n",
            "GET / HTTP/1.1\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
            "GET x HTTP/1.1\r\nHost: a\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a b\r\n\r\n",
            "GARBAGE\r\n\r\n",
            "GET / HTTP/1.1\nHost: x\n\n",
            "GET / HTTP/1.1\r\nHost: x\nContent-Length: 1\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: x\r\n\n",
        ];
        for c in cases {
            assert_eq!(status(c), 400, "{c:?}");
        }
        assert_eq!(status("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"), 501);
        assert_eq!(status("GET / HTTP/2.0\r\nHost: x\r\n\r\n"), 505);
    }

    #[test]
    fn limits() {
        assert_eq!(status("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1048577\r\n\r\n"), 413);
        let mut many = String::from("GET / HTTP/1.1\r\nHost: x\r\n");
        for i in 0..40 {
            many.push_str(&format!("X-{i}: y\r\n"));
        }
        many.push_str("\r\n");
        assert_eq!(status(&many), 431);
        let big = format!("GET / HTTP/1.1\r\nHost: x\r\nX: {}", "a".repeat(9000));
        assert_eq!(status(&big), 431);
    }

    #[test]
    fn absolute_form() {
        let (h, _) = ok("GET http://Api.Example.com:81/v1?q HTTP/1.1\r\nHost: ignored\r\n\r\n");
        assert_eq!((h.target.as_str(), h.host.as_str()), ("/v1?q", "api.example.com"));
        assert_eq!(host_of("[::1]:80"), "[::1]");
    }

    #[test]
    fn upstream_head_rebuilds() {
        let headers = vec![
            ("Host".to_string(), b"a:1".to_vec()),
            ("Connection".to_string(), b"keep-alive, X-Drop".to_vec()),
            ("X-Drop".to_string(), b"1".to_vec()),
            ("Transfer-Encoding".to_string(), b"chunked".to_vec()),
            ("X-Forwarded-For".to_string(), b"10.0.0.1".to_vec()),
            ("Accept".to_string(), b"*/*".to_vec()),
        ];
        let mut out = Vec::new();
        let f = Forwarded { client_ip: "127.0.0.1", proto: "http" };
        upstream_head("POST", "/x", "a:1", &headers, 3, Some(&f), &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "POST /x HTTP/1.1\r\nHost: a:1\r\nAccept: */*\r\nX-Forwarded-For: 10.0.0.1, 127.0.0.1\r\n\
             X-Forwarded-Proto: http\r\nContent-Length: 3\r\n\r\n"
        );
    }
}
