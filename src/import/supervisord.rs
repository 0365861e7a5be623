//! supervisord.conf (parsed by `ini.rs`, includes already merged) -> a tend.toml
//! [`Plan`]. Pure: the files' text, their directories and the importing process's
//! environment come in as data.
//!
//! Every option is read as supervisord reads it (supervisor/options.py and
//! datatypes.py: booleans, byte sizes, octal umasks, signal names, `%(name)s`
//! expressions, `command` split by shlex, `environment` as `KEY="val",...`), and either
//! mapped to the tend key with the same meaning, or reported in a [`Note`]. The mapping
//! is described in tend(1), under "tend import".

use std::collections::BTreeMap;

use super::expand::{self, plain, Ch, Dyn, DynKind, Lookup, Val};
use super::ini::{Entry, Ini, Section};
use super::lex;
use super::plan::{self, Note, NoteKind, Plan, Service, Value};
use super::shell;
use super::ImportError;
use crate::daemon::signals::{parse_signal, signal_name};

/// One file that was read: as named for messages, and its directory (absolute), which
/// is what `%(here)s` stands for in it.
#[derive(Clone, Debug)]
pub struct File {
    pub path: String,
    pub here: String,
}

/// The importing process's environment, for `%(ENV_X)s` and `%(host_node_name)s` in
/// options that cannot wait until the service runs.
#[derive(Clone, Debug, Default)]
pub struct Environment {
    pub vars: BTreeMap<String, String>,
    pub host: String,
}

type Result<T> = std::result::Result<T, ImportError>;

/// supervisord's defaults that differ from tend's or decide a mapping.
const DEFAULT_PRIORITY: i64 = 999;
const DEFAULT_STARTSECS: u64 = 1;
const DEFAULT_STARTRETRIES: u64 = 3;
const DEFAULT_STOPWAITSECS: u64 = 10;
const DEFAULT_LOG_MAXBYTES: u64 = 50 << 20;
const DEFAULT_LOG_BACKUPS: i64 = 10;
/// tend's backoff cap (tend.toml(5) default), for the start-limit window.
const TEND_BACKOFF_MAX_S: u64 = 30;
/// tend's limits.
const MAX_INSTANCES: i64 = crate::config::defaults::MAX_INSTANCES as i64;
const MAX_NAME: usize = 64;

/// Options of `[program:x]` that supervisord reads.
const PROGRAM_KEYS: &[&str] = &[
    "command",
    "process_name",
    "numprocs",
    "numprocs_start",
    "priority",
    "autostart",
    "autorestart",
    "startsecs",
    "startretries",
    "exitcodes",
    "stopsignal",
    "stopwaitsecs",
    "stopasgroup",
    "killasgroup",
    "user",
    "redirect_stderr",
    "stdout_logfile",
    "stdout_logfile_maxbytes",
    "stdout_logfile_backups",
    "stdout_capture_maxbytes",
    "stdout_events_enabled",
    "stdout_syslog",
    "stderr_logfile",
    "stderr_logfile_maxbytes",
    "stderr_logfile_backups",
    "stderr_capture_maxbytes",
    "stderr_events_enabled",
    "stderr_syslog",
    "environment",
    "directory",
    "umask",
    "serverurl",
];

/// Options of `[supervisord]`, and why each one that is not mapped has no equivalent.
const SUPERVISORD_KEYS: &[(&str, &str)] = &[
    ("environment", ""),
    ("umask", ""),
    ("nodaemon", ""),
    ("silent", "tend always passes service output and its own events on"),
    ("logfile", "supervisord's activity log: tend writes its events to stderr and keeps them for `tend events`"),
    ("logfile_maxbytes", "supervisord's activity log: tend writes its events to stderr"),
    ("logfile_backups", "supervisord's activity log: tend writes its events to stderr"),
    ("loglevel", "supervisord's activity log: tend writes its events to stderr"),
    ("pidfile", "tend writes no pid file"),
    ("minfds", "tend does not raise its own limits: set rlimits.nofile on the services that need it"),
    ("minprocs", "tend does not raise its own limits: set rlimits.nproc on the services that need it"),
    ("nocleanup", "AUTO log files are not imported: tend keeps recent output in memory (`tend logs`)"),
    ("childlogdir", "AUTO log files are not imported: tend keeps recent output in memory (`tend logs`)"),
    ("user", "run tend itself as that user"),
    ("directory", "tend run neither daemonizes nor changes directory: start it in that directory"),
    ("strip_ansi", "tend passes output on unchanged"),
    ("identifier", "tend has no identifier"),
];

/// Options of `[unix_http_server]`.
const UNIX_HTTP_KEYS: &[&str] = &["file", "chmod", "chown", "username", "password"];

/// Mapping state: the files, the importing environment, the placeholders made so far
/// and the notes that belong to no service.
struct Mapper<'a> {
    ini: &'a Ini,
    files: &'a [File],
    env: &'a Environment,
    dyns: Vec<Dyn>,
    notes: Vec<Note>,
}

/// What `%(...)s` names stand for in one option.
#[derive(Clone, Default)]
struct Ctx {
    program_name: Option<String>,
    group_name: Option<String>,
    process_num: Option<ProcNum>,
    numprocs: Option<i64>,
    /// Variables set in the file (`[supervisord]` and the program's `environment`),
    /// which `%(ENV_X)s` sees before supervisord's own environment.
    env: Vec<(String, Vec<Ch>)>,
}

#[derive(Clone, Copy)]
enum ProcNum {
    Static(i64),
    /// One of several instances: tend's instance number plus `numprocs_start`.
    Instance(i64),
}

/// A `[program:x]` on its way to a service.
struct Program {
    service: Service,
    /// Start order: (group priority, program priority); lower starts first.
    tier: (i64, i64),
    autostart: bool,
    /// Log files asked for: (stream, path, where).
    log_paths: Vec<(&'static str, Vec<Ch>, Entry)>,
    section: String,
}

/// Where a stream's output goes (`stdout_logfile`, `stderr_logfile`).
enum LogTarget {
    Auto,
    Null,
    Syslog,
    TendStdout,
    TendStderr,
    Path(Vec<Ch>),
}

/// The `files` patterns of `[include]` as written (relative ones are relative to the
/// main file's directory), with the line they are on; None without an `[include]`
/// section.
pub fn include_patterns(ini: &Ini, files: &[File], env: &Environment) -> Result<Option<Include>> {
    let Some(sect) = ini.section("include") else { return Ok(None) };
    let mut m = Mapper { ini, files, env, dyns: Vec::new(), notes: Vec::new() };
    let Some(e) = sect.get("files") else {
        return Err(m.section_error(sect, "[include] has no \"files\" option"));
    };
    let text = m.scalar(&Ctx::default(), sect, e)?.unwrap_or_default();
    Ok(Some(Include { patterns: text.split_whitespace().map(str::to_string).collect(), line: e.line, notes: m.notes }))
}

/// `[include] files`: the patterns, the line they are on, and notes about them.
pub struct Include {
    pub patterns: Vec<String>,
    pub line: usize,
    pub notes: Vec<Note>,
}

/// Map a whole configuration.
pub fn map(ini: &Ini, files: &[File], env: &Environment) -> Result<Plan> {
    let mut m = Mapper { ini, files, env, dyns: Vec::new(), notes: Vec::new() };
    let mut plan = Plan::default();

    // [supervisord] first: its environment and umask apply to every program.
    let mut global_env = Vec::new();
    let mut global_umask = None;
    if let Some(sect) = ini.section("supervisord") {
        (global_env, global_umask) = m.supervisord(sect)?;
    }
    let groups = m.groups()?;

    let mut programs: Vec<Program> = Vec::new();
    for sect in &ini.sections {
        let (kind, name) = sect.name.split_once(':').unwrap_or((sect.name.as_str(), ""));
        match kind {
            "program" => {
                let group = groups.get(name.trim());
                if let Some(p) = m.program(sect, group, &global_env, global_umask.as_ref())? {
                    if let Some(other) = programs.iter().find(|o| o.service.name == p.service.name) {
                        let msg = format!(
                            "[{}] and [{}] would both be the service \"{}\": rename one",
                            other.section, sect.name, p.service.name
                        );
                        return Err(m.section_error(sect, &msg));
                    }
                    programs.push(p);
                }
            }
            "supervisord" if name.is_empty() => {}
            "include" if name.is_empty() => {
                for e in sect.entries.iter().filter(|e| e.key != "files") {
                    let n = m.entry_note(sect, e, NoteKind::NotImported, "not a supervisord option");
                    m.notes.push(n);
                }
            }
            "group" => {}
            "unix_http_server" if name.is_empty() => plan.control = m.unix_http_server(sect)?,
            _ => {
                let why = match kind {
                    "inet_http_server" => "tend has no HTTP control interface: its clients use the control socket",
                    "supervisorctl" => "client settings: tend's commands take --socket or $TEND_SOCKET",
                    "rpcinterface" => "tend's control protocol is built in (tend-protocol(7))",
                    "ctlplugin" => "tend's commands have no plugins",
                    "eventlistener" => {
                        "tend has no event listener protocol: `tend events -f --json` streams its events"
                    }
                    "fcgi-program" => "tend does not open FastCGI sockets for its services",
                    _ => "not a supervisord section",
                };
                let n = m.note_at(sect.file, sect.line, NoteKind::NotImported, format!("[{}]: {why}", sect.name));
                m.notes.push(n);
            }
        }
    }
    if let Some(d) = &ini.defaults {
        for e in &d.entries {
            let known = PROGRAM_KEYS.contains(&e.key.as_str()) || SUPERVISORD_KEYS.iter().any(|(k, _)| *k == e.key);
            if !known {
                let n = m.entry_note(d, e, NoteKind::NotImported, "not a supervisord option");
                m.notes.push(n);
            }
        }
    }
    if programs.is_empty() {
        let file = files.first().map(|f| f.path.clone()).unwrap_or_default();
        return Err(ImportError { file, line: None, message: "no [program:x] section: nothing to import".into() });
    }

    order_by_priority(&mut programs);
    let log_dir = m.log_files(&mut programs);
    if let Some(dir) = log_dir {
        plan.top.push(("log_dir".into(), Value::Str(dir)));
    }
    for p in &mut programs {
        p.service.notes.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
    }
    plan.services = programs.into_iter().map(|p| p.service).collect();
    plan.notes = m.notes;
    Ok(plan)
}

/// Each autostarted program depends ("started") on every autostarted program of the
/// next lower priority, so that tend starts them in supervisord's order and stops
/// them in the reverse order. Programs with `autostart=false` take no part: nothing
/// waits for them.
fn order_by_priority(programs: &mut [Program]) {
    let mut tiers: Vec<(i64, i64)> = programs.iter().filter(|p| p.autostart).map(|p| p.tier).collect();
    tiers.sort_unstable();
    tiers.dedup();
    let deps: Vec<Option<Vec<String>>> = programs
        .iter()
        .map(|p| {
            if !p.autostart {
                return None;
            }
            let below = tiers.iter().rev().find(|t| **t < p.tier)?;
            Some(programs.iter().filter(|o| o.autostart && o.tier == *below).map(|o| o.service.name.clone()).collect())
        })
        .collect();
    for (p, d) in programs.iter_mut().zip(deps) {
        if let Some(names) = d {
            let t = names.into_iter().map(|n| (n, Value::str("started"))).collect();
            p.service.set("depends_on", Value::Table(t));
        }
    }
}

/// supervisord's `process_or_group_name`: trimmed, without space, `:` or `/`.
fn program_name(raw: &str) -> std::result::Result<String, String> {
    let s = raw.trim();
    if s.is_empty() {
        return Err("a program section needs a name: [program:NAME]".into());
    }
    if let Some(c) = s.chars().find(|c| " :/".contains(*c)) {
        return Err(format!("invalid name {s:?}: it contains {c:?}"));
    }
    Ok(s.to_string())
}

/// A tend service name for a supervisord program name: letters, digits, `_` and `-`
/// kept, anything else made `-`, at most 64 characters.
fn service_name(program: &str) -> String {
    program
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '-' })
        .take(MAX_NAME)
        .collect()
}

