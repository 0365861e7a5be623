//! `tend import procfile FILE`: the built binary on a multi-process Procfile (a Rails
//! application's, tests/data/import/Procfile), on broken ones, and a generated config
//! run by `tend run` with foreman's PORT numbering.
//!
//! Every generated file is read by tend's own config parser.

mod support;

use std::path::Path;

use support::{import, import_data, wait_until, Tend, TestDir, DEADLINE};

#[track_caller]
fn tend_accepts(text: &str) -> tend::config::Config {
    tend::config::parse_str(text, Path::new("imported.toml")).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

#[test]
fn rails_procfile() {
    let (code, out, err) = import(&import_data(), &["procfile", "Procfile"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        err,
        "Procfile:8: not imported: \"webpack bin/webpack-dev-server\": not a `NAME: COMMAND` line (NAME of letters, \
         digits, _ and - at the start of the line); foreman and honcho skip it too\n\
         tend: imported 4 services from Procfile: 1 not imported, 0 changed (see the comments)\n"
    );
    assert!(
        out.contains("\n# not imported: Procfile:8: \"webpack bin/webpack-dev-server\": not a `NAME: COMMAND` line")
    );
    // Everything but the release phase waits for it to complete.
    assert_eq!(out.lines().filter(|l| *l == "depends_on = { release = \"completed\" }").count(), 3, "{out}");
    let cfg = tend_accepts(&out);
    let dir = std::fs::canonicalize(import_data()).unwrap();
    let names: Vec<&str> = cfg.services.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["web", "worker", "release", "clock"]);
    for s in &cfg.services {
        assert_eq!(s.command[..2], ["/bin/sh", "-c"]);
        assert_eq!(std::fs::canonicalize(s.cwd.as_ref().unwrap()).unwrap(), dir);
        assert!(s.kill_group, "{}", s.name);
    }
    let svc = |n: &str| cfg.services.iter().find(|s| s.name == n).unwrap();
    assert_eq!(svc("web").command[2], "export PORT=\"${PORT:-5000}\"; bundle exec puma -C config/puma.rb");
    assert_eq!(
        svc("worker").command[2],
        "export PORT=$((${PORT:-5000} + 100)); bundle exec sidekiq -C config/sidekiq.yml"
    );
    assert_eq!(svc("web").restart, tend::config::Restart::Always);
    assert_eq!(svc("release").restart, tend::config::Restart::Never);
    assert!(svc("release").essential);
    let completed =
        [tend::config::Dependency { service: "release".into(), condition: tend::config::Condition::Completed }];
    assert_eq!(svc("web").depends_on, completed);
    assert_eq!(svc("clock").depends_on, completed);
    assert!(svc("release").depends_on.is_empty());
}

#[test]
fn bad_procfiles() {
    let dir = TestDir::new("import-procfile-errors");
    dir.write("Procfile", "web: a\n\nworker: b\nweb: c\n");
    let (code, out, err) = import(dir.path(), &["procfile", "Procfile"]);
    assert_eq!((code, out.as_str()), (78, ""));
    assert_eq!(err, "tend: Procfile:4: process type \"web\" is already defined on line 1\n");
    dir.write("Empty", "# only comments\n\nnot an entry\n");
    let (code, out, err) = import(dir.path(), &["procfile", "Empty"]);
    assert_eq!((code, out.as_str()), (78, ""));
    assert_eq!(err, "tend: Empty: no process type (a line `NAME: COMMAND`): nothing to import\n");
    let (code, _, err) = import(dir.path(), &["procfile", "Nope"]);
    assert_eq!(code, 78);
    assert!(err.starts_with("tend: Nope: cannot read: No such file or directory"), "{err}");
    // A .env beside the Procfile is reported, not read.
    dir.write("Procfile", "web: a\n");
    dir.write(".env", "SECRET=x\n");
    let (code, out, err) = import(dir.path(), &["procfile", "Procfile"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.starts_with(&format!("{}: not imported: foreman and honcho load this file", dir.join(".env").display())),
        "{err}"
    );
    assert!(out.contains("# not imported: "), "{out}");
    assert!(!out.contains("SECRET"), "{out}");
}

/// The generated config runs: each process type in the Procfile's directory with
/// foreman's PORT (base 5000, +100 per process type), through the shell.
#[test]
fn generated_config_runs() {
    let dir = TestDir::new("import-procfile-run");
    dir.write(
        "Procfile",
        "web: echo \"web $PORT $PWD\" > web.out && exec sleep 1000\n\
         worker: echo \"worker $PORT\" > worker.out; exec sleep 1000\n",
    );
    let (code, toml, err) = import(dir.path(), &["procfile", "Procfile"]);
    assert_eq!(code, 0, "{err}");
    tend_accepts(&toml);
    let base: u32 = std::env::var("PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(5000);
    let mut tend = Tend::start(&dir, &toml);
    wait_until(DEADLINE, "web.out", || dir.read("web.out").ends_with('\n'));
    wait_until(DEADLINE, "worker.out", || dir.read("worker.out").ends_with('\n'));
    assert_eq!(dir.read("web.out"), format!("web {base} {}\n", dir.s()), "{}", tend.dump());
    assert_eq!(dir.read("worker.out"), format!("worker {}\n", base + 100));
    tend.signal(libc::SIGTERM);
    assert_eq!(tend.exit_code(), 0, "{}", tend.dump());
}

/// The release phase runs to completion before the other process types start.
#[test]
fn release_runs_first() {
    let dir = TestDir::new("import-procfile-release");
    dir.write(
        "Procfile",
        "web: if [ -f migrated ]; then echo after > web.out; else echo before > web.out; fi; exec sleep 1000\n\
         release: sleep 0.3; touch migrated\n",
    );
    let (code, toml, err) = import(dir.path(), &["procfile", "Procfile"]);
    assert_eq!(code, 0, "{err}");
    tend_accepts(&toml);
    let mut tend = Tend::start(&dir, &toml);
    wait_until(DEADLINE, "web.out", || dir.read("web.out").ends_with('\n'));
    assert_eq!(dir.read("web.out"), "after\n", "{}", tend.dump());
    tend.signal(libc::SIGTERM);
    assert_eq!(tend.exit_code(), 0, "{}", tend.dump());
}
