//! deploy/ checked for real with podman (CONTAINERS.md): the image of
//! deploy/Dockerfile, built by `podman build` through its `prebuilt` stage (the static
//! binary `make static` left, busybox from a local image: there is no registry here;
//! the `source` stage, which builds Rust, is the only part not run), holds nothing but
//! tend, its configuration and what the example runs (files listed, size reported);
//! it runs as its ENTRYPOINT (`tend run`): `tend ls` through `podman exec`, the web
//! server answering, `podman stop` -> every service stopped and exit 0 at once; it runs
//! with the security settings of deploy/pod.yaml (non-root, read-only root, /run a
//! tmpfs), where the pod's own probe commands answer as the manifest expects; and it
//! runs under podman's `--init --init-path` (tend init as PID 1, `tend run` its child).
//!
//! What they need, and how they skip without it: tests/podman/mod.rs.

mod common;
mod podman;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::*;
use podman::*;

/// The repository's deploy/ directory.
fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy")
}

fn read_deploy(name: &str) -> String {
    let p = deploy_dir().join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()))
}

/// A line on stderr that the test harness does not capture (figures to report).
fn report(msg: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{msg}");
}

/// Copy a directory tree.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read_dir") {
        let e = e.expect("dir entry");
        let t = to.join(e.file_name());
        if e.file_type().expect("file type").is_dir() {
            copy_tree(&e.path(), &t);
        } else {
            std::fs::copy(e.path(), &t).unwrap_or_else(|err| panic!("copying {}: {err}", e.path().display()));
        }
    }
}

/// The images of one test: a local busybox image standing in for the registry's, and
/// the deploy image built on it.
struct Images<'a> {
    deploy: Image<'a>,
    _busybox: Image<'a>,
}

/// Build deploy/Dockerfile as a user would with `--build-arg TEND_BUILD=prebuilt`,
/// from a context laid out like the repository (deploy/, .dockerignore, the binary
/// at target/x86_64-unknown-linux-musl/release/tend) but without the rest of target/.
fn build(pm: &Podman) -> Images<'_> {
    let busybox = pm.image("busybox", false, &[]);
    let ctx = pm.dir.join("context");
    copy_tree(&deploy_dir(), &ctx.join("deploy"));
    std::fs::copy(Path::new(env!("CARGO_MANIFEST_DIR")).join(".dockerignore"), ctx.join(".dockerignore"))
        .expect("copying .dockerignore");
    let bin = ctx.join("target/x86_64-unknown-linux-musl/release/tend");
    std::fs::create_dir_all(bin.parent().expect("parent")).expect("mkdir");
    std::fs::copy(&pm.static_bin, &bin).expect("copying the static binary");
    let args = ["TEND_BUILD=prebuilt".to_string(), format!("BUSYBOX_IMAGE={}", busybox.name)];
    let deploy = pm.build("deploy", &ctx, &ctx.join("deploy/Dockerfile"), &args);
    Images { deploy, _busybox: busybox }
}

/// `podman exec C ARGS...`
fn exec(pm: &Podman, c: &Container, args: &[&str]) -> Outcome {
    let mut a = vec!["exec", c.name.as_str()];
    a.extend_from_slice(args);
    pm.run(&a)
}

/// Wait until `tend wait-ready` in the container says every service is ready.
#[track_caller]
fn wait_ready(pm: &Podman, c: &Container) {
    let mut last = None;
    let ok = poll_until(Duration::from_secs(30), || {
        let o = exec(pm, c, &["/tend", "wait-ready", "--timeout", "5s"]);
        let ok = o.code() == Some(0);
        last = Some(o);
        ok
    });
    let logs = pm.run(&["logs", &c.name]);
    assert!(ok, "the services did not get ready: {last:?}\ncontainer output:\n{}{}", logs.stdout, logs.stderr);
}

/// `podman stop -t SECS`; returns how long it took, after checking the container ended
/// with status 0 by tend's own clean shutdown (both services stopped in order).
#[track_caller]
fn stop_cleanly(pm: &Podman, c: &Container, secs: u32) -> Duration {
    let t0 = Instant::now();
    pm.run(&["stop", "-t", &secs.to_string(), &c.name]).assert_code(0);
    let took = t0.elapsed();
    let logs = pm.run(&["logs", &c.name]);
    let logs = format!("{}{}", logs.stdout, logs.stderr);
    assert_eq!(pm.exit_code_of(c), "0", "exit code after podman stop (took {took:?}); output:\n{logs}");
    assert!(took < Duration::from_secs(u64::from(secs) / 2), "podman stop took {took:?}:\n{logs}");
    // The shutdown, after the SIGTERM (a test may have stopped a service before).
    let term = logs.rfind("received SIGTERM").unwrap_or_else(|| panic!("no SIGTERM in the output:\n{logs}"));
    let after = &logs[term..];
    let at = |needle: &str| after.find(needle).unwrap_or_else(|| panic!("no {needle:?} after SIGTERM:\n{logs}"));
    // The worker depends on web: it stops first.
    assert!(at("worker stopping->stopped") < at("web stopping->stopped"), "shutdown order:\n{logs}");
    assert!(logs.contains("exiting with status 0"), "{logs}");
    took
}