/// A value shown in a note, on one line.
fn show(v: &str) -> String {
    v.chars().flat_map(|c| if c.is_control() { c.escape_default().collect::<Vec<_>>() } else { vec![c] }).collect()
}

impl Mapper<'_> {
    fn file(&self, i: usize) -> String {
        self.files.get(i).map(|f| f.path.clone()).unwrap_or_default()
    }

    fn here(&self, i: usize) -> String {
        self.files.get(i).map(|f| f.here.clone()).unwrap_or_else(|| ".".into())
    }

    fn error(&self, sect: &Section, e: &Entry, msg: &str) -> ImportError {
        ImportError {
            file: self.file(e.file),
            line: Some(e.line),
            message: format!("[{}] {}: {msg}", sect.name, e.key),
        }
    }

    fn section_error(&self, sect: &Section, msg: &str) -> ImportError {
        ImportError { file: self.file(sect.file), line: Some(sect.line), message: msg.to_string() }
    }

    fn note_at(&self, file: usize, line: usize, kind: NoteKind, text: String) -> Note {
        Note { file: self.file(file), line: Some(line), kind, text }
    }

    /// `[SECTION] key = value: why`.
    fn entry_note(&self, sect: &Section, e: &Entry, kind: NoteKind, why: &str) -> Note {
        let text = format!("[{}] {} = {}: {why}", sect.name, e.key, show(&e.value));
        self.note_at(e.file, e.line, kind, text)
    }

    /// An option of `sect`, or of `[DEFAULT]`.
    fn get<'s>(&'s self, sect: &'s Section, key: &str) -> Option<&'s Entry> {
        sect.get(key).or_else(|| self.ini.defaults.as_ref()?.get(key))
    }

    /// Expand an option's `%(name)s` expressions. With `dynamic`, a variable that is
    /// not in the file and the host name become placeholders for run time; without,
    /// they are taken from the importing environment now (and a note says so).
    fn expand(&mut self, ctx: &Ctx, sect: &Section, e: &Entry, dynamic: bool) -> Result<Vec<Ch>> {
        let here = self.here(e.file);
        let mut late: Vec<String> = Vec::new();
        let env = self.env;
        let mut lookup = |name: &str| -> std::result::Result<Lookup, String> {
            let value = |s: &str| Ok(Lookup::Value(Val::Str(s.to_string())));
            match name {
                "here" => value(&here),
                "program_name" if ctx.program_name.is_some() => value(ctx.program_name.as_deref().unwrap_or_default()),
                "group_name" if ctx.group_name.is_some() => value(ctx.group_name.as_deref().unwrap_or_default()),
                "numprocs" if ctx.numprocs.is_some() => Ok(Lookup::Value(Val::Int(ctx.numprocs.unwrap_or(1)))),
                "process_num" if ctx.process_num.is_some() => match ctx.process_num {
                    Some(ProcNum::Instance(offset)) => Ok(Lookup::Dynamic(DynKind::Instance { offset })),
                    Some(ProcNum::Static(n)) => Ok(Lookup::Value(Val::Int(n))),
                    None => Err("%(process_num)s is unknown here".into()),
                },
                "host_node_name" if dynamic => Ok(Lookup::Dynamic(DynKind::Host)),
                "host_node_name" => {
                    late.push(format!("%(host_node_name)s is this machine's name, {:?}", env.host));
                    value(&env.host)
                }
                _ => {
                    let Some(var) = name.strip_prefix("ENV_") else {
                        return Err(format!(
                            "%({name})s cannot be expanded: the names are here, program_name, group_name, \
                             host_node_name, process_num, numprocs and ENV_X for a variable X"
                        ));
                    };
                    if let Some((_, v)) = ctx.env.iter().rev().find(|(k, _)| k == var) {
                        if let Some(p) = plain(v) {
                            return value(&p);
                        }
                        if dynamic {
                            return Ok(Lookup::Dynamic(DynKind::Env(var.to_string())));
                        }
                    }
                    if dynamic && shell::is_name(var) {
                        return Ok(Lookup::Dynamic(DynKind::Env(var.to_string())));
                    }
                    match env.vars.get(var) {
                        Some(v) => {
                            late.push(format!("%({name})s is ${var} of this import, {v:?}"));
                            value(v)
                        }
                        None => Err(format!(
                            "%({name})s cannot be expanded: ${var} is not set here, and tend cannot take it \
                             from its environment at run time in this option"
                        )),
                    }
                }
            }
        };
        let out = expand::expand(&e.value, &mut lookup, &mut self.dyns).map_err(|m| self.error(sect, e, &m))?;
        for why in late {
            let n = self.entry_note(sect, e, NoteKind::Changed, &format!("expanded when imported: {why}"));
            self.notes.push(n);
        }
        Ok(out)
    }

    /// An option whose value must be the same for every instance: None (and a note)
    /// if it uses `%(process_num)s` of several instances.
    fn scalar(&mut self, ctx: &Ctx, sect: &Section, e: &Entry) -> Result<Option<String>> {
        let v = self.expand(ctx, sect, e, false)?;
        match plain(&v) {
            Some(s) => Ok(Some(s)),
            None => {
                let why = "it uses %(process_num)s, which differs between instances, and tend has one value for all";
                let n = self.entry_note(sect, e, NoteKind::NotImported, why);
                self.notes.push(n);
                Ok(None)
            }
        }
    }

    /// A scalar option read with `parse`, or None when absent or not importable.
    fn read<T>(
        &mut self,
        ctx: &Ctx,
        sect: &Section,
        key: &str,
        parse: impl Fn(&str) -> std::result::Result<T, String>,
    ) -> Result<Option<(T, Entry)>> {
        let Some(e) = self.get(sect, key).cloned() else { return Ok(None) };
        let Some(s) = self.scalar(ctx, sect, &e)? else { return Ok(None) };
        let v = parse(&s).map_err(|m| self.error(sect, &e, &m))?;
        Ok(Some((v, e)))
    }

    /// `[supervisord]`: the environment and umask every program gets, and notes.
    #[allow(clippy::type_complexity)]
    fn supervisord(&mut self, sect: &Section) -> Result<(Vec<(String, Vec<Ch>)>, Option<(u32, Entry)>)> {
        let ctx = Ctx::default();
        let mut env = Vec::new();
        if let Some(e) = self.get(sect, "environment").cloned() {
            env = self.environment(&ctx, sect, &e)?;
        }
        let umask = self.read(&ctx, sect, "umask", octal)?;
        if let Some((false, e)) = self.read(&ctx, sect, "nodaemon", boolean)? {
            let n = self.entry_note(sect, &e, NoteKind::Changed, "tend run always stays in the foreground");
            self.notes.push(n);
        }
        for e in &sect.entries {
            match SUPERVISORD_KEYS.iter().find(|(k, _)| *k == e.key) {
                Some((_, "")) => {}
                Some((_, why)) => {
                    let n = self.entry_note(sect, e, NoteKind::NotImported, why);
                    self.notes.push(n);
                }
                None => {
                    let n = self.entry_note(sect, e, NoteKind::NotImported, "not a supervisord option");
                    self.notes.push(n);
                }
            }
        }
        Ok((env, umask))
    }

    /// `environment = KEY="val",...` -> (name, value) in order.
    fn environment(&mut self, ctx: &Ctx, sect: &Section, e: &Entry) -> Result<Vec<(String, Vec<Ch>)>> {
        let v = self.expand(ctx, sect, e, true)?;
        let parsed = lex::env_pairs(&v).map_err(|m| self.error(sect, e, &m))?;
        for sep in &parsed.odd_separators {
            let why = format!(
                "supervisord reads {:?} between two variables as a separator, like a comma: quote values \
                 with characters other than letters, digits and _/.+-():",
                plain(sep).unwrap_or_default()
            );
            let n = self.entry_note(sect, e, NoteKind::Changed, &why);
            self.notes.push(n);
        }
        let mut out = Vec::with_capacity(parsed.pairs.len());
        for (k, v) in parsed.pairs {
            let Some(name) = plain(&k) else {
                return Err(self.error(sect, e, "a variable name cannot come from %(process_num)s or %(ENV_X)s"));
            };
            if name.is_empty() || name.contains('=') {
                return Err(self.error(sect, e, &format!("invalid variable name {name:?}")));
            }
            out.push((name, v));
        }
        Ok(out)
    }

    /// `[group:x]` sections: program name -> (group name, group priority).
    fn groups(&mut self) -> Result<BTreeMap<String, (String, i64)>> {
        let mut out: BTreeMap<String, (String, i64)> = BTreeMap::new();
        let ini = self.ini;
        for sect in ini.sections.iter().filter(|s| s.name.starts_with("group:")) {
            let name = program_name(&sect.name["group:".len()..]).map_err(|m| self.section_error(sect, &m))?;
            let ctx = Ctx::default();
            let priority = self.read(&ctx, sect, "priority", integer)?.map_or(DEFAULT_PRIORITY, |(p, _)| p);
            let Some(e) = sect.get("programs").cloned() else {
                return Err(self.section_error(sect, &format!("[{}] has no \"programs\" option", sect.name)));
            };
            let list = self.scalar(&ctx, sect, &e)?.unwrap_or_default();
            let mut members = Vec::new();
            for p in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                let known = ini.section(&format!("program:{p}")).is_some();
                if !known {
                    let fcgi = ini.section(&format!("fcgi-program:{p}")).is_some();
                    if !fcgi {
                        return Err(self.error(sect, &e, &format!("names unknown program {p:?}")));
                    }
                    continue;
                }
                if let Some((g, _)) = out.get(p) {
                    let why = format!("program {p:?} is already in [group:{g}]: tend orders it by that group");
                    let n = self.entry_note(sect, &e, NoteKind::Changed, &why);
                    self.notes.push(n);
                    continue;
                }
                out.insert(p.to_string(), (name.clone(), priority));
                members.push(p.to_string());
            }
            let why = format!(
                "tend has no groups: {} are separate services, started in the group's priority order",
                members.join(", ")
            );
            let n = self.note_at(sect.file, sect.line, NoteKind::Changed, format!("[{}]: {why}", sect.name));
            self.notes.push(n);
            for k in sect.entries.iter().filter(|e| e.key != "programs" && e.key != "priority") {
                let n = self.entry_note(sect, k, NoteKind::NotImported, "not a supervisord option");
                self.notes.push(n);
            }
        }
        Ok(out)
    }

    /// `[unix_http_server]` -> `[control]`.
    fn unix_http_server(&mut self, sect: &Section) -> Result<Vec<(String, Value)>> {
        let ctx = Ctx::default();
        let mut out = Vec::new();
        if let Some((path, e)) = self.read(&ctx, sect, "file", |s| Ok(s.to_string()))? {
            let max = crate::daemon::control::MAX_SOCKET_PATH;
            if path.len() > max {
                let why = format!("the path is {} bytes long: tend's socket path holds at most {max}", path.len());
                let n = self.entry_note(sect, &e, NoteKind::NotImported, &why);
                self.notes.push(n);
            } else if !path.is_empty() {
                out.push(("socket".to_string(), Value::Str(path)));
            }
        }
        if let Some((mode, e)) = self.read(&ctx, sect, "chmod", octal)? {
            if mode > 0o777 {
                let n = self.entry_note(sect, &e, NoteKind::NotImported, "tend's control.mode is at most 0777");
                self.notes.push(n);
            } else {
                out.push(("mode".to_string(), Value::Str(format!("{mode:04o}"))));
            }
        }
        if let Some((owner, e)) = self.read(&ctx, sect, "chown", |s| Ok(s.to_string()))? {
            let (user, group) = owner.split_once(':').unwrap_or((owner.as_str(), ""));
            if !group.is_empty() {
                out.push(("group".to_string(), Value::str(group)));
            }
            if !user.is_empty() {
                let why = "the socket belongs to the user tend runs as (the group part is control.group)";
                let n = self.entry_note(sect, &e, NoteKind::NotImported, why);
                self.notes.push(n);
            }
        }
        for e in &sect.entries {
            let why = match e.key.as_str() {
                "username" | "password" => {
                    "tend checks the connecting process's user and groups instead (control.allow_uids, allow_gids)"
                }
                k if UNIX_HTTP_KEYS.contains(&k) => continue,
                _ => "not a supervisord option",
            };
            let n = self.entry_note(sect, e, NoteKind::NotImported, why);
            self.notes.push(n);
        }
        Ok(out)
    }

    /// One `[program:x]`; None if it starts no process (`numprocs = 0`).
    fn program(
        &mut self,
        sect: &Section,
        group: Option<&(String, i64)>,
        global_env: &[(String, Vec<Ch>)],
        global_umask: Option<&(u32, Entry)>,
    ) -> Result<Option<Program>> {
        let name = program_name(&sect.name["program:".len()..]).map_err(|m| self.section_error(sect, &m))?;
        let tend_name = service_name(&name);
        let origin = format!("from [{}], {}:{}", sect.name, self.file(sect.file), sect.line);
        let mut svc = Service::new(tend_name.clone(), origin);
        if tend_name != name {
            let why = format!(
                "[{}]: the service is named \"{tend_name}\": tend's names are 1 to {MAX_NAME} letters, digits, _ and -",
                sect.name
            );
            svc.notes.push(self.note_at(sect.file, sect.line, NoteKind::Changed, why));
        }
        let mut ctx = Ctx {
            program_name: Some(name.clone()),
            group_name: Some(group.map_or(name.clone(), |(g, _)| g.clone())),
            env: global_env.to_vec(),
            ..Ctx::default()
        };

        let numprocs = self.read(&ctx, sect, "numprocs", integer)?.map_or(1, |(n, _)| n);
        let start = self.read(&ctx, sect, "numprocs_start", integer)?.map_or(0, |(n, _)| n);
        if numprocs < 1 {
            let e = self.get(sect, "numprocs").cloned();
            let why = "supervisord starts no process for it, so there is no service";
            let n = match e {
                Some(e) => self.entry_note(sect, &e, NoteKind::NotImported, why),
                None => self.note_at(sect.file, sect.line, NoteKind::NotImported, why.into()),
            };
            self.notes.push(n);
            return Ok(None);
        }
        if numprocs > MAX_INSTANCES {
            let e = self.get(sect, "numprocs").cloned().unwrap_or_else(|| sect.entries[0].clone());
            return Err(self.error(sect, &e, &format!("tend runs at most {MAX_INSTANCES} instances of a service")));
        }
        ctx.numprocs = Some(numprocs);
        ctx.process_num = Some(if numprocs == 1 { ProcNum::Static(start) } else { ProcNum::Instance(start) });
        let process_name = self.get(sect, "process_name").cloned();
        if numprocs > 1 && !process_name.as_ref().is_some_and(|e| e.value.contains("%(process_num)")) {
            let msg = "%(process_num) must be present within process_name when numprocs > 1";
            let at = process_name.as_ref().or(self.get(sect, "numprocs")).cloned();
            return Err(match at {
                Some(e) => self.error(sect, &e, msg),
                None => self.section_error(sect, msg),
            });
        }
        if let Some(e) = &process_name {
            if e.value.trim() != "%(program_name)s" {
                let why = if numprocs > 1 {
                    format!("tend names the instances {tend_name}.0 to {tend_name}.{}", numprocs - 1)
                } else {
                    format!("tend names the service \"{tend_name}\"")
                };
                svc.notes.push(self.entry_note(sect, e, NoteKind::Changed, &why));
            }
        }

        // The program's environment, then everything that may use it in %(ENV_X)s.
        let mut env: Vec<(String, Vec<Ch>)> = global_env.to_vec();
        if let Some(e) = self.get(sect, "environment").cloned() {
            for (k, v) in self.environment(&ctx, sect, &e)? {
                env.retain(|(ok, _)| *ok != k);
                env.push((k, v));
            }
        }
        ctx.env = env.clone();

        let Some(cmd_entry) = self.get(sect, "command").cloned() else {
            return Err(self.section_error(sect, &format!("[{}] has no \"command\" option", sect.name)));
        };
        let cmd = self.expand(&ctx, sect, &cmd_entry, true)?;
        let words =
            lex::split_command(&cmd).map_err(|m| self.error(sect, &cmd_entry, &format!("cannot split: {m}")))?;
        if words.is_empty() {
            return Err(self.error(sect, &cmd_entry, "the command is empty"));
        }
        if words[0].is_empty() {
            return Err(self.error(sect, &cmd_entry, "the program name is empty"));
        }
        let dir = match self.get(sect, "directory").cloned() {
            Some(e) => {
                let d = self.expand(&ctx, sect, &e, true)?;
                if d.is_empty() {
                    return Err(self.error(sect, &e, "the directory is empty"));
                }
                Some(d)
            }
            None => None,
        };
        self.command(&mut svc, sect, &cmd_entry, &words, &env, dir.as_deref())?;
        if numprocs > 1 {
            svc.set("instances", Value::Int(numprocs));
        }

        if let Some((user, _)) = self.read(&ctx, sect, "user", |s| Ok(s.to_string()))? {
            svc.set("user", Value::Str(user));
        }
        let umask = match self.read(&ctx, sect, "umask", octal)? {
            Some(u) => Some(u),
            None => global_umask.cloned(),
        };
        if let Some((u, e)) = umask {
            if u > 0o777 {
                svc.notes.push(self.entry_note(sect, &e, NoteKind::NotImported, "tend's umask is at most 0777"));
            } else {
                svc.set("umask", Value::Str(format!("{u:03o}")));
            }
        }

        let priority = self.read(&ctx, sect, "priority", integer)?.map_or(DEFAULT_PRIORITY, |(p, _)| p);
        let autostart = self.read(&ctx, sect, "autostart", boolean)?.is_none_or(|(a, _)| a);
        if !autostart {
            svc.set("autostart", Value::Bool(false));
        }
        self.restart(&ctx, sect, &mut svc)?;
        self.stopping(&ctx, sect, &mut svc)?;
        let log_paths = self.output(&ctx, sect, &mut svc)?;

        for e in sect.entries.iter().filter(|e| !PROGRAM_KEYS.contains(&e.key.as_str())) {
            svc.notes.push(self.entry_note(sect, e, NoteKind::NotImported, "not a supervisord option"));
        }
        let tier = (group.map_or(priority, |(_, gp)| *gp), priority);
        Ok(Some(Program { service: svc, tier, autostart, log_paths, section: sect.name.clone() }))
    }

    /// `command`, `environment` and `directory`: an argv with env and cwd when all are
    /// known now; else a shell command that exports the variables known only at run
    /// time, changes directory if that is one of them, and execs the program.
    fn command(
        &mut self,
        svc: &mut Service,
        sect: &Section,
        cmd_entry: &Entry,
        words: &[Vec<Ch>],
        env: &[(String, Vec<Ch>)],
        dir: Option<&[Ch]>,
    ) -> Result<()> {
        let argv: Option<Vec<String>> = words.iter().map(|w| plain(w)).collect();
        let dir_plain = dir.map(plain);
        let mut exports = Vec::new();
        for (k, v) in env {
            match plain(v) {
                Some(p) => svc.env.push((k.clone(), p)),
                None => exports.push((k, v)),
            }
        }
        match (argv, exports.is_empty(), &dir_plain) {
            (Some(argv), true, None | Some(Some(_))) => {
                svc.set("command", Value::Array(argv.into_iter().map(Value::Str).collect()));
            }
            _ => {
                let mut sh = String::new();
                for (k, v) in exports {
                    if !shell::is_name(k) {
                        let msg = format!(
                            "{k:?} is not a name the shell can export, and its value is known only at run time"
                        );
                        return Err(self.error(sect, cmd_entry, &msg));
                    }
                    sh.push_str(&format!("export {k}={}; ", shell::word(v, &self.dyns)));
                }
                if let (Some(d), Some(None)) = (dir, &dir_plain) {
                    sh.push_str(&format!("cd {} && ", shell::word(d, &self.dyns)));
                }
                sh.push_str("exec");
                for w in words {
                    sh.push(' ');
                    sh.push_str(&shell::word(w, &self.dyns));
                }
                svc.set("command", Value::Str(sh));
            }
        }
        if let Some(Some(d)) = dir_plain {
            svc.set("cwd", Value::Str(d));
        }
        Ok(())
    }

    /// `autorestart`, `exitcodes`, `startsecs`, `startretries` -> `restart`,
    /// `success_exit_codes`, `backoff`, `start_limit`.
    fn restart(&mut self, ctx: &Ctx, sect: &Section, svc: &mut Service) -> Result<()> {
        let auto = self.read(ctx, sect, "autorestart", autorestart)?.map(|(a, _)| a);
        let policy = auto.unwrap_or("on-failure");
        svc.set("restart", Value::str(policy));
        if let Some((codes, _)) = self.read(ctx, sect, "exitcodes", exitcodes)? {
            if codes != [0] {
                svc.set("success_exit_codes", Value::Array(codes.into_iter().map(Value::Int).collect()));
            }
        }
        let startsecs = self.read(ctx, sect, "startsecs", unsigned)?.map_or(DEFAULT_STARTSECS, |(n, _)| n);
        let startretries = self.read(ctx, sect, "startretries", unsigned)?.map_or(DEFAULT_STARTRETRIES, |(n, _)| n);
        let (backoff, limit) = start_policy(startsecs, startretries);
        svc.set("backoff", backoff);
        svc.set("start_limit", limit);
        if policy == "never" && startsecs > 0 && startretries > 0 {
            let why = format!(
                "with autorestart=false supervisord still retries a start that fails within startsecs \
                 ({startsecs}s) up to startretries ({startretries}) times; tend's restart = \"never\" does not"
            );
            let n = match self.get(sect, "autorestart").cloned() {
                Some(e) => self.entry_note(sect, &e, NoteKind::Changed, &why),
                None => self.note_at(sect.file, sect.line, NoteKind::Changed, why),
            };
            svc.notes.push(n);
        }
        Ok(())
    }

    /// `stopsignal`, `stopwaitsecs`, `stopasgroup`, `killasgroup`.
    fn stopping(&mut self, ctx: &Ctx, sect: &Section, svc: &mut Service) -> Result<()> {
        if let Some((sig, _)) = self.read(ctx, sect, "stopsignal", signal)? {
            if sig != libc::SIGTERM {
                let name = signal_name(sig);
                svc.set("stop_signal", Value::Str(name.trim_start_matches("SIG").to_string()));
            }
        }
        let wait = self.read(ctx, sect, "stopwaitsecs", unsigned)?.map_or(DEFAULT_STOPWAITSECS, |(n, _)| n);
        svc.set("stop_timeout", plan::seconds(wait));
        let stopasgroup = self.read(ctx, sect, "stopasgroup", boolean)?;
        let killasgroup = self.read(ctx, sect, "killasgroup", boolean)?;
        if let Some((true, _)) = stopasgroup {
            if let Some((false, e)) = &killasgroup {
                return Err(self.error(sect, e, "cannot set stopasgroup=true and killasgroup=false"));
            }
            svc.set("kill_group", Value::Bool(true));
        }
        if let Some((false, e)) = killasgroup {
            let why = "tend always sends the final SIGKILL to the whole process group";
            svc.notes.push(self.entry_note(sect, &e, NoteKind::Changed, why));
        }
        Ok(())
    }

    /// Where a stream goes.
    fn log_target(&mut self, ctx: &Ctx, sect: &Section, key: &str) -> Result<Option<(LogTarget, Entry)>> {
        let Some(e) = self.get(sect, key).cloned() else { return Ok(None) };
        let v = self.expand(ctx, sect, &e, true)?;
        let target = match plain(&v) {
            Some(p) => match p.to_ascii_lowercase().as_str() {
                "none" | "off" => LogTarget::Null,
                "auto" => LogTarget::Auto,
                "syslog" => LogTarget::Syslog,
                _ => match p.as_str() {
                    "/dev/null" => LogTarget::Null,
                    "/dev/stdout" | "/dev/fd/1" | "/proc/self/fd/1" => LogTarget::TendStdout,
                    "/dev/stderr" | "/dev/fd/2" | "/proc/self/fd/2" => LogTarget::TendStderr,
                    "" => LogTarget::Null,
                    _ => LogTarget::Path(v),
                },
            },
            None => LogTarget::Path(v),
        };
        Ok(Some((target, e)))
    }

    /// The `stdout_*` and `stderr_*` options and `redirect_stderr`: `stdout`, `stderr`
    /// and the rotation of a log file; returns the paths of the log files asked for.
    fn output(&mut self, ctx: &Ctx, sect: &Section, svc: &mut Service) -> Result<Vec<(&'static str, Vec<Ch>, Entry)>> {
        let redirect = self.read(ctx, sect, "redirect_stderr", boolean)?.is_some_and(|(r, _)| r);
        let mut paths = Vec::new();
        for stream in ["stdout", "stderr"] {
            let own = if stream == "stdout" { "TendStdout" } else { "TendStderr" };
            if stream == "stderr" && redirect {
                svc.set("stderr", Value::str("stdout"));
                if let Some((t, e)) = self.log_target(ctx, sect, "stderr_logfile")? {
                    if !matches!(t, LogTarget::Auto | LogTarget::Null) {
                        let why = "redirect_stderr=true sends stderr with stdout (supervisord ignores this too)";
                        svc.notes.push(self.entry_note(sect, &e, NoteKind::NotImported, why));
                    }
                }
            } else if let Some((t, e)) = self.log_target(ctx, sect, &format!("{stream}_logfile"))? {
                match t {
                    LogTarget::Auto => {}
                    LogTarget::Null => svc.set(stream, Value::str("null")),
                    LogTarget::Syslog => svc.notes.push(self.entry_note(
                        sect,
                        &e,
                        NoteKind::NotImported,
                        "tend does not write to syslog",
                    )),
                    LogTarget::TendStdout if own == "TendStdout" => {}
                    LogTarget::TendStderr if own == "TendStderr" => {}
                    LogTarget::TendStdout | LogTarget::TendStderr => {
                        let why = format!("tend passes a service's {stream} to its own {stream}");
                        svc.notes.push(self.entry_note(sect, &e, NoteKind::NotImported, &why));
                    }
                    LogTarget::Path(p) => paths.push((stream, p, e)),
                }
            }
            if let Some((true, e)) = self.read(ctx, sect, &format!("{stream}_syslog"), boolean)? {
                svc.notes.push(self.entry_note(sect, &e, NoteKind::NotImported, "tend does not write to syslog"));
            }
            if let Some((n, e)) = self.read(ctx, sect, &format!("{stream}_capture_maxbytes"), byte_size)? {
                if n > 0 {
                    let why = "tend has no capture mode (nor the PROCESS_COMMUNICATION events it sends)";
                    svc.notes.push(self.entry_note(sect, &e, NoteKind::NotImported, why));
                }
            }
            if let Some((true, e)) = self.read(ctx, sect, &format!("{stream}_events_enabled"), boolean)? {
                let why = "tend has no PROCESS_LOG events: `tend logs -f` follows the output";
                svc.notes.push(self.entry_note(sect, &e, NoteKind::NotImported, why));
            }
        }
        if let Some((url, e)) = self.read(ctx, sect, "serverurl", |s| Ok(s.to_string()))? {
            if !url.trim().eq_ignore_ascii_case("auto") {
                let why = "tend gives services $TEND_SOCKET, the path of its control socket";
                svc.notes.push(self.entry_note(sect, &e, NoteKind::NotImported, why));
            }
        }
        // The rotation of the first stream with a file.
        if let Some(&(stream, _, _)) = paths.first() {
            let maxbytes =
                self.read(ctx, sect, &format!("{stream}_logfile_maxbytes"), byte_size)?.map(|(n, e)| (n, Some(e)));
            let (maxbytes, max_e) = maxbytes.unwrap_or((DEFAULT_LOG_MAXBYTES, None));
            let backups = self.read(ctx, sect, &format!("{stream}_logfile_backups"), integer)?;
            let backups = backups.map_or(DEFAULT_LOG_BACKUPS, |(n, _)| n).max(0);
            let mut log = vec![("file".to_string(), Value::Bool(true))];
            if maxbytes > 0 {
                log.push(("max_size".to_string(), plan::size(maxbytes)));
            } else if let Some(e) = max_e {
                let why = "0 means no rotation; tend rotates its log files at log.max_size";
                svc.notes.push(self.entry_note(sect, &e, NoteKind::NotImported, why));
            }
            log.push(("keep".to_string(), Value::Int(backups)));
            svc.set("log", Value::Table(log));
        }
        Ok(paths)
    }

    /// Choose `log_dir`, the directory most log files are in, and note every file
    /// that tend writes elsewhere or under another name.
    fn log_files(&mut self, programs: &mut [Program]) -> Option<String> {
        let dir_of = |p: &[Ch]| -> Option<(String, Vec<Ch>)> {
            let slash = p.iter().rposition(|c| *c == Ch::C('/'));
            let (dir, base) = match slash {
                Some(0) => (vec![Ch::C('/')], p[1..].to_vec()),
                Some(i) => (p[..i].to_vec(), p[i + 1..].to_vec()),
                None => (vec![Ch::C('.')], p.to_vec()),
            };
            Some((plain(&dir)?, base))
        };
        let mut counts: Vec<(String, usize)> = Vec::new();
        for p in programs.iter() {
            for (_, path, _) in &p.log_paths {
                if let Some((d, _)) = dir_of(path) {
                    match counts.iter_mut().find(|(cd, _)| *cd == d) {
                        Some((_, n)) => *n += 1,
                        None => counts.push((d, 1)),
                    }
                }
            }
        }
        let best = counts.iter().max_by(|a, b| a.1.cmp(&b.1).then(b.0.len().cmp(&a.0.len())))?.0.clone();
        // max_by keeps the last of equals; prefer the first in file order instead.
        let top = counts.iter().map(|(_, n)| *n).max().unwrap_or(0);
        let log_dir = counts.iter().find(|(_, n)| *n == top).map_or(best, |(d, _)| d.clone());
        for p in programs.iter_mut() {
            let name = p.service.name.clone();
            let instances = matches!(p.service.get("instances"), Some(Value::Int(n)) if *n > 1);
            let file_name = if instances { format!("{name}.N.log") } else { format!("{name}.log") };
            let section = self.ini.section(&p.section);
            let distinct = p.log_paths.len() == 2 && p.log_paths[0].1 != p.log_paths[1].1;
            for (i, (stream, path, e)) in p.log_paths.iter().enumerate() {
                let Some(sect) = section else { continue };
                if i == 1 && !distinct {
                    // stderr to the same file as stdout: said once, for stdout.
                    continue;
                }
                let why = match dir_of(path) {
                    None => format!(
                        "the directory is known only at run time; tend writes {file_name} in log_dir ({log_dir})"
                    ),
                    Some((d, base)) if d == log_dir => {
                        let same = plain(&base).is_some_and(|b| b == format!("{name}.log"))
                            || (instances && base.iter().any(|c| matches!(c, Ch::D(_))));
                        if same && !(distinct && i == 1) {
                            continue;
                        }
                        if distinct && i == 1 {
                            format!("tend writes stdout and stderr to one file, {log_dir}/{file_name}")
                        } else {
                            format!("tend writes the {stream} of this service to {log_dir}/{file_name}")
                        }
                    }
                    Some((d, _)) => {
                        format!("not in log_dir ({log_dir}, chosen from most log files): tend writes {log_dir}/{file_name}, not in {d}")
                    }
                };
                let n = self.entry_note(sect, e, NoteKind::Changed, &why);
                p.service.notes.push(n);
            }
        }
        Some(log_dir)
    }
}

