//! tend: a container init, a multi-process supervisor and a control plane in one
//! static binary. Everything lives in this library so that the thin `main.rs`, the
//! black-box tests and the fuzz targets all use the same code.
//!
//! Layout (see DESIGN.md): `init` is the tini-compatible single-child mode; `daemon`
//! holds the mechanisms every mode shares (signals, reaping, spawning, the loop);
//! `cli` parses the command line and dispatches.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::print_stdout, clippy::print_stderr)
)]

pub mod check;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod diag;
pub mod error;
pub mod http;
pub mod import;
pub mod init;
pub mod proto;
pub mod timefmt;

/// The version printed by `tend version` and `tini --version`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The tini release whose behaviour `tend init` reproduces.
pub const TINI_COMPAT_VERSION: &str = "0.19.0";
