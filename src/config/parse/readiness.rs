//! The readiness keys of a service: `ready`, `health` (probes), `depends_on`, and the
//! dependency graph check (unknown names, cycles) once every service is known.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::ops::Range;
use std::path::PathBuf;

use super::{
    boolean, child, choice, command, duration, entries, integer_in, quoted_list, string, table, type_error,
    unknown_key, Cx, Result, Value,
};
use crate::config::{defaults, Condition, Dependency, HealthCheck, OnDependencyFailure, Probe, ProbeTiming, Ready};
use toml::de::DeValue;

const PROBE_KINDS: &[&str] = &["exec", "tcp", "unix", "http"];
const READY_KEYS: &[&str] = &["notify", "fd", "exec", "tcp", "unix", "http", "interval", "timeout", "initial_delay"];
const HEALTH_KEYS: &[&str] = &["exec", "tcp", "unix", "http", "interval", "timeout", "initial_delay", "retries"];

pub(super) const CONDITIONS: &[(&str, Condition)] = &[
    ("started", Condition::Started),
    ("ready", Condition::Ready),
    ("healthy", Condition::Healthy),
    ("completed", Condition::Completed),
];

pub(super) const ON_DEPENDENCY_FAILURE: &[(&str, OnDependencyFailure)] =
    &[("wait", OnDependencyFailure::Wait), ("fail", OnDependencyFailure::Fail)];

/// `ready = "notify"`, or a table with exactly one of `notify`, `fd`, or a probe.
pub(super) fn ready(cx: &Cx, key: &str, v: &Value) -> Result<Ready> {
    if let DeValue::String(s) = v.get_ref() {
        return match s.as_ref() {
            "notify" => Ok(Ready::Notify),
            other => Err(cx.error(
                v.span(),
                key,
                format!(
                    "unknown value {other:?}: expected \"notify\", or a table such as {{ fd = 3 }}, \
                     {{ tcp = \"127.0.0.1:5432\" }}, {{ unix = PATH }}, {{ http = URL }} or {{ exec = COMMAND }}"
                ),
            )),
        };
    }
    let t = table(cx, key, v).map_err(|_| type_error(cx, key, v, "\"notify\" or a table"))?;
    let mut kind: Option<(String, Ready)> = None;
    let mut timing = ProbeTiming {
        interval: defaults::PROBE_INTERVAL,
        timeout: defaults::PROBE_TIMEOUT,
        initial_delay: std::time::Duration::ZERO,
    };
    let mut timing_key: Option<(String, Range<usize>)> = None;
    for (k, v) in entries(t) {
        let name = k.get_ref().as_ref();
        let ckey = child(key, name);
        let this = match name {
            "notify" => {
                if !boolean(cx, &ckey, v)? {
                    return Err(cx.error(v.span(), &ckey, "only `notify = true` has a meaning"));
                }
                Ready::Notify
            }
            "fd" => Ready::Fd(integer_in(cx, &ckey, v, 3, 1023)? as i32),
            "exec" | "tcp" | "unix" | "http" => Ready::Probe(probe(cx, &ckey, name, v)?, timing),
            "interval" | "timeout" | "initial_delay" => {
                let d = duration(cx, &ckey, v)?;
                if name != "initial_delay" && d.is_zero() {
                    return Err(cx.error(v.span(), &ckey, format!("{name} must be greater than 0")));
                }
                match name {
                    "interval" => timing.interval = d,
                    "timeout" => timing.timeout = d,
                    _ => timing.initial_delay = d,
                }
                timing_key = Some((ckey, k.span()));
                continue;
            }
            _ => return Err(unknown_key(cx, key, k, READY_KEYS)),
        };
        if let Some((prev, _)) = &kind {
            return Err(cx.error(k.span(), &ckey, format!("`{name}` and `{prev}` are exclusive: give one")));
        }
        kind = Some((name.to_string(), this));
    }
    match kind {
        None => {
            Err(cx.error(v.span(), key, "expected one of `notify`, `fd`, `exec`, `tcp`, `unix` or `http` in the table"))
        }
        Some((_, Ready::Probe(p, _))) => Ok(Ready::Probe(p, timing)),
        Some((name, r)) => match timing_key {
            Some((tk, span)) => Err(cx.error(span, &tk, format!("only probes have timing; `{name}` has none"))),
            None => Ok(r),
        },
    }
}

