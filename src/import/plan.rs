//! What an import produces: a tend.toml as plain data (top-level keys, `[control]`,
//! services with their keys in order) plus the notes about what could not be carried
//! over, and its rendering as TOML text. Pure.

use std::fmt;
use std::fmt::Write as _;

/// A TOML value as the importer writes it.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Str(String),
    Int(i64),
    Bool(bool),
    Array(Vec<Value>),
    /// An inline table, keys in order.
    Table(Vec<(String, Value)>),
}

impl Value {
    pub fn str(s: impl Into<String>) -> Value {
        Value::Str(s.into())
    }
}

/// How far a note's subject made it into the output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoteKind {
    /// Left out: tend has no equivalent.
    NotImported,
    /// Imported, but not exactly as written (renamed, expanded now, approximated).
    Changed,
}

/// Something the reader of the output must know, with where it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    pub file: String,
    pub line: Option<usize>,
    pub kind: NoteKind,
    /// `[program:cat] stdout_capture_maxbytes = 1MB: tend has no capture mode`.
    pub text: String,
}

impl Note {
    fn label(&self) -> &'static str {
        match self.kind {
            NoteKind::NotImported => "not imported",
            NoteKind::Changed => "note",
        }
    }

    fn place(&self) -> String {
        match self.line {
            Some(l) => format!("{}:{l}", self.file),
            None => self.file.clone(),
        }
    }

    /// The comment line in the output: `# not imported: FILE:LINE: TEXT`.
    pub fn comment(&self) -> String {
        comment_safe(&format!("# {}: {}: {}", self.label(), self.place(), self.text))
    }
}

/// The line on stderr: `FILE:LINE: not imported: TEXT`.
impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.place(), self.label(), self.text)
    }
}

/// One `[service.NAME]` table.
#[derive(Clone, Debug, PartialEq)]
pub struct Service {
    pub name: String,
    /// Where it came from, written as a comment under the header.
    pub origin: String,
    /// Keys in the order they are written; `env` is kept apart.
    pub keys: Vec<(String, Value)>,
    pub env: Vec<(String, String)>,
    pub notes: Vec<Note>,
}

impl Service {
    pub fn new(name: impl Into<String>, origin: impl Into<String>) -> Service {
        Service { name: name.into(), origin: origin.into(), keys: Vec::new(), env: Vec::new(), notes: Vec::new() }
    }

    /// Set `key` (replacing an earlier value, keeping its place).
    pub fn set(&mut self, key: &str, v: Value) {
        match self.keys.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = v,
            None => self.keys.push((key.to_string(), v)),
        }
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.keys.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }
}

/// A whole generated file.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Plan {
    /// Comment lines at the top (without `# `).
    pub header: Vec<String>,
    /// Top-level keys.
    pub top: Vec<(String, Value)>,
    /// `[control]` keys.
    pub control: Vec<(String, Value)>,
    pub services: Vec<Service>,
    /// Notes that belong to no service, written at the top.
    pub notes: Vec<Note>,
}

impl Plan {
    /// Every note, the file's own first, then each service's, in output order.
    pub fn all_notes(&self) -> Vec<&Note> {
        self.notes.iter().chain(self.services.iter().flat_map(|s| s.notes.iter())).collect()
    }

    pub fn service(&self, name: &str) -> Option<&Service> {
        self.services.iter().find(|s| s.name == name)
    }
}

/// Inline tables longer than this many entries are written as their own table.
const INLINE_ENV_MAX: usize = 3;

/// The plan as tend.toml text.
pub fn render(plan: &Plan) -> String {
    let mut out = String::new();
    for h in &plan.header {
        out.push_str(&comment_safe(&format!("# {h}")));
        out.push('\n');
    }
    if !plan.notes.is_empty() {
        out.push('\n');
        for n in &plan.notes {
            out.push_str(&n.comment());
            out.push('\n');
        }
    }
    if !plan.top.is_empty() {
        out.push('\n');
        write_keys(&mut out, &plan.top);
    }
    if !plan.control.is_empty() {
        out.push_str("\n[control]\n");
        write_keys(&mut out, &plan.control);
    }
    for s in &plan.services {
        let _ = write!(out, "\n[service.{}]\n", key(&s.name));
        out.push_str(&comment_safe(&format!("# {}", s.origin)));
        out.push('\n');
        write_keys(&mut out, &s.keys);
        let inline_env = s.env.len() <= INLINE_ENV_MAX;
        if inline_env && !s.env.is_empty() {
            let t = s.env.iter().map(|(k, v)| (k.clone(), Value::Str(v.clone()))).collect();
            write_keys(&mut out, &[("env".to_string(), Value::Table(t))]);
        }
        for n in &s.notes {
            out.push_str(&n.comment());
            out.push('\n');
        }
        if !inline_env {
            let _ = writeln!(out, "\n[service.{}.env]", key(&s.name));
            for (k, v) in &s.env {
                let _ = writeln!(out, "{} = {}", key(k), string(v));
            }
        }
    }
    out
}

