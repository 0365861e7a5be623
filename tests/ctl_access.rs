//! Who may use the control socket, and whose socket it is: the file's mode and
//! directory, the path's resolution, SO_PEERCRED access with allow_uids/allow_gids, one
//! tend per socket, a stale socket replaced, and no service inheriting it.

mod support;

use support::start_serving as start;

use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use support::{
    ctl, ctl_command, ctl_ok, is_root, poll_until, run_output, skip, sleeper, wait_until, CtlOut, Raw, Tend, TestDir,
};
use support::{DEADLINE, MARKER_VAR, TEND};

fn mode(p: &Path) -> u32 {
    std::fs::symlink_metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())).permissions().mode() & 0o7777
}

fn is_socket(p: &Path) -> bool {
    std::fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_socket())
}

/// The setpriv arguments for user nobody, group nogroup, no other groups.
const NOBODY: &[&str] = &["--reuid", "nobody", "--regid", "nogroup", "--clear-groups"];

/// `tend ARGS --socket SOCK` as user nobody (group nogroup, no other groups).
fn as_nobody(dir: &TestDir, args: &[&str]) -> CtlOut {
    as_user(dir, NOBODY, args)
}

/// `tend ARGS --socket SOCK` with the credentials `ids` (setpriv arguments).
fn as_user(dir: &TestDir, ids: &[&str], args: &[&str]) -> CtlOut {
    let mut cmd = Command::new("setpriv");
    cmd.args(ids).arg(TEND);
    cmd.args(args).arg("--socket").arg(dir.join("tend.sock"));
    cmd.current_dir("/");
    cmd.env(MARKER_VAR, dir.s());
    cmd.stdin(std::process::Stdio::null());
    run_output(cmd, DEADLINE)
}

/// Whether the user-switching tests can run here; says why not when they cannot.
fn can_switch_to_nobody(test: &str, dir: &TestDir) -> bool {
    if !is_root() {
        skip(test, "needs root to run the client as user nobody");
        return false;
    }
    // nobody must reach the socket through the file system, so that what refuses it is
    // tend's SO_PEERCRED check and not the kernel.
    let mut cmd = Command::new("setpriv");
    cmd.args(NOBODY).args(["sh", "-c"]);
    cmd.arg(format!("test -w '{}' && test -x '{TEND}'", dir.join("tend.sock").display()));
    match cmd.status() {
        Ok(st) if st.success() => true,
        Ok(_) => {
            skip(test, &format!("user nobody cannot reach {} or run {TEND}", dir.join("tend.sock").display()));
            false
        }
        Err(e) => {
            skip(test, &format!("setpriv: {e}"));
            false
        }
    }
}

#[test]
fn the_socket_is_0600_in_a_0700_directory_made_for_it() {
    let dir = TestDir::new("ctl-mode");
    let sock = dir.join("run/tend/ctl.sock");
    let s = sock.to_str().expect("utf-8");
    // --socket wins over $TEND_SOCKET.
    let tend = Tend::start_custom(&dir, &sleeper(&dir, "web", ""), &["--socket", s], Some(&dir.join("tend.sock")));
    tend.wait_socket(&sock);
    assert!(is_socket(&sock), "{} is not a socket", sock.display());
    assert_eq!(mode(&sock), 0o600, "socket mode");
    assert_eq!(mode(&dir.join("run/tend")), 0o700, "mode of the directory created for the socket");
    assert_eq!(mode(&dir.join("run")), 0o700, "mode of the directory created for the socket");
    assert_eq!(mode(&dir.join("run/tend/ctl.sock.lock")), 0o600, "lock file mode");
    assert!(!dir.join("tend.sock").exists(), "$TEND_SOCKET was used despite --socket");
    let o = ctl_ok(&dir, &["ls", "--socket", s]);
    assert!(o.out.contains("web"), "{}", o.show());
    // An existing directory is left as it is.
    assert_eq!(mode(dir.path()), 0o777);
}

