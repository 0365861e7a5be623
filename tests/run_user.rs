//! `user` / `group`: the service runs with the user's uid, gid and supplementary groups
//! (root's groups dropped), and HOME, USER and LOGNAME of a named user. Needs root.

mod support;

use std::collections::BTreeSet;
use std::process::Command;

use support::{is_root, skip, Tend, TestDir};

/// The value printed as `KEY=value` by a service.
fn value(lines: &[String], key: &str) -> String {
    let k = format!("{key}=");
    lines.iter().find_map(|l| l.strip_prefix(&k)).unwrap_or_else(|| panic!("no {key}= in {lines:?}")).to_string()
}

fn id_set(s: &str) -> BTreeSet<u32> {
    s.split_whitespace().map(|g| g.parse().unwrap_or_else(|e| panic!("group {g:?}: {e}"))).collect()
}

/// Print the identity as KEY=value lines, then mark the end.
const REPORT: &str = "echo uid=$(id -u); echo gid=$(id -g); \
                      echo groups=$(sed -n 's/^Groups:[[:space:]]*//p' /proc/self/status); \
                      echo HOME=$HOME; echo USER=$USER; echo LOGNAME=$LOGNAME; \
                      touch $TEND_TEST_MARKER/$TEND_SERVICE.file; echo end";

#[test]
fn runs_as_nobody() {
    if !is_root() {
        skip("runs_as_nobody", "switching users needs root (euid is not 0)");
        return;
    }
    let getent = Command::new("getent").args(["passwd", "nobody"]).output().expect("getent");
    let entry = String::from_utf8_lossy(&getent.stdout).trim().to_string();
    let f: Vec<&str> = entry.split(':').collect();
    assert!(f.len() >= 7, "no passwd entry for nobody: {entry:?}");
    let (uid, gid, home) = (f[2].to_string(), f[3].to_string(), f[5].to_string());
    let groups = Command::new("id").args(["-G", "nobody"]).output().expect("id -G nobody");
    let want_groups = id_set(&String::from_utf8_lossy(&groups.stdout));

    let dir = TestDir::new("user-nobody");
    let cfg = format!(
        "[service.who]\ncommand = \"{REPORT}\"\nuser = \"nobody\"\nrestart = \"never\"\n\
         [service.num]\ncommand = \"{REPORT}\"\nuser = 4321\nrestart = \"never\"\n\
         [service.grp]\ncommand = \"{REPORT}\"\nuser = \"nobody\"\ngroup = \"4322\"\nrestart = \"never\"\n\
         [service.keeper]\ncommand = [\"sleep\", \"1000\"]\n"
    );
    let mut tend = Tend::start(&dir, &cfg);
    for name in ["who", "num", "grp"] {
        tend.wait_out(&format!("{name:<6} | end"));
    }
    // The lines a service printed, without the `NAME | ` prefix (padded to "keeper").
    let out = |name: &str| -> Vec<String> {
        let prefix = format!("{name:<6} | ");
        tend.out.snapshot().iter().filter_map(|l| l.strip_prefix(&prefix).map(String::from)).collect()
    };

    let who = out("who");
    assert_eq!(value(&who, "uid"), uid, "{who:?}");
    assert_eq!(value(&who, "gid"), gid, "{who:?}");
    assert_eq!(id_set(&value(&who, "groups")), want_groups, "supplementary groups: {who:?}");
    assert_eq!(value(&who, "HOME"), home, "{who:?}");
    assert_eq!(value(&who, "USER"), "nobody", "{who:?}");
    assert_eq!(value(&who, "LOGNAME"), "nobody", "{who:?}");
    let meta = std::fs::metadata(dir.join("who.file")).expect("who.file");
    assert_eq!(std::os::unix::fs::MetadataExt::uid(&meta).to_string(), uid, "file owner");

    // A bare uid: its gid is the same number and it has no other group.
    let num = out("num");
    assert_eq!(value(&num, "uid"), "4321", "{num:?}");
    assert_eq!(value(&num, "gid"), "4321", "{num:?}");
    assert_eq!(value(&num, "groups"), "4321", "root's groups must be dropped: {num:?}");

    // A group override.
    let grp = out("grp");
    assert_eq!(value(&grp, "uid"), uid, "{grp:?}");
    assert_eq!(value(&grp, "gid"), "4322", "{grp:?}");
    assert!(id_set(&value(&grp, "groups")).contains(&4322), "{grp:?}");
    assert!(!id_set(&value(&grp, "groups")).contains(&0), "root's group kept: {grp:?}");

    for name in ["who", "num", "grp"] {
        assert_eq!(tend.wait_transition(name, "exited").reason, "exited with status 0");
    }
    tend.signal(libc::SIGTERM);
    assert_eq!(tend.exit_code(), 0, "{}", tend.dump());
    tend.assert_no_leftovers();
}