fn write_keys(out: &mut String, keys: &[(String, Value)]) {
    for (k, v) in keys {
        let _ = writeln!(out, "{} = {}", key(k), value(v));
    }
}

/// A TOML value on one line.
pub fn value(v: &Value) -> String {
    match v {
        Value::Str(s) => string(s),
        Value::Int(i) => i.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Array(a) => format!("[{}]", a.iter().map(value).collect::<Vec<_>>().join(", ")),
        Value::Table(t) if t.is_empty() => "{}".into(),
        Value::Table(t) => {
            let items: Vec<String> = t.iter().map(|(k, v)| format!("{} = {}", key(k), value(v))).collect();
            format!("{{ {} }}", items.join(", "))
        }
    }
}

/// A TOML key: bare when it can be, else a quoted string.
pub fn key(k: &str) -> String {
    if !k.is_empty() && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
        k.to_string()
    } else {
        string(k)
    }
}

/// A TOML basic string, every control character escaped.
pub fn string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// One comment line: control characters (newlines included) shown escaped, since TOML
/// comments allow none but tab.
fn comment_safe(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control() && c != '\t' {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// `n` bytes as the largest exact unit tend reads: `"50MiB"`, `"3KiB"`, `"1000"`.
pub fn size(n: u64) -> Value {
    for (unit, mult) in [("GiB", 1u64 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] {
        if n >= mult && n.is_multiple_of(mult) {
            return Value::Str(format!("{}{unit}", n / mult));
        }
    }
    Value::Int(n.min(i64::MAX as u64) as i64)
}

/// Seconds as a tend duration: `"10s"`, or `"0"`.
pub fn seconds(n: u64) -> Value {
    if n == 0 {
        Value::str("0")
    } else {
        Value::Str(format!("{n}s"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_and_keys() {
        assert_eq!(string("a\"b\\c\nd\u{1}"), "\"a\\\"b\\\\c\\nd\\u0001\"");
        assert_eq!(key("web-1_x"), "web-1_x");
        assert_eq!(key("A.B"), "\"A.B\"");
        assert_eq!(key(""), "\"\"");
        assert_eq!(size(50 << 20), Value::str("50MiB"));
        assert_eq!(size(1536), Value::Int(1536));
        assert_eq!(size(0), Value::Int(0));
        assert_eq!(seconds(0), Value::str("0"));
    }

    #[test]
    fn renders_valid_toml() {
        let mut s = Service::new("web", "from [program:web]\nsecond line");
        s.set("command", Value::Array(vec![Value::str("/bin/web"), Value::str("--name=\"x\"")]));
        s.set("stop_timeout", seconds(10));
        s.set("backoff", Value::Table(vec![("initial".into(), Value::str("1s"))]));
        s.set("stop_timeout", seconds(3));
        s.env = vec![("A".into(), "1".into()), ("B C".into(), "2".into())];
        s.notes.push(Note {
            file: "x.conf".into(),
            line: Some(3),
            kind: NoteKind::NotImported,
            text: "a value with\na newline".into(),
        });
        let mut big = Service::new("big", "from elsewhere");
        big.set("command", Value::str("true"));
        big.env = (0..5).map(|i| (format!("V{i}"), i.to_string())).collect();
        let plan = Plan {
            header: vec!["generated".into()],
            top: vec![("log_dir".into(), Value::str("/var/log"))],
            control: vec![("mode".into(), Value::str("0700"))],
            services: vec![s, big],
            notes: vec![Note { file: "x.conf".into(), line: None, kind: NoteKind::Changed, text: "top".into() }],
        };
        let text = render(&plan);
        let doc: toml::Table = text.parse().unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(doc["log_dir"].as_str(), Some("/var/log"));
        assert_eq!(doc["control"]["mode"].as_str(), Some("0700"));
        let web = &doc["service"]["web"];
        assert_eq!(web["command"][1].as_str(), Some("--name=\"x\""));
        assert_eq!(web["stop_timeout"].as_str(), Some("3s"));
        assert_eq!(web["env"]["B C"].as_str(), Some("2"));
        assert_eq!(doc["service"]["big"]["env"]["V4"].as_str(), Some("4"));
        assert!(text.contains("# not imported: x.conf:3: a value with\\na newline\n"), "{text}");
        assert!(text.contains("# note: x.conf: top\n"), "{text}");
        assert!(text.contains("# from [program:web]\\nsecond line\n"), "{text}");
        // The stop_timeout set twice keeps its first place.
        assert!(text.find("stop_timeout").unwrap() < text.find("backoff").unwrap());
        assert_eq!(plan.all_notes().len(), 2);
    }
}
