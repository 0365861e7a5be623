//! Procfile -> a tend.toml [`Plan`]. Pure.
//!
//! A Procfile has one process type per line, `NAME: COMMAND`, with NAME made of letters,
//! digits, `_` and `-` at the very start of the line (the pattern foreman and honcho
//! use, `^([A-Za-z0-9_-]+):\s*(.+)$`); every other line is skipped by them, and reported
//! here unless it is blank or a `#` comment. A name may appear once.
//!
//! Each process type becomes a service run as foreman and honcho run it:
//! - the command through `/bin/sh -c`, in the Procfile's directory;
//! - with `PORT` set to the base port plus 100 for each process type before it, the
//!   base being `$PORT` of tend's environment or 5000 (foreman's `base_port`);
//! - stop signals sent to the whole process group (both signal the group).
//!
//! Unlike foreman and honcho, which stop everything as soon as one process exits, a
//! service is restarted whenever it exits (`restart = "always"`), as a platform that
//! runs Procfiles restarts a crashed process. The `release` type (Heroku's release
//! phase) runs once before the others: `restart = "never"`, `essential`, and every other
//! service depends on it being `completed`.

use super::plan::{Note, NoteKind, Plan, Service, Value};
use super::ImportError;

/// foreman's and honcho's default base port, and the step between process types.
pub const BASE_PORT: u32 = 5000;
pub const PORT_STEP: u32 = 100;

/// The process type that runs once before the others.
const RELEASE: &str = "release";

/// tend's longest service name.
const MAX_NAME: usize = 64;

/// One `NAME: COMMAND` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Process {
    pub name: String,
    pub command: String,
    pub line: usize,
}

/// The process types of a Procfile, and the lines that are neither one nor blank nor a
/// comment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Procfile {
    pub processes: Vec<Process>,
    pub skipped: Vec<(usize, String)>,
}

/// Parse a Procfile; `file` names it in errors.
pub fn parse(text: &str, file: &str) -> Result<Procfile, ImportError> {
    let mut out = Procfile::default();
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    for (n, line) in text.lines().enumerate() {
        let lineno = n + 1;
        let err = |message: String| ImportError { file: file.to_string(), line: Some(lineno), message };
        if line.contains('\0') {
            return Err(err("the line contains a NUL character".into()));
        }
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let name_len = line.bytes().take_while(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'-').count();
        let Some(rest) = line[name_len..].strip_prefix(':').filter(|_| name_len > 0) else {
            out.skipped.push((lineno, line.to_string()));
            continue;
        };
        let name = &line[..name_len];
        let command = rest.trim_start();
        if command.trim().is_empty() {
            out.skipped.push((lineno, line.to_string()));
            continue;
        }
        if name.len() > MAX_NAME {
            return Err(err(format!("process type {name:?} is longer than {MAX_NAME} characters, tend's limit")));
        }
        if let Some(first) = out.processes.iter().find(|p| p.name == name) {
            return Err(err(format!("process type {name:?} is already defined on line {}", first.line)));
        }
        out.processes.push(Process { name: name.to_string(), command: command.to_string(), line: lineno });
    }
    if out.processes.is_empty() {
        return Err(ImportError {
            file: file.to_string(),
            line: None,
            message: "no process type (a line `NAME: COMMAND`): nothing to import".into(),
        });
    }
    Ok(out)
}

/// Map a parsed Procfile. `dir` is the Procfile's directory (absolute), where the
/// commands run; `dotenv` the path of a `.env` file beside it, if there is one.
pub fn map(procfile: &Procfile, file: &str, dir: &str, dotenv: Option<&str>) -> Plan {
    let mut plan = Plan::default();
    let note =
        |line: Option<usize>, text: String| Note { file: file.to_string(), line, kind: NoteKind::NotImported, text };
    for (line, text) in &procfile.skipped {
        let why = if text.trim_end().ends_with(':') {
            "a process type without a command"
        } else {
            "not a `NAME: COMMAND` line (NAME of letters, digits, _ and - at the start of the line); foreman and honcho skip it too"
        };
        plan.notes.push(note(Some(*line), format!("{:?}: {why}", text)));
    }
    if let Some(env) = dotenv {
        plan.notes.push(Note {
            file: env.to_string(),
            line: None,
            kind: NoteKind::NotImported,
            text: "foreman and honcho load this file into every process's environment; tend does not read it: \
                   put its variables in the services' env, or in tend's own environment"
                .into(),
        });
    }
    let has_release = procfile.processes.iter().any(|p| p.name == RELEASE);
    for (i, p) in procfile.processes.iter().enumerate() {
        let mut s = Service::new(p.name.clone(), format!("from {file}:{}", p.line));
        s.set("command", Value::Str(format!("{}; {}", port_export(i), p.command)));
        s.set("cwd", Value::str(dir));
        s.set("kill_group", Value::Bool(true));
        if p.name == RELEASE {
            s.set("restart", Value::str("never"));
            s.set("essential", Value::Bool(true));
        } else {
            s.set("restart", Value::str("always"));
            if has_release {
                s.set("depends_on", Value::Table(vec![(RELEASE.into(), Value::str("completed"))]));
            }
        }
        plan.services.push(s);
    }
    plan
}

/// `export PORT=...` for the `index`th process type: foreman's port, base plus 100 per
/// process type before it, the base `$PORT` when tend has one, else 5000.
pub fn port_export(index: usize) -> String {
    let base = format!("${{PORT:-{BASE_PORT}}}");
    match index {
        0 => format!("export PORT=\"{base}\""),
        i => format!("export PORT=$(({base} + {}))", i as u64 * u64::from(PORT_STEP)),
    }
}