/// The two ways of getting the binary agree with each other and with the Makefile:
/// the `source` stage installs what `make static` builds, the `prebuilt` stage copies
/// the same path, both to where the final stage takes it (the test builds only the
/// second way, which needs no network).
#[test]
fn the_dockerfile_stages_agree() {
    let file = read_deploy("Dockerfile");
    let makefile = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Makefile")).expect("Makefile");
    let var = |name: &str| {
        makefile
            .lines()
            .find_map(|l| l.strip_prefix(name)?.trim_start().strip_prefix(":=").map(|v| v.trim().to_string()))
            .unwrap_or_else(|| panic!("no {name} in the Makefile"))
    };
    let bin = var("STATIC_BIN").replace("$(MUSL)", &var("MUSL"));
    // Each stage's lines, by the name after AS (the final stage has none).
    let mut stages: Vec<(String, Vec<&str>)> = Vec::new();
    for l in file.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
        if let Some(rest) = l.strip_prefix("FROM ") {
            let name = rest.split(" AS ").nth(1).unwrap_or("final").trim().to_string();
            stages.push((name, Vec::new()));
        } else if let Some((_, lines)) = stages.last_mut() {
            lines.push(l);
        }
    }
    let stage = |n: &str| stages.iter().find(|(s, _)| s == n).map(|(_, l)| l.join("\n")).unwrap_or_default();
    let (source, prebuilt, last) = (stage("source"), stage("prebuilt"), stage("final"));
    assert!(source.contains("make static") && source.contains(&format!("{bin} /out/tend")), "source stage:\n{source}");
    assert!(prebuilt.contains(&format!("COPY {bin} /out/tend")), "prebuilt stage:\n{prebuilt}");
    assert!(file.contains("FROM ${TEND_BUILD} AS tend"), "no stage chosen by TEND_BUILD");
    assert!(last.contains("COPY --from=tend /out/tend /tend"), "final stage:\n{last}");
    assert!(last.contains(r#"ENTRYPOINT ["/tend", "run", "-c", "/etc/tend.toml"]"#), "final stage:\n{last}");
    // The build context is the checkout: the binary must not be ignored.
    let ignore =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(".dockerignore")).expect(".dockerignore");
    assert!(ignore.lines().any(|l| l == format!("!{bin}")), ".dockerignore drops {bin}");
}

#[test]
fn the_image_holds_nothing_but_what_it_needs() {
    let Some(pm) = setup("deploy_image_files") else { return };
    let images = build(&pm);
    let name = &images.deploy.name;

    let mount = pm.run(&["image", "mount", name]);
    mount.assert_code(0);
    let root = PathBuf::from(mount.stdout.trim());
    let mut files = BTreeSet::new();
    let mut dirs = BTreeSet::new();
    let mut stack = vec![root.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("reading the image") {
            let e = e.expect("entry");
            let rel = e.path().strip_prefix(&root).expect("below the root").to_string_lossy().into_owned();
            if e.file_type().expect("file type").is_dir() {
                dirs.insert(rel);
                stack.push(e.path());
            } else {
                files.insert(rel);
            }
        }
    }
    let size_of = |p: &str| std::fs::metadata(root.join(p)).map(|m| m.len()).unwrap_or(0);
    let (tend_size, busybox_size) = (size_of("tend"), size_of("bin/busybox"));
    let same_tend = std::fs::read(root.join("tend")).ok() == std::fs::read(&pm.static_bin).ok();
    let same_config = std::fs::read_to_string(root.join("etc/tend.toml")).ok() == Some(read_deploy("tend.toml"));
    pm.run(&["image", "unmount", name]).assert_code(0);

    let want_files: BTreeSet<String> =
        ["tend", "bin/busybox", "etc/tend.toml", "srv/www/index.html"].iter().map(|s| s.to_string()).collect();
    let want_dirs: BTreeSet<String> = ["bin", "etc", "srv", "srv/www"].iter().map(|s| s.to_string()).collect();
    assert_eq!(files, want_files, "files in the image");
    assert_eq!(dirs, want_dirs, "directories in the image");
    assert!(same_tend, "/tend is not the static binary {}", pm.static_bin.display());
    assert!(same_config, "/etc/tend.toml is not deploy/tend.toml");

    let inspect =
        pm.run(&["image", "inspect", "-f", "{{json .Config.Entrypoint}} {{json .Config.Env}} {{.Size}}", name]);
    inspect.assert_code(0);
    let mut parts = inspect.stdout.trim().splitn(3, ' ');
    let entry: serde_json::Value = serde_json::from_str(parts.next().unwrap_or("")).expect("entrypoint JSON");
    let env: serde_json::Value = serde_json::from_str(parts.next().unwrap_or("")).expect("env JSON");
    let size: u64 = parts.next().unwrap_or("").parse().expect("image size");
    assert_eq!(entry, serde_json::json!(["/tend", "run", "-c", "/etc/tend.toml"]));
    assert!(env.as_array().is_some_and(|e| e.iter().any(|v| v == "TEND_SOCKET=/run/tend.sock")), "{env}");
    report(&format!(
        "deploy image: {size} bytes ({:.2} MiB): /tend {tend_size}, /bin/busybox {busybox_size}, the rest {} \
         (files: {})",
        size as f64 / (1 << 20) as f64,
        size.saturating_sub(tend_size + busybox_size),
        files.iter().cloned().collect::<Vec<_>>().join(" ")
    ));
}