#[test]
fn the_socket_path_comes_from_the_flag_then_the_environment_then_the_config() {
    let dir = TestDir::new("ctl-path");
    let flag_sock = dir.join("from-flag.sock");
    let env_sock = dir.join("tend.sock");
    let cfg_sock = dir.join("from-config.sock");
    let cfg = format!("[control]\nsocket = \"{}\"\n{}", cfg_sock.display(), sleeper(&dir, "web", ""));
    // All three given: the flag's.
    let flag = ["--socket", flag_sock.to_str().expect("utf-8")];
    let tend = Tend::start_custom(&dir, &cfg, &flag, Some(&env_sock));
    tend.wait_socket(&flag_sock);
    assert!(!env_sock.exists(), "$TEND_SOCKET was used despite --socket");
    assert!(!cfg_sock.exists(), "the config's socket was used despite --socket");
    dir.wait_pid("web.pid");
    drop(tend);
    std::fs::remove_file(dir.join("web.pid")).expect("rm web.pid");
    // $TEND_SOCKET beats the config.
    let tend = Tend::start(&dir, &cfg);
    tend.wait_socket(&env_sock);
    assert!(!cfg_sock.exists(), "the config's socket was used despite $TEND_SOCKET");
    dir.wait_pid("web.pid");
    drop(tend);
    std::fs::remove_file(dir.join("web.pid")).expect("rm web.pid");
    // Without either, the config's.
    let tend = Tend::start_custom(&dir, &cfg, &[], None);
    tend.wait_socket(&cfg_sock);
    let o = ctl_ok(&dir, &["version", "--json", "--socket", cfg_sock.to_str().expect("utf-8")]);
    assert_eq!(o.json_lines()[0]["daemon"]["pid"], tend.pid, "{}", o.show());
    // Services are told where it is.
    let web = dir.wait_pid("web.pid");
    let env = std::fs::read(format!("/proc/{web}/environ")).expect("environ");
    let want = format!("TEND_SOCKET={}", cfg_sock.display());
    assert!(env.split(|&b| b == 0).any(|e| e == want.as_bytes()), "the service has no {want}");
}

#[test]
fn a_configured_mode_and_group_are_applied() {
    let dir = TestDir::new("ctl-mode-0660");
    let group = if is_root() { "group = \"nogroup\"\n" } else { "" };
    let _tend = start(&dir, &format!("[control]\nmode = \"0660\"\n{group}{}", sleeper(&dir, "web", "")));
    let sock = dir.join("tend.sock");
    assert_eq!(mode(&sock), 0o660);
    if is_root() {
        let gid = std::fs::metadata(&sock).expect("stat").gid();
        assert_eq!(gid, 65534, "control.group = nogroup was not applied");
    } else {
        skip("a_configured_mode_and_group_are_applied", "the group part needs root (chown)");
    }
}

#[test]
fn a_user_not_allowed_is_refused_by_peer_credentials() {
    const TEST: &str = "a_user_not_allowed_is_refused_by_peer_credentials";
    let dir = TestDir::new("ctl-deny");
    let _tend = start(&dir, &format!("[control]\nmode = \"0666\"\n{}", sleeper(&dir, "web", "")));
    if !can_switch_to_nobody(TEST, &dir) {
        return;
    }
    let web = dir.wait_pid("web.pid");
    let changing: [&[&str]; 5] =
        [&["stop", "web"], &["restart", "web"], &["signal", "web", "KILL"], &["reload"], &["shutdown"]];
    for args in [&["ls"][..], &["ls", "--json"], &["events", "-f"]].into_iter().chain(changing) {
        let o = as_nobody(&dir, args);
        assert_eq!(o.code, Some(6), "nobody: tend {}\n{}", args.join(" "), o.show());
        assert!(o.err.contains("uid 65534") && o.err.contains("not allowed"), "not tend's refusal\n{}", o.show());
        assert_eq!(o.out, "", "{}", o.show());
    }
    assert!(support::alive(web), "a refused client stopped the service");
    assert_eq!(dir.read_pid("web.pid"), Some(web), "a refused client restarted the service");
    // Nothing changed: no event but the service's start.
    let evs = ctl_ok(&dir, &["events", "--json"]).json_lines();
    assert!(evs.iter().all(|e| e["requestor"]["uid"] != 65534), "{evs:?}");
    assert!(evs.iter().all(|e| e["kind"] != "reload" && e["kind"] != "shutdown" && e["kind"] != "signal"), "{evs:?}");
    ctl_ok(&dir, &["ls"]);
}

