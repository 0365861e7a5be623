//! tend.toml text -> validated [`Config`], with errors that name file, line, column and
//! key (`tend.toml:7:11: service.web.restart: unknown value "sometimes", ...`).
//!
//! How: `toml::de::DeTable::parse` keeps the byte span of every key and value. We walk
//! that tree by hand instead of deriving serde structs, so that every table rejects
//! unknown keys with the full dotted path, every type error points at the value, and the
//! cross-key checks (`group` needs `user`, `initial <= max`, `main` names a service) can
//! point at the right line too. Tables are walked in file order (entries sorted by their
//! key's span), so the first error reported is the first one in the file.
//!
//! The only I/O besides reading the file is the user and group lookup for `user` and
//! `group` (getpwnam/getgrnam/getgrouplist), done once here so that a typo in a user name
//! is a config error with a line number rather than a failed start later.

use std::collections::BTreeMap;
use std::ffi::CString;
use std::fmt;
use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::unistd::{Gid, Group, Uid, User};
use toml::de::{DeString, DeTable, DeValue};
use toml::Spanned;

use super::units::{parse_duration, parse_size};
use super::{
    defaults, Backoff, Config, Control, LogOptions, OnMaxRss, Output, Restart, Rlimit, RunAs, ServiceConfig, StartLimit,
};
use crate::daemon::signals::parse_signal;

mod forward;
mod job;
mod listen;
mod readiness;
use crate::daemon::spawn::RlimitResource;

type Key<'i> = Spanned<DeString<'i>>;
type Value<'i> = Spanned<DeValue<'i>>;
type Result<T> = std::result::Result<T, ConfigError>;

/// A configuration error. Displayed as `FILE:LINE:COL: KEY: MESSAGE`; the position and
/// the key are left out only when there is none (an unreadable file has no line; a TOML
/// syntax error outside any key has no key).
#[derive(Debug)]
pub struct ConfigError {
    file: PathBuf,
    /// 1-based line and column (in characters) of the offending key or value.
    pos: Option<(usize, usize)>,
    /// Dotted path of the offending key, as `service.web.backoff.factor`.
    key: Option<String>,
    message: String,
    io: Option<io::Error>,
}

impl ConfigError {
    /// The file, as it was given to [`load`] or [`parse_str`].
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// 1-based line of the offending key or value.
    pub fn line(&self) -> Option<usize> {
        self.pos.map(|(l, _)| l)
    }

    /// 1-based column (counted in characters) of the offending key or value.
    pub fn column(&self) -> Option<usize> {
        self.pos.map(|(_, c)| c)
    }

    /// Full dotted key path, such as `service.web.restart`.
    pub fn key(&self) -> Option<&str> {
        self.key.as_deref()
    }

    /// What is wrong, without file, position or key.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some((line, col)) = self.pos {
            write!(f, ":{line}:{col}")?;
        }
        f.write_str(": ")?;
        if let Some(key) = &self.key {
            write!(f, "{key}: ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.io.as_ref().map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// Read and parse a config file. An unreadable file is an error naming the path and the
/// OS error; a file that is not UTF-8 is an error at the first bad byte.
pub fn load(path: &Path) -> Result<Config> {
    let bytes = std::fs::read(path).map_err(|e| ConfigError {
        file: path.to_path_buf(),
        pos: None,
        key: None,
        message: format!("cannot read: {e}"),
        io: Some(e),
    })?;
    match std::str::from_utf8(&bytes) {
        Ok(text) => parse_str(text, path),
        Err(e) => {
            let good = std::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap_or_default();
            let cx = Cx { text: good, path };
            Err(cx.at(good.len(), None, "the file is not valid UTF-8".into()))
        }
    }
}

/// [`load`] for `tend run`: a file that is unsafe for a root tend (see
/// [`super::trust`]) is an error, or with the override a warning, which is returned
/// alongside the config for the caller to report.
pub fn load_trusted(path: &Path) -> Result<(Config, Option<String>)> {
    let warning = match super::trust::check(path) {
        None => None,
        Some((why, true)) => {
            Some(format!("{}: {why}; used anyway because {}=1", path.display(), super::trust::OVERRIDE_VAR))
        }
        Some((why, false)) => {
            return Err(ConfigError {
                file: path.to_path_buf(),
                pos: None,
                key: None,
                message: format!(
                    "{why}: refusing it (make it root's and not writable by others, e.g. chmod go-w, \
                     or set {}=1)",
                    super::trust::OVERRIDE_VAR
                ),
                io: None,
            })
        }
    };
    Ok((load(path)?, warning))
}

/// Parse config text; `path` is used for messages and kept in [`Config::path`].
pub fn parse_str(text: &str, path: &Path) -> Result<Config> {
    let cx = Cx { text, path };
    let doc = DeTable::parse(text).map_err(|e| cx.syntax_error(&e))?;
    let mut main = None;
    let mut shutdown_timeout = defaults::SHUTDOWN_TIMEOUT;
    let mut log_dir = None;
    let mut service_table = None;
    let mut control = Control::default();
    let mut cgroups = true;
    let mut fwd = super::Forward::default();
    let mut ingress_value = None;
    let mut job_history = defaults::JOB_HISTORY;
    let mut jobs = Vec::new();
    for (k, v) in entries(doc.get_ref()) {
        match k.get_ref().as_ref() {
            "main" => main = Some(v),
            "shutdown_timeout" => shutdown_timeout = duration(&cx, "shutdown_timeout", v)?,
            "log_dir" => log_dir = Some(path_value(&cx, "log_dir", v)?),
            "service" => service_table = Some(v),
            "control" => control = control_table(&cx, v)?,
            "cgroups" => cgroups = boolean(&cx, "cgroups", v)?,
            "forward" => fwd = forward::forward_table(&cx, v)?,
            "ingress" => ingress_value = Some(v),
            "job_history" => job_history = integer_in(&cx, "job_history", v, 1, 1_000_000)? as usize,
            "job" => jobs = job::jobs(&cx, v)?,
            _ => return Err(unknown_key(&cx, "", k, TOP_KEYS)),
        }
    }

    let no_services = "no services defined: add at least one [service.NAME] table";
    let Some(sv) = service_table else {
        return Err(cx.error(0..0, "service", no_services));
    };
    let table = table(&cx, "service", sv)?;
    if table.is_empty() {
        return Err(cx.error(sv.span(), "service", no_services));
    }
    let mut services = Vec::new();
    // (name, instances) of each [service.NAME] table, for `main`.
    let mut bases: Vec<(&str, Option<u32>)> = Vec::new();
    let mut graph: readiness::Graph = Vec::new();
    let mut bound: Vec<(super::ListenAddr, String)> = Vec::new();
    for (k, v) in entries(table) {
        let name = k.get_ref().as_ref();
        let path = child("service", name);
        check_service_name(&cx, &path, k)?;
        let mut parsed = service(&cx, &path, name, k, v)?;
        if let (Some((key, span)), None) = (&parsed.log_file_at, &log_dir) {
            let msg = "log.file = true requires the top-level log_dir (the directory the file is written in)";
            return Err(cx.error(span.clone(), key, msg));
        }
        for (l, span) in &parsed.listen_at {
            if let Some((_, other)) = bound.iter().find(|(a, _)| *a == l.addr) {
                let msg = format!("{} is already in the listen of service \"{other}\"", l.addr);
                return Err(cx.error(span.clone(), &child(&path, "listen"), msg));
            }
        }
        bound.extend(parsed.listen_at.iter().map(|(l, _)| (l.addr.clone(), name.to_string())));
        bases.push((name, parsed.instances));
        graph.push((name.to_string(), child(&path, "depends_on"), std::mem::take(&mut parsed.deps)));
        parsed.expand(&mut services);
    }
    readiness::check_graph(&cx, &graph)?;

    let main = match main {
        None => None,
        Some(v) => {
            let name = string(&cx, "main", v)?;
            match bases.iter().find(|(b, _)| *b == name) {
                None => {
                    let known: Vec<&str> = bases.iter().map(|(b, _)| *b).collect();
                    let msg = format!("unknown service \"{name}\", expected one of {}", quoted_list(&known));
                    return Err(cx.error(v.span(), "main", msg));
                }
                Some((_, Some(_))) => {
                    let msg = format!(
                        "service \"{name}\" has instances: main must name a service without `instances`, \
                         since only one process's exit can end tend"
                    );
                    return Err(cx.error(v.span(), "main", msg));
                }
                Some((_, None)) => {
                    for s in services.iter_mut().filter(|s| s.base == name) {
                        s.essential = true;
                    }
                    Some(name.to_string())
                }
            }
        }
    };

    let ingress = match ingress_value {
        Some(v) => Some(forward::ingress_table(&cx, v, &services)?),
        None => None,
    };
    Ok(Config {
        path: path.to_path_buf(),
        main,
        shutdown_timeout,
        log_dir,
        services,
        control,
        cgroups,
        forward: fwd,
        ingress,
        job_history,
        jobs,
    })
}

const TOP_KEYS: &[&str] = &[
    "main",
    "shutdown_timeout",
    "log_dir",
    "cgroups",
    "job_history",
    "control",
    "forward",
    "ingress",
    "service",
    "job",
];

const CONTROL_KEYS: &[&str] = &[
    "socket",
    "mode",
    "group",
    "allow_uids",
    "allow_gids",
    "max_frame",
    "max_clients",
    "client_queue",
    "events_history",
];

fn control_table(cx: &Cx, v: &Value) -> Result<Control> {
    let mut c = Control::default();
    for (k, v) in entries(table(cx, "control", v)?) {
        let key = child("control", k.get_ref().as_ref());
        match k.get_ref().as_ref() {
            "socket" => {
                let p = path_value(cx, &key, v)?;
                let max = crate::daemon::control::MAX_SOCKET_PATH;
                if p.as_os_str().len() > max {
                    let msg = format!(
                        "socket path is {} bytes long: at most {max} fit in a Unix socket address",
                        p.as_os_str().len()
                    );
                    return Err(cx.error(v.span(), &key, msg));
                }
                c.socket = Some(p);
            }
            "mode" => c.mode = octal_mode(cx, &key, v, "mode", "\"0600\" or \"0660\"")?,
            "group" => c.group = Some(group_id(cx, &key, v)?),
            "allow_uids" => {
                for item in array(cx, &key, v)? {
                    c.allow_uids.push(user_id(cx, &key, item)?);
                }
            }
            "allow_gids" => {
                for item in array(cx, &key, v)? {
                    c.allow_gids.push(group_id(cx, &key, item)?);
                }
            }
            "max_frame" => {
                let n = size(cx, &key, v)?;
                if !(64..=64 << 20).contains(&n) {
                    return Err(cx.error(
                        v.span(),
                        &key,
                        format!("max_frame {n} is out of range: expected 64B to 64MiB"),
                    ));
                }
                c.max_frame = n as u32;
            }
            "max_clients" => c.max_clients = integer_in(cx, &key, v, 1, 1_000_000)? as usize,
            "client_queue" => {
                let n = size(cx, &key, v)?;
                if !(4096..=1 << 30).contains(&n) {
                    return Err(cx.error(
                        v.span(),
                        &key,
                        format!("client_queue {n} is out of range: expected 4KiB to 1GiB"),
                    ));
                }
                c.client_queue = n as usize;
            }
            "events_history" => c.events_history = integer_in(cx, &key, v, 1, 1_000_000)? as usize,
            _ => return Err(unknown_key(cx, "control", k, CONTROL_KEYS)),
        }
    }
    Ok(c)
}

fn array<'t, 'i>(cx: &Cx, key: &str, v: &'t Value<'i>) -> Result<Vec<&'t Value<'i>>> {
    match v.get_ref() {
        DeValue::Array(a) => Ok(a.iter().collect()),
        _ => Err(type_error(cx, key, v, "an array")),
    }
}

/// A uid from a user name or numeric id.
fn user_id(cx: &Cx, key: &str, v: &Value) -> Result<u32> {
    match who(cx, key, v, "user")?.1 {
        Who::Id(id) => Ok(id),
        Who::Name(name) => match User::from_name(&name) {
            Ok(Some(u)) => Ok(u.uid.as_raw()),
            Ok(None) => Err(cx.error(v.span(), key, format!("unknown user {name:?}"))),
            Err(e) => Err(cx.error(v.span(), key, format!("cannot look up user {name:?}: {e}"))),
        },
    }
}

/// A gid from a group name or numeric id.
fn group_id(cx: &Cx, key: &str, v: &Value) -> Result<u32> {
    match who(cx, key, v, "group")?.1 {
        Who::Id(id) => Ok(id),
        Who::Name(name) => match Group::from_name(&name) {
            Ok(Some(g)) => Ok(g.gid.as_raw()),
            Ok(None) => Err(cx.error(v.span(), key, format!("unknown group {name:?}"))),
            Err(e) => Err(cx.error(v.span(), key, format!("cannot look up group {name:?}: {e}"))),
        },
    }
}

const SERVICE_KEYS: &[&str] = &[
    "command",
    "env",
    "clear_env",
    "cwd",
    "user",
    "group",
    "umask",
    "rlimits",
    "restart",
    "backoff",
    "start_limit",
    "stop_signal",
    "stop_timeout",
    "kill_group",
    "stdout",
    "stderr",
    "log",
    "autostart",
    "instances",
    "success_exit_codes",
    "max_rss",
    "on_max_rss",
    "essential",
    "ready",
    "ready_timeout",
    "health",
    "restart_on_unhealthy",
    "watchdog",
    "depends_on",
    "on_dependency_failure",
    "socket",
    "request_timeout",
    "listen",
    "drain",
    "drain_timeout",
];

const BACKOFF_KEYS: &[&str] = &["initial", "max", "factor", "jitter", "reset_after"];
const START_LIMIT_KEYS: &[&str] = &["burst", "interval"];
const LOG_KEYS: &[&str] =
    &["buffer", "prefix", "color", "backpressure", "file", "max_size", "keep", "timestamps", "exit_lines"];
const RLIMIT_TABLE_KEYS: &[&str] = &["soft", "hard"];

const RESTARTS: &[(&str, Restart)] =
    &[("always", Restart::Always), ("on-failure", Restart::OnFailure), ("never", Restart::Never)];

const STDOUTS: &[(&str, Output)] = &[
    ("passthrough", Output::Passthrough),
    ("capture", Output::Capture),
    ("inherit", Output::Inherit),
    ("null", Output::Null),
];

const STDERRS: &[(&str, Output)] = &[
    ("passthrough", Output::Passthrough),
    ("capture", Output::Capture),
    ("inherit", Output::Inherit),
    ("null", Output::Null),
    ("stdout", Output::Stdout),
];

/// `rlimits` keys and the setrlimit(2) resources they name.
const RLIMITS: [(&str, RlimitResource); 15] = [
    ("nofile", libc::RLIMIT_NOFILE as RlimitResource),
    ("nproc", libc::RLIMIT_NPROC as RlimitResource),
    ("core", libc::RLIMIT_CORE as RlimitResource),
    ("memlock", libc::RLIMIT_MEMLOCK as RlimitResource),
    ("stack", libc::RLIMIT_STACK as RlimitResource),
    ("data", libc::RLIMIT_DATA as RlimitResource),
    ("fsize", libc::RLIMIT_FSIZE as RlimitResource),
    ("as", libc::RLIMIT_AS as RlimitResource),
    ("cpu", libc::RLIMIT_CPU as RlimitResource),
    ("rss", libc::RLIMIT_RSS as RlimitResource),
    ("locks", libc::RLIMIT_LOCKS as RlimitResource),
    ("msgqueue", libc::RLIMIT_MSGQUEUE as RlimitResource),
    ("nice", libc::RLIMIT_NICE as RlimitResource),
    ("rtprio", libc::RLIMIT_RTPRIO as RlimitResource),
    ("sigpending", libc::RLIMIT_SIGPENDING as RlimitResource),
];

const UNLIMITED: u64 = libc::RLIM_INFINITY;

/// Bounds of `log.buffer`.
const LOG_BUFFER_MIN: u64 = 4 << 10;
const LOG_BUFFER_MAX: u64 = 256 << 20;
/// Smallest `log.max_size` other than 0 (a line is written whole, so much smaller
/// files would hold a line or two).
const LOG_MAX_SIZE_MIN: u64 = 4 << 10;
/// Largest `log.keep` and `log.exit_lines`.
const LOG_KEEP_MAX: i64 = 1000;
const LOG_EXIT_LINES_MAX: i64 = 1000;

/// Longest service name (without the `.i` instance suffix).
const MAX_NAME_LEN: usize = 64;

/// The text being parsed and its file name, to turn spans into positioned errors.
struct Cx<'a> {
    text: &'a str,
    path: &'a Path,
}

impl Cx<'_> {
    fn at(&self, offset: usize, key: Option<String>, message: String) -> ConfigError {
        ConfigError { file: self.path.to_path_buf(), pos: Some(line_col(self.text, offset)), key, message, io: None }
    }

    fn error(&self, span: Range<usize>, key: &str, message: impl Into<String>) -> ConfigError {
        self.at(span.start, Some(key.to_string()), message.into())
    }

    /// A TOML syntax error. The parser gives no key, so take a best guess: the key whose
    /// key or value holds the error in the parser's best-effort recovery of the document,
    /// else, from the text, the last `[table]` header above the error and the `key =` on
    /// its line.
    fn syntax_error(&self, e: &toml::de::Error) -> ConfigError {
        let offset = e.span().map_or(0, |s| s.start);
        let (recovered, _) = DeTable::parse_recoverable(self.text);
        let key = key_at(recovered.get_ref(), offset, "").or_else(|| guess_key(self.text, offset));
        self.at(offset, key, format!("invalid TOML: {}", e.message()))
    }
}