/// `startsecs` and `startretries` as tend's `backoff` and `start_limit`.
///
/// supervisord counts a run shorter than `startsecs` as a failed start, retries it
/// after 1, 2, 3... seconds, and gives up (FATAL) after `startretries` retries; a run
/// that lasted `startsecs` resets the count. tend: the first restart waits `initial`
/// (1s here, supervisord's first delay), doubling up to 30s, back to 1s after a run of
/// `reset_after` = `startsecs`; `start_limit` refuses the start after `startretries + 1`
/// starts within the time those starts take when each fails at once: `startsecs` per
/// run plus the delays. With `startsecs = 0` supervisord never gives up: no limit.
pub fn start_policy(startsecs: u64, startretries: u64) -> (Value, Value) {
    let backoff =
        Value::Table(vec![("initial".into(), Value::str("1s")), ("reset_after".into(), plan::seconds(startsecs))]);
    if startsecs == 0 {
        return (backoff, Value::Table(vec![("burst".into(), Value::Int(0))]));
    }
    let max = u64::from(u32::MAX);
    let burst = startretries.saturating_add(1).min(max);
    let mut window = burst.saturating_mul(startsecs);
    for k in 0..burst {
        let delay = if k >= 5 { TEND_BACKOFF_MAX_S } else { (1u64 << k).min(TEND_BACKOFF_MAX_S) };
        window = window.saturating_add(delay);
        if window >= max {
            break;
        }
    }
    let limit = Value::Table(vec![
        ("burst".into(), Value::Int(burst as i64)),
        ("interval".into(), plan::seconds(window.min(max))),
    ]);
    (backoff, limit)
}

