//! The crate-level error and its mapping to tend's exit codes (documented in tend(1)).

use std::fmt;
use std::io;

/// Exit codes of tend itself (as opposed to a child's status, which tend passes on).
pub mod exit {
    /// Success.
    pub const OK: i32 = 0;
    /// Usage error, or tend failed before or around its child (tini's code for the same).
    pub const FAILURE: i32 = 1;
    /// `tend run`: every service finished and at least one of them failed (no `main`).
    pub const SERVICE_FAILED: i32 = 3;
    /// `tend run`: the configuration file is missing or invalid (sysexits' EX_CONFIG).
    pub const CONFIG: i32 = 78;
    /// The command was found but could not be executed (EACCES and friends).
    pub const NOT_EXECUTABLE: i32 = 126;
    /// The command was not found (ENOENT).
    pub const NOT_FOUND: i32 = 127;
}

/// An error from a tend operation, carrying what was being done.
#[derive(Debug)]
pub enum Error {
    /// A syscall failed: what tend was doing, and the errno.
    Sys(&'static str, nix::Error),
    /// An I/O error with context.
    Io(String, io::Error),
    /// Invalid command-line usage.
    Usage(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Sys(what, e) => write!(f, "{what}: {}", e.desc()),
            Error::Io(what, e) => write!(f, "{what}: {e}"),
            Error::Usage(msg) => f.write_str(msg),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Sys(_, e) => Some(e),
            Error::Io(_, e) => Some(e),
            Error::Usage(_) => None,
        }
    }
}

impl Error {
    pub fn exit_code(&self) -> i32 {
        exit::FAILURE
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// Attach context to a nix result: `sys("signalfd", r)`.
pub trait SysContext<T> {
    fn ctx(self, what: &'static str) -> Result<T>;
}

impl<T> SysContext<T> for nix::Result<T> {
    fn ctx(self, what: &'static str) -> Result<T> {
        self.map_err(|e| Error::Sys(what, e))
    }
}