/// 1-based (line, column) of a byte offset; the column counts characters.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = before.matches('\n').count() + 1;
    let col = before[line_start..].chars().count() + 1;
    (line, col)
}

/// The path of the innermost key whose key or (non-table) value span holds `offset`.
fn key_at(t: &DeTable, offset: usize, path: &str) -> Option<String> {
    for (k, v) in t.iter() {
        let p = child(path, k.get_ref().as_ref());
        if let DeValue::Table(inner) = v.get_ref() {
            if let Some(found) = key_at(inner, offset, &p) {
                return Some(found);
            }
        }
        let (ks, vs) = (k.span(), v.span());
        if ks.contains(&offset) || (vs.start <= offset && offset <= vs.end) {
            return Some(p);
        }
    }
    None
}

/// Best-effort key path for a syntax error at `offset`: `HEADER.KEY` from the nearest
/// `[HEADER]` line above and a `KEY =` on the error's line. None if the error is in a
/// header line itself or nothing looks like a key.
fn guess_key(text: &str, offset: usize) -> Option<String> {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[offset..].find('\n').map_or(text.len(), |i| offset + i);
    let line = &text[line_start..line_end];
    if line.trim_start().starts_with('[') {
        return None;
    }
    let header = text[..line_start].lines().rev().map(str::trim).find(|l| l.starts_with('[')).and_then(header_key);
    let key = line.split_once('=').and_then(|(k, _)| normalize_key(k));
    match (header, key) {
        (Some(h), Some(k)) => Some(format!("{h}.{k}")),
        (h, k) => h.or(k),
    }
}

fn header_key(line: &str) -> Option<String> {
    let inner = line.trim_start_matches('[');
    let end = inner.find(']')?;
    normalize_key(&inner[..end])
}

/// `a . "b" .c` -> `a."b".c`, or None if it does not look like a TOML key.
fn normalize_key(k: &str) -> Option<String> {
    let k = k.trim();
    let ok = |c: char| c.is_ascii_alphanumeric() || "_-.\"' ".contains(c);
    if k.is_empty() || !k.chars().all(ok) {
        return None;
    }
    Some(k.split('.').map(str::trim).collect::<Vec<_>>().join("."))
}

/// A table's entries in file order (the map itself is sorted by key).
fn entries<'t, 'i>(t: &'t DeTable<'i>) -> Vec<(&'t Key<'i>, &'t Value<'i>)> {
    let mut v: Vec<_> = t.iter().collect();
    v.sort_by_key(|(k, _)| k.span().start);
    v
}

