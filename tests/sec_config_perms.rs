//! Security (issue 9): `tend run` as root refuses a config file that another user can
//! write (writable by others, by a group other than root's, or owned by another uid):
//! exit 78 and the reason, nothing started. `TEND_ALLOW_INSECURE_CONFIG=1` turns the
//! refusal into a warning. A reload of a file made insecure meanwhile is refused and
//! the running configuration kept. Needs root.

mod support;

use std::os::unix::fs::PermissionsExt;

use support::{ctl, is_root, Opts, Tend, TestDir};

/// DIR/tend.toml made beforehand with `mode` (and `owner`), so that the helper's
/// write of the same text keeps them.
fn prepare(dir: &TestDir, cfg: &str, mode: u32, owner: Owner) {
    let path = dir.join("tend.toml");
    std::fs::write(&path, cfg).expect("write");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    if let Some((u, g)) = owner {
        std::os::unix::fs::chown(&path, Some(u), Some(g)).expect("chown");
    }
}

/// A file's owner to set, uid and gid (None: as created).
type Owner = Option<(u32, u32)>;

fn config(dir: &TestDir) -> String {
    format!("[service.web]\ncommand = \"touch {d}/started; exec sleep 1000\"\n", d = dir.s())
}

#[test]
fn root_refuses_a_config_others_can_write() {
    if !is_root() {
        support::skip("root_refuses_a_config_others_can_write", "the check applies to a tend running as root");
        return;
    }
    // (mode, owner uid:gid, what the message says)
    let cases: [(u32, Owner, &str); 4] = [
        (0o666, None, "writable by others (mode 0666)"),
        (0o646, None, "writable by others (mode 0646)"),
        (0o664, Some((0, 4242)), "writable by its group (mode 0664)"),
        (0o644, Some((4242, 0)), "owned by uid 4242, not root"),
    ];
    for (i, (mode, owner, why)) in cases.into_iter().enumerate() {
        let dir = TestDir::new(&format!("sec-config-{i}"));
        let cfg = config(&dir);
        prepare(&dir, &cfg, mode, owner);
        let mut tend = Tend::start(&dir, &cfg);
        assert_eq!(tend.exit_code(), 78, "mode {mode:o}: {}", tend.dump());
        let err = tend.err.text();
        assert!(err.contains(why) && err.contains("TEND_ALLOW_INSECURE_CONFIG=1"), "mode {mode:o}: {err}");
        assert!(err.contains(&dir.join("tend.toml").display().to_string()), "{err}");
        assert!(!dir.join("started").exists(), "a service started from an insecure config");
    }
    // Group-writable is fine when the group is root's (an image built from a checkout
    // made with umask 002).
    let dir = TestDir::new("sec-config-root-group");
    let cfg = config(&dir);
    prepare(&dir, &cfg, 0o664, Some((0, 0)));
    let _tend = support::start_serving(&dir, &cfg);
    support::wait_until(support::DEADLINE, "the service", || dir.join("started").exists());
}

#[test]
fn the_override_makes_it_a_warning() {
    if !is_root() {
        support::skip("the_override_makes_it_a_warning", "the check applies to a tend running as root");
        return;
    }
    let dir = TestDir::new("sec-config-override");
    let cfg = config(&dir);
    prepare(&dir, &cfg, 0o666, None);
    let opts = Opts { wrap: vec!["env".into(), "TEND_ALLOW_INSECURE_CONFIG=1".into()], ..Opts::default() };
    let tend = Tend::start_with(&dir, &cfg, opts);
    let w = tend.wait_err("tend: warning: ");
    assert!(w.contains("writable by others (mode 0666)") && w.contains("used anyway"), "{w}");
    support::wait_until(support::DEADLINE, "the service", || dir.join("started").exists());
    // Any other value is not the override.
    let dir = TestDir::new("sec-config-override-2");
    let cfg = config(&dir);
    prepare(&dir, &cfg, 0o666, None);
    let opts = Opts { wrap: vec!["env".into(), "TEND_ALLOW_INSECURE_CONFIG=yes".into()], ..Opts::default() };
    let mut tend = Tend::start_with(&dir, &cfg, opts);
    assert_eq!(tend.exit_code(), 78, "{}", tend.dump());
}

#[test]
fn a_reload_of_a_file_made_insecure_is_refused() {
    if !is_root() {
        support::skip("a_reload_of_a_file_made_insecure_is_refused", "the check applies to a tend running as root");
        return;
    }
    let dir = TestDir::new("sec-config-reload");
    let cfg = config(&dir);
    let tend = support::start_serving(&dir, &cfg);
    support::wait_until(support::DEADLINE, "the service", || dir.join("started").exists());
    let more = format!("{cfg}[service.more]\ncommand = \"touch {d}/more; exec sleep 1000\"\n", d = dir.s());
    std::fs::write(&tend.config, &more).expect("write");
    std::fs::set_permissions(&tend.config, std::fs::Permissions::from_mode(0o666)).expect("chmod");
    let o = ctl(&dir, &["reload"]);
    assert_eq!(o.code, Some(1), "{}", o.show());
    assert!(o.err.contains("writable by others"), "{}", o.show());
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(!dir.join("more").exists(), "a service was added from an insecure file");
    // Fixed, it reloads.
    std::fs::set_permissions(&tend.config, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    support::ctl_ok(&dir, &["reload"]);
    support::wait_until(support::DEADLINE, "the added service", || dir.join("more").exists());
}
