//! A service's `listen` (socket activation): `["tcp:0.0.0.0:8000", "api=unix:/run/app.sock"]`.
//! Each entry is `[NAME=]tcp:IP:PORT` or `[NAME=]unix:/ABSOLUTE/PATH`; NAME (what the
//! service finds in `LISTEN_FDNAMES`) defaults to the service's name.

use std::net::SocketAddr;
use std::ops::Range;
use std::path::PathBuf;

use super::{array, string, Cx, Result, Value};
use crate::config::{Listen, ListenAddr};

/// Most entries one service may list.
const MAX_ENTRIES: usize = 64;
/// Longest name in `LISTEN_FDNAMES` (systemd allows 255; names are identifiers here).
const MAX_NAME: usize = 64;

const FORMS: &str = "expected \"tcp:IP:PORT\" (e.g. \"tcp:0.0.0.0:8000\", \"tcp:[::1]:8000\") or \
                     \"unix:/PATH\", optionally named: \"web=tcp:0.0.0.0:8000\"";

/// The `listen` array, each entry with its span.
pub(super) fn entries(cx: &Cx, key: &str, v: &Value, service: &str) -> Result<Vec<(Listen, Range<usize>)>> {
    let items = array(cx, key, v)?;
    if items.len() > MAX_ENTRIES {
        return Err(cx.error(v.span(), key, format!("at most {MAX_ENTRIES} sockets per service")));
    }
    let mut out: Vec<(Listen, Range<usize>)> = Vec::with_capacity(items.len());
    for item in items {
        let s = string(cx, key, item)?;
        let l = parse_entry(s, service).map_err(|m| cx.error(item.span(), key, m))?;
        if out.iter().any(|(o, _)| o.addr == l.addr) {
            return Err(cx.error(item.span(), key, format!("{} is listed twice", l.addr)));
        }
        out.push((l, item.span()));
    }
    Ok(out)
}

fn valid_name(n: &str) -> bool {
    !n.is_empty() && n.len() <= MAX_NAME && n.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
}

/// One entry; `service` is the default name.
pub fn parse_entry(s: &str, service: &str) -> std::result::Result<Listen, String> {
    let (name, rest) = match s.split_once('=') {
        Some((n, rest)) if !n.contains(':') && !n.contains('/') => {
            if !valid_name(n) {
                return Err(format!("bad name {n:?}: a name is 1 to {MAX_NAME} letters, digits, '_', '.' or '-'"));
            }
            (n.to_string(), rest)
        }
        _ => (service.to_string(), s),
    };
    let addr = if let Some(a) = rest.strip_prefix("tcp:") {
        let addr: SocketAddr = a.parse().map_err(|_| format!("{a:?} is not an address: {FORMS}"))?;
        if addr.port() == 0 {
            return Err(format!("{rest:?}: port 0 is not a fixed port"));
        }
        ListenAddr::Tcp(addr)
    } else if let Some(p) = rest.strip_prefix("unix:") {
        if !p.starts_with('/') {
            return Err(format!("{rest:?}: a unix socket needs an absolute path"));
        }
        if p.contains('\0') {
            return Err("must not contain a NUL character".into());
        }
        let max = crate::daemon::control::MAX_SOCKET_PATH;
        if p.len() > max {
            return Err(format!("socket path is {} bytes long: at most {max} fit in a Unix socket address", p.len()));
        }
        ListenAddr::Unix(PathBuf::from(p))
    } else {
        return Err(format!("{s:?}: {FORMS}"));
    };
    Ok(Listen { addr, name })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let l = parse_entry("tcp:0.0.0.0:8000", "web").unwrap();
        assert_eq!(l, Listen { addr: ListenAddr::Tcp("0.0.0.0:8000".parse().unwrap()), name: "web".into() });
        let l = parse_entry("tcp:[::1]:8000", "web").unwrap();
        assert_eq!(l.addr.to_string(), "tcp:[::1]:8000");
        let l = parse_entry("api=unix:/run/a=b.sock", "web").unwrap();
        assert_eq!((l.name.as_str(), l.addr), ("api", ListenAddr::Unix("/run/a=b.sock".into())));
        let l = parse_entry("unix:/run/a=b.sock", "web").unwrap();
        assert_eq!(l.name, "web");
    }

    #[test]
    fn errors() {
        for (s, want) in [
            ("tcp:localhost:80", "is not an address"),
            ("tcp:1.2.3.4", "is not an address"),
            ("tcp:1.2.3.4:0", "port 0"),
            ("unix:run/a.sock", "absolute path"),
            ("udp:1.2.3.4:5", "expected \"tcp:IP:PORT\""),
            ("a b=tcp:1.2.3.4:5", "bad name"),
            ("=tcp:1.2.3.4:5", "bad name"),
            ("/run/x.sock", "expected"),
        ] {
            let e = parse_entry(s, "web").unwrap_err();
            assert!(e.contains(want), "{s}: {e}");
        }
        let long = format!("unix:/{}", "x".repeat(200));
        assert!(parse_entry(&long, "w").unwrap_err().contains("bytes long"));
    }
}
