//! Request smuggling shapes on the HTTP ingress (issue 9, hostile input): every request
//! whose body framing could be read two ways, and every malformed head, is refused with
//! its status (400, 413, 431, 501) and `Connection: close`, the connection is closed,
//! and the upstream never sees the request hidden in it: the upstream logs every
//! request line it reads ($UPSTREAM_LOG, tests/data/upstream.py), and the log holds
//! exactly the honest requests. tests/fwd_ingress.rs has the basic malformed cases;
//! src/http/request.rs the parser's unit tests.

mod fwd;
mod support;

use fwd::{free_port, upstream_service, wait_ready, Client};
use support::{start_serving, TestDir};

/// A request the upstream must never see.
fn smuggled(n: usize) -> String {
    format!("GET /smuggled-{n} HTTP/1.1\r\nHost: t\r\n\r\n")
}

/// (what, request bytes, status): the head, then a body that carries a hidden request.
fn cases() -> Vec<(&'static str, Vec<u8>, u16)> {
    let post = |headers: &str, body: &str| format!("POST /echo HTTP/1.1\r\nHost: t\r\n{headers}\r\n{body}");
    let hidden = |n| format!("0\r\n\r\n{}", smuggled(n));
    let s = |x: String| x.into_bytes();
    let big = "a".repeat(20_000);
    let many: String = (0..300).map(|i| format!("X-{i}: v\r\n")).collect();
    vec![
        ("CL then TE", s(post("Content-Length: 44\r\nTransfer-Encoding: chunked\r\n", &hidden(1))), 400),
        ("TE then CL", s(post("Transfer-Encoding: chunked\r\nContent-Length: 44\r\n", &hidden(2))), 400),
        ("CL 0 and TE", s(post("Content-Length: 0\r\nTransfer-Encoding: chunked\r\n", &hidden(3))), 400),
        ("two differing CLs", s(post("Content-Length: 5\r\nContent-Length: 43\r\n", &hidden(4))), 400),
        ("two equal CLs", s(post("Content-Length: 43\r\nContent-Length: 43\r\n", &hidden(5))), 400),
        ("CL list", s(post("Content-Length: 5, 43\r\n", &hidden(6))), 400),
        ("CL with a sign", s(post("Content-Length: +5\r\n", &hidden(7))), 400),
        ("CL negative", s(post("Content-Length: -1\r\n", &hidden(8))), 400),
        ("CL in hex", s(post("Content-Length: 0x5\r\n", &hidden(9))), 400),
        ("CL of 20 digits", s(post("Content-Length: 18446744073709551621\r\n", &hidden(10))), 400),
        ("CL empty", s(post("Content-Length: \r\n", &hidden(11))), 400),
        ("TE not chunked-last", s(post("Transfer-Encoding: chunked, identity\r\n", &hidden(12))), 400),
        ("TE identity", s(post("Transfer-Encoding: identity\r\n", &hidden(13))), 400),
        ("TE xchunked", s(post("Transfer-Encoding: xchunked\r\n", &hidden(14))), 400),
        ("TE empty", s(post("Transfer-Encoding: \r\n", &hidden(15))), 400),
        ("TE gzip, chunked", s(post("Transfer-Encoding: gzip, chunked\r\n", &hidden(16))), 501),
        (
            "TE chunked in two fields",
            s(post("Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n", &hidden(17))),
            501,
        ),
        ("TE in HTTP/1.0", s(format!("POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n{}", hidden(18))), 400),
        ("obs-fold hiding TE", s(post("X-A: 1\r\n Transfer-Encoding: chunked\r\n", &hidden(19))), 400),
        ("obs-fold of TE's value", s(post("Transfer-Encoding:\r\n chunked\r\n", &hidden(20))), 400),
        ("space before the colon", s(post("Transfer-Encoding : chunked\r\n", &hidden(21))), 400),
        ("tab before the colon", s(post("Content-Length\t: 43\r\n", &hidden(22))), 400),
        ("NUL in a value", s(post("X-A: a\0b\r\nContent-Length: 43\r\n", &hidden(23))), 400),
        ("NUL in a name", s(post("X-\0A: a\r\nContent-Length: 43\r\n", &hidden(24))), 400),
        ("bare CR in a value", s(post("X-A: a\rContent-Length: 43\r\n", &hidden(25))), 400),
        ("bare LF head", s(format!("POST /echo HTTP/1.1\nHost: t\nContent-Length: 43\n\n{}", hidden(26))), 400),
        (
            "bare LF inside a CRLF head",
            s(format!("POST /echo HTTP/1.1\r\nHost: t\nTransfer-Encoding: chunked\r\n\r\n{}", hidden(27))),
            400,
        ),
        (
            "two Hosts",
            s(format!("POST /echo HTTP/1.1\r\nHost: t\r\nHost: u\r\nContent-Length: 43\r\n\r\n{}", hidden(28))),
            400,
        ),
        (
            "chunk size overflow",
            s(post("Transfer-Encoding: chunked\r\n", &format!("ffffffffffffffffff1\r\n{}", smuggled(29)))),
            400,
        ),
        (
            "chunk size with a sign",
            s(post("Transfer-Encoding: chunked\r\n", &format!("+5\r\nhello\r\n{}", hidden(30)))),
            400,
        ),
        (
            "chunk without its CRLF",
            s(post("Transfer-Encoding: chunked\r\n", &format!("5\r\nhelloXX{}", hidden(31)))),
            400,
        ),
        ("overlong header line", s(post(&format!("X-Big: {big}\r\nContent-Length: 43\r\n"), &hidden(32))), 431),
        ("too many header fields", s(post(&format!("{many}Content-Length: 43\r\n"), &hidden(33))), 431),
        ("body over max_body", s(post("Content-Length: 99999999\r\n", &hidden(34))), 413),
    ]
}