/// True for a TOML bare key: it can be written in a path without quotes.
fn is_bare(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// `parent.name`, quoting `name` if it is not a bare key.
fn child(parent: &str, name: &str) -> String {
    let name = if is_bare(name) { name.to_string() } else { format!("{name:?}") };
    if parent.is_empty() {
        name
    } else {
        format!("{parent}.{name}")
    }
}

fn quoted_list(names: &[&str]) -> String {
    names.iter().map(|n| format!("\"{n}\"")).collect::<Vec<_>>().join(", ")
}

/// An unknown key in the table at `table_path`: suggest the closest known key, or list them.
fn unknown_key(cx: &Cx, table_path: &str, k: &Key, allowed: &[&str]) -> ConfigError {
    let name = k.get_ref().as_ref();
    let msg = match closest(name, allowed) {
        Some(s) => format!("unknown key \"{name}\"; did you mean \"{s}\"?"),
        None => format!("unknown key \"{name}\", expected one of {}", quoted_list(allowed)),
    };
    cx.error(k.span(), &child(table_path, name), msg)
}

/// The allowed name closest to `name` by edit distance, if it is close enough to be a typo.
fn closest<'a>(name: &str, allowed: &[&'a str]) -> Option<&'a str> {
    let (d, best) = allowed.iter().map(|a| (edit_distance(name, a), *a)).min_by_key(|(d, _)| *d)?;
    (d > 0 && d * 3 <= name.chars().count()).then_some(best)
}

/// Edit distance counting insertions, deletions, substitutions and swaps of two
/// neighbouring characters (optimal string alignment), so `mian` is 1 from `main`.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // d[i][j]: distance between a[..i] and b[..j].
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1).min(d[i][j - 1] + 1).min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

/// How a value is described in "expected X, found Y".
fn found(v: &Value) -> String {
    match v.get_ref() {
        DeValue::String(s) => format!("the string {:?}", s.as_ref()),
        DeValue::Integer(i) => format!("the integer {i}"),
        DeValue::Float(f) => format!("the float {f}"),
        DeValue::Boolean(b) => format!("the boolean {b}"),
        DeValue::Datetime(d) => format!("the datetime {d}"),
        DeValue::Array(_) => "an array".into(),
        DeValue::Table(_) => "a table".into(),
    }
}

fn type_error(cx: &Cx, key: &str, v: &Value, expected: &str) -> ConfigError {
    cx.error(v.span(), key, format!("expected {expected}, found {}", found(v)))
}

fn table<'t, 'i>(cx: &Cx, key: &str, v: &'t Value<'i>) -> Result<&'t DeTable<'i>> {
    match v.get_ref() {
        DeValue::Table(t) => Ok(t),
        _ => Err(type_error(cx, key, v, "a table")),
    }
}

fn string<'v>(cx: &Cx, key: &str, v: &'v Value) -> Result<&'v str> {
    match v.get_ref() {
        DeValue::String(s) => Ok(s.as_ref()),
        _ => Err(type_error(cx, key, v, "a string")),
    }
}

/// A string that will become part of a C string (argv, env, a path): no NUL bytes.
fn c_string<'v>(cx: &Cx, key: &str, v: &'v Value) -> Result<&'v str> {
    let s = string(cx, key, v)?;
    if s.contains('\0') {
        return Err(cx.error(v.span(), key, "must not contain a NUL character"));
    }
    Ok(s)
}

fn boolean(cx: &Cx, key: &str, v: &Value) -> Result<bool> {
    match v.get_ref() {
        DeValue::Boolean(b) => Ok(*b),
        _ => Err(type_error(cx, key, v, "a boolean (true or false)")),
    }
}

fn integer(cx: &Cx, key: &str, v: &Value) -> Result<i64> {
    match v.get_ref() {
        DeValue::Integer(i) => i64::from_str_radix(i.as_str(), i.radix())
            .map_err(|_| cx.error(v.span(), key, format!("the integer {i} is out of range"))),
        _ => Err(type_error(cx, key, v, "an integer")),
    }
}

fn integer_in(cx: &Cx, key: &str, v: &Value, lo: i64, hi: i64) -> Result<i64> {
    let n = integer(cx, key, v)?;
    if !(lo..=hi).contains(&n) {
        return Err(cx.error(v.span(), key, format!("{n} is out of range: expected an integer from {lo} to {hi}")));
    }
    Ok(n)
}

/// A float; an integer is accepted too (`factor = 2`).
fn float(cx: &Cx, key: &str, v: &Value) -> Result<f64> {
    let f = match v.get_ref() {
        DeValue::Float(f) => f.as_str().parse::<f64>().ok(),
        DeValue::Integer(_) => Some(integer(cx, key, v)? as f64),
        _ => return Err(type_error(cx, key, v, "a number")),
    };
    match f {
        Some(f) if f.is_finite() => Ok(f),
        _ => Err(cx.error(v.span(), key, "expected a finite number")),
    }
}

fn duration(cx: &Cx, key: &str, v: &Value) -> Result<Duration> {
    match v.get_ref() {
        DeValue::String(s) => parse_duration(s).map_err(|m| cx.error(v.span(), key, m)),
        _ => Err(type_error(cx, key, v, "a duration string such as \"10s\" or \"250ms\"")),
    }
}

/// A size: a string with a unit (`"64MiB"`) or an integer number of bytes.
fn size(cx: &Cx, key: &str, v: &Value) -> Result<u64> {
    match v.get_ref() {
        DeValue::String(s) => parse_size(s).map_err(|m| cx.error(v.span(), key, m)),
        DeValue::Integer(_) => Ok(integer_in(cx, key, v, 0, i64::MAX)?.unsigned_abs()),
        _ => Err(type_error(cx, key, v, "a size such as \"64MiB\" or a number of bytes")),
    }
}

fn path_value(cx: &Cx, key: &str, v: &Value) -> Result<PathBuf> {
    let s = c_string(cx, key, v)?;
    if s.is_empty() {
        return Err(cx.error(v.span(), key, "the path must not be empty"));
    }
    Ok(PathBuf::from(s))
}

/// One of a fixed set of strings.
fn choice<T: Copy>(cx: &Cx, key: &str, v: &Value, options: &[(&str, T)]) -> Result<T> {
    let names: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
    let s = match v.get_ref() {
        DeValue::String(s) => s.as_ref(),
        _ => return Err(type_error(cx, key, v, &format!("one of {}", quoted_list(&names)))),
    };
    match options.iter().find(|(n, _)| *n == s) {
        Some(&(_, t)) => Ok(t),
        None => Err(cx.error(v.span(), key, format!("unknown value {s:?}, expected one of {}", quoted_list(&names)))),
    }
}

fn check_service_name(cx: &Cx, path: &str, k: &Key) -> Result<()> {
    check_name(cx, path, k, "service", " (dots are reserved for instance names such as NAME.0)")
}

/// A `[KIND.NAME]` table's NAME: bare (letters, digits, `_`, `-`) and not too long;
/// `note` follows the message.
fn check_name(cx: &Cx, path: &str, k: &Key, kind: &str, note: &str) -> Result<()> {
    let name = k.get_ref().as_ref();
    if !is_bare(name) || name.len() > MAX_NAME_LEN {
        let msg =
            format!("invalid {kind} name {name:?}: expected 1 to {MAX_NAME_LEN} letters, digits, \"_\" or \"-\"{note}");
        return Err(cx.error(k.span(), path, msg));
    }
    Ok(())
}

/// One `[service.NAME]` table, before `instances` expansion.
struct Parsed {
    cfg: ServiceConfig,
    env: BTreeMap<String, String>,
    instances: Option<u32>,
    /// `depends_on` entries with their spans, for the graph check.
    deps: Vec<(super::Dependency, Range<usize>)>,
    /// Where `log.file = true` was set, for the check that `log_dir` is.
    log_file_at: Option<(String, Range<usize>)>,
    /// `listen` entries with their spans, for the check across services.
    listen_at: Vec<(super::Listen, Range<usize>)>,
}

impl Parsed {
    /// Push the service, or its instances, with TEND_SERVICE / TEND_INSTANCE set.
    fn expand(self, out: &mut Vec<ServiceConfig>) {
        let Parsed { cfg, env, instances, .. } = self;
        let finish = |mut s: ServiceConfig, instance: Option<u32>| {
            let mut env = env.clone();
            if let Some(i) = instance {
                s.name = format!("{}.{i}", s.base);
                s.instance = Some(i);
                env.insert("TEND_INSTANCE".into(), i.to_string());
            }
            env.insert("TEND_SERVICE".into(), s.name.clone());
            s.env = env.into_iter().collect();
            s
        };
        match instances {
            None => out.push(finish(cfg, None)),
            Some(n) => out.extend((0..n).map(|i| finish(cfg.clone(), Some(i)))),
        }
    }
}

fn default_service(name: &str) -> ServiceConfig {
    ServiceConfig {
        name: name.to_string(),
        base: name.to_string(),
        instance: None,
        command: Vec::new(),
        env: Vec::new(),
        clear_env: false,
        cwd: None,
        run_as: None,
        umask: None,
        rlimits: Vec::new(),
        restart: Restart::OnFailure,
        backoff: Backoff {
            initial: defaults::BACKOFF_INITIAL,
            max: defaults::BACKOFF_MAX,
            factor: defaults::BACKOFF_FACTOR,
            jitter: 0.0,
            reset_after: defaults::BACKOFF_RESET_AFTER,
        },
        start_limit: StartLimit { burst: defaults::START_LIMIT_BURST, interval: defaults::START_LIMIT_INTERVAL },
        stop_signal: libc::SIGTERM,
        stop_timeout: defaults::STOP_TIMEOUT,
        kill_group: false,
        stdout: Output::Passthrough,
        stderr: Output::Passthrough,
        log: LogOptions::default(),
        autostart: true,
        success_exit_codes: vec![0],
        max_rss: None,
        on_max_rss: OnMaxRss::Restart,
        essential: false,
        ready: super::Ready::Spawned,
        ready_timeout: None,
        health: None,
        restart_on_unhealthy: false,
        watchdog: None,
        depends_on: Vec::new(),
        on_dependency_failure: super::OnDependencyFailure::Wait,
        socket: None,
        request_timeout: None,
        listen: Vec::new(),
        drain: false,
        drain_timeout: None,
    }
}

