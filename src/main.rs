//! The `tend` binary: collects argv and hands it to `tend::cli::main`.
//!
//! `no_main` on purpose: Rust's runtime start-up sets SIGPIPE to SIG_IGN before `main`,
//! which would lose whether tend was *started* with SIGPIPE ignored. An init must hand
//! its child exactly the dispositions it was given (tini does), so tend takes over at
//! the C `main` and leaves every disposition as the kernel delivered it.
#![no_main]

use std::ffi::{CStr, OsString};
use std::os::raw::{c_char, c_int};
use std::os::unix::ffi::OsStringExt;

mod arena;

/// Every allocation of a tend process comes from a 32 KiB arena in .bss first, then from
/// the C library's malloc: see src/arena.rs for why (short-lived tend processes no longer
/// map and unmap a page per size class) and what it costs a long-running one (at most
/// those 32 KiB). The size covers the init, `tend status` and `tend version` whole; a
/// larger `tend ls` continues in malloc.
#[global_allocator]
static ALLOC: arena::Arena<{ 32 * 1024 }> = arena::Arena::new();

/// The static musl build links with scripts/layout.ld and scripts/discard.ld
/// (.cargo/config.toml), which cargo does not know of: naming them here puts them in
/// this crate's dependencies, so that a new layout relinks the binary. Unused, so
/// nothing of them ends up in the binary.
#[cfg(target_env = "musl")]
const _LAYOUT: &[u8] = include_bytes!("../scripts/layout.ld");
#[cfg(target_env = "musl")]
const _DISCARD: &[u8] = include_bytes!("../scripts/discard.ld");

/// The C entry point.
///
/// # Safety
/// Called once by the C runtime with `argc` valid NUL-terminated strings in `argv`.
#[no_mangle]
pub unsafe extern "C" fn main(argc: c_int, argv: *const *const c_char) -> c_int {
    ALLOC.touch();
    let mut args = Vec::with_capacity(argc.max(0) as usize);
    for i in 0..argc.max(0) as usize {
        // SAFETY: the C runtime passes argc valid, NUL-terminated strings in argv.
        let arg = unsafe { CStr::from_ptr(*argv.add(i)) };
        args.push(OsString::from_vec(arg.to_bytes().to_vec()));
    }
    tend::cli::main(args)
}
