//! The forwarding keys: a service's `socket` and `request_timeout`, the `[forward]`
//! table (worker pool) and the `[ingress]` table (HTTP listener and routes). Routes are
//! checked once every service is known.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::{child, duration, entries, integer_in, path_value, size, string, table, unknown_key, Cx, Result, Value};
use crate::config::{defaults, Forward, Ingress, ServiceConfig};
use crate::http::request::Limits;
use crate::http::route::{self, Route};

const FORWARD_KEYS: &[&str] = &["workers", "queue", "request_timeout"];
const INGRESS_KEYS: &[&str] =
    &["listen", "routes", "max_connections", "max_header_bytes", "max_headers", "max_body", "idle_timeout"];

/// A service's `socket`: a path that fits in a Unix socket address.
pub(super) fn socket(cx: &Cx, key: &str, v: &Value) -> Result<PathBuf> {
    let p = path_value(cx, key, v)?;
    let max = crate::daemon::control::MAX_SOCKET_PATH;
    if p.as_os_str().len() > max {
        let msg =
            format!("socket path is {} bytes long: at most {max} fit in a Unix socket address", p.as_os_str().len());
        return Err(cx.error(v.span(), key, msg));
    }
    Ok(p)
}

/// A request timeout: more than 0, at most a day.
pub(super) fn timeout(cx: &Cx, key: &str, v: &Value) -> Result<Duration> {
    let d = duration(cx, key, v)?;
    if d.is_zero() || d > Duration::from_secs(86_400) {
        return Err(cx.error(v.span(), key, "request_timeout must be greater than 0 and at most 24h"));
    }
    Ok(d)
}

pub(super) fn forward_table(cx: &Cx, v: &Value) -> Result<Forward> {
    let mut f = Forward::default();
    for (k, v) in entries(table(cx, "forward", v)?) {
        let key = child("forward", k.get_ref().as_ref());
        match k.get_ref().as_ref() {
            "workers" => f.workers = integer_in(cx, &key, v, 1, 256)? as usize,
            "queue" => f.queue = integer_in(cx, &key, v, 1, 1_000_000)? as usize,
            "request_timeout" => f.request_timeout = timeout(cx, &key, v)?,
            _ => return Err(unknown_key(cx, "forward", k, FORWARD_KEYS)),
        }
    }
    Ok(f)
}

fn size_in(cx: &Cx, key: &str, v: &Value, lo: u64, hi: u64, what: &str) -> Result<u64> {
    let n = size(cx, key, v)?;
    if !(lo..=hi).contains(&n) {
        return Err(cx.error(v.span(), key, format!("{n} is out of range: expected {what}")));
    }
    Ok(n)
}

/// `[ingress]`: `listen` is required; every route names a service with a `socket`.
pub(super) fn ingress_table(cx: &Cx, v: &Value, services: &[ServiceConfig]) -> Result<Ingress> {
    let t = table(cx, "ingress", v)?;
    let mut listen = None;
    let mut routes = Vec::new();
    let mut ing = Ingress {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        routes: Vec::new(),
        max_connections: defaults::INGRESS_MAX_CONNECTIONS,
        limits: Limits {
            max_head: defaults::INGRESS_MAX_HEAD,
            max_headers: defaults::INGRESS_MAX_HEADERS,
            max_body: defaults::INGRESS_MAX_BODY,
        },
        idle_timeout: defaults::INGRESS_IDLE_TIMEOUT,
    };
    for (k, v) in entries(t) {
        let key = child("ingress", k.get_ref().as_ref());
        match k.get_ref().as_ref() {
            "listen" => {
                let s = string(cx, &key, v)?;
                let addr = s.parse::<SocketAddr>().map_err(|_| {
                    cx.error(
                        v.span(),
                        &key,
                        format!("{s:?} is not an address: expected IP:PORT, e.g. \"127.0.0.1:8080\""),
                    )
                })?;
                listen = Some(addr);
            }
            "routes" => {
                for (rk, rv) in entries(table(cx, &key, v)?) {
                    let rkey = child(&key, rk.get_ref().as_ref());
                    let Some((host, prefix)) = route::parse_key(rk.get_ref().as_ref()) else {
                        return Err(cx.error(
                            rk.span(),
                            &rkey,
                            "a route is \"/PREFIX\" or \"HOST/PREFIX\" (e.g. \"/api\", \"api.example.com/\")",
                        ));
                    };
                    let name = string(cx, &rkey, rv)?;
                    check_target(cx, &rkey, rv, name, services)?;
                    routes.push(Route { host, prefix, service: name.to_string() });
                }
            }
            "max_connections" => ing.max_connections = integer_in(cx, &key, v, 1, 1_000_000)? as usize,
            "max_header_bytes" => ing.limits.max_head = size_in(cx, &key, v, 1024, 1 << 20, "1KiB to 1MiB")? as usize,
            "max_headers" => ing.limits.max_headers = integer_in(cx, &key, v, 1, 1000)? as usize,
            "max_body" => ing.limits.max_body = size_in(cx, &key, v, 0, 1 << 30, "0 to 1GiB")?,
            "idle_timeout" => {
                let d = duration(cx, &key, v)?;
                if d.is_zero() {
                    return Err(cx.error(v.span(), &key, "idle_timeout must be greater than 0"));
                }
                ing.idle_timeout = d;
            }
            _ => return Err(unknown_key(cx, "ingress", k, INGRESS_KEYS)),
        }
    }
    let Some(listen) = listen else {
        return Err(cx.error(v.span(), "ingress", "missing required key \"listen\" (e.g. \"127.0.0.1:8080\")"));
    };
    ing.listen = listen;
    ing.routes = routes;
    Ok(ing)
}