fn service(cx: &Cx, path: &str, name: &str, name_key: &Key, v: &Value) -> Result<Parsed> {
    let t = table(cx, path, v)?;
    let mut s = default_service(name);
    let mut env = BTreeMap::new();
    let mut has_command = false;
    let mut user = None;
    let mut group = None;
    let mut on_max_rss = None;
    let mut instances = None;
    let mut restart_on_unhealthy = None;
    let mut deps = Vec::new();
    let mut log_file_at = None;
    let mut listen_at = None;
    let mut ready_at = None;
    for (k, v) in entries(t) {
        let key = &child(path, k.get_ref().as_ref());
        match k.get_ref().as_ref() {
            "command" => {
                s.command = command(cx, key, v)?;
                has_command = true;
            }
            "env" => env = env_table(cx, key, v)?,
            "clear_env" => s.clear_env = boolean(cx, key, v)?,
            "cwd" => s.cwd = Some(path_value(cx, key, v)?),
            "user" => user = Some((key.clone(), v)),
            "group" => group = Some((key.clone(), v)),
            "umask" => s.umask = Some(umask(cx, key, v)?),
            "rlimits" => s.rlimits = rlimits(cx, key, v)?,
            "restart" => s.restart = choice(cx, key, v, RESTARTS)?,
            "backoff" => s.backoff = backoff(cx, key, v, s.backoff)?,
            "start_limit" => s.start_limit = start_limit(cx, key, v, s.start_limit)?,
            "stop_signal" => s.stop_signal = signal(cx, key, v)?,
            "stop_timeout" => s.stop_timeout = duration(cx, key, v)?,
            "kill_group" => s.kill_group = boolean(cx, key, v)?,
            "stdout" => s.stdout = choice(cx, key, v, STDOUTS)?,
            "stderr" => s.stderr = choice(cx, key, v, STDERRS)?,
            "log" => (s.log, log_file_at) = log_options(cx, key, v, s.log)?,
            "autostart" => s.autostart = boolean(cx, key, v)?,
            "instances" => {
                let n = integer_in(cx, key, v, 1, i64::from(defaults::MAX_INSTANCES))?;
                instances = u32::try_from(n).ok();
            }
            "success_exit_codes" => s.success_exit_codes = exit_codes(cx, key, v)?,
            "max_rss" => {
                let n = size(cx, key, v)?;
                if n == 0 {
                    return Err(cx.error(v.span(), key, "max_rss must be greater than 0"));
                }
                s.max_rss = Some(n);
            }
            "on_max_rss" => {
                s.on_max_rss = on_max_rss_value(cx, key, v)?;
                on_max_rss = Some((key.clone(), k.span()));
            }
            "essential" => s.essential = boolean(cx, key, v)?,
            "ready" => {
                s.ready = readiness::ready(cx, key, v)?;
                ready_at = Some(v.span());
            }
            "ready_timeout" => {
                let d = duration(cx, key, v)?;
                if d.is_zero() {
                    return Err(cx.error(v.span(), key, "ready_timeout must be greater than 0"));
                }
                s.ready_timeout = Some(d);
            }
            "health" => s.health = Some(readiness::health(cx, key, v)?),
            "restart_on_unhealthy" => {
                s.restart_on_unhealthy = boolean(cx, key, v)?;
                restart_on_unhealthy = Some((key.clone(), k.span()));
            }
            "watchdog" => {
                let d = duration(cx, key, v)?;
                if d.is_zero() {
                    return Err(cx.error(v.span(), key, "watchdog must be greater than 0"));
                }
                s.watchdog = Some(d);
            }
            "depends_on" => deps = readiness::depends_on(cx, key, v)?,
            "on_dependency_failure" => s.on_dependency_failure = choice(cx, key, v, readiness::ON_DEPENDENCY_FAILURE)?,
            "socket" => s.socket = Some(forward::socket(cx, key, v)?),
            "request_timeout" => s.request_timeout = Some(forward::timeout(cx, key, v)?),
            "listen" => listen_at = Some(listen::entries(cx, key, v, name)?),
            "drain" => s.drain = boolean(cx, key, v)?,
            "drain_timeout" => {
                let d = duration(cx, key, v)?;
                if d.is_zero() || d > std::time::Duration::from_secs(86_400) {
                    return Err(cx.error(v.span(), key, "drain_timeout must be greater than 0 and at most 24h"));
                }
                s.drain_timeout = Some(d);
            }
            _ => return Err(unknown_key(cx, path, k, SERVICE_KEYS)),
        }
    }
    if !has_command {
        return Err(cx.error(name_key.span(), path, "missing required key \"command\""));
    }
    if let (Some((key, span)), None) = (on_max_rss, s.max_rss) {
        return Err(cx.error(span, &key, "on_max_rss requires max_rss"));
    }
    if let (Some((key, span)), None) = (restart_on_unhealthy, &s.health) {
        return Err(cx.error(span, &key, "restart_on_unhealthy requires health"));
    }
    let log_file_at = match log_file_at {
        Some(span) if s.log.file => {
            let key = child(&child(path, "log"), "file");
            if [s.stdout, s.stderr].iter().all(|o| matches!(o, Output::Inherit | Output::Null | Output::Stdout)) {
                let msg = "nothing to write: stdout and stderr are not captured \
                           (set one of them to \"passthrough\" or \"capture\")";
                return Err(cx.error(span, &key, msg));
            }
            if name == "tend" {
                let msg = "a service named \"tend\" cannot write NAME.log: tend.log is tend's own log";
                return Err(cx.error(span, &key, msg));
            }
            Some((key, span))
        }
        _ => None,
    };
    s.run_as = run_as(cx, user, group)?;
    s.depends_on = deps.iter().map(|(d, _)| d.clone()).collect();
    let listen_at = listen_at.unwrap_or_default();
    s.listen = listen_at.iter().map(|(l, _)| l.clone()).collect();
    if let (super::Ready::Fd(n), false) = (&s.ready, s.listen.is_empty()) {
        let last = 2 + s.listen.len() as i32;
        if (3..=last).contains(n) {
            let msg = format!("ready fd {n} collides with the listen sockets, which are fds 3 to {last}");
            return Err(cx.error(ready_at.unwrap_or(0..0), &child(path, "ready"), msg));
        }
    }
    Ok(Parsed { cfg: s, env, instances, deps, log_file_at, listen_at })
}

/// `command`: an array of strings (argv), or a string run by `/bin/sh -c`.
fn command(cx: &Cx, key: &str, v: &Value) -> Result<Vec<String>> {
    match v.get_ref() {
        DeValue::String(_) => {
            let s = c_string(cx, key, v)?;
            if s.trim().is_empty() {
                return Err(cx.error(v.span(), key, "the command must not be empty"));
            }
            Ok(vec!["/bin/sh".into(), "-c".into(), s.into()])
        }
        DeValue::Array(items) => {
            if items.is_empty() {
                return Err(cx.error(v.span(), key, "the command must not be empty"));
            }
            let mut argv = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let ikey = format!("{key}[{i}]");
                argv.push(c_string(cx, &ikey, item)?.to_string());
            }
            if argv[0].is_empty() {
                return Err(cx.error(items[0].span(), &format!("{key}[0]"), "the program name must not be empty"));
            }
            Ok(argv)
        }
        _ => Err(type_error(cx, key, v, "an array of strings (argv) or a string (run with /bin/sh -c)")),
    }
}

fn env_table(cx: &Cx, key: &str, v: &Value) -> Result<BTreeMap<String, String>> {
    let mut env = BTreeMap::new();
    for (k, v) in entries(table(cx, key, v)?) {
        let name = k.get_ref().as_ref();
        let vkey = child(key, name);
        if name.is_empty() || name.contains('=') || name.contains('\0') {
            let msg = format!("invalid environment variable name {name:?}: it must be non-empty, without '=' or NUL");
            return Err(cx.error(k.span(), &vkey, msg));
        }
        let value = match v.get_ref() {
            DeValue::String(_) => c_string(cx, &vkey, v)?,
            _ => return Err(type_error(cx, &vkey, v, "a string (quote numbers and booleans)")),
        };
        env.insert(name.to_string(), value.to_string());
    }
    Ok(env)
}

/// `umask`: a string of 3 or 4 octal digits, at most `0777`.
fn umask(cx: &Cx, key: &str, v: &Value) -> Result<u32> {
    octal_mode(cx, key, v, "umask", "\"022\" or \"0027\"")
}

/// Permission bits written as 3 or 4 octal digits, at most "0777" (`umask`,
/// `control.mode`); `examples` goes in the message.
fn octal_mode(cx: &Cx, key: &str, v: &Value, what: &str, examples: &str) -> Result<u32> {
    let expected = format!("a string of 3 or 4 octal digits such as {examples}");
    let s = match v.get_ref() {
        DeValue::String(s) => s.as_ref(),
        _ => return Err(type_error(cx, key, v, &expected)),
    };
    let octal = (3..=4).contains(&s.len()) && s.bytes().all(|b| (b'0'..=b'7').contains(&b));
    match u32::from_str_radix(s, 8) {
        Ok(n) if octal && n <= 0o777 => Ok(n),
        _ => Err(cx.error(v.span(), key, format!("invalid {what} {s:?}: expected {expected}, at most \"0777\""))),
    }
}

fn rlimits(cx: &Cx, key: &str, v: &Value) -> Result<Vec<Rlimit>> {
    let mut out = Vec::new();
    for (k, v) in entries(table(cx, key, v)?) {
        let name = k.get_ref().as_ref();
        let rkey = child(key, name);
        let Some(&(name, resource)) = RLIMITS.iter().find(|(n, _)| *n == name) else {
            let names: Vec<&str> = RLIMITS.iter().map(|(n, _)| *n).collect();
            return Err(unknown_key(cx, key, k, &names));
        };
        let (soft, hard) = match v.get_ref() {
            DeValue::Table(t) => {
                let mut soft = None;
                let mut hard = None;
                for (lk, lv) in entries(t) {
                    let lkey = child(&rkey, lk.get_ref().as_ref());
                    match lk.get_ref().as_ref() {
                        "soft" => soft = Some((rlimit_value(cx, &lkey, lv)?, lkey, lv.span())),
                        "hard" => hard = Some(rlimit_value(cx, &lkey, lv)?),
                        _ => return Err(unknown_key(cx, &rkey, lk, RLIMIT_TABLE_KEYS)),
                    }
                }
                let (Some((soft, skey, sspan)), Some(hard)) = (soft, hard) else {
                    let msg = "expected both \"soft\" and \"hard\" (or a single integer or \"unlimited\" for both)";
                    return Err(cx.error(v.span(), &rkey, msg));
                };
                if soft > hard {
                    let msg = format!(
                        "the soft limit ({}) is greater than the hard limit ({})",
                        show_limit(soft),
                        show_limit(hard)
                    );
                    return Err(cx.error(sspan, &skey, msg));
                }
                (soft, hard)
            }
            _ => {
                let n = rlimit_value(cx, &rkey, v)?;
                (n, n)
            }
        };
        out.push(Rlimit { resource, name, soft, hard });
    }
    Ok(out)
}

