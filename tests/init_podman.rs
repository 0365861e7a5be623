//! The static tend as PID 1 of a real container (podman + runc, see CONTAINERS.md):
//! (a) as the image's ENTRYPOINT `["/sbin/tend","init","--"]`, (b) as podman's own
//! init (`podman run --init --init-path=...`, which runs `/run/podman-init -- CMD`).
//! In both: the exit code propagates, `podman stop` ends the container with 143 at once
//! (not after the SIGKILL timeout), and orphans are reaped inside.
//!
//! Needs `$TEND_STATIC_BIN` (the Makefile's `unit` target sets it; build with
//! `make static`), podman, runc and a static busybox. If one is missing the tests say
//! so on stderr and pass without checking anything.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

const BUSYBOX: &str = "/bin/busybox";
/// Generous: a podman call takes ~0.15 s here, but the first one may set up storage.
const PODMAN_DEADLINE: Duration = Duration::from_secs(60);

struct Podman {
    /// The test's scratch dir, for the podman clients' output.
    dir: TestDir,
    static_bin: PathBuf,
    /// Unique prefix for container and image names.
    prefix: String,
}

/// Everything needed, or None after printing why the test is skipped.
fn setup(test: &str) -> Option<Podman> {
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
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new("podman");
        // Not in the test dir: `podman run -d` leaves conmon running in its cwd, and the
        // helpers kill whatever is left running in the test dir.
        c.current_dir("/");
        c.args(["--runtime=runc", "--cgroup-manager=cgroupfs", "--events-backend=file"]);
        c.args(args);
        c
    }

    /// Run a podman command to completion.
    fn run(&self, args: &[&str]) -> Outcome {
        spawn(&self.dir, self.cmd(args)).wait_timeout(PODMAN_DEADLINE)
    }

    /// `podman run` flags for these machines (CONTAINERS.md), then a name.
    fn run_args(&self, name: &str) -> Vec<String> {
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
    fn image(&self, tag: &str, with_tend: bool, changes: &[&str]) -> Image<'_> {
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
        let image = Image { pm: self, name: name.clone() };
        let mut args = vec!["import", "-q"];
        for c in changes {
            args.extend_from_slice(&["--change", c]);
        }
        let tar_s = tar.to_str().expect("utf-8 path");
        args.extend_from_slice(&[tar_s, &name]);
        self.run(&args).assert_code(0);
        image
    }

    fn container(&self, tag: &str) -> Container<'_> {
        Container { pm: self, name: format!("{}-{tag}", self.prefix) }
    }

    /// An image with tend as its ENTRYPOINT `["/sbin/tend","init","--"]` (CMD: a sleep).
    fn entrypoint_image(&self) -> Image<'_> {
        self.image(
            "entry",
            true,
            &[r#"ENTRYPOINT ["/sbin/tend","init","--"]"#, r#"CMD ["/bin/busybox","sleep","1000"]"#],
        )
    }

    /// An image without tend, for `podman run --init` (ENTRYPOINT busybox).
    fn plain_image(&self) -> Image<'_> {
        self.image("plain", false, &[r#"ENTRYPOINT ["/bin/busybox"]"#])
    }

    fn exit_code_of(&self, c: &Container) -> String {
        let out = self.run(&["inspect", "-f", "{{.State.ExitCode}}", &c.name]);
        out.assert_code(0);
        out.stdout.trim().to_string()
    }
}

/// An image, removed on drop (even when the test fails).
struct Image<'a> {
    pm: &'a Podman,
    name: String,
}

impl Drop for Image<'_> {
    fn drop(&mut self) {
        let _ = self.pm.cmd(&["rmi", "-f", &self.name]).output();
    }
}

/// A container name, the container removed on drop (even when the test fails).
struct Container<'a> {
    pm: &'a Podman,
    name: String,
}

impl Drop for Container<'_> {
    fn drop(&mut self) {
        let _ = self.pm.cmd(&["rm", "-f", "-t", "0", &self.name]).output();
    }
}