#[test]
fn allow_uids_lets_that_user_in() {
    const TEST: &str = "allow_uids_lets_that_user_in";
    let dir = TestDir::new("ctl-allow-uid");
    let cfg = format!("[control]\nmode = \"0666\"\nallow_uids = [\"nobody\"]\n{}", sleeper(&dir, "web", ""));
    let _tend = start(&dir, &cfg);
    if !can_switch_to_nobody(TEST, &dir) {
        return;
    }
    let o = as_nobody(&dir, &["ls"]);
    assert_eq!(o.code, Some(0), "{}", o.show());
    assert!(o.out.contains("web"), "{}", o.show());
    // What nobody does is recorded as nobody's.
    let o = as_nobody(&dir, &["stop", "web"]);
    assert_eq!(o.code, Some(0), "{}", o.show());
    let evs = ctl_ok(&dir, &["events", "--json"]).json_lines();
    let e = evs
        .iter()
        .find(|e| e["service"] == "web" && e["to"] == "stopping")
        .unwrap_or_else(|| panic!("no stop event: {evs:?}"));
    assert_eq!((&e["requestor"]["uid"], &e["requestor"]["gid"]), (&Value::from(65534), &Value::from(65534)), "{e}");
    // setpriv execs tend: the client's pid is the one this test started.
    assert_eq!(e["requestor"]["pid"], o.pid, "{e}");
}

#[test]
fn allow_gids_lets_that_group_in() {
    const TEST: &str = "allow_gids_lets_that_group_in";
    let dir = TestDir::new("ctl-allow-gid");
    let cfg = format!("[control]\nmode = \"0666\"\nallow_gids = [\"nogroup\"]\n{}", sleeper(&dir, "web", ""));
    let _tend = start(&dir, &cfg);
    if !can_switch_to_nobody(TEST, &dir) {
        return;
    }
    let o = as_nobody(&dir, &["ls", "--json"]);
    assert_eq!(o.code, Some(0), "{}", o.show());
    assert_eq!(o.json_lines()[0][0]["name"], "web", "{}", o.show());
}

#[test]
fn a_second_tend_on_the_same_socket_is_refused() {
    let dir = TestDir::new("ctl-second");
    let tend = start(&dir, &sleeper(&dir, "web", ""));
    let web = dir.wait_pid("web.pid");
    dir.write("second.toml", &sleeper(&dir, "second", ""));

    let second = dir.join("second.toml");
    let o = run_output(ctl_command(&dir, &["run", "-c", second.to_str().expect("utf-8")]), DEADLINE);
    assert_ne!(o.code, Some(0), "a second tend started on a live socket\n{}", o.show());
    assert!(o.code.is_some(), "the second tend was killed\n{}", o.show());
    let sock = dir.join("tend.sock").display().to_string();
    assert!(o.err.contains("another tend is running") && o.err.contains(&sock), "unclear refusal\n{}", o.show());
    assert!(!dir.join("second.pid").exists(), "the refused tend started its services");

    // The first goes on, on its socket.
    assert!(is_socket(&dir.join("tend.sock")));
    let o = ctl_ok(&dir, &["version", "--json"]);
    assert_eq!(o.json_lines()[0]["daemon"]["pid"], tend.pid, "{}", o.show());
    assert!(support::alive(web));
}