/// A limit: a non-negative integer or "unlimited".
fn rlimit_value(cx: &Cx, key: &str, v: &Value) -> Result<u64> {
    match v.get_ref() {
        DeValue::Integer(_) => Ok(integer_in(cx, key, v, 0, i64::MAX)?.unsigned_abs()),
        DeValue::String(s) if s.as_ref() == "unlimited" => Ok(UNLIMITED),
        _ => Err(type_error(cx, key, v, "a non-negative integer or \"unlimited\"")),
    }
}

fn show_limit(n: u64) -> String {
    if n == UNLIMITED {
        "unlimited".into()
    } else {
        n.to_string()
    }
}

fn backoff(cx: &Cx, key: &str, v: &Value, mut b: Backoff) -> Result<Backoff> {
    let mut initial_at = None;
    let mut max_at = None;
    for (k, v) in entries(table(cx, key, v)?) {
        let bkey = child(key, k.get_ref().as_ref());
        match k.get_ref().as_ref() {
            "initial" => {
                b.initial = duration(cx, &bkey, v)?;
                initial_at = Some((bkey, v.span()));
            }
            "max" => {
                b.max = duration(cx, &bkey, v)?;
                max_at = Some((bkey, v.span()));
            }
            "factor" => {
                b.factor = float(cx, &bkey, v)?;
                if b.factor < 1.0 {
                    return Err(cx.error(v.span(), &bkey, format!("factor {} is less than 1.0", b.factor)));
                }
            }
            "jitter" => {
                b.jitter = float(cx, &bkey, v)?;
                if !(0.0..=1.0).contains(&b.jitter) {
                    let msg = format!("jitter {} is out of range: expected a number from 0.0 to 1.0", b.jitter);
                    return Err(cx.error(v.span(), &bkey, msg));
                }
            }
            "reset_after" => b.reset_after = duration(cx, &bkey, v)?,
            _ => return Err(unknown_key(cx, key, k, BACKOFF_KEYS)),
        }
    }
    if b.initial > b.max {
        let msg = format!("initial ({:?}) is greater than max ({:?})", b.initial, b.max);
        if let Some((k, span)) = initial_at.or(max_at) {
            return Err(cx.error(span, &k, msg));
        }
    }
    Ok(b)
}

fn start_limit(cx: &Cx, key: &str, v: &Value, mut l: StartLimit) -> Result<StartLimit> {
    for (k, v) in entries(table(cx, key, v)?) {
        let lkey = child(key, k.get_ref().as_ref());
        match k.get_ref().as_ref() {
            "burst" => {
                l.burst = u32::try_from(integer_in(cx, &lkey, v, 0, i64::from(u32::MAX))?).unwrap_or(u32::MAX);
            }
            "interval" => l.interval = duration(cx, &lkey, v)?,
            _ => return Err(unknown_key(cx, key, k, START_LIMIT_KEYS)),
        }
    }
    Ok(l)
}

/// A signal: a name (`TERM`, `SIGTERM`, `RTMIN+1`) or a number, as a string or an integer.
fn signal(cx: &Cx, key: &str, v: &Value) -> Result<i32> {
    let text = match v.get_ref() {
        DeValue::String(s) => s.to_string(),
        DeValue::Integer(_) => integer(cx, key, v)?.to_string(),
        _ => return Err(type_error(cx, key, v, "a signal name such as \"TERM\" or a signal number")),
    };
    parse_signal(&text).map_err(|m| cx.error(v.span(), key, m))
}

/// `[service.NAME.log]`; also returns where `file` was set.
fn log_options(cx: &Cx, key: &str, v: &Value, mut l: LogOptions) -> Result<(LogOptions, Option<Range<usize>>)> {
    let mut file_at = None;
    for (k, v) in entries(table(cx, key, v)?) {
        let lkey = child(key, k.get_ref().as_ref());
        match k.get_ref().as_ref() {
            "buffer" => {
                let n = size(cx, &lkey, v)?;
                let buffer = usize::try_from(n).ok().filter(|_| (LOG_BUFFER_MIN..=LOG_BUFFER_MAX).contains(&n));
                let Some(buffer) = buffer else {
                    let msg = format!("{n} bytes is out of range: expected 4KiB to 256MiB");
                    return Err(cx.error(v.span(), &lkey, msg));
                };
                l.buffer = buffer;
            }
            "prefix" => l.prefix = boolean(cx, &lkey, v)?,
            "color" => {
                l.color = match v.get_ref() {
                    DeValue::Boolean(b) => Some(*b),
                    DeValue::String(s) if s.as_ref() == "auto" => None,
                    _ => return Err(type_error(cx, &lkey, v, "true, false or \"auto\"")),
                }
            }
            "backpressure" => l.backpressure = boolean(cx, &lkey, v)?,
            "file" => {
                l.file = boolean(cx, &lkey, v)?;
                file_at = Some(k.span());
            }
            "max_size" => {
                let n = size(cx, &lkey, v)?;
                if n != 0 && n < LOG_MAX_SIZE_MIN {
                    let msg = format!("{n} bytes is too small: expected 0 (never rotate by size) or at least 4KiB");
                    return Err(cx.error(v.span(), &lkey, msg));
                }
                l.max_size = n;
            }
            "keep" => l.keep = u32::try_from(integer_in(cx, &lkey, v, 0, LOG_KEEP_MAX)?).unwrap_or(0),
            "timestamps" => l.timestamps = boolean(cx, &lkey, v)?,
            "exit_lines" => l.exit_lines = u32::try_from(integer_in(cx, &lkey, v, 0, LOG_EXIT_LINES_MAX)?).unwrap_or(0),
            _ => return Err(unknown_key(cx, key, k, LOG_KEYS)),
        }
    }
    Ok((l, file_at))
}

fn exit_codes(cx: &Cx, key: &str, v: &Value) -> Result<Vec<i32>> {
    let DeValue::Array(items) = v.get_ref() else {
        return Err(type_error(cx, key, v, "an array of exit codes (integers from 0 to 255)"));
    };
    let mut codes = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let n = integer_in(cx, &format!("{key}[{i}]"), item, 0, 255)?;
        codes.push(i32::try_from(n).unwrap_or(0));
    }
    Ok(codes)
}

/// `on_max_rss`: "restart", "log" or "signal:NAME".
fn on_max_rss_value(cx: &Cx, key: &str, v: &Value) -> Result<OnMaxRss> {
    let expected = "\"restart\", \"log\" or \"signal:NAME\" (such as \"signal:TERM\")";
    let s = match v.get_ref() {
        DeValue::String(s) => s.as_ref(),
        _ => return Err(type_error(cx, key, v, &format!("one of {expected}"))),
    };
    match s {
        "restart" => Ok(OnMaxRss::Restart),
        "log" => Ok(OnMaxRss::Log),
        _ => match s.strip_prefix("signal:") {
            Some(sig) => parse_signal(sig).map(OnMaxRss::Signal).map_err(|m| cx.error(v.span(), key, m)),
            None => Err(cx.error(v.span(), key, format!("unknown value {s:?}, expected one of {expected}"))),
        },
    }
}

/// A user or group as written: a name, or a numeric id (a string of digits or an integer).
enum Who {
    Name(String),
    Id(u32),
}

fn who(cx: &Cx, key: &str, v: &Value, what: &str) -> Result<(String, Who)> {
    let expected = format!("a {what} name or a numeric id");
    // (uid_t)-1 means "no change" to setresuid(2), so it is not a valid id.
    let id = |n: i64| u32::try_from(n).ok().filter(|&n| n != u32::MAX);
    let bad_id = || cx.error(v.span(), key, format!("invalid {what} id: expected 0 to {}", u32::MAX - 1));
    match v.get_ref() {
        DeValue::String(s) if s.is_empty() => Err(cx.error(v.span(), key, format!("the {what} must not be empty"))),
        DeValue::String(s) if s.bytes().all(|b| b.is_ascii_digit()) => {
            let n = s.parse::<i64>().ok().and_then(id).ok_or_else(bad_id)?;
            Ok((s.to_string(), Who::Id(n)))
        }
        DeValue::String(s) => Ok((s.to_string(), Who::Name(s.to_string()))),
        DeValue::Integer(_) => {
            let n = integer(cx, key, v)?;
            Ok((n.to_string(), Who::Id(id(n).ok_or_else(bad_id)?)))
        }
        _ => Err(type_error(cx, key, v, &expected)),
    }
}

/// Resolve `user` and `group` against the passwd and group databases.
fn run_as(cx: &Cx, user: Option<(String, &Value)>, group: Option<(String, &Value)>) -> Result<Option<RunAs>> {
    let Some((ukey, uv)) = user else {
        return match group {
            Some((gkey, gv)) => Err(cx.error(gv.span(), &gkey, "group requires user")),
            None => Ok(None),
        };
    };
    let (written, who_user) = who(cx, &ukey, uv, "user")?;
    let gid_override = match group {
        None => None,
        Some((gkey, gv)) => Some(group_id(cx, &gkey, gv)?),
    };
    match resolve(written, who_user, gid_override) {
        Ok(r) => Ok(Some(r)),
        Err(m) => Err(cx.error(uv.span(), &ukey, m)),
    }
}

/// A user as a job descriptor gives it (a name, or a numeric id), resolved like a
/// service's `user`: its primary group, supplementary groups and home directory.
pub fn resolve_user(written: &str) -> std::result::Result<RunAs, String> {
    if written.is_empty() {
        return Err("the user must not be empty".into());
    }
    let who = if written.bytes().all(|b| b.is_ascii_digit()) {
        match written.parse::<u32>().ok().filter(|&n| n != u32::MAX) {
            Some(n) => Who::Id(n),
            None => return Err(format!("invalid user id: expected 0 to {}", u32::MAX - 1)),
        }
    } else {
        Who::Name(written.to_string())
    };
    resolve(written.to_string(), who, None)
}