/// `podman run [-d] [--init ...] --name C IMAGE ARGS...` to its end (with `-d`, the end
/// of starting the container).
fn podman_run(pm: &Podman, c: &Container, detach: bool, init: bool, image: &Image, args: &[&str]) -> Outcome {
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

/// `podman run [--init ...] --name C IMAGE ARGS...` in the foreground.
fn run_container(pm: &Podman, c: &Container, init: bool, image: &Image, args: &[&str]) -> Outcome {
    podman_run(pm, c, false, init, image, args)
}

/// Start a detached container whose main process sleeps, wait until PID 1 has spawned
/// it, `podman stop -t 5` it and check it ended with 143, well before the SIGKILL.
fn stop_is_quick(pm: &Podman, c: &Container, init: bool, image: &Image, args: &[&str]) {
    podman_run(pm, c, true, init, image, args).assert_code(0);
    // PID 1 has a child once it runs its loop (signals are blocked before the spawn).
    wait_until(Duration::from_secs(20), "PID 1 of the container to start its child", || {
        let out = pm.run(&["exec", &c.name, BUSYBOX, "cat", "/proc/1/task/1/children"]);
        out.code() == Some(0) && !out.stdout.trim().is_empty()
    });
    let t0 = Instant::now();
    pm.run(&["stop", "-t", "5", &c.name]).assert_code(0);
    let took = t0.elapsed();
    let code = pm.exit_code_of(c);
    let logs = pm.run(&["logs", &c.name]);
    let logs = format!("{}{}", logs.stdout, logs.stderr);
    assert_eq!(code, "143", "exit code after podman stop (which took {took:?}); container output:\n{logs}");
    // 143 already shows the TERM ended it (the SIGKILL after 5 s would give 137); the
    // time shows it did not wait for the deadline (podman stop takes ~0.1 s here).
    assert!(took < Duration::from_secs(4), "podman stop took {took:?}: the TERM did not end the container\n{logs}");
}

#[test]
fn entrypoint_exit_code_propagates() {
    let Some(pm) = setup("podman_entry_exit") else { return };
    let image = pm.entrypoint_image();
    let c = pm.container("exit");
    run_container(&pm, &c, false, &image, &[BUSYBOX, "sh", "-c", "exit 7"]).assert_code(7);
    assert_eq!(pm.exit_code_of(&c), "7");
}

#[test]
fn entrypoint_stop_gives_143_quickly() {
    let Some(pm) = setup("podman_entry_stop") else { return };
    let image = pm.entrypoint_image();
    let c = pm.container("stop");
    stop_is_quick(&pm, &c, false, &image, &[]);
}

#[test]
fn entrypoint_reaps_orphans() {
    let Some(pm) = setup("podman_entry_reap") else { return };
    let image = pm.entrypoint_image();
    let c = pm.container("reap");
    let out =
        run_container(&pm, &c, false, &image, &[BUSYBOX, "sh", "-c", PID1_REAP_SCRIPT, "sh", "/bin/busybox ", "0"]);
    out.assert_code(0);
    assert!(out.stdout.contains("ok: orphans"), "script output:\n{}", out.stdout);
}

#[test]
fn podman_init_is_tend_and_propagates_the_exit_code() {
    let Some(pm) = setup("podman_init_exit") else { return };
    let image = pm.plain_image();
    let c = pm.container("exit");
    let script = r#"/bin/busybox tr "\0" " " < /proc/1/cmdline; echo; /run/podman-init --version; exit 9"#;
    let out = run_container(&pm, &c, true, &image, &["sh", "-c", script]);
    out.assert_code(9);
    assert!(
        out.stdout.starts_with("/run/podman-init -- /bin/busybox sh -c "),
        "PID 1 is not podman's init:\n{}",
        out.stdout
    );
    assert!(out.stdout.contains("tend version"), "/run/podman-init is not tend:\n{}", out.stdout);
    assert!(!out.stderr.contains(REAPER_WARNING), "tend as PID 1 warned about reaping:\n{}", out.stderr);
}

#[test]
fn podman_init_stop_gives_143_quickly() {
    let Some(pm) = setup("podman_init_stop") else { return };
    let image = pm.plain_image();
    let c = pm.container("stop");
    stop_is_quick(&pm, &c, true, &image, &["sleep", "1000"]);
}

#[test]
fn podman_init_reaps_orphans() {
    let Some(pm) = setup("podman_init_reap") else { return };
    let image = pm.plain_image();
    let c = pm.container("reap");
    let out = run_container(&pm, &c, true, &image, &["sh", "-c", PID1_REAP_SCRIPT, "sh", "/bin/busybox ", "0"]);
    out.assert_code(0);
    assert!(out.stdout.contains("ok: orphans"), "script output:\n{}", out.stdout);
}