// supervisord's datatypes, with its messages.

/// Python's `int()` of a string: optional sign, digits, `_` between digits.
fn integer(s: &str) -> std::result::Result<i64, String> {
    let t = s.trim();
    let (neg, digits) = match t.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let ok = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit() || b == b'_')
        && !digits.starts_with('_')
        && !digits.ends_with('_')
        && !digits.contains("__");
    let n: Option<i64> = if ok { digits.replace('_', "").parse().ok() } else { None };
    match n {
        Some(n) if neg => Ok(-n),
        Some(n) => Ok(n),
        None => Err(format!("not an integer: {s:?}")),
    }
}

fn unsigned(s: &str) -> std::result::Result<u64, String> {
    let n = integer(s)?;
    u64::try_from(n).map_err(|_| format!("must not be negative: {s:?}"))
}

/// `yes/true/on/1`, `no/false/off/0`, any case.
fn boolean(s: &str) -> std::result::Result<bool, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "yes" | "true" | "on" | "1" => Ok(true),
        "no" | "false" | "off" | "0" => Ok(false),
        _ => Err(format!("not a valid boolean value: {s:?}")),
    }
}

/// `true`, `false` (or any boolean) or `unexpected` -> tend's restart policy.
fn autorestart(s: &str) -> std::result::Result<&'static str, String> {
    if s.trim().eq_ignore_ascii_case("unexpected") {
        return Ok("on-failure");
    }
    match boolean(s) {
        Ok(true) => Ok("always"),
        Ok(false) => Ok("never"),
        Err(_) => Err(format!("invalid 'autorestart' value {s:?}: expected true, false or unexpected")),
    }
}