#[test]
fn a_stale_socket_is_replaced() {
    let dir = TestDir::new("ctl-stale");
    let sock = dir.join("tend.sock");
    let mut first = start(&dir, &sleeper(&dir, "web", ""));
    first.signal(libc::SIGKILL);
    assert!(first.wait_timeout(DEADLINE).is_some(), "tend did not die of SIGKILL");
    assert!(is_socket(&sock), "the SIGKILLed tend left no socket file: nothing to test");
    let o = ctl(&dir, &["ls"]);
    assert_eq!(o.code, Some(5), "{}", o.show());
    assert!(o.err.contains("not running"), "{}", o.show());
    drop(first);

    let second = start(&dir, &sleeper(&dir, "web", ""));
    let o = ctl_ok(&dir, &["version", "--json"]);
    assert_eq!(o.json_lines()[0]["daemon"]["pid"], second.pid, "{}", o.show());
    assert_eq!(mode(&sock), 0o600);
}

#[test]
fn a_file_that_is_not_a_socket_is_not_replaced() {
    let dir = TestDir::new("ctl-notsock");
    dir.write("tend.sock", "precious\n");
    let mut tend = Tend::start(&dir, &sleeper(&dir, "web", ""));
    let code = tend.exit_code();
    assert_ne!(code, 0, "{}", tend.dump());
    assert!(tend.err.text().contains("not a socket"), "{}", tend.dump());
    assert_eq!(dir.read("tend.sock"), "precious\n", "tend replaced a regular file");
    assert!(!dir.join("web.pid").exists());
}

/// The inode of the listening socket bound at `path`, from /proc/net/unix.
fn listener_inode(path: &Path) -> Option<u64> {
    let table = std::fs::read_to_string("/proc/net/unix").ok()?;
    let p = path.to_str()?;
    table.lines().skip(1).find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        // Num RefCount Protocol Flags Type St Inode Path; St 01 is listening.
        (f.len() == 8 && f[7] == p && f[5] == "01").then(|| f[6].parse().ok()).flatten()
    })
}

/// The targets of /proc/PID/fd/*.
fn fd_links(pid: i32) -> Vec<(String, String)> {
    let Ok(rd) = std::fs::read_dir(format!("/proc/{pid}/fd")) else { return Vec::new() };
    rd.filter_map(|e| {
        let e = e.ok()?;
        let t = std::fs::read_link(e.path()).ok()?;
        Some((e.file_name().to_string_lossy().into_owned(), t.to_string_lossy().into_owned()))
    })
    .collect()
}

#[test]
fn services_do_not_inherit_the_control_socket() {
    let dir = TestDir::new("ctl-nofd");
    let cfg = [sleeper(&dir, "early", ""), sleeper(&dir, "late", "autostart = false\n")].concat();
    let tend = start(&dir, &cfg);
    let sock: PathBuf = dir.join("tend.sock");
    let inode = listener_inode(&sock).unwrap_or_else(|| panic!("{} is not in /proc/net/unix", sock.display()));
    let mine = format!("socket:[{inode}]");
    assert!(
        fd_links(tend.pid).iter().any(|(_, t)| *t == mine),
        "tend itself does not hold {mine}: the check below would prove nothing"
    );
    // `late` starts while clients are connected: their connections are open in tend.
    let mut held = Raw::connect(&sock);
    held.hello();
    ctl_ok(&dir, &["start", "late"]);
    for name in ["early", "late"] {
        let pid = dir.wait_pid(&format!("{name}.pid"));
        // The service's own start-up opens and closes files (sleep reads
        // /etc/locale.alias): wait for that to pass. An fd inherited from tend stays.
        poll_until(DEADLINE, || {
            fd_links(pid).iter().all(|(n, t)| ["0", "1", "2"].contains(&n.as_str()) || t.starts_with("socket:"))
        });
        let fds = fd_links(pid);
        assert!(fds.len() >= 3, "{name}: cannot read /proc/{pid}/fd: {fds:?}");
        let sockets: Vec<&(String, String)> = fds.iter().filter(|(_, t)| t.starts_with("socket:")).collect();
        assert!(sockets.is_empty(), "{name} (pid {pid}) holds sockets of tend's: {sockets:?} (listener {mine})");
        let extra: Vec<&(String, String)> =
            fds.iter().filter(|(n, _)| !["0", "1", "2"].contains(&n.as_str())).collect();
        assert!(extra.is_empty(), "{name} (pid {pid}) has fds beyond 0, 1, 2: {extra:?}");
    }
}