#[test]
fn the_image_runs_its_services_and_stops_cleanly() {
    let Some(pm) = setup("deploy_image_run") else { return };
    let images = build(&pm);
    let c = pm.container("run");
    podman_run(&pm, &c, true, false, &images.deploy, &[]).assert_code(0);
    wait_ready(&pm, &c);

    let cmdline = exec(&pm, &c, &[BUSYBOX, "cat", "/proc/1/cmdline"]);
    cmdline.assert_code(0);
    assert_eq!(cmdline.stdout.replace('\0', " ").trim_end(), "/tend run -c /etc/tend.toml");

    // `tend ls` with the image's $TEND_SOCKET; web healthy once its first check ran.
    let mut ls = None;
    let healthy = poll_until(Duration::from_secs(20), || {
        let o = exec(&pm, &c, &["/tend", "ls"]);
        let ok = o.code() == Some(0)
            && o.stdout.lines().any(|l| l.starts_with("web ") && l.contains(" running ") && l.contains(" healthy "))
            && o.stdout.lines().any(|l| l.starts_with("worker ") && l.contains(" running "));
        ls = Some(o);
        ok
    });
    assert!(healthy, "tend ls: {ls:?}");
    let page = exec(&pm, &c, &[BUSYBOX, "wget", "-q", "-O", "-", "http://127.0.0.1:8080/"]);
    page.assert_code(0);
    assert!(page.stdout.contains("supervised by tend"), "{}", page.stdout);
    exec(&pm, &c, &["/tend", "check"]).assert_code(0);

    let took = stop_cleanly(&pm, &c, 10);
    report(&format!("deploy image: podman stop -t 10 took {took:?}, exit code 0"));
}

/// `key: value` of the first line in `yaml` that has `key:` (the manifest's layout
/// is simple enough for that).
fn yaml_value(yaml: &str, key: &str) -> String {
    yaml.lines()
        .find_map(|l| l.trim().strip_prefix(&format!("{key}:")).map(|v| v.trim().to_string()))
        .unwrap_or_else(|| panic!("no {key} in deploy/pod.yaml"))
}

/// The exec command of each probe in the manifest, by probe name.
fn probes(yaml: &str) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    let mut current = None;
    for l in yaml.lines() {
        let t = l.trim();
        if let Some(p) = t.strip_suffix(':').filter(|p| p.ends_with("Probe")) {
            current = Some(p.to_string());
        }
        if let (Some(p), Some(cmd)) = (&current, t.strip_prefix("command:")) {
            let argv: Vec<String> = serde_json::from_str(cmd.trim()).expect("a probe command as a flow list");
            out.push((p.clone(), argv));
        }
    }
    out
}

