//! The upstream's side: a response head parsed (with `httparse`) and its body framing
//! decided (RFC 9112 §6.3), and the response head tend writes to an ingress client.
//! Sans-IO.

use std::io::Write;

use super::request::is_hop_by_hop;

/// How the upstream frames the response body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// No body (HEAD, 1xx, 204, 304).
    None,
    Length(u64),
    Chunked,
    /// Until the upstream closes the connection.
    Close,
}

/// A parsed response head.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Head {
    pub status: u16,
    pub reason: String,
    /// The end-to-end fields (hop-by-hop ones and Content-Length removed).
    pub headers: Vec<(String, Vec<u8>)>,
    pub framing: Framing,
    /// The Content-Length the upstream sent (also for HEAD and 304, which have no body).
    pub content_length: Option<u64>,
    /// The upstream will close the connection after this response.
    pub close: bool,
}

/// Parse a response head at the start of `buf`; `head_request` if the request was HEAD.
/// `Ok(None)`: incomplete. Errors describe the garbage (answered 502).
pub fn parse(buf: &[u8], head_request: bool, max_head: usize) -> Result<Option<(Head, usize)>, String> {
    let mut hdrs = [httparse::EMPTY_HEADER; 128];
    let mut resp = httparse::Response::new(&mut hdrs);
    let n = match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            if buf.len() > max_head {
                return Err(format!("response head larger than {max_head} bytes"));
            }
            return Ok(None);
        }
        Err(e) => return Err(format!("malformed response head: {e}")),
    };
    let status = resp.code.unwrap_or(0);
    if !(100..=999).contains(&status) {
        return Err(format!("bad status code {status}"));
    }
    let minor = resp.version.unwrap_or(1);
    let mut lengths: Vec<u64> = Vec::new();
    let mut te = Vec::new();
    let mut conn_tokens = Vec::new();
    for h in resp.headers.iter() {
        let v = std::str::from_utf8(h.value).unwrap_or("").trim();
        if h.name.eq_ignore_ascii_case("content-length") {
            for part in v.split(',') {
                let part = part.trim();
                if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) || part.len() > 19 {
                    return Err(format!("bad Content-Length {v:?}"));
                }
                lengths.push(part.parse().map_err(|_| format!("bad Content-Length {v:?}"))?);
            }
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            te.extend(v.split(',').map(|t| t.trim().to_ascii_lowercase()).filter(|t| !t.is_empty()));
        } else if h.name.eq_ignore_ascii_case("connection") {
            conn_tokens.extend(v.split(',').map(|t| t.trim().to_ascii_lowercase()).filter(|t| !t.is_empty()));
        }
    }
    if lengths.windows(2).any(|w| w[0] != w[1]) {
        return Err("conflicting Content-Length values".into());
    }
    let content_length = lengths.first().copied();
    let no_body = head_request || (100..200).contains(&status) || status == 204 || status == 304;
    let framing = if no_body {
        Framing::None
    } else if !te.is_empty() {
        if te.last().map(String::as_str) == Some("chunked") {
            Framing::Chunked
        } else {
            Framing::Close
        }
    } else if let Some(l) = content_length {
        Framing::Length(l)
    } else {
        Framing::Close
    };
    let close = framing == Framing::Close
        || conn_tokens.iter().any(|t| t == "close")
        || (minor == 0 && !conn_tokens.iter().any(|t| t == "keep-alive"));
    let headers = resp
        .headers
        .iter()
        .filter(|h| !is_hop_by_hop(h.name) && !conn_tokens.iter().any(|t| h.name.eq_ignore_ascii_case(t)))
        .map(|h| (h.name.to_string(), h.value.to_vec()))
        .collect();
    Ok(Some((
        Head { status, reason: resp.reason.unwrap_or("").to_string(), headers, framing, content_length, close },
        n,
    )))
}

/// How tend frames a response body to an ingress client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Out {
    None,
    Length(u64),
    Chunked,
    Close,
}

/// Choose the framing to the client: a known length is kept; an unknown one is chunked
/// to an HTTP/1.1 client (so its connection stays open) and close-delimited to 1.0.
pub fn out_framing(h: &Head, client_minor: u8) -> Out {
    match h.framing {
        Framing::None => Out::None,
        Framing::Length(n) => Out::Length(n),
        Framing::Chunked | Framing::Close if client_minor >= 1 => Out::Chunked,
        Framing::Chunked | Framing::Close => Out::Close,
    }
}