/// nobody with primary group 12345 (no name needed) and nogroup as a supplementary one.
const NOBODY_IN_NOGROUP: &[&str] = &["--reuid", "nobody", "--regid", "12345", "--groups", "65534"];

#[test]
fn allow_gids_covers_supplementary_groups() {
    const TEST: &str = "allow_gids_covers_supplementary_groups";
    let dir = TestDir::new("ctl-allow-supp");
    let cfg = format!("[control]\nmode = \"0666\"\nallow_gids = [\"nogroup\"]\n{}", sleeper(&dir, "web", ""));
    let _tend = start(&dir, &cfg);
    if !can_switch_to_nobody(TEST, &dir) {
        return;
    }
    let o = as_user(&dir, NOBODY_IN_NOGROUP, &["ls"]);
    assert_eq!(o.code, Some(0), "a supplementary member of an allowed group was refused\n{}", o.show());
    // Without the group: refused by tend.
    let o = as_user(&dir, &["--reuid", "nobody", "--regid", "12345", "--clear-groups"], &["ls"]);
    assert_eq!(o.code, Some(6), "{}", o.show());
    assert!(o.err.contains("not allowed"), "{}", o.show());
}

#[test]
fn members_of_the_socket_group_are_let_in() {
    const TEST: &str = "members_of_the_socket_group_are_let_in";
    let dir = TestDir::new("ctl-group");
    let cfg = format!("[control]\nmode = \"0660\"\ngroup = \"nogroup\"\n{}", sleeper(&dir, "web", ""));
    let _tend = start(&dir, &cfg);
    if !is_root() {
        skip(TEST, "needs root to run the client as user nobody");
        return;
    }
    // As the primary group and as a supplementary one.
    for ids in [NOBODY, NOBODY_IN_NOGROUP] {
        let o = as_user(&dir, ids, &["ls"]);
        assert_eq!(o.code, Some(0), "setpriv {ids:?}: a member of control.group was refused\n{}", o.show());
    }
    // Not a member: the file mode already keeps it out (EACCES), exit 6 all the same.
    let o = as_user(&dir, &["--reuid", "nobody", "--regid", "12345", "--clear-groups"], &["ls"]);
    assert_eq!(o.code, Some(6), "{}", o.show());
}

#[test]
fn a_relative_socket_path_is_made_absolute_for_services() {
    let dir = TestDir::new("ctl-relative");
    // A service that uses the control plane itself, from another directory.
    let cfg = format!(
        "[service.peek]\ncommand = \"cd / && {TEND} ls > {d}/peek.out 2>&1; echo $TEND_SOCKET > {d}/peek.env; \
         exec sleep 1000\"\n",
        d = dir.s()
    );
    let tend = Tend::start_custom(&dir, &cfg, &["--socket", "rel/ctl.sock"], None);
    let sock = dir.join("rel/ctl.sock");
    tend.wait_socket(&sock);
    wait_until(DEADLINE, "the service's tend ls", || dir.read("peek.env").ends_with('\n'));
    assert_eq!(dir.read("peek.env").trim_end(), sock.display().to_string(), "TEND_SOCKET is not absolute");
    let out = dir.read("peek.out");
    assert!(out.starts_with("NAME") && out.contains("peek"), "tend ls from within a service:\n{out}");
}
