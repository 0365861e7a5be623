//! podman (with runc, no registry; CONTAINERS.md) for the container tests
//! (tests/init_podman.rs, tests/deploy_image.rs): the flags every call needs here,
//! images imported from a directory or built from a Containerfile, and guards that
//! remove every container and image a test creates, pass or fail.
//!
//! [`setup`] needs `$TEND_STATIC_BIN` (the Makefile's `unit` target sets it; build
//! with `make static`), podman, runc and a static busybox; when one is missing it says
//! so on stderr, and the test passes without checking anything.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::common::*;

pub const BUSYBOX: &str = "/bin/busybox";
/// Generous: a podman call takes ~0.15 s here, but the first one may set up storage.
pub const PODMAN_DEADLINE: Duration = Duration::from_secs(60);

pub struct Podman {
    /// The test's scratch dir, for the podman clients' output.
    pub dir: TestDir,
    pub static_bin: PathBuf,
    /// Unique prefix for container and image names.
    pub prefix: String,
}

/// Everything needed, or None after printing why the test is skipped.
pub fn setup(test: &str) -> Option<Podman> {
    let skip = |why: String| {
        skip(test, &why);
        None
    };
    let Some(bin) = std::env::var_os("TEND_STATIC_BIN") else {
        return skip("TEND_STATIC_BIN is not set (run `make static`, then set it, or run `make unit`)".into());
    };
    let static_bin = PathBuf::from(bin);
    if !static_bin.is_file() {
        return skip(format!("TEND_STATIC_BIN={} does not exist (run `make static`)", static_bin.display()));
    }
    for tool in ["podman", "runc"] {
        match Command::new(tool).arg("--version").output() {
            Ok(o) if o.status.success() => {}
            Ok(o) => return skip(format!("`{tool} --version` failed: {}", String::from_utf8_lossy(&o.stderr).trim())),
            Err(e) => return skip(format!("{tool} is not installed: {e}")),
        }
    }
    if !Path::new(BUSYBOX).is_file() {
        return skip(format!("{BUSYBOX} is missing (apt-get install busybox-static)"));
    }
    let dir = TestDir::new(test);
    let prefix = format!("tend-it-{}-{}", std::process::id(), test.replace('_', "-"));
    Some(Podman { dir, static_bin, prefix })
}