#[test]
fn the_pod_settings_and_probes_work() {
    let Some(pm) = setup("deploy_pod") else { return };
    let yaml = read_deploy("pod.yaml");
    let (uid, gid) = (yaml_value(&yaml, "runAsUser"), yaml_value(&yaml, "runAsGroup"));
    assert_eq!(yaml_value(&yaml, "readOnlyRootFilesystem"), "true");
    assert_eq!(yaml_value(&yaml, "mountPath"), "/run", "the one writable place is where $TEND_SOCKET is");
    let probes = probes(&yaml);
    let names: Vec<&str> = probes.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["startupProbe", "readinessProbe", "livenessProbe"]);
    // The kubelet's SIGKILL comes after the grace period: tend's own deadline first.
    let grace: u64 = yaml_value(&yaml, "terminationGracePeriodSeconds").parse().expect("a number");
    let config = read_deploy("tend.toml");
    let shutdown = config
        .lines()
        .find_map(|l| l.strip_prefix("shutdown_timeout = \"")?.strip_suffix("s\"")?.parse::<u64>().ok())
        .expect("shutdown_timeout in seconds in deploy/tend.toml");
    assert!(grace > shutdown, "terminationGracePeriodSeconds {grace} <= shutdown_timeout {shutdown}s");

    let images = build(&pm);
    let c = pm.container("pod");
    // What the pod's securityContext and volume amount to.
    let mut a = pm.run_args(&c.name);
    a.insert(1, "-d".into());
    for s in [
        &format!("--user={uid}:{gid}"),
        "--read-only",
        "--read-only-tmpfs=false",
        "--tmpfs=/run:rw,size=1m,mode=1777",
        "--cap-drop=all",
        "--security-opt=no-new-privileges",
    ] {
        a.push(s.to_string());
    }
    a.push(images.deploy.name.clone());
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    pm.run(&a).assert_code(0);

    // The probes, in the kubelet's order: startup until it passes, then the others.
    let probe = |name: &str| -> Outcome {
        let argv = &probes.iter().find(|(n, _)| n == name).expect("probe").1;
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        exec(&pm, &c, &argv)
    };
    let mut last = None;
    let started = poll_until(Duration::from_secs(30), || {
        let o = probe("startupProbe");
        let ok = o.code() == Some(0);
        last = Some(o);
        ok
    });
    assert!(started, "the startup probe never passed: {last:?}");
    let ready = poll_until(Duration::from_secs(20), || probe("readinessProbe").code() == Some(0));
    assert!(ready, "the readiness probe never passed: {:?}", probe("readinessProbe"));
    probe("livenessProbe").assert_code(0);

    let status = exec(&pm, &c, &[BUSYBOX, "cat", "/proc/1/status"]);
    assert!(
        status.stdout.lines().any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some(&uid)),
        "{}",
        status.stdout
    );
    assert!(exec(&pm, &c, &[BUSYBOX, "touch", "/etc/x"]).code() != Some(0), "the root file system is writable");

    // A stopped service takes the pod out of the endpoints, not out of life.
    exec(&pm, &c, &["/tend", "stop", "web"]).assert_code(0);
    let o = probe("readinessProbe");
    assert_eq!(o.code(), Some(1), "readiness with web stopped: {o:?}");
    probe("livenessProbe").assert_code(0);
    exec(&pm, &c, &["/tend", "start", "web"]).assert_code(0);
    let ready = poll_until(Duration::from_secs(20), || probe("readinessProbe").code() == Some(0));
    assert!(ready, "not ready again after web restarted: {:?}", probe("readinessProbe"));

    stop_cleanly(&pm, &c, u32::try_from(grace).unwrap_or(15));
}

#[test]
fn the_image_under_podman_init() {
    let Some(pm) = setup("deploy_podman_init") else { return };
    let images = build(&pm);
    let c = pm.container("init");
    podman_run(&pm, &c, true, true, &images.deploy, &[]).assert_code(0);
    wait_ready(&pm, &c);

    // PID 1 is podman's init (tend init), with `tend run` as its child.
    let cmdline = exec(&pm, &c, &[BUSYBOX, "cat", "/proc/1/cmdline"]);
    assert_eq!(cmdline.stdout.replace('\0', " ").trim_end(), "/run/podman-init -- /tend run -c /etc/tend.toml");
    let children = exec(&pm, &c, &[BUSYBOX, "cat", "/proc/1/task/1/children"]);
    let kids: Vec<&str> = children.stdout.split_whitespace().collect();
    assert_eq!(kids.len(), 1, "PID 1's children: {kids:?}");
    let child = exec(&pm, &c, &[BUSYBOX, "cat", &format!("/proc/{}/cmdline", kids[0])]);
    assert_eq!(child.stdout.replace('\0', " ").trim_end(), "/tend run -c /etc/tend.toml");
    exec(&pm, &c, &["/tend", "ls"]).assert_code(0);

    // podman stop: SIGTERM to tend init, forwarded to tend run, which stops the
    // services and exits 0; tend init exits with that status.
    stop_cleanly(&pm, &c, 10);
}