#[cfg(test)]
mod tests {
    use super::super::plan::render;
    use super::*;

    const RAILS: &str = "# Procfile for the app\nweb: bundle exec puma -C config/puma.rb\n\
                         worker:   bundle exec sidekiq -q default -q mailers\n\nrelease: bin/rails db:migrate\n\
                         clock: bundle exec clockwork config/clock.rb # with a comment\n";

    #[test]
    fn parses_like_foreman() {
        let p = parse(RAILS, "Procfile").unwrap();
        let names: Vec<_> = p.processes.iter().map(|p| (p.name.as_str(), p.line)).collect();
        assert_eq!(names, [("web", 2), ("worker", 3), ("release", 5), ("clock", 6)]);
        assert_eq!(p.processes[1].command, "bundle exec sidekiq -q default -q mailers");
        assert_eq!(p.processes[3].command, "bundle exec clockwork config/clock.rb # with a comment");
        assert!(p.skipped.is_empty());
        let p = parse("\u{feff}web: a\r\n  indented: b\nweb-2 c\nbad name: d\nempty:\nx_1-y:e:f\n", "P").unwrap();
        assert_eq!(p.processes.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(), ["web", "x_1-y"]);
        assert_eq!(p.processes[1].command, "e:f");
        assert_eq!(p.skipped.iter().map(|(l, _)| *l).collect::<Vec<_>>(), [2, 3, 4, 5]);
    }

    #[test]
    fn errors() {
        let e = parse("web: a\nworker: b\nweb: c\n", "Procfile").unwrap_err();
        assert_eq!(e.to_string(), "Procfile:3: process type \"web\" is already defined on line 1");
        let e = parse("# nothing\n\n", "Procfile").unwrap_err();
        assert_eq!(e.to_string(), "Procfile: no process type (a line `NAME: COMMAND`): nothing to import");
        let e = parse(&format!("{}: x\n", "a".repeat(65)), "Procfile").unwrap_err();
        assert!(e.to_string().contains("longer than 64"), "{e}");
    }

    #[test]
    fn maps_to_services() {
        let p = parse(RAILS, "Procfile").unwrap();
        let plan = map(&p, "Procfile", "/app", Some("/app/.env"));
        let web = plan.service("web").unwrap();
        assert_eq!(
            web.get("command"),
            Some(&Value::str("export PORT=\"${PORT:-5000}\"; bundle exec puma -C config/puma.rb"))
        );
        assert_eq!(web.get("cwd"), Some(&Value::str("/app")));
        assert_eq!(web.get("kill_group"), Some(&Value::Bool(true)));
        assert_eq!(web.get("restart"), Some(&Value::str("always")));
        let completed = Some(&Value::Table(vec![("release".into(), Value::str("completed"))]));
        assert_eq!(web.get("depends_on"), completed);
        let worker = plan.service("worker").unwrap();
        assert!(
            matches!(worker.get("command"), Some(Value::Str(c)) if c.starts_with("export PORT=$((${PORT:-5000} + 100)); bundle"))
        );
        let release = plan.service("release").unwrap();
        assert_eq!(release.get("restart"), Some(&Value::str("never")));
        assert_eq!(release.get("essential"), Some(&Value::Bool(true)));
        assert_eq!(release.get("depends_on"), None);
        let clock = plan.service("clock").unwrap();
        assert!(
            matches!(clock.get("command"), Some(Value::Str(c)) if c.starts_with("export PORT=$((${PORT:-5000} + 300));"))
        );
        assert_eq!(plan.notes.len(), 1);
        assert!(plan.notes[0].to_string().starts_with("/app/.env: not imported: foreman and honcho load this file"));

        // Without a release phase nothing waits, and tend reads the output as it is.
        let p = parse("web: python -m http.server $PORT\nworker: celery -A proj worker\nnot an entry\n", "Procfile")
            .unwrap();
        let plan = map(&p, "Procfile", "/srv/app", None);
        assert!(plan.services.iter().all(|s| s.get("depends_on").is_none()));
        assert_eq!(plan.notes[0].to_string(), "Procfile:3: not imported: \"not an entry\": not a `NAME: COMMAND` line (NAME of letters, digits, _ and - at the start of the line); foreman and honcho skip it too");
        let text = render(&plan);
        let cfg =
            crate::config::parse_str(&text, std::path::Path::new("t.toml")).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(
            cfg.services[1].command,
            ["/bin/sh", "-c", "export PORT=$((${PORT:-5000} + 100)); celery -A proj worker"]
        );
        assert_eq!(cfg.services[0].restart, crate::config::Restart::Always);
        assert!(cfg.services[0].kill_group);
    }

    #[test]
    fn ports_in_a_real_shell() {
        for (env, i, want) in
            [(None, 0, "5000"), (None, 2, "5200"), (Some("8080"), 0, "8080"), (Some("8080"), 1, "8180")]
        {
            let mut c = std::process::Command::new("/bin/sh");
            c.arg("-c").arg(format!("{}; printf %s \"$PORT\"", port_export(i)));
            match env {
                Some(v) => c.env("PORT", v),
                None => c.env_remove("PORT"),
            };
            let out = c.output().unwrap();
            assert_eq!(String::from_utf8_lossy(&out.stdout), want, "{env:?} {i}");
        }
    }
}
