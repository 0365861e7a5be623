//! Whether a config file may be trusted by a `tend run` that runs as root: it names the
//! commands root runs, so a file that another user can write is a way to root. The file
//! (after symlinks) must be owned by root and writable by no one else: not by others,
//! and not by its group unless that group is root's (gid 0, as a file copied into an
//! image from a checkout made with umask 002 is), unless `TEND_ALLOW_INSECURE_CONFIG=1`
//! says otherwise; then it is a warning. Only the file itself is looked at, not its directory (see tend.toml(5)).
//! The rule is a pure function of (mode, owner, euid), unit-tested below.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// The environment variable that turns the refusal into a warning.
pub const OVERRIDE_VAR: &str = "TEND_ALLOW_INSECURE_CONFIG";

/// Why a file with permission bits `mode`, owned by `owner` and `group`, is unsafe for a
/// tend whose effective uid is `euid`; None when it is fine (or tend is not root).
pub fn insecure(mode: u32, owner: u32, group: u32, euid: u32) -> Option<String> {
    if euid != 0 {
        return None;
    }
    if owner != 0 {
        return Some(format!("owned by uid {owner}, not root, and tend runs as root"));
    }
    let who = match (mode & 0o020 != 0 && group != 0, mode & 0o002 != 0) {
        (true, true) => "group and others",
        (true, false) => "its group",
        (false, true) => "others",
        (false, false) => return None,
    };
    Some(format!("writable by {who} (mode {:04o}), and tend runs as root", mode & 0o7777))
}

/// Whether the override is set (to exactly `1`).
pub fn overridden() -> bool {
    std::env::var_os(OVERRIDE_VAR).is_some_and(|v| v == "1")
}

/// The problem with `path`, if any: (what is wrong, whether the override allows it).
/// A file that cannot be stat'ed is left to the reading that follows (its error is
/// clearer).
pub fn check(path: &Path) -> Option<(String, bool)> {
    let meta = std::fs::metadata(path).ok()?;
    // SAFETY: geteuid has no failure mode.
    let euid = unsafe { libc::geteuid() };
    let why = insecure(meta.mode(), meta.uid(), meta.gid(), euid)?;
    Some((why, overridden()))
}

#[cfg(test)]
mod tests {
    use super::insecure;

    #[test]
    fn root_refuses_files_others_can_write() {
        assert_eq!(insecure(0o100644, 0, 0, 0), None);
        assert_eq!(insecure(0o100600, 0, 0, 0), None);
        assert_eq!(insecure(0o100444, 0, 100, 0), None);
        // Group-writable is fine when the group is root's.
        assert_eq!(insecure(0o100664, 0, 0, 0), None);
        assert!(insecure(0o100664, 0, 100, 0).is_some_and(|w| w.contains("its group") && w.contains("0664")));
        assert!(insecure(0o100646, 0, 0, 0).is_some_and(|w| w.contains("by others")));
        assert!(insecure(0o100666, 0, 100, 0).is_some_and(|w| w.contains("group and others")));
        assert!(insecure(0o100666, 0, 0, 0).is_some_and(|w| w.contains("by others")));
        assert!(insecure(0o100644, 1000, 0, 0).is_some_and(|w| w.contains("uid 1000")));
    }

    #[test]
    fn other_users_are_not_checked() {
        assert_eq!(insecure(0o100666, 1000, 1000, 1000), None);
        assert_eq!(insecure(0o100666, 0, 0, 1000), None);
    }
}