/// Look a user up in the passwd database (and its groups in the group database).
fn resolve(written: String, who_user: Who, gid_override: Option<u32>) -> std::result::Result<RunAs, String> {
    let lookup_failed = |e: nix::Error| format!("cannot look up user {written:?}: {e}");
    let (uid, entry) = match who_user {
        Who::Name(name) => match User::from_name(&name).map_err(lookup_failed)? {
            Some(u) => (u.uid.as_raw(), Some(u)),
            None => return Err(format!("unknown user {name:?}")),
        },
        Who::Id(id) => (id, User::from_uid(Uid::from_raw(id)).map_err(lookup_failed)?),
    };
    let run_as = match entry {
        Some(u) => {
            let gid = gid_override.unwrap_or(u.gid.as_raw());
            let failed = |e: String| format!("cannot list the groups of user {:?}: {e}", u.name);
            let cname = CString::new(u.name.as_str()).map_err(|e| failed(e.to_string()))?;
            let list = nix::unistd::getgrouplist(&cname, Gid::from_raw(gid)).map_err(|e| failed(e.to_string()))?;
            let mut groups = vec![gid];
            for g in list.into_iter().map(Gid::as_raw) {
                if !groups.contains(&g) {
                    groups.push(g);
                }
            }
            RunAs { user: written, uid, gid, groups, home: Some(u.dir) }
        }
        None => {
            let gid = gid_override.unwrap_or(uid);
            RunAs { user: written, uid, gid, groups: vec![gid], home: None }
        }
    };
    Ok(run_as)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config> {
        parse_str(text, Path::new("tend.toml"))
    }

    /// Parse text that must fail; return the error.
    fn fail(text: &str) -> ConfigError {
        match parse(text) {
            Ok(c) => panic!("expected an error, got {c:?}"),
            Err(e) => e,
        }
    }

    /// Assert an error's line, key and a fragment of its message.
    fn check(text: &str, line: usize, key: &str, fragment: &str) -> ConfigError {
        let e = fail(text);
        assert_eq!(e.line(), Some(line), "line of: {e}");
        assert_eq!(e.key(), Some(key), "key of: {e}");
        assert!(e.message().contains(fragment), "message of {e:?} lacks {fragment:?}");
        let shown = e.to_string();
        assert!(shown.starts_with(&format!("tend.toml:{line}:")), "{shown}");
        assert!(shown.contains(&format!(": {key}: ")), "{shown}");
        e
    }

    const ONE: &str = "[service.a]\ncommand = [\"/bin/true\"]\n";

    #[test]
    fn full_config_with_every_key() {
        let text = include_str!("../../tests/data/every-key.toml");
        let c = parse(text).unwrap();
        assert_eq!(c.path, Path::new("tend.toml"));
        assert_eq!(c.main.as_deref(), Some("web"));
        assert_eq!(c.shutdown_timeout, Duration::from_secs(20));
        assert_eq!(c.log_dir, Some(PathBuf::from("/var/log/tend")));
        let names: Vec<&str> = c.services.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["web", "worker.0", "worker.1", "worker.2"]);

        let w = &c.services[0];
        assert_eq!(w.base, "web");
        assert_eq!(w.instance, None);
        assert_eq!(w.command, ["/usr/bin/web", "--port", "8080"]);
        let env: Vec<(&str, &str)> = w.env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(env, [("A", "1"), ("PORT", "8080"), ("TEND_SERVICE", "web")]);
        assert!(w.clear_env);
        assert_eq!(w.cwd, Some(PathBuf::from("/srv/web")));
        let ra = w.run_as.as_ref().unwrap();
        assert_eq!((ra.user.as_str(), ra.uid, ra.gid), ("nobody", 65534, 65534));
        assert_eq!(ra.groups[0], 65534);
        assert_eq!(ra.home, Some(PathBuf::from("/nonexistent")));
        assert_eq!(w.umask, Some(0o027));
        let lim: Vec<(&str, u64, u64)> = w.rlimits.iter().map(|r| (r.name, r.soft, r.hard)).collect();
        assert_eq!(lim, [("nofile", 1024, 4096), ("core", UNLIMITED, UNLIMITED), ("nproc", 100, 100)]);
        assert_eq!(w.rlimits[0].resource, libc::RLIMIT_NOFILE as RlimitResource);
        assert_eq!(w.rlimits[1].resource, libc::RLIMIT_CORE as RlimitResource);
        assert_eq!(w.restart, Restart::Always);
        assert_eq!(
            w.backoff,
            Backoff {
                initial: Duration::from_millis(250),
                max: Duration::from_secs(60),
                factor: 1.5,
                jitter: 0.2,
                reset_after: Duration::from_secs(3600)
            }
        );
        assert_eq!(w.start_limit, StartLimit { burst: 0, interval: Duration::from_secs(60) });
        assert_eq!(w.stop_signal, libc::SIGINT);
        assert_eq!(w.stop_timeout, Duration::from_secs(3));
        assert!(w.kill_group);
        assert_eq!((w.stdout, w.stderr), (Output::Capture, Output::Stdout));
        let log = LogOptions {
            buffer: 64 << 10,
            prefix: false,
            color: Some(true),
            backpressure: true,
            file: true,
            max_size: 1 << 20,
            keep: 0,
            timestamps: true,
            exit_lines: 3,
        };
        assert_eq!(w.log, log);
        assert!(w.autostart);
        assert_eq!(w.success_exit_codes, [0, 2]);
        assert_eq!(w.max_rss, Some(512 << 20));
        assert_eq!(w.on_max_rss, OnMaxRss::Signal(libc::SIGTERM));
        assert!(w.essential, "main implies essential");

        let k = &c.services[2];
        assert_eq!((k.name.as_str(), k.base.as_str(), k.instance), ("worker.1", "worker", Some(1)));
        assert_eq!(k.command, ["/bin/sh", "-c", "exec worker --fast"]);
        let env: Vec<(&str, &str)> = k.env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(env, [("TEND_INSTANCE", "1"), ("TEND_SERVICE", "worker.1")]);
        assert_eq!(k.stop_signal, libc::SIGUSR1);
        assert_eq!(k.on_max_rss, OnMaxRss::Log);
        assert_eq!(k.max_rss, Some(1_000_000));
        assert_eq!(k.log.color, None);
        assert!(!k.essential);
    }

    #[test]
    fn defaults() {
        let c = parse(ONE).unwrap();
        assert_eq!(c.main, None);
        assert_eq!(c.shutdown_timeout, defaults::SHUTDOWN_TIMEOUT);
        assert_eq!(c.log_dir, None);
        assert_eq!(c.services.len(), 1);
        let s = &c.services[0];
        let mut want = default_service("a");
        want.command = vec!["/bin/true".into()];
        want.env = vec![("TEND_SERVICE".into(), "a".into())];
        assert_eq!(*s, want);
        assert_eq!(s.restart, Restart::OnFailure);
        assert_eq!(s.stop_signal, libc::SIGTERM);
        assert_eq!(s.stop_timeout, defaults::STOP_TIMEOUT);
        assert_eq!(s.backoff.initial, defaults::BACKOFF_INITIAL);
        assert_eq!(s.backoff.max, defaults::BACKOFF_MAX);
        assert_eq!(s.backoff.factor, defaults::BACKOFF_FACTOR);
        assert_eq!(s.backoff.jitter, 0.0);
        assert_eq!(s.backoff.reset_after, defaults::BACKOFF_RESET_AFTER);
        assert_eq!(s.start_limit.burst, defaults::START_LIMIT_BURST);
        assert_eq!(s.start_limit.interval, defaults::START_LIMIT_INTERVAL);
        assert_eq!(s.log.buffer, defaults::LOG_BUFFER);
        assert!(s.log.prefix && s.log.color.is_none() && !s.log.backpressure);
        assert_eq!((s.stdout, s.stderr), (Output::Passthrough, Output::Passthrough));
        assert!(s.autostart && !s.essential && !s.kill_group && !s.clear_env);
        assert_eq!(s.success_exit_codes, [0]);
        assert_eq!((s.max_rss, s.on_max_rss), (None, OnMaxRss::Restart));
        assert_eq!((s.run_as.as_ref(), s.umask, s.cwd.as_ref()), (None, None, None));
        assert!(s.rlimits.is_empty());
    }

    #[test]
    fn services_keep_file_order() {
        let text =
            "[service.zeta]\ncommand = \"z\"\n[service.alpha]\ncommand = \"a\"\n[service.mid]\ncommand = \"m\"\n";
        let c = parse(text).unwrap();
        let names: Vec<&str> = c.services.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["zeta", "alpha", "mid"]);
    }

    #[test]
    fn string_command_runs_under_sh() {
        let c = parse("[service.a]\ncommand = 'echo \"hi\" && sleep 1'\n").unwrap();
        assert_eq!(c.services[0].command, ["/bin/sh", "-c", "echo \"hi\" && sleep 1"]);
    }

    #[test]
    fn readiness_keys() {
        use crate::config::{Condition, Dependency, OnDependencyFailure, Probe, ProbeTiming, Ready};
        let c = parse(
            "[service.db]\ncommand = 'db'\nready = { tcp = 'localhost:5432', interval = '250ms', timeout = '2s' }\n\
             ready_timeout = '30s'\nhealth = { http = 'http://[::1]:8080/health?full=1', retries = 2 }\n\
             restart_on_unhealthy = true\n\
             [service.web]\ncommand = 'web'\nready = 'notify'\nwatchdog = '10s'\n\
             depends_on = { db = 'healthy', cache = 'started' }\non_dependency_failure = 'fail'\n\
             [service.cache]\ncommand = 'c'\nready = { fd = 4 }\n[service.job]\ncommand = 'j'\n\
             ready = { exec = ['test', '-e', '/x'] }\ndepends_on = ['cache']\n",
        )
        .unwrap();
        let s = &c.services;
        let addr = "127.0.0.1:5432".parse().unwrap();
        let timing = ProbeTiming {
            interval: Duration::from_millis(250),
            timeout: Duration::from_secs(2),
            initial_delay: Duration::ZERO,
        };
        assert_eq!(s[0].ready, Ready::Probe(Probe::Tcp(addr), timing));
        assert_eq!(s[0].ready_timeout, Some(Duration::from_secs(30)));
        let h = s[0].health.as_ref().unwrap();
        assert_eq!(
            h.probe,
            Probe::Http {
                addr: "[::1]:8080".parse().unwrap(),
                host: "[::1]:8080".into(),
                path: "/health?full=1".into()
            }
        );
        assert_eq!((h.retries, h.timing.interval), (2, defaults::HEALTH_INTERVAL));
        assert!(s[0].restart_on_unhealthy);
        assert_eq!((&s[1].ready, s[1].watchdog), (&Ready::Notify, Some(Duration::from_secs(10))));
        assert_eq!(
            s[1].depends_on,
            [
                Dependency { service: "db".into(), condition: Condition::Healthy },
                Dependency { service: "cache".into(), condition: Condition::Started }
            ]
        );
        assert_eq!(s[1].on_dependency_failure, OnDependencyFailure::Fail);
        assert_eq!(s[2].ready, Ready::Fd(4));
        assert!(matches!(&s[3].ready, Ready::Probe(Probe::Exec(a), _) if a == &["test", "-e", "/x"]));
        assert_eq!(s[3].depends_on, [Dependency { service: "cache".into(), condition: Condition::Started }]);
        check("[service.a]\ncommand = 'a'\ndepends_on = ['a']\n", 3, "service.a.depends_on", "cannot depend on itself");
        check("[service.a]\ncommand = 'a'\nready = {}\n", 3, "service.a.ready", "expected one of `notify`");
        check(
            "[service.a]\ncommand = 'a'\nready = { fd = 3, interval = '1s' }\n",
            3,
            "service.a.ready.interval",
            "only probes have timing",
        );
        check("[service.a]\ncommand = 'a'\nhealth = { interval = '1s' }\n", 3, "service.a.health", "missing the probe");
        check(
            "[service.a]\ncommand = 'a'\nready = { unix = 'relative.sock' }\n",
            3,
            "service.a.ready.unix",
            "absolute path",
        );
    }

    #[test]
    fn instances_expand() {
        let c = parse("[service.w]\ncommand = \"x\"\ninstances = 2\nenv = { TEND_SERVICE = \"mine\" }\n").unwrap();
        let got: Vec<(&str, Option<u32>)> = c.services.iter().map(|s| (s.name.as_str(), s.instance)).collect();
        assert_eq!(got, [("w.0", Some(0)), ("w.1", Some(1))]);
        assert!(c.services.iter().all(|s| s.base == "w"));
        assert!(c.services[1].env.contains(&("TEND_SERVICE".into(), "w.1".into())), "tend's value wins");
        let c = parse("[service.w]\ncommand = \"x\"\ninstances = 1\n").unwrap();
        assert_eq!(c.services[0].name, "w.0");
        check("[service.w]\ncommand = \"x\"\ninstances = 0\n", 3, "service.w.instances", "from 1 to 1000");
        check("[service.w]\ncommand = \"x\"\ninstances = 1001\n", 3, "service.w.instances", "out of range");
    }

    #[test]
    fn main_rules() {
        check(&format!("main = \"nope\"\n{ONE}"), 1, "main", "unknown service \"nope\", expected one of \"a\"");
        check(
            "main = \"w\"\n[service.w]\ncommand = \"x\"\ninstances = 2\n",
            1,
            "main",
            "main must name a service without `instances`",
        );
        check(&format!("main = 3\n{ONE}"), 1, "main", "expected a string, found the integer 3");
        let c = parse(&format!("main = \"a\"\n{ONE}[service.b]\ncommand = \"b\"\n")).unwrap();
        assert!(c.services[0].essential);
        assert!(!c.services[1].essential);
    }

    #[test]
    fn user_and_group() {
        let c = parse("[service.a]\ncommand = \"x\"\nuser = \"root\"\n").unwrap();
        let r = c.services[0].run_as.clone().unwrap();
        assert_eq!((r.uid, r.gid, r.home), (0, 0, Some(PathBuf::from("/root"))));
        assert_eq!(r.groups[0], 0);

        // A uid with a passwd entry resolves like the name.
        let c = parse("[service.a]\ncommand = \"x\"\nuser = 65534\n").unwrap();
        let r = c.services[0].run_as.clone().unwrap();
        assert_eq!((r.user.as_str(), r.uid, r.gid), ("65534", 65534, 65534));
        assert_eq!(r.home, Some(PathBuf::from("/nonexistent")));

        // A bare uid: gid = uid, no home.
        let c = parse("[service.a]\ncommand = \"x\"\nuser = \"54321\"\n").unwrap();
        let r = c.services[0].run_as.clone().unwrap();
        assert_eq!((r.uid, r.gid, r.groups, r.home), (54321, 54321, vec![54321], None));

        let c = parse("[service.a]\ncommand = \"x\"\nuser = \"54321\"\ngroup = 777\n").unwrap();
        let r = c.services[0].run_as.clone().unwrap();
        assert_eq!((r.uid, r.gid, r.groups), (54321, 777, vec![777]));

        // A group overrides a named user's primary group.
        let c = parse("[service.a]\ncommand = \"x\"\nuser = \"nobody\"\ngroup = \"daemon\"\n").unwrap();
        let r = c.services[0].run_as.clone().unwrap();
        assert_eq!((r.uid, r.gid, r.groups[0]), (65534, 1, 1));

        check("[service.a]\ncommand = \"x\"\nuser = \"no-such-user-xyz\"\n", 3, "service.a.user", "unknown user");
        check(
            "[service.a]\ncommand = \"x\"\nuser = \"root\"\ngroup = \"no-such-group-xyz\"\n",
            4,
            "service.a.group",
            "unknown group \"no-such-group-xyz\"",
        );
        check("[service.a]\ncommand = \"x\"\ngroup = \"root\"\n", 3, "service.a.group", "group requires user");
        check("[service.a]\ncommand = \"x\"\nuser = \"\"\n", 3, "service.a.user", "must not be empty");
        check("[service.a]\ncommand = \"x\"\nuser = -1\n", 3, "service.a.user", "invalid user id");
        check("[service.a]\ncommand = \"x\"\nuser = \"4294967295\"\n", 3, "service.a.user", "invalid user id");
        check(
            "[service.a]\ncommand = \"x\"\nuser = true\n",
            3,
            "service.a.user",
            "expected a user name or a numeric id",
        );
    }

    #[test]
    fn error_format_matches_the_manual() {
        let text = "[service.web]\ncommand = \"x\"\n\n\n\n\nrestart = \"sometimes\"\n";
        let e = fail(text);
        assert_eq!(
            e.to_string(),
            "tend.toml:7:11: service.web.restart: unknown value \"sometimes\", \
             expected one of \"always\", \"on-failure\", \"never\""
        );
        assert_eq!((e.line(), e.column()), (Some(7), Some(11)));
        assert_eq!(e.file(), Path::new("tend.toml"));
    }

    #[test]
    fn unknown_keys_at_every_level() {
        check(&format!("mian = \"a\"\n{ONE}"), 1, "mian", "unknown key \"mian\"; did you mean \"main\"?");
        check(&format!("{ONE}restrat = \"always\"\n"), 3, "service.a.restrat", "did you mean \"restart\"?");
        check(&format!("{ONE}zzz = 1\n"), 3, "service.a.zzz", "expected one of \"command\", \"env\"");
        check(&format!("{ONE}backoff = {{ factr = 2 }}\n"), 3, "service.a.backoff.factr", "did you mean \"factor\"");
        check(&format!("{ONE}[service.a.start_limit]\nburts = 3\n"), 4, "service.a.start_limit.burts", "burst");
        check(&format!("{ONE}[service.a.log]\nbufer = \"8KiB\"\n"), 4, "service.a.log.bufer", "buffer");
        check(&format!("{ONE}[service.a.rlimits]\nnofiles = 3\n"), 4, "service.a.rlimits.nofiles", "nofile");
        check(
            &format!("{ONE}rlimits = {{ nofile = {{ soft = 1, hard = 2, max = 3 }} }}\n"),
            3,
            "service.a.rlimits.nofile.max",
            "unknown key \"max\"",
        );
        // Quoted keys are shown quoted in the path.
        check(&format!("{ONE}env = 1\n\"a b\" = 2\n"), 3, "service.a.env", "expected a table");
        check(&format!("{ONE}[service.a.backoff]\n\"x y\" = 1\n"), 4, "service.a.backoff.\"x y\"", "unknown key");
    }

    #[test]
    fn service_names() {
        check("[service.\"a.b\"]\ncommand = \"x\"\n", 1, "service.\"a.b\"", "dots are reserved");
        check("[service.\"\"]\ncommand = \"x\"\n", 1, "service.\"\"", "invalid service name");
        let long = "x".repeat(65);
        check(&format!("[service.{long}]\ncommand = \"x\"\n"), 1, &format!("service.{long}"), "1 to 64");
        assert!(parse(&format!("[service.{}]\ncommand = \"x\"\n", "x".repeat(64))).is_ok());
        assert!(parse("[service.A-z_9]\ncommand = \"x\"\n").is_ok());
    }

    #[test]
    fn structure_errors() {
        let e = check("main = \"a\"\n", 1, "service", "no services defined");
        assert_eq!(e.column(), Some(1));
        check("service = 3\n", 1, "service", "expected a table, found the integer 3");
        check("[[service]]\ncommand = \"x\"\n", 1, "service", "expected a table, found an array");
        check("[service.a]\ncwd = \"/\"\n", 1, "service.a", "missing required key \"command\"");
        check("service.a = 1\n", 1, "service.a", "expected a table");
        check(&format!("log_dir = \"\"\n{ONE}"), 1, "log_dir", "must not be empty");
        check(&format!("shutdown_timeout = 10\n{ONE}"), 1, "shutdown_timeout", "expected a duration string");
    }

    #[test]
    fn command_errors() {
        check("[service.a]\ncommand = []\n", 2, "service.a.command", "must not be empty");
        check("[service.a]\ncommand = \"  \"\n", 2, "service.a.command", "must not be empty");
        check("[service.a]\ncommand = [\"\", \"x\"]\n", 2, "service.a.command[0]", "program name");
        check("[service.a]\ncommand = [\"x\",\n  3]\n", 3, "service.a.command[1]", "expected a string");
        check("[service.a]\ncommand = 5\n", 2, "service.a.command", "expected an array of strings");
        check("[service.a]\ncommand = [\"a\\u0000b\"]\n", 2, "service.a.command[0]", "NUL");
    }

    #[test]
    fn job_history_is_a_bounded_count() {
        assert_eq!(parse(ONE).unwrap().job_history, defaults::JOB_HISTORY);
        assert_eq!(parse(&format!("job_history = 3\n{ONE}")).unwrap().job_history, 3);
        check(
            &format!("job_history = 0\n{ONE}"),
            1,
            "job_history",
            "out of range: expected an integer from 1 to 1000000",
        );
        check(&format!("job_history = \"10\"\n{ONE}"), 1, "job_history", "integer");
        check(&format!("job_history = 1000001\n{ONE}"), 1, "job_history", "out of range");
    }

    #[test]
    fn value_errors() {
        let e =
            check(&format!("{ONE}stop_timeout = \"10x\"\n"), 3, "service.a.stop_timeout", "invalid duration \"10x\"");
        assert_eq!(e.column(), Some(16));
        check(&format!("{ONE}stop_signal = \"SIGFOO\"\n"), 3, "service.a.stop_signal", "invalid signal");
        check(&format!("{ONE}stop_signal = 0\n"), 3, "service.a.stop_signal", "invalid signal");
        check(&format!("{ONE}stop_signal = 1.5\n"), 3, "service.a.stop_signal", "signal name");
        check(&format!("{ONE}max_rss = \"12 MB\"\n"), 3, "service.a.max_rss", "invalid size");
        check(&format!("{ONE}max_rss = 0\n"), 3, "service.a.max_rss", "greater than 0");
        check(&format!("{ONE}max_rss = -5\n"), 3, "service.a.max_rss", "out of range");
        check(&format!("{ONE}on_max_rss = \"log\"\n"), 3, "service.a.on_max_rss", "requires max_rss");
        check(&format!("{ONE}max_rss = \"1G\"\non_max_rss = \"kill\"\n"), 4, "service.a.on_max_rss", "\"signal:NAME\"");
        check(&format!("{ONE}max_rss = \"1G\"\non_max_rss = \"signal:NOPE\"\n"), 4, "service.a.on_max_rss", "NOPE");
        check(&format!("{ONE}autostart = \"yes\"\n"), 3, "service.a.autostart", "found the string \"yes\"");
        check(&format!("{ONE}env = {{ A = 1 }}\n"), 3, "service.a.env.A", "quote numbers");
        check(&format!("{ONE}env = {{ \"A=B\" = \"1\" }}\n"), 3, "service.a.env.\"A=B\"", "environment variable");
        check(&format!("{ONE}umask = 22\n"), 3, "service.a.umask", "octal digits");
        check(&format!("{ONE}umask = \"088\"\n"), 3, "service.a.umask", "invalid umask \"088\"");
        check(&format!("{ONE}umask = \"01777\"\n"), 3, "service.a.umask", "invalid umask");
        check(&format!("{ONE}umask = \"22\"\n"), 3, "service.a.umask", "invalid umask");
        check(&format!("{ONE}stdout = \"stdout\"\n"), 3, "service.a.stdout", "unknown value \"stdout\"");
        check(&format!("{ONE}stderr = \"file\"\n"), 3, "service.a.stderr", "\"stdout\"");
        check(&format!("{ONE}success_exit_codes = [0, 256]\n"), 3, "service.a.success_exit_codes[1]", "0 to 255");
        check(&format!("{ONE}success_exit_codes = 0\n"), 3, "service.a.success_exit_codes", "an array");
        check(&format!("{ONE}cwd = \"\"\n"), 3, "service.a.cwd", "must not be empty");
    }

    #[test]
    fn nested_table_errors() {
        check(&format!("{ONE}[service.a.backoff]\nfactor = 0.5\n"), 4, "service.a.backoff.factor", "less than 1.0");
        check(&format!("{ONE}[service.a.backoff]\njitter = 2\n"), 4, "service.a.backoff.jitter", "0.0 to 1.0");
        check(&format!("{ONE}[service.a.backoff]\ninitial = \"2m\"\n"), 4, "service.a.backoff.initial", "max (30s)");
        check(
            &format!("{ONE}[service.a.backoff]\nmax = \"1ms\"\n"),
            4,
            "service.a.backoff.max",
            "initial (100ms) is greater than max (1ms)",
        );
        check(
            &format!("{ONE}[service.a.backoff]\nreset_after = \"soon\"\n"),
            4,
            "service.a.backoff.reset_after",
            "soon",
        );
        check(&format!("{ONE}backoff = 3\n"), 3, "service.a.backoff", "expected a table");
        check(&format!("{ONE}[service.a.start_limit]\nburst = -1\n"), 4, "service.a.start_limit.burst", "out of range");
        check(&format!("{ONE}[service.a.start_limit]\ninterval = \"x\"\n"), 4, "service.a.start_limit.interval", "x");
        check(&format!("{ONE}[service.a.log]\nbuffer = \"1KiB\"\n"), 4, "service.a.log.buffer", "4KiB to 256MiB");
        check(&format!("{ONE}[service.a.log]\nbuffer = \"1GiB\"\n"), 4, "service.a.log.buffer", "out of range");
        check(&format!("{ONE}[service.a.log]\ncolor = \"always\"\n"), 4, "service.a.log.color", "\"auto\"");
        check(
            &format!("{ONE}[service.a.log]\nfile = true\n"),
            4,
            "service.a.log.file",
            "requires the top-level log_dir",
        );
        let dir = "log_dir = \"/tmp/x\"\n";
        check(&format!("{dir}{ONE}log = {{ max_size = \"1KiB\" }}\n"), 4, "service.a.log.max_size", "at least 4KiB");
        check(&format!("{dir}{ONE}log = {{ keep = 1001 }}\n"), 4, "service.a.log.keep", "from 0 to 1000");
        check(&format!("{dir}{ONE}log = {{ keep = -1 }}\n"), 4, "service.a.log.keep", "from 0 to 1000");
        check(&format!("{dir}{ONE}log = {{ exit_lines = \"3\" }}\n"), 4, "service.a.log.exit_lines", "an integer");
        check(&format!("{dir}{ONE}log = {{ timestamps = 1 }}\n"), 4, "service.a.log.timestamps", "boolean");
        let null = "stdout = \"null\"\nstderr = \"inherit\"\n";
        check(&format!("{dir}{ONE}{null}log.file = true\n"), 6, "service.a.log.file", "nothing to write");
        let tend = "[service.tend]\ncommand = \"true\"\nlog.file = true\n";
        check(&format!("{dir}{tend}"), 4, "service.tend.log.file", "tend.log");
        check(
            &format!("{ONE}[service.a.rlimits]\nnofile = \"lots\"\n"),
            4,
            "service.a.rlimits.nofile",
            "\"unlimited\"",
        );
        check(&format!("{ONE}[service.a.rlimits]\nnofile = -1\n"), 4, "service.a.rlimits.nofile", "out of range");
        check(
            &format!("{ONE}[service.a.rlimits]\nnofile = {{ soft = 10 }}\n"),
            4,
            "service.a.rlimits.nofile",
            "both \"soft\" and \"hard\"",
        );
        check(
            &format!("{ONE}[service.a.rlimits]\nnofile = {{ soft = \"unlimited\", hard = 10 }}\n"),
            4,
            "service.a.rlimits.nofile.soft",
            "soft limit (unlimited) is greater than the hard limit (10)",
        );
        let c = parse(&format!("{ONE}rlimits = {{ stack = {{ soft = 8, hard = \"unlimited\" }} }}\n")).unwrap();
        assert_eq!((c.services[0].rlimits[0].soft, c.services[0].rlimits[0].hard), (8, UNLIMITED));
        assert_eq!(c.services[0].rlimits[0].resource, libc::RLIMIT_STACK as RlimitResource);
    }

    #[test]
    fn all_rlimit_names_map_to_distinct_resources() {
        let mut seen: Vec<RlimitResource> = RLIMITS.iter().map(|&(_, r)| r).collect();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), RLIMITS.len());
        let text: String = RLIMITS.iter().map(|(n, _)| format!("{n} = 1\n")).collect();
        let c = parse(&format!("{ONE}[service.a.rlimits]\n{text}")).unwrap();
        assert_eq!(c.services[0].rlimits.len(), RLIMITS.len());
    }

    #[test]
    fn signals_accept_names_and_numbers() {
        for (v, want) in [("\"TERM\"", libc::SIGTERM), ("\"SIGKILL\"", libc::SIGKILL), ("\"hup\"", 1), ("9", 9)] {
            let c = parse(&format!("{ONE}stop_signal = {v}\n")).unwrap();
            assert_eq!(c.services[0].stop_signal, want, "{v}");
        }
        let c = parse(&format!("{ONE}max_rss = \"1G\"\non_max_rss = \"signal:USR2\"\n")).unwrap();
        assert_eq!(c.services[0].on_max_rss, OnMaxRss::Signal(libc::SIGUSR2));
    }

    #[test]
    fn toml_syntax_errors_have_lines() {
        // The parser notices the missing comma at the next token, on line 4.
        let e = fail("main = \"a\"\n[service.a]\ncommand = [\"a\", \"b\"\nx = 1\n");
        assert_eq!(e.line(), Some(4), "{e}");
        assert_eq!(e.key(), Some("service.a.command"), "{e}");
        assert!(e.message().starts_with("invalid TOML: missing comma"), "{e}");
        assert!(e.to_string().starts_with("tend.toml:4:1: service.a.command: invalid TOML: "), "{e}");

        let e = fail("[service.a]\ncommand = \"x\"\nenv = { A = \"1\", B = }\n");
        assert_eq!((e.line(), e.key()), (Some(3), Some("service.a.env.B")), "{e}");

        let e = fail("main = \"a\"\nmain = \"b\"\n");
        assert_eq!((e.line(), e.column(), e.key()), (Some(2), Some(1), Some("main")), "{e}");
        assert!(e.message().contains("duplicate key"), "{e}");

        let e = fail("[service.a]\ncommand = \"x\"\n[service.a\n");
        assert_eq!((e.line(), e.key()), (Some(3), None), "{e}");

        let e = fail("[service.a]\n\n  stop_timeout = 10s\n");
        assert_eq!((e.line(), e.key()), (Some(3), Some("service.a.stop_timeout")), "{e}");
    }

    #[test]
    fn columns_count_characters() {
        assert_eq!(line_col("ab\ncd", 0), (1, 1));
        assert_eq!(line_col("ab\ncd", 3), (2, 1));
        assert_eq!(line_col("ab\ncd", 4), (2, 2));
        assert_eq!(line_col("é = 1", 2), (1, 2));
        assert_eq!(line_col("ab", 99), (1, 3));
        let e = fail("# é é é\n[service.a]\ncommand = \"x\"\nrestart = 1\n");
        assert_eq!((e.line(), e.column()), (Some(4), Some(11)));
    }

    #[test]
    fn load_reports_path_and_os_error() {
        let e = load(Path::new("/nonexistent/tend.toml")).unwrap_err();
        assert_eq!(e.line(), None);
        assert_eq!(e.key(), None);
        let shown = e.to_string();
        assert!(shown.starts_with("/nonexistent/tend.toml: cannot read: "), "{shown}");
        assert!(shown.contains("No such file or directory"), "{shown}");
        assert!(std::error::Error::source(&e).is_some());
    }

    #[test]
    fn suggestions() {
        assert_eq!(closest("factr", BACKOFF_KEYS), Some("factor"));
        assert_eq!(closest("x", TOP_KEYS), None);
        assert_eq!(closest("completely_else", SERVICE_KEYS), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("mian", "main"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
    }
}