#[test]
fn smuggling_shapes_are_refused_and_never_reach_the_upstream() {
    let dir = TestDir::new("hostile-http");
    let port = free_port();
    let log = dir.join("upstream.log");
    let env = format!("env = {{ UPSTREAM_LOG = \"{}\" }}", log.display());
    let cfg = format!(
        "[ingress]\nlisten = \"127.0.0.1:{port}\"\nroutes = {{ \"/\" = \"web\" }}\nmax_body = \"1MiB\"\n\n{}",
        upstream_service(&dir, "web", &env)
    );
    let _tend = start_serving(&dir, &cfg);
    wait_ready(&dir);
    let mut honest = vec!["GET /echo?before".to_string()];
    let mut good = Client::connect(port);
    assert_eq!(good.get("/echo?before").status, 200);

    let mut failures = Vec::new();
    for (i, (what, bytes, status)) in cases().into_iter().enumerate() {
        // Alone on a fresh connection, and pipelined behind an honest request.
        for behind in [false, true] {
            let mut c = Client::connect(port);
            let mut all = Vec::new();
            if behind {
                let path = format!("/echo?honest-{i}");
                all.extend_from_slice(format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
                honest.push(format!("GET {path}"));
            }
            all.extend_from_slice(&bytes);
            // tend may close before reading everything (a 431 head): that is its right.
            let _ = std::io::Write::write_all(&mut c.s, &all);
            if behind {
                match c.response() {
                    Some(r) if r.status == 200 => {}
                    other => failures.push(format!("{what}: the honest request before it got {other:?}")),
                }
            }
            match c.response() {
                None => failures.push(format!("{what} (behind: {behind}): closed without a response")),
                Some(r) => {
                    if r.status != status {
                        failures.push(format!(
                            "{what} (behind: {behind}): {} instead of {status}: {}",
                            r.status,
                            r.text()
                        ));
                    }
                    if r.header("Connection") != Some("close") {
                        failures.push(format!("{what}: no Connection: close ({:?})", r.headers));
                    }
                    if !c.closed() {
                        failures.push(format!("{what}: the connection stayed open"));
                    }
                }
            }
        }
    }
    // The honest client never noticed, and the upstream saw only honest requests.
    assert_eq!(good.get("/echo?after").status, 200);
    honest.push("GET /echo?after".into());
    let seen: Vec<String> = dir.read("upstream.log").lines().map(str::to_string).collect();
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
    let mut want = honest.clone();
    want.sort();
    let mut got = seen.clone();
    got.sort();
    assert_eq!(got, want, "the upstream's request log is not exactly the honest requests");
    eprintln!("hostile http: {} shapes, alone and pipelined: all refused; the upstream saw {} honest requests and nothing else", cases().len(), seen.len());
}
