//! Helpers for the forwarding tests (tests/fwd_*.rs): the Python upstream on a Unix
//! socket (tests/data/upstream.py), a config around it, and a small HTTP/1.1 client
//! over TCP that reads responses with tend's own sans-IO parsers.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::support::{ctl_ok, TestDir, DEADLINE};

/// The upstream script.
pub fn upstream_py() -> String {
    format!("{}/tests/data/upstream.py", env!("CARGO_MANIFEST_DIR"))
}

/// A free TCP port on 127.0.0.1 (bound and released: good enough for a test).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// `[service.NAME]` running the upstream on DIR/NAME.sock, ready once the socket
/// accepts connections; `extra` lines follow.
pub fn upstream_service(dir: &TestDir, name: &str, extra: &str) -> String {
    let sock = dir.join(format!("{name}.sock")).display().to_string();
    format!(
        "[service.{name}]\ncommand = [\"python3\", \"{py}\", \"{sock}\"]\nsocket = \"{sock}\"\n\
         ready = {{ unix = \"{sock}\", interval = \"50ms\" }}\n{extra}\n",
        py = upstream_py()
    )
}

/// Wait until every service is ready (`tend wait-ready`).
#[track_caller]
pub fn wait_ready(dir: &TestDir) {
    ctl_ok(dir, &["wait-ready", "--timeout", "20s"]);
}

/// One HTTP response as a client saw it.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.text()))
    }
}

/// A client connection to the ingress.
pub struct Client {
    pub s: TcpStream,
    buf: Vec<u8>,
}

impl Client {
    #[track_caller]
    pub fn connect(port: u16) -> Client {
        let s = TcpStream::connect(("127.0.0.1", port)).unwrap_or_else(|e| panic!("connecting to :{port}: {e}"));
        s.set_read_timeout(Some(DEADLINE)).expect("timeout");
        Client { s, buf: Vec::new() }
    }

    #[track_caller]
    pub fn send(&mut self, bytes: &[u8]) {
        self.s.write_all(bytes).unwrap_or_else(|e| panic!("writing to the ingress: {e}"));
    }

    /// Read more; false at EOF (or a reset).
    fn fill(&mut self) -> bool {
        let mut b = [0u8; 65536];
        match self.s.read(&mut b) {
            Ok(0) => false,
            Ok(n) => {
                self.buf.extend_from_slice(&b[..n]);
                true
            }
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => false,
            Err(e) => panic!("reading from the ingress: {e} (nothing within {DEADLINE:?}?)"),
        }
    }

    /// The next response (to a request that was not HEAD), or None if the connection
    /// ended first.
    #[track_caller]
    pub fn response(&mut self) -> Option<Resp> {
        self.response_to(false)
    }

    #[track_caller]
    pub fn response_to(&mut self, head_request: bool) -> Option<Resp> {
        use tend::http::response::{parse, Framing};
        let (head, used) = loop {
            match parse(&self.buf, head_request, 1 << 20) {
                Ok(Some(x)) => break x,
                Ok(None) => {
                    if !self.fill() {
                        assert!(
                            self.buf.is_empty(),
                            "the connection ended mid-head: {:?}",
                            String::from_utf8_lossy(&self.buf)
                        );
                        return None;
                    }
                }
                Err(e) => panic!("bad response from the ingress: {e}: {:?}", String::from_utf8_lossy(&self.buf)),
            }
        };
        self.buf.drain(..used);
        let mut body = Vec::new();
        match head.framing {
            Framing::None => {}
            Framing::Length(n) => {
                while (self.buf.len() as u64) < n {
                    assert!(self.fill(), "the connection ended {} bytes into a {n}-byte body", self.buf.len());
                }
                body = self.buf.drain(..n as usize).collect();
            }
            Framing::Chunked => {
                let mut d = tend::http::chunked::Decoder::new();
                loop {
                    let used = d.feed(&self.buf, &mut body).expect("a valid chunked body");
                    self.buf.drain(..used);
                    if d.is_done() {
                        break;
                    }
                    assert!(self.fill(), "the connection ended in a chunked body");
                }
            }
            Framing::Close => {
                while self.fill() {}
                body = std::mem::take(&mut self.buf);
            }
        }
        let mut headers: Vec<(String, String)> =
            head.headers.iter().map(|(n, v)| (n.clone(), String::from_utf8_lossy(v).into_owned())).collect();
        if let Some(n) = head.content_length {
            headers.push(("Content-Length".into(), n.to_string()));
        }
        if head.close {
            headers.push(("Connection".into(), "close".into()));
        }
        Some(Resp { status: head.status, headers, body })
    }

    /// True if the server closes the connection (within the deadline) without sending
    /// anything more.
    pub fn closed(&mut self) -> bool {
        !self.fill() && self.buf.is_empty()
    }

    /// One GET on this connection.
    #[track_caller]
    pub fn get(&mut self, path: &str) -> Resp {
        self.send(format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").as_bytes());
        self.response().unwrap_or_else(|| panic!("no response to GET {path}"))
    }
}

/// One request on a fresh connection.
#[track_caller]
pub fn get(port: u16, path: &str) -> Resp {
    Client::connect(port).get(path)
}

/// Poll `f` every 20 ms until it holds, at most `timeout`.
pub fn eventually(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = std::time::Instant::now() + timeout;
    while std::time::Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    f()
}
