//! Per-service cgroup v2, when tend can create one: every process of a service, even
//! one that called setsid(2) or daemonized, stays in the service's cgroup, so a stop
//! is complete only when the cgroup is empty and SIGKILL reaches all of them at once
//! through `cgroup.kill`.
//!
//! Layout: `<tend's own cgroup>/tend.<pid>/<service>`. No controller is enabled, so
//! the "no internal processes" rule does not apply and tend itself stays where it is.
//! The child moves itself (writes "0" to `cgroup.procs`) between fork and exec, before
//! anything else, so nothing it forks can escape. Where cgroup2 is not mounted or not
//! writable (a container with a read-only /sys/fs/cgroup), services fall back to their
//! process group, plus the subreaper's sweep of orphans at shutdown.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// The directory tend created for its services.
pub struct Cgroups {
    base: PathBuf,
    has_kill: bool,
}

/// The cgroup2 mount point and tend's own cgroup path from /proc.
fn own_cgroup() -> Option<PathBuf> {
    let cg = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let rel = cg.lines().find_map(|l| l.strip_prefix("0::"))?.trim();
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    // mountinfo: ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS... - FSTYPE SOURCE SUPER
    let mount = mounts.lines().find_map(|l| {
        let (pre, post) = l.split_once(" - ")?;
        if post.split(' ').next()? != "cgroup2" {
            return None;
        }
        let f: Vec<&str> = pre.split(' ').collect();
        Some((f.get(3)?.to_string(), f.get(4)?.to_string()))
    })?;
    let (root, point) = mount;
    // The mount's root is a prefix of our path when the mount is not the whole tree.
    let rel = rel.strip_prefix(root.trim_end_matches('/')).unwrap_or(rel);
    Some(Path::new(&point).join(rel.trim_start_matches('/')))
}

impl Cgroups {
    /// Create `tend.<pid>` under tend's own cgroup; None if that is not possible.
    pub fn create() -> Option<Cgroups> {
        let own = own_cgroup()?;
        let base = own.join(format!("tend.{}", std::process::id()));
        match std::fs::create_dir(&base) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(_) => return None,
        }
        let has_kill = base.join("cgroup.kill").exists();
        Some(Cgroups { base, has_kill })
    }

    /// The service's cgroup directory, created if missing.
    pub fn service(&self, name: &str) -> std::io::Result<PathBuf> {
        let p = self.base.join(name);
        match std::fs::create_dir(&p) {
            Ok(()) => Ok(p),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(p),
            Err(e) => Err(e),
        }
    }

    /// `cgroup.procs` of a service cgroup opened for the child to move itself
    /// (close-on-exec: the child writes before exec).
    pub fn procs_file(dir: &Path) -> std::io::Result<File> {
        std::fs::OpenOptions::new().write(true).custom_flags(libc::O_CLOEXEC).open(dir.join("cgroup.procs"))
    }

    /// Remove every service cgroup and the base (those still populated stay).
    pub fn remove_all(&self) {
        if let Ok(dir) = std::fs::read_dir(&self.base) {
            for e in dir.flatten() {
                if e.path().is_dir() {
                    let _ = std::fs::remove_dir(e.path());
                }
            }
        }
        let _ = std::fs::remove_dir(&self.base);
    }

    /// SIGKILL every process of the cgroup: `cgroup.kill` where the kernel has it
    /// (5.14+), else each pid listed.
    pub fn kill(&self, dir: &Path) {
        if self.has_kill {
            if let Ok(mut f) = std::fs::OpenOptions::new().write(true).open(dir.join("cgroup.kill")) {
                if f.write_all(b"1").is_ok() {
                    return;
                }
            }
        }
        signal(dir, libc::SIGKILL);
    }
}

/// Pids in a cgroup.
pub fn pids(dir: &Path) -> Vec<i32> {
    std::fs::read_to_string(dir.join("cgroup.procs"))
        .map(|s| s.lines().filter_map(|l| l.trim().parse().ok()).collect())
        .unwrap_or_default()
}

/// Send `signo` to every process of the cgroup.
pub fn signal(dir: &Path, signo: i32) {
    for pid in pids(dir) {
        let _ = crate::daemon::signals::send(pid, signo);
    }
}

/// `cgroup.events` of a service cgroup, opened once and re-read with pread.
pub fn events_file(dir: &Path) -> std::io::Result<File> {
    std::fs::OpenOptions::new().read(true).custom_flags(libc::O_CLOEXEC).open(dir.join("cgroup.events"))
}

/// [`populated`] from an open `cgroup.events`; None if it cannot be read.
pub fn populated_in(events: &File) -> Option<bool> {
    use std::os::unix::fs::FileExt;
    let mut buf = [0u8; 256];
    let n = events.read_at(&mut buf, 0).ok()?;
    let text = std::str::from_utf8(&buf[..n]).ok()?;
    Some(text.lines().any(|l| l == "populated 1"))
}

/// True while any process is in the cgroup or below it.
pub fn populated(dir: &Path) -> bool {
    match std::fs::read_to_string(dir.join("cgroup.events")) {
        Ok(s) => s.lines().any(|l| l == "populated 1"),
        // Gone or unreadable: nothing is known to be left.
        Err(_) => false,
    }
}

/// A cgroup directory opened (read-only, close-on-exec) for clone3's CLONE_INTO_CGROUP.
pub fn dir_file(dir: &Path) -> std::io::Result<File> {
    std::fs::OpenOptions::new().read(true).custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC).open(dir)
}