/// A route's service exists, is one process (not a service with instances), and has a
/// `socket` to forward to.
fn check_target(cx: &Cx, key: &str, v: &Value, name: &str, services: &[ServiceConfig]) -> Result<()> {
    match services.iter().find(|s| s.name == name) {
        Some(s) if s.socket.is_some() => Ok(()),
        Some(_) => Err(cx.error(
            v.span(),
            key,
            format!("service \"{name}\" has no `socket`: set [service.{name}] socket = PATH to forward to it"),
        )),
        None if services.iter().any(|s| s.base == name) => Err(cx.error(
            v.span(),
            key,
            format!("service \"{name}\" has instances: a route names one of them (\"{name}.0\", ...)"),
        )),
        None => {
            let known: Vec<&str> = services.iter().map(|s| s.name.as_str()).collect();
            Err(cx.error(
                v.span(),
                key,
                format!("unknown service \"{name}\", expected one of {}", super::quoted_list(&known)),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::Duration;

    use crate::config::{parse_str, Config, ConfigError};

    const WEB: &str = "[service.web]\ncommand = \"x\"\nsocket = \"/run/web.sock\"\n\
                       [service.plain]\ncommand = \"x\"\n[service.many]\ncommand = \"x\"\ninstances = 2\nsocket = \"/s\"\n";

    fn parse(text: &str) -> Result<Config, ConfigError> {
        parse_str(text, Path::new("tend.toml"))
    }

    /// The error at `line` names `key` and says `fragment`, as `tend.toml:LINE:COL: KEY: ...`.
    fn check(text: &str, line: usize, key: &str, fragment: &str) {
        let e = match parse(text) {
            Ok(c) => panic!("expected an error, got {c:?}"),
            Err(e) => e,
        };
        assert_eq!((e.line(), e.key()), (Some(line), Some(key)), "{e}");
        assert!(e.message().contains(fragment), "{e} lacks {fragment:?}");
        assert!(e.to_string().starts_with(&format!("tend.toml:{line}:")), "{e}");
    }

    #[test]
    fn keys_and_defaults() {
        let c = parse(&format!(
            "[forward]\nworkers = 2\nqueue = 10\nrequest_timeout = \"5s\"\n\
             [ingress]\nlisten = \"127.0.0.1:8080\"\nroutes = {{ \"/api\" = \"web\", \"h.example/\" = \"many.1\" }}\n\
             max_body = \"2MiB\"\nmax_headers = 10\nmax_header_bytes = \"4KiB\"\nidle_timeout = \"5s\"\n{WEB}\
             request_timeout = \"250ms\"\n"
        ))
        .unwrap();
        assert_eq!((c.forward.workers, c.forward.queue), (2, 10));
        assert_eq!(c.forward.request_timeout, Duration::from_secs(5));
        let ing = c.ingress.unwrap();
        assert_eq!(ing.listen.port(), 8080);
        assert_eq!(ing.routes.len(), 2);
        assert_eq!(ing.routes[1].host.as_deref(), Some("h.example"));
        assert_eq!((ing.limits.max_body, ing.limits.max_headers, ing.limits.max_head), (2 << 20, 10, 4096));
        let many = c.services.iter().find(|s| s.name == "many.1").unwrap();
        assert_eq!(many.request_timeout, Some(Duration::from_millis(250)));
        let d = parse(WEB).unwrap();
        assert_eq!((d.forward.workers, d.forward.queue), (4, 256));
        assert!(d.ingress.is_none());
        assert_eq!(d.services[0].socket.as_deref(), Some(Path::new("/run/web.sock")));
    }

    #[test]
    fn errors_name_file_line_and_key() {
        let ing = |routes: &str| format!("[ingress]\nlisten = \"127.0.0.1:1\"\nroutes = {{ {routes} }}\n{WEB}");
        check(&ing("\"/\" = \"nope\""), 3, "ingress.routes.\"/\"", "unknown service \"nope\"");
        check(&ing("\"/\" = \"plain\""), 3, "ingress.routes.\"/\"", "has no `socket`");
        check(&ing("\"/\" = \"many\""), 3, "ingress.routes.\"/\"", "has instances");
        check(&ing("\"api\" = \"web\""), 3, "ingress.routes.api", "a route is");
        check(&format!("[ingress]\nlisten = \"localhost\"\n{WEB}"), 2, "ingress.listen", "not an address");
        check(&format!("[ingress]\nroutes = {{}}\n{WEB}"), 1, "ingress", "missing required key \"listen\"");
        check(&format!("[ingress]\nlisten = \"127.0.0.1:1\"\nport = 1\n{WEB}"), 3, "ingress.port", "unknown key");
        check(
            &format!("[ingress]\nlisten = \"127.0.0.1:1\"\nmax_body = \"2GiB\"\n{WEB}"),
            3,
            "ingress.max_body",
            "out of range",
        );
        check(&format!("[forward]\nworkers = 0\n{WEB}"), 2, "forward.workers", "out of range");
        check(&format!("[forward]\nrequest_timeout = \"0s\"\n{WEB}"), 2, "forward.request_timeout", "greater than 0");
        check(&format!("{WEB}request_timeout = \"25h\"\n"), 10, "service.many.request_timeout", "at most 24h");
        let long = "/".repeat(200);
        check(&format!("[service.x]\ncommand = \"x\"\nsocket = \"{long}\"\n"), 3, "service.x.socket", "107");
    }
}
