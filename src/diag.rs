//! tend's own diagnostics on stderr, in tini's shape: `[LEVEL tend (PID)] message`.
//!
//! Writes never panic (no `eprintln!`, which panics when stderr is closed, PITFALLS §14)
//! and never set O_NONBLOCK on the inherited stderr. Unlike tini, which prints INFO and
//! below to stdout, every level goes to stderr: stdout belongs to the child.

use std::fmt;
use std::io::Write;
use std::sync::atomic::{AtomicU32, Ordering};

/// Message levels; a message is printed when `verbosity >= level as u32`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Fatal = 0,
    Warn = 1,
    Info = 2,
    Debug = 3,
    Trace = 4,
}

impl Level {
    fn tag(self) -> &'static str {
        match self {
            Level::Fatal => "FATAL",
            Level::Warn => "WARN ",
            Level::Info => "INFO ",
            Level::Debug => "DEBUG",
            Level::Trace => "TRACE",
        }
    }
}

/// tini's default verbosity: fatal and warnings.
pub const DEFAULT_VERBOSITY: u32 = 1;

static VERBOSITY: AtomicU32 = AtomicU32::new(DEFAULT_VERBOSITY);

pub fn set_verbosity(v: u32) {
    VERBOSITY.store(v, Ordering::Relaxed);
}

pub fn verbosity() -> u32 {
    VERBOSITY.load(Ordering::Relaxed)
}

pub fn enabled(level: Level) -> bool {
    level == Level::Fatal || verbosity() >= level as u32
}

/// Print one diagnostic line if the level is enabled. Errors writing stderr are ignored:
/// there is nowhere left to report them.
pub fn log(level: Level, args: fmt::Arguments<'_>) {
    if !enabled(level) {
        return;
    }
    let line = format!("[{} tend ({})] {}\n", level.tag(), std::process::id(), args);
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

/// Write plain text to stdout (help, version). Errors such as EPIPE are ignored.
pub fn out(text: &str) {
    let mut o = std::io::stdout().lock();
    let _ = o.write_all(text.as_bytes());
    let _ = o.flush();
}

/// Write plain text to stderr (usage after a parse error).
pub fn err(text: &str) {
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

#[macro_export]
macro_rules! fatal { ($($a:tt)*) => { $crate::diag::log($crate::diag::Level::Fatal, format_args!($($a)*)) } }
#[macro_export]
macro_rules! warn { ($($a:tt)*) => { $crate::diag::log($crate::diag::Level::Warn, format_args!($($a)*)) } }
#[macro_export]
macro_rules! info { ($($a:tt)*) => { $crate::diag::log($crate::diag::Level::Info, format_args!($($a)*)) } }
#[macro_export]
macro_rules! debug { ($($a:tt)*) => { $crate::diag::log($crate::diag::Level::Debug, format_args!($($a)*)) } }
#[macro_export]
macro_rules! trace { ($($a:tt)*) => { $crate::diag::log($crate::diag::Level::Trace, format_args!($($a)*)) } }