/// `0,2` -> exit codes from 0 to 255.
fn exitcodes(s: &str) -> std::result::Result<Vec<i64>, String> {
    if s.trim().is_empty() {
        return Ok(Vec::new());
    }
    s.split(',')
        .map(|c| match integer(c) {
            Ok(n) if (0..=255).contains(&n) => Ok(n),
            _ => Err(format!("not a valid list of exit codes: {s:?}")),
        })
        .collect()
}

/// An octal number (`022`, `0o22`).
fn octal(s: &str) -> std::result::Result<u32, String> {
    let t = s.trim();
    let digits = t.strip_prefix("0o").or_else(|| t.strip_prefix("0O")).unwrap_or(t);
    let clean = digits.replace('_', "");
    if clean.is_empty() || !clean.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        return Err(format!("{s:?} can not be converted to an octal type"));
    }
    u32::from_str_radix(&clean, 8).map_err(|_| format!("{s:?} can not be converted to an octal type"))
}

/// `50MB` -> bytes: `KB`, `MB`, `GB` (any case) are powers of 1024.
fn byte_size(s: &str) -> std::result::Result<u64, String> {
    let t = s.trim().to_ascii_lowercase();
    let (num, mult) = match t.len().checked_sub(2).map(|i| t.split_at(i)) {
        Some((n, "kb")) => (n, 1u64 << 10),
        Some((n, "mb")) => (n, 1 << 20),
        Some((n, "gb")) => (n, 1 << 30),
        _ => (t.as_str(), 1),
    };
    let bad = || format!("not a byte size: {s:?} (a number, optionally followed by KB, MB or GB)");
    let n = u64::try_from(integer(num).map_err(|_| bad())?).map_err(|_| bad())?;
    n.checked_mul(mult).ok_or_else(bad)
}