/// `health = { tcp = "...", interval, timeout, retries, initial_delay }`.
pub(super) fn health(cx: &Cx, key: &str, v: &Value) -> Result<HealthCheck> {
    let t = table(cx, key, v)?;
    let mut p = None;
    let mut timing = ProbeTiming {
        interval: defaults::HEALTH_INTERVAL,
        timeout: defaults::HEALTH_TIMEOUT,
        initial_delay: std::time::Duration::ZERO,
    };
    let mut retries = defaults::HEALTH_RETRIES;
    for (k, v) in entries(t) {
        let name = k.get_ref().as_ref();
        let ckey = child(key, name);
        match name {
            "exec" | "tcp" | "unix" | "http" => {
                if let Some((prev, _)) = &p {
                    return Err(cx.error(k.span(), &ckey, format!("`{name}` and `{prev}` are exclusive: give one")));
                }
                p = Some((name.to_string(), probe(cx, &ckey, name, v)?));
            }
            "interval" | "timeout" => {
                let d = duration(cx, &ckey, v)?;
                if d.is_zero() {
                    return Err(cx.error(v.span(), &ckey, format!("{name} must be greater than 0")));
                }
                if name == "interval" {
                    timing.interval = d;
                } else {
                    timing.timeout = d;
                }
            }
            "initial_delay" => timing.initial_delay = duration(cx, &ckey, v)?,
            "retries" => retries = integer_in(cx, &ckey, v, 1, 1000)? as u32,
            _ => return Err(unknown_key(cx, key, k, HEALTH_KEYS)),
        }
    }
    match p {
        Some((_, probe)) => Ok(HealthCheck { probe, timing, retries }),
        None => Err(cx.error(
            v.span(),
            key,
            format!("missing the probe: expected one of {} in the table", quoted_list(PROBE_KINDS)),
        )),
    }
}

fn probe(cx: &Cx, key: &str, kind: &str, v: &Value) -> Result<Probe> {
    match kind {
        "exec" => Ok(Probe::Exec(command(cx, key, v)?)),
        "tcp" => {
            let s = string(cx, key, v)?;
            tcp_addr(s).map(Probe::Tcp).map_err(|m| cx.error(v.span(), key, m))
        }
        "unix" => {
            let s = string(cx, key, v)?;
            if !s.starts_with('/') || s.contains('\0') {
                return Err(cx.error(v.span(), key, "expected an absolute path to a Unix socket"));
            }
            Ok(Probe::Unix(PathBuf::from(s)))
        }
        _ => {
            let s = string(cx, key, v)?;
            http_url(s).map_err(|m| cx.error(v.span(), key, m))
        }
    }
}

/// `HOST:PORT` where HOST is an IP address (IPv6 in brackets) or `localhost`: names
/// are not resolved, since resolving would block the loop.
fn tcp_addr(s: &str) -> std::result::Result<SocketAddr, String> {
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Ok(a);
    }
    let bad = || format!("{s:?} is not HOST:PORT with HOST an IP address or \"localhost\" (names are not resolved)");
    let (host, port) = s.rsplit_once(':').ok_or_else(bad)?;
    let port: u16 = port.parse().map_err(|_| bad())?;
    match host {
        "localhost" => Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port)),
        _ => Err(bad()),
    }
}