/// Write the head of a response to an ingress client: status line, the upstream's
/// end-to-end fields, the framing, and `Connection: close` when tend closes after it
/// (or `keep-alive` for an HTTP/1.0 client that keeps it).
pub fn client_head(h: &Head, out_framing: Out, client_minor: u8, keep_alive: bool, out: &mut Vec<u8>) {
    let reason = if h.reason.is_empty() { reason(h.status) } else { &h.reason };
    let _ = write!(out, "HTTP/1.{client_minor} {} {reason}\r\n", h.status);
    for (n, v) in &h.headers {
        out.extend_from_slice(n.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(v);
        out.extend_from_slice(b"\r\n");
    }
    match out_framing {
        Out::Length(n) => {
            let _ = write!(out, "Content-Length: {n}\r\n");
        }
        Out::Chunked => out.extend_from_slice(b"Transfer-Encoding: chunked\r\n"),
        Out::None => {
            if let (Some(n), false) = (h.content_length, h.status == 204 || h.status < 200) {
                let _ = write!(out, "Content-Length: {n}\r\n");
            }
        }
        Out::Close => {}
    }
    if !keep_alive || out_framing == Out::Close {
        out.extend_from_slice(b"Connection: close\r\n");
    } else if client_minor == 0 {
        out.extend_from_slice(b"Connection: keep-alive\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// A response tend answers itself: a JSON body (`application/problem+json` for errors,
/// `application/json` otherwise).
pub fn own_response(
    status: u16,
    content_type: &str,
    body: &[u8],
    client_minor: u8,
    keep_alive: bool,
    head_only: bool,
    out: &mut Vec<u8>,
) {
    let _ = write!(
        out,
        "HTTP/1.{client_minor} {status} {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nCache-Control: no-store\r\n",
        reason(status),
        body.len()
    );
    if status == 503 {
        out.extend_from_slice(b"Retry-After: 1\r\n");
    }
    if !keep_alive {
        out.extend_from_slice(b"Connection: close\r\n");
    } else if client_minor == 0 {
        out.extend_from_slice(b"Connection: keep-alive\r\n");
    }
    out.extend_from_slice(b"\r\n");
    if !head_only {
        out.extend_from_slice(body);
    }
}

/// `{"title": ..., "status": N, "detail": ...}` (RFC 9457).
pub fn problem(title: &str, status: u16, detail: &str) -> Vec<u8> {
    let v = serde_json::json!({ "title": title, "status": status, "detail": detail });
    let mut b = serde_json::to_vec(&v).unwrap_or_default();
    b.push(b'\n');
    b
}

/// The reason phrase tend uses for a status.
pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Content Too Large",
        417 => "Expectation Failed",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str, head: bool) -> Head {
        parse(s.as_bytes(), head, 8192).unwrap().unwrap().0
    }

    #[test]
    fn framing_rules() {
        assert_eq!(p("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc", false).framing, Framing::Length(3));
        assert_eq!(p("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", false).framing, Framing::Chunked);
        let close = p("HTTP/1.0 200 OK\r\n\r\n", false);
        assert_eq!((close.framing, close.close), (Framing::Close, true));
        let head = p("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n", true);
        assert_eq!((head.framing, head.content_length), (Framing::None, Some(9)));
        assert_eq!(p("HTTP/1.1 204 No Content\r\n\r\n", false).framing, Framing::None);
        assert!(p("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", false).close);
        assert!(!p("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false).close);
    }

    #[test]
    fn garbage_and_conflicts() {
        assert!(parse(b"SSH-2.0-OpenSSH\r\n\r\n", false, 8192).is_err());
        assert!(parse(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", false, 8192).is_err());
        assert!(parse(b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", false, 8192).is_err());
        assert!(parse(b"HTTP/1.1 200 OK\r\n", false, 8192).unwrap().is_none());
        assert!(parse(&[b'a'; 9000], false, 8192).is_err());
    }

    #[test]
    fn hop_by_hop_fields_are_dropped() {
        let h = p(
            "HTTP/1.1 200 OK\r\nConnection: X-A\r\nX-A: 1\r\nKeep-Alive: 5\r\nServer: s\r\nContent-Length: 0\r\n\r\n",
            false,
        );
        assert_eq!(h.headers, vec![("Server".to_string(), b"s".to_vec())]);
        let mut out = Vec::new();
        client_head(&h, out_framing(&h, 1), 1, true, &mut out);
        assert_eq!(out, b"HTTP/1.1 200 OK\r\nServer: s\r\nContent-Length: 0\r\n\r\n");
        let c = p("HTTP/1.1 200 OK\r\n\r\n", false);
        assert_eq!(out_framing(&c, 1), Out::Chunked);
        assert_eq!(out_framing(&c, 0), Out::Close);
    }
}