/// A signal name (`TERM`, `SIGTERM`) or number.
fn signal(s: &str) -> std::result::Result<i32, String> {
    parse_signal(s.trim()).map_err(|_| format!("value {s:?} is not a valid signal name"))
}

#[cfg(test)]
mod tests {
    use super::super::ini;
    use super::super::plan::render;
    use super::*;

    fn env() -> Environment {
        let mut vars = BTreeMap::new();
        vars.insert("LOGLEVEL".to_string(), "debug".to_string());
        Environment { vars, host: "buildhost".into() }
    }

    fn files() -> Vec<File> {
        vec![File { path: "supervisord.conf".into(), here: "/etc/supervisor".into() }]
    }

    fn try_map(text: &str) -> Result<Plan> {
        let ini = ini::parse(text, 0).unwrap();
        map(&ini, &files(), &env())
    }

    fn plan(text: &str) -> Plan {
        try_map(text).unwrap_or_else(|e| panic!("{e}"))
    }

    fn svc<'a>(p: &'a Plan, name: &str) -> &'a Service {
        p.service(name).unwrap_or_else(|| panic!("no service {name}: {:?}", p.services))
    }

    fn s(v: &str) -> Value {
        Value::str(v)
    }

    fn notes(p: &Plan) -> Vec<String> {
        p.all_notes().iter().map(|n| n.to_string()).collect()
    }

    fn has_note(p: &Plan, fragment: &str) -> bool {
        notes(p).iter().any(|n| n.contains(fragment))
    }

    #[test]
    fn the_documented_example_program() {
        // supervisord's manual, "[program:x] Section Example", with a user that exists.
        let text = "[program:cat]\ncommand=/bin/cat\nprocess_name=%(program_name)s\nnumprocs=1\ndirectory=/tmp\n\
                    umask=022\npriority=999\nautostart=true\nautorestart=unexpected\nstartsecs=10\nstartretries=3\n\
                    exitcodes=0\nstopsignal=TERM\nstopwaitsecs=10\nstopasgroup=false\nkillasgroup=false\n\
                    user=nobody\nredirect_stderr=false\nstdout_logfile=/a/path\nstdout_logfile_maxbytes=1MB\n\
                    stdout_logfile_backups=10\nstdout_capture_maxbytes=1MB\nstdout_events_enabled=false\n\
                    stderr_logfile=/a/path\nstderr_logfile_maxbytes=1MB\nstderr_logfile_backups=10\n\
                    stderr_capture_maxbytes=1MB\nstderr_events_enabled=false\nenvironment=A=\"1\",B=\"2\"\n\
                    serverurl=AUTO\n";
        let p = plan(text);
        let c = svc(&p, "cat");
        assert_eq!(c.get("command"), Some(&Value::Array(vec![s("/bin/cat")])));
        assert_eq!(c.get("cwd"), Some(&s("/tmp")));
        assert_eq!(c.get("umask"), Some(&s("022")));
        assert_eq!(c.get("user"), Some(&s("nobody")));
        assert_eq!(c.get("restart"), Some(&s("on-failure")));
        assert_eq!(c.get("success_exit_codes"), None);
        assert_eq!(c.get("stop_timeout"), Some(&s("10s")));
        assert_eq!(c.get("stop_signal"), None);
        assert_eq!(c.get("kill_group"), None);
        assert_eq!(c.get("autostart"), None);
        assert_eq!(c.get("depends_on"), None);
        assert_eq!(
            c.get("backoff"),
            Some(&Value::Table(vec![("initial".into(), s("1s")), ("reset_after".into(), s("10s"))]))
        );
        // 4 starts of 10s each plus 1+2+4+8s of delays.
        assert_eq!(
            c.get("start_limit"),
            Some(&Value::Table(vec![("burst".into(), Value::Int(4)), ("interval".into(), s("55s"))]))
        );
        assert_eq!(
            c.get("log"),
            Some(&Value::Table(vec![
                ("file".into(), Value::Bool(true)),
                ("max_size".into(), s("1MiB")),
                ("keep".into(), Value::Int(10))
            ]))
        );
        assert_eq!(p.top, vec![("log_dir".to_string(), s("/a"))]);
        assert_eq!(c.env, vec![("A".to_string(), "1".to_string()), ("B".to_string(), "2".to_string())]);
        let n = notes(&p);
        assert!(n.contains(&"supervisord.conf:22: not imported: [program:cat] stdout_capture_maxbytes = 1MB: tend has no capture mode (nor the PROCESS_COMMUNICATION events it sends)".to_string()), "{n:#?}");
        assert!(has_note(&p, "supervisord.conf:27: not imported: [program:cat] stderr_capture_maxbytes = 1MB"));
        assert!(has_note(&p, "supervisord.conf:16: note: [program:cat] killasgroup = false: tend always sends"));
        assert!(has_note(&p, "supervisord.conf:19: note: [program:cat] stdout_logfile = /a/path: tend writes the stdout of this service to /a/cat.log"));
        // Both streams to the same path: one file, nothing more to say about stderr.
        assert!(!has_note(&p, "stderr_logfile ="), "{n:#?}");
        assert_eq!(n.len(), 4, "{n:#?}");
    }

    #[test]
    fn commands_are_split_without_a_shell() {
        let p = plan("[program:a]\ncommand = /usr/bin/python3 -m http.server --bind \"127.0.0.1\" 'a b' x\\ y\n");
        assert_eq!(
            svc(&p, "a").get("command"),
            Some(&Value::Array(
                ["/usr/bin/python3", "-m", "http.server", "--bind", "127.0.0.1", "a b", "x y"].map(s).to_vec()
            ))
        );
        // The inline-comment rule of the INI reader cuts this one short, as in supervisord.
        let e = try_map("[program:a]\ncommand=bash -c 'foo ; bar'\n").unwrap_err();
        assert_eq!(e.to_string(), "supervisord.conf:2: [program:a] command: cannot split: no closing quotation (')");
        let e = try_map("[program:a]\ncommand='' x\n").unwrap_err();
        assert!(e.to_string().ends_with("[program:a] command: the program name is empty"), "{e}");
        let e = try_map("[program:a]\ncommand=\n").unwrap_err();
        assert!(e.to_string().ends_with("[program:a] command: the command is empty"), "{e}");
        let e = try_map("[program:a]\nautostart=true\n").unwrap_err();
        assert_eq!(e.to_string(), "supervisord.conf:1: [program:a] has no \"command\" option");
    }

    #[test]
    fn expressions() {
        let p = plan(
            "[program:web]\ncommand=/srv/%(program_name)s/bin --conf %(here)s/web.conf --level=%(ENV_LOGLEVEL)s \
             --node %(host_node_name)s --pct 100%%\nenvironment=HOME_DIR=\"%(ENV_HOME)s\"\n",
        );
        let w = svc(&p, "web");
        // LOGLEVEL is not set in the file: read from the environment when tend runs.
        assert_eq!(
            w.get("command"),
            Some(&s("export HOME_DIR=\"${HOME?}\"; exec /srv/web/bin --conf /etc/supervisor/web.conf \
                    --level=\"${LOGLEVEL?}\" --node \"$(uname -n)\" --pct 100%"))
        );
        assert!(w.env.is_empty());
        // A variable set in the file is known now.
        let p = plan("[supervisord]\nenvironment=LEVEL=info\n[program:w]\ncommand=/bin/w --level=%(ENV_LEVEL)s\n");
        let w = svc(&p, "w");
        assert_eq!(w.get("command"), Some(&Value::Array(vec![s("/bin/w"), s("--level=info")])));
        assert_eq!(w.env, vec![("LEVEL".to_string(), "info".to_string())]);
        // In an option that cannot wait, the importing environment's value, with a note.
        let p = plan("[program:w]\ncommand=/bin/w\nuser=%(ENV_LOGLEVEL)s\n");
        assert_eq!(svc(&p, "w").get("user"), Some(&s("debug")));
        assert!(has_note(&p, "supervisord.conf:3: note: [program:w] user = %(ENV_LOGLEVEL)s: expanded when imported: %(ENV_LOGLEVEL)s is $LOGLEVEL of this import, \"debug\""));
        let e = try_map("[program:w]\ncommand=/bin/w\nuser=%(ENV_NOT_SET_ANYWHERE)s\n").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("supervisord.conf:3: [program:w] user: %(ENV_NOT_SET_ANYWHERE)s cannot be expanded"),
            "{e}"
        );
        let e = try_map("[program:w]\ncommand=/bin/date +%s\n").unwrap_err();
        assert!(e.to_string().contains("write %% for a literal percent sign"), "{e}");
        let e = try_map("[program:w]\ncommand=/bin/w %(nope)s\n").unwrap_err();
        assert!(e.to_string().contains("%(nope)s cannot be expanded"), "{e}");
    }

    #[test]
    fn numprocs_become_instances() {
        let p = plan(
            "[program:worker]\ncommand=/usr/bin/worker --port=80%(process_num)02d --name %(program_name)s\n\
             process_name=%(program_name)s_%(process_num)02d\nnumprocs=3\nnumprocs_start=1\n\
             environment=ID=\"w%(process_num)s\",FIXED=yes\ndirectory=/srv\n",
        );
        let w = svc(&p, "worker");
        assert_eq!(w.get("instances"), Some(&Value::Int(3)));
        assert_eq!(
            w.get("command"),
            Some(&s("export ID=w\"$((TEND_INSTANCE + 1))\"; exec /usr/bin/worker \
                    --port=80\"$(printf '%02d' \"$((TEND_INSTANCE + 1))\")\" --name worker"))
        );
        assert_eq!(w.get("cwd"), Some(&s("/srv")));
        assert_eq!(w.env, vec![("FIXED".to_string(), "yes".to_string())]);
        assert!(has_note(&p, "[program:worker] process_name = %(program_name)s_%(process_num)02d: tend names the instances worker.0 to worker.2"));
        let e = try_map("[program:w]\ncommand=x\nnumprocs=2\n").unwrap_err();
        assert!(e.to_string().contains("%(process_num) must be present within process_name"), "{e}");
        let p = plan("[program:w]\ncommand=x\nnumprocs=0\n[program:v]\ncommand=y\n");
        assert!(p.service("w").is_none());
        assert!(has_note(&p, "supervisord.conf:3: not imported: [program:w] numprocs = 0"));
        // A directory known only per instance is changed into by the command.
        let p =
            plan("[program:w]\ncommand=x\nnumprocs=2\nprocess_name=w%(process_num)s\ndirectory=/d/%(process_num)s\n");
        assert_eq!(svc(&p, "w").get("command"), Some(&s("cd /d/\"$TEND_INSTANCE\" && exec x")));
        assert_eq!(svc(&p, "w").get("cwd"), None);
        // An option tend has once for all instances cannot differ between them.
        let p = plan("[program:w]\ncommand=x\nnumprocs=2\nprocess_name=w%(process_num)s\nuser=u%(process_num)s\n");
        assert_eq!(svc(&p, "w").get("user"), None);
        assert!(has_note(&p, "not imported: [program:w] user = u%(process_num)s: it uses %(process_num)s"));
    }

    #[test]
    fn restart_policies() {
        let get = |conf: &str, key: &str| {
            plan(&format!("[program:a]\ncommand=x\n{conf}")).service("a").and_then(|s| s.get(key).cloned())
        };
        assert_eq!(get("autorestart=true\n", "restart"), Some(s("always")));
        assert_eq!(get("autorestart=unexpected\n", "restart"), Some(s("on-failure")));
        assert_eq!(get("autorestart=false\n", "restart"), Some(s("never")));
        assert_eq!(
            get("exitcodes=0,2\n", "success_exit_codes"),
            Some(Value::Array(vec![Value::Int(0), Value::Int(2)]))
        );
        assert_eq!(get("exitcodes=\n", "success_exit_codes"), Some(Value::Array(vec![])));
        assert_eq!(get("startsecs=0\n", "start_limit"), Some(Value::Table(vec![("burst".into(), Value::Int(0))])));
        assert_eq!(get("stopsignal=int\n", "stop_signal"), Some(s("INT")));
        assert_eq!(get("stopsignal=9\n", "stop_signal"), Some(s("KILL")));
        assert_eq!(get("stopasgroup=true\n", "kill_group"), Some(Value::Bool(true)));
        assert_eq!(get("stopwaitsecs=0\n", "stop_timeout"), Some(s("0")));
        assert_eq!(get("autostart=no\n", "autostart"), Some(Value::Bool(false)));
        let p = plan("[program:a]\ncommand=x\nautorestart=false\n");
        assert!(has_note(&p, "supervisord.conf:3: note: [program:a] autorestart = false: with autorestart=false supervisord still retries"));
        for (conf, msg) in [
            ("autorestart=sometimes\n", "invalid 'autorestart' value"),
            ("exitcodes=0,256\n", "not a valid list of exit codes"),
            ("startsecs=-1\n", "must not be negative"),
            ("stopsignal=FOO\n", "value \"FOO\" is not a valid signal name"),
            ("autostart=maybe\n", "not a valid boolean value: \"maybe\""),
            ("stopasgroup=true\nkillasgroup=false\n", "cannot set stopasgroup=true and killasgroup=false"),
            ("umask=099\n", "can not be converted to an octal type"),
            ("stdout_logfile=/x\nstdout_logfile_maxbytes=lots\n", "not a byte size"),
        ] {
            let e = try_map(&format!("[program:a]\ncommand=x\n{conf}")).unwrap_err();
            assert!(e.to_string().contains(msg), "{conf}: {e}");
            assert!(e.line.is_some_and(|l| l >= 3), "{conf}: {e}");
        }
    }

    #[test]
    fn start_policy_windows() {
        let interval = |secs, retries| match start_policy(secs, retries).1 {
            Value::Table(t) => t.iter().find(|(k, _)| k == "interval").map(|(_, v)| v.clone()),
            _ => None,
        };
        assert_eq!(interval(1, 3), Some(s("19s"))); // 4 x 1s + 1 + 2 + 4 + 8
        assert_eq!(interval(1, 0), Some(s("2s")));
        assert_eq!(interval(2, 10), Some(s("233s"))); // 11 x 2s + 1+2+4+8+16 + 6 x 30s
        assert_eq!(interval(u64::MAX, 3), Some(s("4294967295s")));
    }

    #[test]
    fn priorities_order_starts() {
        let p = plan(
            "[program:db]\ncommand=db\npriority=10\n[program:cache]\ncommand=c\npriority=10\n\
             [program:web]\ncommand=w\n[program:debug]\ncommand=d\npriority=1\nautostart=false\n\
             [program:worker]\ncommand=k\npriority=500\n",
        );
        let deps = |n: &str| svc(&p, n).get("depends_on").cloned();
        let started =
            |names: &[&str]| Some(Value::Table(names.iter().map(|n| (n.to_string(), s("started"))).collect()));
        assert_eq!(deps("db"), None);
        assert_eq!(deps("cache"), None);
        assert_eq!(deps("debug"), None);
        assert_eq!(deps("worker"), started(&["db", "cache"]));
        assert_eq!(deps("web"), started(&["worker"]));
        // Groups order by their priority first.
        let p = plan(
            "[group:back]\nprograms=db,queue\npriority=5\n[program:db]\ncommand=db\npriority=900\n\
             [program:queue]\ncommand=q\npriority=901\n[program:front]\ncommand=f\npriority=10\n",
        );
        assert_eq!(svc(&p, "queue").get("depends_on").cloned(), started(&["db"]));
        assert_eq!(svc(&p, "front").get("depends_on").cloned(), started(&["queue"]));
        assert!(has_note(
            &p,
            "supervisord.conf:1: note: [group:back]: tend has no groups: db, queue are separate services"
        ));
        let e = try_map("[group:g]\nprograms=nope\n[program:a]\ncommand=x\n").unwrap_err();
        assert!(e.to_string().contains("names unknown program \"nope\""), "{e}");
    }

    #[test]
    fn output_destinations() {
        let p = plan(
            "[program:a]\ncommand=x\nstdout_logfile=/dev/stdout\nstdout_logfile_maxbytes=0\n\
             stderr_logfile=/dev/stderr\nstderr_logfile_maxbytes=0\n\
             [program:b]\ncommand=y\nstdout_logfile=NONE\nstderr_logfile=off\n\
             [program:c]\ncommand=z\nredirect_stderr=true\nstdout_logfile=/var/log/app/c.log\n\
             [program:d]\ncommand=z\nstdout_logfile=/var/log/app/d.out\nstderr_logfile=/var/log/app/d.err\n\
             stdout_logfile_maxbytes=0\n\
             [program:e]\ncommand=z\nstdout_logfile=/elsewhere/e.log\nstdout_syslog=true\nstderr_logfile=syslog\n",
        );
        let a = svc(&p, "a");
        assert_eq!((a.get("stdout"), a.get("stderr"), a.get("log")), (None, None, None));
        let b = svc(&p, "b");
        assert_eq!((b.get("stdout"), b.get("stderr")), (Some(&s("null")), Some(&s("null"))));
        let c = svc(&p, "c");
        assert_eq!(c.get("stderr"), Some(&s("stdout")));
        assert_eq!(p.top, vec![("log_dir".to_string(), s("/var/log/app"))]);
        assert!(c.notes.is_empty(), "{:?}", c.notes);
        let d = svc(&p, "d");
        assert_eq!(
            d.get("log"),
            Some(&Value::Table(vec![("file".into(), Value::Bool(true)), ("keep".into(), Value::Int(10))]))
        );
        assert!(has_note(&p, "[program:d] stdout_logfile_maxbytes = 0: 0 means no rotation"));
        assert!(has_note(&p, "[program:d] stdout_logfile = /var/log/app/d.out: tend writes the stdout of this service to /var/log/app/d.log"));
        assert!(has_note(&p, "[program:d] stderr_logfile = /var/log/app/d.err: tend writes stdout and stderr to one file, /var/log/app/d.log"));
        assert!(has_note(&p, "[program:e] stdout_logfile = /elsewhere/e.log: not in log_dir (/var/log/app"));
        assert!(has_note(&p, "not imported: [program:e] stdout_syslog = true: tend does not write to syslog"));
        assert!(has_note(&p, "not imported: [program:e] stderr_logfile = syslog: tend does not write to syslog"));
    }

    #[test]
    fn global_sections() {
        let p = plan(
            "[unix_http_server]\nfile=%(here)s/supervisor.sock\nchmod=0770\nchown=nobody:nogroup\nusername=u\n\
             [inet_http_server]\nport=127.0.0.1:9001\n\
             [supervisord]\nnodaemon=false\nlogfile=/var/log/supervisord.log\numask=027\nenvironment=TZ=UTC\nfoo=bar\n\
             [rpcinterface:supervisor]\nsupervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n\
             [supervisorctl]\nserverurl=unix:///tmp/supervisor.sock\n\
             [eventlistener:mem]\ncommand=memmon\nevents=TICK_60\n\
             [program:a]\ncommand=x\n[program:b]\ncommand=y\numask=002\nenvironment=TZ=Europe/Paris\n",
        );
        assert_eq!(
            p.control,
            vec![
                ("socket".to_string(), s("/etc/supervisor/supervisor.sock")),
                ("mode".to_string(), s("0770")),
                ("group".to_string(), s("nogroup"))
            ]
        );
        assert_eq!(svc(&p, "a").get("umask"), Some(&s("027")));
        assert_eq!(svc(&p, "b").get("umask"), Some(&s("002")));
        assert_eq!(svc(&p, "a").env, vec![("TZ".to_string(), "UTC".to_string())]);
        assert_eq!(svc(&p, "b").env, vec![("TZ".to_string(), "Europe/Paris".to_string())]);
        for n in [
            "supervisord.conf:4: not imported: [unix_http_server] chown = nobody:nogroup: the socket belongs to the user tend runs as",
            "supervisord.conf:5: not imported: [unix_http_server] username = u: tend checks",
            "supervisord.conf:6: not imported: [inet_http_server]: tend has no HTTP control interface",
            "supervisord.conf:9: note: [supervisord] nodaemon = false: tend run always stays in the foreground",
            "supervisord.conf:10: not imported: [supervisord] logfile = /var/log/supervisord.log: supervisord's activity log",
            "supervisord.conf:13: not imported: [supervisord] foo = bar: not a supervisord option",
            "supervisord.conf:14: not imported: [rpcinterface:supervisor]: tend's control protocol is built in",
            "supervisord.conf:16: not imported: [supervisorctl]: client settings",
            "supervisord.conf:18: not imported: [eventlistener:mem]: tend has no event listener protocol",
        ] {
            assert!(has_note(&p, n), "missing {n:?} in {:#?}", notes(&p));
        }
        assert!(!has_note(&p, "umask"), "{:#?}", notes(&p));
    }

    #[test]
    fn names_and_unknowns() {
        let p =
            plan("[program:celery.beat]\ncommand=x\nstartsecs=1\nfrobnicate=yes\n[DEFAULT]\nautorestart=true\nzzz=1\n");
        let c = svc(&p, "celery-beat");
        assert_eq!(c.get("restart"), Some(&s("always")), "[DEFAULT] applies to every program");
        assert!(has_note(&p, "supervisord.conf:1: note: [program:celery.beat]: the service is named \"celery-beat\""));
        assert!(has_note(
            &p,
            "supervisord.conf:4: not imported: [program:celery.beat] frobnicate = yes: not a supervisord option"
        ));
        assert!(has_note(&p, "supervisord.conf:7: not imported: [DEFAULT] zzz = 1: not a supervisord option"));
        let e = try_map("[program:a.b]\ncommand=x\n[program:a_b]\ncommand=x\n[program:a-b]\ncommand=y\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "supervisord.conf:5: [program:a.b] and [program:a-b] would both be the service \"a-b\": rename one"
        );
        let e = try_map("[program:a b]\ncommand=x\n").unwrap_err();
        assert!(e.to_string().contains("invalid name \"a b\""), "{e}");
        let e = try_map("[supervisord]\nnodaemon=true\n").unwrap_err();
        assert_eq!(e.to_string(), "supervisord.conf: no [program:x] section: nothing to import");
    }

    #[test]
    fn environment_edge_cases() {
        let p = plan("[program:a]\ncommand=x\nenvironment=URL=http://h?x=1,B=2\n");
        assert_eq!(
            svc(&p, "a").env,
            vec![
                ("URL".to_string(), "http://h".to_string()),
                ("x".to_string(), "1".to_string()),
                ("B".to_string(), "2".to_string())
            ]
        );
        assert!(has_note(&p, "supervisord reads \"?\" between two variables as a separator"));
        let e = try_map("[program:a]\ncommand=x\nenvironment=A=1 B=2\n").unwrap_err();
        assert_eq!(e.to_string(), "supervisord.conf:3: [program:a] environment: unexpected end of KEY=\"value\" pairs");
    }

    #[test]
    fn output_is_toml_tend_reads() {
        let p = plan(
            "[program:web]\ncommand=/bin/sh -c \"exec sleep 1\"\nenvironment=A=\"quote\\\"d\",B=\"x\"\n\
             stopsignal=QUIT\n[program:w2]\ncommand=x %(ENV_HOME)s\n",
        );
        let text = render(&p);
        let cfg =
            crate::config::parse_str(&text, std::path::Path::new("out.toml")).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(cfg.services[0].command, ["/bin/sh", "-c", "exec sleep 1"]);
        assert_eq!(cfg.services[0].stop_signal, libc::SIGQUIT);
        assert!(cfg.services[0].env.contains(&("A".to_string(), "quote\"d".to_string())));
        assert_eq!(cfg.services[1].command[2], "exec x \"${HOME?}\"");
    }
}
