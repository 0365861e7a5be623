//! `tend import supervisord FILE` and `tend import procfile FILE`: print a tend.toml
//! equivalent to another supervisor's configuration (see "tend import" in tend(1)).
//!
//! This file is the thin I/O shell: it reads the files (and supervisord's `[include]`
//! globs), takes the environment and host name the expressions may need, and writes
//! the result; everything else is pure: `ini.rs` and `procfile.rs` read the formats,
//! `expand.rs` and `lex.rs` read supervisord's values, `supervisord.rs` and
//! `procfile.rs` map them, `plan.rs` writes TOML.

mod expand;
mod glob;
mod ini;
mod lex;
pub mod plan;
pub mod procfile;
mod shell;
pub mod supervisord;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use argh::FromArgs;

use crate::cli::EXIT_USAGE;
use crate::diag;
use crate::error::exit;
use plan::{Note, NoteKind, Plan};

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "import")]
/// Print a tend.toml equivalent to a supervisord.conf or a Procfile.
pub struct ImportCmd {
    /// what FILE is: supervisord or procfile
    #[argh(positional)]
    kind: String,
    /// the file to import
    #[argh(positional)]
    file: String,
}

/// A file tend cannot import: where, and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportError {
    pub file: String,
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for ImportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}:{l}: {}", self.file, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

impl std::error::Error for ImportError {}

/// The kinds of file `tend import` reads.
pub const KINDS: [&str; 2] = ["supervisord", "procfile"];

/// Run `tend import`; returns the exit code.
pub fn main(cmd: ImportCmd) -> i32 {
    let result = match cmd.kind.as_str() {
        "supervisord" => import_supervisord(&cmd.file),
        "procfile" => import_procfile(&cmd.file),
        other => {
            diag::err(&format!(
                "tend: import: unknown kind {other:?}: expected one of {}\nRun 'tend import --help' for usage.\n",
                KINDS.map(|k| format!("\"{k}\"")).join(", ")
            ));
            return EXIT_USAGE;
        }
    };
    match result {
        Ok(plan) => {
            let notes = plan.all_notes();
            let mut err = String::new();
            for n in &notes {
                err.push_str(&format!("{n}\n"));
            }
            let not_imported = notes.iter().filter(|n| n.kind == NoteKind::NotImported).count();
            err.push_str(&format!(
                "tend: imported {} service{} from {}: {not_imported} not imported, {} changed (see the comments)\n",
                plan.services.len(),
                if plan.services.len() == 1 { "" } else { "s" },
                cmd.file,
                notes.len() - not_imported,
            ));
            diag::err(&err);
            diag::out(&plan::render(&plan));
            exit::OK
        }
        Err(e) => {
            diag::err(&format!("tend: {e}\n"));
            exit::CONFIG
        }
    }
}

/// Read a file as UTF-8; an error names the file, and the line of a bad byte.
fn read(path: &Path, shown: &str) -> Result<String, ImportError> {
    let bytes = std::fs::read(path).map_err(|e| ImportError {
        file: shown.to_string(),
        line: None,
        message: format!("cannot read: {e}"),
    })?;
    String::from_utf8(bytes).map_err(|e| {
        let good = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        ImportError {
            file: shown.to_string(),
            line: Some(good.iter().filter(|&&b| b == b'\n').count() + 1),
            message: "the file is not valid UTF-8".into(),
        }
    })
}

/// The absolute directory of a file, as text (for `%(here)s` and `cwd`).
fn dir_of(path: &Path) -> String {
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let dir = abs.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("/"));
    dir.to_string_lossy().into_owned()
}

fn header(kind: &str, file: &str) -> Vec<String> {
    vec![
        format!("tend.toml imported by `tend import {kind} {file}` (tend {}).", crate::VERSION),
        "\"not imported\" comments list what tend has no equivalent for, \"note\" comments what changed;".into(),
        "see \"tend import\" in tend(1). Check the result, then: tend run -c tend.toml".into(),
    ]
}

fn import_supervisord(file: &str) -> Result<Plan, ImportError> {
    let path = Path::new(file);
    let text = read(path, file)?;
    let parse = |text: &str, shown: &str, index: usize| {
        ini::parse(text, index).map_err(|e| ImportError {
            file: shown.to_string(),
            line: Some(e.line),
            message: e.message,
        })
    };
    let mut merged = parse(&text, file, 0)?;
    let mut files = vec![supervisord::File { path: file.to_string(), here: dir_of(path) }];
    let env = supervisord::Environment {
        vars: std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect::<BTreeMap<_, _>>(),
        // uname(2)'s node name, as Python's platform.node() gives supervisord.
        host: std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).unwrap_or_default(),
    };
    let mut notes = Vec::new();
    if let Some(include) = supervisord::include_patterns(&merged, &files, &env)? {
        let line = include.line;
        notes.extend(include.notes);
        // Relative to the main file's directory, written as the main file was named.
        let base = path.parent().unwrap_or(Path::new(""));
        for pattern in include.patterns {
            let pattern = base.join(&pattern).to_string_lossy().into_owned();
            let found = glob::glob(&pattern);
            if found.is_empty() {
                notes.push(Note {
                    file: file.to_string(),
                    line: Some(line),
                    kind: NoteKind::Changed,
                    text: format!("[include] files: no file matches {pattern:?} (supervisord only warns too)"),
                });
            }
            for f in found {
                let shown = f.to_string_lossy().into_owned();
                let text = read(&f, &shown)?;
                let ini = parse(&text, &shown, files.len())?;
                if let Some(s) = ini.section("include") {
                    notes.push(Note {
                        file: shown.clone(),
                        line: Some(s.line),
                        kind: NoteKind::NotImported,
                        text: "[include] in an included file: supervisord does not read it either".into(),
                    });
                }
                files.push(supervisord::File { path: shown, here: dir_of(&f) });
                merged.merge(ini);
            }
        }
    }
    let mut plan = supervisord::map(&merged, &files, &env)?;
    notes.append(&mut plan.notes);
    plan.notes = notes;
    plan.header = header("supervisord", file);
    Ok(plan)
}

fn import_procfile(file: &str) -> Result<Plan, ImportError> {
    let path = Path::new(file);
    let text = read(path, file)?;
    let parsed = procfile::parse(&text, file)?;
    let dir = dir_of(path);
    let dotenv = Path::new(&dir).join(".env");
    let dotenv = dotenv.is_file().then(|| dotenv.to_string_lossy().into_owned());
    let mut plan = procfile::map(&parsed, file, &dir, dotenv.as_deref());
    plan.header = header("procfile", file);
    Ok(plan)
}
