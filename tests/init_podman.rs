//! The static tend as PID 1 of a real container (podman + runc, see CONTAINERS.md):
//! (a) as the image's ENTRYPOINT `["/sbin/tend","init","--"]`, (b) as podman's own
//! init (`podman run --init --init-path=...`, which runs `/run/podman-init -- CMD`).
//! In both: the exit code propagates, `podman stop` ends the container with 143 at once
//! (not after the SIGKILL timeout), and orphans are reaped inside.
//!
//! What they need, and how they skip without it: tests/podman/mod.rs.

mod common;
mod podman;

use std::time::{Duration, Instant};

use common::*;
use podman::*;

impl Podman {
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