/// `http://HOST[:PORT][/PATH]`, HOST as for tcp.
fn http_url(s: &str) -> std::result::Result<Probe, String> {
    let Some(rest) = s.strip_prefix("http://") else {
        return Err(format!("{s:?} is not an http:// URL (https is not supported by probes)"));
    };
    let (hostport, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if path.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err(format!("{s:?}: the path must not contain spaces or control characters"));
    }
    let with_port = if hostport.ends_with(']') || !hostport.contains(':') {
        format!("{hostport}:80")
    } else {
        hostport.to_string()
    };
    let addr = tcp_addr(&with_port).map_err(|m| format!("{s:?}: {m}"))?;
    Ok(Probe::Http { addr, host: hostport.to_string(), path: path.to_string() })
}

/// `depends_on = { db = "ready", cache = "started" }`, or `["db", "cache"]` (started).
/// Each entry keeps its span for the graph check.
pub(super) fn depends_on(cx: &Cx, key: &str, v: &Value) -> Result<Vec<(Dependency, Range<usize>)>> {
    let mut out = Vec::new();
    match v.get_ref() {
        DeValue::Array(items) => {
            for it in items {
                let s = string(cx, key, it)?;
                out.push((Dependency { service: s.to_string(), condition: Condition::Started }, it.span()));
            }
        }
        DeValue::Table(t) => {
            for (k, v) in entries(t) {
                let name = k.get_ref().as_ref();
                let condition = choice(cx, &child(key, name), v, CONDITIONS)?;
                out.push((Dependency { service: name.to_string(), condition }, k.span()));
            }
        }
        _ => return Err(type_error(cx, key, v, "a table such as { db = \"ready\" } or an array of service names")),
    }
    Ok(out)
}

/// Per `[service.NAME]` table, in file order: its name, its `depends_on` key path, and
/// the entries with their spans.
pub(super) type Graph = Vec<(String, String, Vec<(Dependency, Range<usize>)>)>;

/// Every name exists and is not the service itself; no cycle.
pub(super) fn check_graph(cx: &Cx, graph: &Graph) -> Result<()> {
    let index: BTreeMap<&str, usize> = graph.iter().enumerate().map(|(i, (n, _, _))| (n.as_str(), i)).collect();
    for (name, key, deps) in graph {
        for (d, span) in deps {
            if d.service == *name {
                return Err(cx.error(span.clone(), key, format!("service \"{name}\" cannot depend on itself")));
            }
            if !index.contains_key(d.service.as_str()) {
                let known: Vec<&str> = graph.iter().map(|(n, _, _)| n.as_str()).filter(|n| n != name).collect();
                let msg = format!("unknown service \"{}\", expected one of {}", d.service, quoted_list(&known));
                return Err(cx.error(span.clone(), key, msg));
            }
        }
    }
    // Depth-first search with colours; the first back edge found (in file order) is the
    // cycle reported, from the service where it closes.
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    let mut mark = vec![Mark::New; graph.len()];
    for start in 0..graph.len() {
        if mark[start] != Mark::New {
            continue;
        }
        // (node, next edge index)
        let mut stack: Vec<(usize, usize)> = vec![(start, 0)];
        mark[start] = Mark::Open;
        while let Some(&mut (node, ref mut edge)) = stack.last_mut() {
            let deps = &graph[node].2;
            if *edge == deps.len() {
                mark[node] = Mark::Done;
                stack.pop();
                continue;
            }
            let (d, span) = &deps[*edge];
            *edge += 1;
            let next = index[d.service.as_str()];
            match mark[next] {
                Mark::Done => {}
                Mark::New => {
                    mark[next] = Mark::Open;
                    stack.push((next, 0));
                }
                Mark::Open => {
                    let from = stack.iter().position(|&(n, _)| n == next).unwrap_or(0);
                    let mut names: Vec<&str> = stack[from..].iter().map(|&(n, _)| graph[n].0.as_str()).collect();
                    names.push(graph[next].0.as_str());
                    let msg = format!("dependency cycle: {}", names.join(" -> "));
                    return Err(cx.error(span.clone(), &graph[node].1, msg));
                }
            }
        }
    }
    Ok(())
}