impl Podman {
    /// `podman` with the flags every call needs here.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new("podman");
        // Not in the test dir: `podman run -d` leaves conmon running in its cwd, and the
        // helpers kill whatever is left running in the test dir.
        c.current_dir("/");
        c.args(["--runtime=runc", "--cgroup-manager=cgroupfs", "--events-backend=file"]);
        c.args(args);
        c
    }

    /// Run a podman command to completion.
    pub fn run(&self, args: &[&str]) -> Outcome {
        spawn(&self.dir, self.cmd(args)).wait_timeout(PODMAN_DEADLINE)
    }

    /// `podman run` flags for these machines (CONTAINERS.md), then a name.
    pub fn run_args(&self, name: &str) -> Vec<String> {
        // SAFETY: getrlimit with a valid out-pointer.
        let nofile = unsafe {
            let mut r: libc::rlimit = std::mem::zeroed();
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut r);
            r.rlim_max
        };
        [
            "run",
            "--systemd=false",
            "--network=none",
            "--ulimit",
            &format!("nofile={nofile}:{nofile}"),
            "--ulimit",
            "nproc=32768:32768",
            "--name",
            name,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }

    /// Import an image of busybox (+ tend at /sbin/tend if `with_tend`) with these
    /// `--change` instructions; removed when the guard drops.
    pub fn image(&self, tag: &str, with_tend: bool, changes: &[&str]) -> Image<'_> {
        let root = self.dir.join(format!("root-{tag}"));
        std::fs::create_dir_all(root.join("bin")).expect("rootfs");
        std::fs::copy(BUSYBOX, root.join("bin/busybox")).expect("copy busybox");
        if with_tend {
            std::fs::create_dir_all(root.join("sbin")).expect("rootfs");
            std::fs::copy(&self.static_bin, root.join("sbin/tend")).expect("copy tend");
        }
        let tar = self.dir.join(format!("{tag}.tar"));
        let st = Command::new("tar").arg("-C").arg(&root).arg("-cf").arg(&tar).arg(".").status().expect("tar");
        assert!(st.success(), "tar failed");
        let name = format!("localhost/{}-{tag}:latest", self.prefix);
        let image = Image { pm: self, name: name.clone(), intermediates: Vec::new() };
        let mut args = vec!["import", "-q"];
        for c in changes {
            args.extend_from_slice(&["--change", c]);
        }
        let tar_s = tar.to_str().expect("utf-8 path");
        args.extend_from_slice(&[tar_s, &name]);
        self.run(&args).assert_code(0);
        image
    }

    /// `podman build` of `containerfile` in `context` with these `--build-arg`s, as
    /// `localhost/PREFIX-TAG`; removed when the guard drops, with the intermediate
    /// images the build left.
    pub fn build(&self, tag: &str, context: &Path, containerfile: &Path, build_args: &[String]) -> Image<'_> {
        let name = format!("localhost/{}-{tag}:latest", self.prefix);
        let mut image = Image { pm: self, name: name.clone(), intermediates: Vec::new() };
        // No layer cache: another build's cached steps could belong to an image its
        // test is removing at that moment ("layer not known"), with tests running side
        // by side, or other people's at the same time. (Not --layers=false: a stage
        // used in FROM, as deploy/Dockerfile's `FROM ${TEND_BUILD} AS tend`, must be
        // committed as an image.)
        let mut args: Vec<String> = ["build", "--no-cache", "-f"].iter().map(|s| s.to_string()).collect();
        args.push(path_str(containerfile));
        for a in build_args {
            args.push("--build-arg".into());
            args.push(a.clone());
        }
        args.extend(["-t".into(), name, path_str(context)]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = self.run(&args);
        // Each step's image: `--> 3981ce3e6f2`.
        image.intermediates =
            out.stdout.lines().filter_map(|l| l.strip_prefix("--> ")).map(|id| id.trim().to_string()).collect();
        out.assert_code(0);
        image
    }

    pub fn container(&self, tag: &str) -> Container<'_> {
        Container { pm: self, name: format!("{}-{tag}", self.prefix) }
    }

    pub fn exit_code_of(&self, c: &Container) -> String {
        let out = self.run(&["inspect", "-f", "{{.State.ExitCode}}", &c.name]);
        out.assert_code(0);
        out.stdout.trim().to_string()
    }
}

fn path_str(p: &Path) -> String {
    p.to_str().expect("utf-8 path").to_string()
}

/// An image, removed on drop (even when the test fails).
pub struct Image<'a> {
    pm: &'a Podman,
    pub name: String,
    /// Images a build made on the way (short IDs), removed after it unless they
    /// have a name (a base image the build started from).
    intermediates: Vec<String>,
}

impl Drop for Image<'_> {
    fn drop(&mut self) {
        let _ = self.pm.cmd(&["rmi", "-f", &self.name]).output();
        for id in self.intermediates.iter().rev() {
            let tags = self.pm.cmd(&["image", "inspect", "-f", "{{len .RepoTags}}", id]).output();
            if tags.is_ok_and(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).trim() == "0") {
                let _ = self.pm.cmd(&["rmi", id]).output();
            }
        }
    }
}

/// A container name, the container removed on drop (even when the test fails).
pub struct Container<'a> {
    pm: &'a Podman,
    pub name: String,
}

impl Drop for Container<'_> {
    fn drop(&mut self) {
        let _ = self.pm.cmd(&["rm", "-f", "-t", "0", &self.name]).output();
    }
}

/// `podman run [-d] [--init ...] --name C IMAGE ARGS...` to its end (with `-d`, the end
/// of starting the container).
pub fn podman_run(pm: &Podman, c: &Container, detach: bool, init: bool, image: &Image, args: &[&str]) -> Outcome {
    let mut a = pm.run_args(&c.name);
    if detach {
        a.insert(1, "-d".into());
    }
    if init {
        a.push("--init".into());
        a.push(format!("--init-path={}", pm.static_bin.display()));
    }
    a.push(image.name.clone());
    a.extend(args.iter().map(|s| s.to_string()));
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    pm.run(&a)
}
