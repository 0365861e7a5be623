//! `tend import supervisord FILE`: the built binary on realistic supervisord.conf files
//! (tests/data/import/), on broken ones, and a generated config run by `tend run`.
//!
//! Every generated file is read by tend's own config parser.

mod support;

use std::path::Path;

use support::{import, import_data, parse_transition, wait_until, Tend, TestDir, DEADLINE};

/// tend's config parser accepts the output.
#[track_caller]
fn tend_accepts(text: &str) -> tend::config::Config {
    tend::config::parse_str(text, Path::new("imported.toml")).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// Every `# not imported:` / `# note:` comment of the output is a stderr line (and the
/// other way round), each with FILE:LINE.
#[track_caller]
fn notes_match(out: &str, err: &str) -> Vec<String> {
    let mut from_out: Vec<String> = out
        .lines()
        .filter_map(|l| {
            let (label, rest) = l
                .strip_prefix("# not imported: ")
                .map(|r| ("not imported", r))
                .or_else(|| l.strip_prefix("# note: ").map(|r| ("note", r)))?;
            let (place, text) = rest.split_once(": ")?;
            Some(format!("{place}: {label}: {text}"))
        })
        .collect();
    let mut from_err: Vec<String> = err.lines().filter(|l| !l.starts_with("tend: ")).map(str::to_string).collect();
    for l in &from_err {
        let place = l.split(": ").next().unwrap_or("");
        let line = place.rsplit(':').next().unwrap_or("");
        assert!(line.parse::<usize>().is_ok_and(|n| n > 0), "no FILE:LINE in {l:?}");
    }
    from_out.sort();
    from_err.sort();
    assert_eq!(from_out, from_err, "comments and stderr differ");
    from_err
}

#[test]
fn realistic_config_with_includes() {
    let (code, out, err) = import(&import_data(), &["supervisord", "supervisord.conf"]);
    assert_eq!(code, 0, "{err}");
    let notes = notes_match(&out, &err);
    for n in [
        "supervisord.conf:8: not imported: [unix_http_server] chown = nobody:nogroup",
        "supervisord.conf:12: not imported: [supervisord] logfile = /var/log/supervisor/supervisord.log",
        "supervisord.conf:13: not imported: [supervisord] pidfile",
        "supervisord.conf:23: not imported: [rpcinterface:supervisor]",
        "supervisord.conf:26: not imported: [supervisorctl]",
        "conf.d/app.conf:29: note: [program:celery] process_name = %(program_name)s_%(process_num)02d: tend names the instances celery.0 to celery.1",
        "conf.d/app.conf:37: note: [program:celery] stderr_logfile",
        "conf.d/app.conf:57: not imported: [program:nginx] stdout_events_enabled = true",
        "conf.d/app.conf:66: not imported: [eventlistener:crashmail]",
    ] {
        assert!(notes.iter().any(|l| l.starts_with(n)), "missing {n:?} in\n{err}");
    }
    assert_eq!(notes.len(), 11, "{err}");
    assert!(
        err.ends_with(
            "tend: imported 6 services from supervisord.conf: 9 not imported, 2 changed (see the comments)\n"
        ),
        "{err}"
    );

    // The keys of log files, merged separately, as text.
    for line in [
        "log_dir = \"/var/log/app\"",
        "log = { file = true, max_size = \"10MiB\", keep = 5 }",
        "log = { file = true, max_size = \"50MiB\", keep = 10 }",
    ] {
        assert!(out.lines().any(|l| l == line), "no line {line:?} in\n{out}");
    }
    let cfg = tend_accepts(&out);
    let names: Vec<&str> = cfg.services.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["redis", "gunicorn", "celery.0", "celery.1", "celerybeat", "nginx", "flower"]);
    let svc = |n: &str| cfg.services.iter().find(|s| s.name == n).unwrap();
    // priority 10 < 100 < 200 (celery, celerybeat) < 900; flower does not autostart.
    let deps = |n: &str| -> Vec<String> {
        svc(n)
            .depends_on
            .iter()
            .map(|d| {
                assert_eq!(d.condition, tend::config::Condition::Started);
                d.service.clone()
            })
            .collect()
    };
    assert!(deps("redis").is_empty());
    assert_eq!(deps("gunicorn"), ["redis"]);
    assert_eq!(deps("celery.0"), ["gunicorn"]);
    assert_eq!(deps("celerybeat"), ["gunicorn"]);
    assert_eq!(deps("nginx"), ["celery", "celerybeat"]);
    assert!(deps("flower").is_empty());
    assert_eq!(svc("redis").command, ["/usr/bin/redis-server", "/etc/redis/redis.conf", "--daemonize", "no"]);
    assert_eq!(svc("redis").stderr, tend::config::Output::Stdout);
    let gunicorn = svc("gunicorn");
    assert_eq!(gunicorn.command[..2], ["/bin/sh", "-c"]);
    assert_eq!(
        gunicorn.command[2],
        "exec /srv/app/venv/bin/gunicorn app.wsgi:application --bind unix:/run/app/gunicorn.sock --workers 4 \
         --log-level \"${LOG_LEVEL?}\""
    );
    assert_eq!(gunicorn.restart, tend::config::Restart::Always);
    assert_eq!(gunicorn.stop_signal, libc::SIGQUIT);
    assert_eq!(gunicorn.stop_timeout, std::time::Duration::from_secs(30));
    assert!(gunicorn.kill_group);
    assert_eq!(gunicorn.start_limit.burst, 4);
    assert_eq!(gunicorn.backoff.reset_after, std::time::Duration::from_secs(5));
    assert!(gunicorn.env.contains(&("PYTHONUNBUFFERED".into(), "1".into())));
    assert!(gunicorn.env.contains(&("DJANGO_SETTINGS_MODULE".into(), "app.settings.production".into())));
    assert_eq!(gunicorn.cwd.as_deref(), Some(Path::new("/srv/app")));
    assert_eq!(gunicorn.run_as.as_ref().map(|r| r.user.as_str()), Some("nobody"));
    assert_eq!(
        svc("celery.1").command[2],
        "exec /srv/app/venv/bin/celery -A app worker --loglevel=INFO -n worker\"$TEND_INSTANCE\"@%h"
    );
    assert_eq!(svc("celerybeat").success_exit_codes, [0, 2]);
    assert_eq!(svc("nginx").command, ["/usr/sbin/nginx", "-g", "daemon off;"]);
    assert!(!svc("flower").autostart);
    assert_eq!(svc("flower").stdout, tend::config::Output::Null);
    assert_eq!(cfg.control.socket.as_deref(), Some(Path::new("/var/run/supervisor.sock")));
    assert_eq!(cfg.control.mode, 0o770);
}

#[test]
fn the_documented_program_example() {
    let (code, out, err) = import(&import_data(), &["supervisord", "supervisord-documented.conf"]);
    assert_eq!(code, 0, "{err}");
    let notes = notes_match(&out, &err);
    assert_eq!(notes, [
        "supervisord-documented.conf:19: note: [program:cat] killasgroup = false: tend always sends the final SIGKILL to the whole process group",
        "supervisord-documented.conf:22: note: [program:cat] stdout_logfile = /a/path: tend writes the stdout of this service to /a/cat.log",
        "supervisord-documented.conf:25: not imported: [program:cat] stdout_capture_maxbytes = 1MB: tend has no capture mode (nor the PROCESS_COMMUNICATION events it sends)",
        "supervisord-documented.conf:30: not imported: [program:cat] stderr_capture_maxbytes = 1MB: tend has no capture mode (nor the PROCESS_COMMUNICATION events it sends)",
    ]);
    assert!(out.contains("\nlog = { file = true, max_size = \"1MiB\", keep = 10 }\n"), "{out}");
    let cfg = tend_accepts(&out);
    let cat = &cfg.services[0];
    assert_eq!(cat.command, ["/bin/cat"]);
    assert_eq!(cat.cwd.as_deref(), Some(Path::new("/tmp")));
    assert_eq!(cat.umask, Some(0o022));
    assert_eq!(cat.restart, tend::config::Restart::OnFailure);
    assert_eq!((cat.start_limit.burst, cat.start_limit.interval.as_secs()), (4, 55));
    assert_eq!(cat.stop_timeout.as_secs(), 10);
    assert_eq!(cat.stop_signal, libc::SIGTERM);
    assert!(cat.env.contains(&("A".into(), "1".into())) && cat.env.contains(&("B".into(), "2".into())));
    assert_eq!(cfg.log_dir.as_deref(), Some(Path::new("/a")));
}

/// An error: exit 78, one `tend: FILE:LINE: ...` line on stderr, nothing on stdout.
#[track_caller]
fn fails(dir: &TestDir, args: &[&str], want: &str) {
    let (code, out, err) = import(dir.path(), args);
    assert_eq!(code, 78, "stderr: {err}");
    assert_eq!(err, format!("tend: {want}\n"));
    assert!(out.is_empty(), "stdout: {out}");
}

#[test]
fn bad_input_is_refused_with_file_and_line() {
    let dir = TestDir::new("import-supervisord-errors");
    // (file, its text, the error after "tend: ")
    let cases = [
        (
            "syntax.conf",
            "[program:a]\ncommand=/bin/true\nthis line is not an option\n",
            "syntax.conf:3: expected a [section] header, a `key = value` line or a comment, found \"this line is not an option\"",
        ),
        ("nosection.conf", "; comment\ncommand=/bin/true\n", "nosection.conf:2: \"command=/bin/true\" comes before any [section] header"),
        (
            "signal.conf",
            "[program:a]\ncommand=/bin/true\n\nstopsignal=SIGFOO\n",
            "signal.conf:4: [program:a] stopsignal: value \"SIGFOO\" is not a valid signal name",
        ),
        (
            "quote.conf",
            "[program:a]\ncommand=bash -c 'sleep 1 ; echo done'\n",
            "quote.conf:2: [program:a] command: cannot split: no closing quotation (')",
        ),
        (
            "percent.conf",
            "[program:a]\ncommand=/bin/date +%s\n",
            "percent.conf:2: [program:a] command: badly formatted: '%s' has no (name) (write %% for a literal percent sign)",
        ),
        ("empty.conf", "[supervisord]\nnodaemon=true\n", "empty.conf: no [program:x] section: nothing to import"),
    ];
    for (file, text, want) in cases {
        dir.write(file, text);
        fails(&dir, &["supervisord", file], want);
    }
    std::fs::write(dir.join("latin1.conf"), b"[program:a]\ncommand=/bin/echo caf\xe9\n").unwrap();
    fails(&dir, &["supervisord", "latin1.conf"], "latin1.conf:2: the file is not valid UTF-8");
    // An error in an included file names that file.
    dir.write("main.conf", "[include]\nfiles = progs/*.ini\n");
    std::fs::create_dir_all(dir.join("progs")).unwrap();
    dir.write("progs/a.ini", "[program:a]\ncommand=/bin/true\nautorestart=sometimes\n");
    fails(
        &dir,
        &["supervisord", "main.conf"],
        "progs/a.ini:3: [program:a] autorestart: invalid 'autorestart' value \"sometimes\": expected true, false or unexpected",
    );

    let (code, out, err) = import(dir.path(), &["supervisord", "missing.conf"]);
    assert_eq!(code, 78);
    assert!(err.starts_with("tend: missing.conf: cannot read: No such file or directory"), "{err}");
    assert!(out.is_empty());
}

#[test]
fn usage_errors_exit_2() {
    let dir = TestDir::new("import-usage");
    let (code, out, err) = import(dir.path(), &["runit", "x"]);
    assert_eq!(code, 2);
    assert_eq!(err, "tend: import: unknown kind \"runit\": expected one of \"supervisord\", \"procfile\"\nRun 'tend import --help' for usage.\n");
    assert!(out.is_empty());
    let (code, _, err) = import(dir.path(), &["supervisord"]);
    assert_eq!(code, 2);
    assert!(err.contains("Required positional arguments not provided"), "{err}");
    let (code, out, _) = import(dir.path(), &["--help"]);
    assert_eq!(code, 0);
    assert!(out.contains("Print a tend.toml equivalent to a supervisord.conf or a Procfile."), "{out}");
}

/// The generated config runs under `tend run`: instances numbered from numprocs_start,
/// the environment of `[supervisord]` and of the program, %(here)s, a variable of
/// tend's environment read when the service starts, and argv passed without a shell.
#[test]
fn generated_config_runs() {
    let dir = TestDir::new("import-supervisord-run");
    dir.write(
        "supervisord.conf",
        "[supervisord]\nnodaemon=true\nenvironment=GREETING=\"hello world\"\n\n\
         [program:worker]\n\
         command=/bin/sh -c \"echo %(process_num)s $GREETING $ROLE $PWD > %(ENV_TEND_TEST_MARKER)s/out-%(process_num)s; exec sleep 1000\"\n\
         process_name=%(program_name)s_%(process_num)s\nnumprocs=2\nnumprocs_start=1\n\
         environment=ROLE=\"w%(process_num)s\"\ndirectory=%(here)s\nstopwaitsecs=2\n\n\
         [program:argv]\n\
         command=/bin/sh -c \"printf '%%s|' \\\"$@\\\" > argv.out; exec sleep 1000\" sh \"a b\" 'c d' e\\ f\n\
         directory=%(here)s\nautorestart=true\n",
    );
    let (code, toml, err) = import(dir.path(), &["supervisord", "supervisord.conf"]);
    assert_eq!(code, 0, "{err}");
    tend_accepts(&toml);
    let mut tend = Tend::start(&dir, &toml);
    let d = dir.s();
    for n in [1, 2] {
        let f = format!("out-{n}");
        wait_until(DEADLINE, &f, || dir.read(&f).ends_with('\n'));
        assert_eq!(dir.read(&f), format!("{n} hello world w{n} {d}\n"), "{}", tend.dump());
    }
    wait_until(DEADLINE, "argv.out", || !dir.read("argv.out").is_empty());
    assert_eq!(dir.read("argv.out"), "a b|c d|e f|");
    tend.signal(libc::SIGTERM);
    assert_eq!(tend.exit_code(), 0, "{}", tend.dump());
}

/// `[include] files`: globs relative to the main file, sorted, `%(here)s`; a pattern
/// that matches nothing and an `[include]` in an included file are noted; a section
/// repeated in an included file is merged, its options replacing the earlier ones.
#[test]
fn includes() {
    let dir = TestDir::new("import-supervisord-include");
    std::fs::create_dir_all(dir.join("etc/conf.d")).unwrap();
    dir.write(
        "etc/supervisord.conf",
        "[supervisord]\nnodaemon=true\n[program:web]\ncommand=/bin/web\nstopwaitsecs=3\n\
         [include]\nfiles = conf.d/*.conf nothing/*.conf %(here)s/extra.ini\n",
    );
    dir.write("etc/conf.d/b.conf", "[program:b]\ncommand=/bin/b %(here)s\n[include]\nfiles=x\n");
    dir.write("etc/conf.d/a.conf", "[program:a]\ncommand=/bin/a\n[program:web]\nstopwaitsecs=7\n");
    dir.write("etc/conf.d/ignored.txt", "[program:no]\ncommand=/bin/no\n");
    dir.write("etc/extra.ini", "[program:c]\ncommand=/bin/c\n");
    let (code, out, err) = import(dir.path(), &["supervisord", "etc/supervisord.conf"]);
    assert_eq!(code, 0, "{err}");
    let cfg = tend_accepts(&out);
    let names: Vec<&str> = cfg.services.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["web", "a", "b", "c"]);
    assert_eq!(cfg.services[0].stop_timeout.as_secs(), 7);
    assert_eq!(cfg.services[2].command, ["/bin/b", &format!("{}/etc/conf.d", dir.s())]);
    let notes = notes_match(&out, &err);
    assert_eq!(notes, [
        "etc/conf.d/b.conf:3: not imported: [include] in an included file: supervisord does not read it either",
        "etc/supervisord.conf:7: note: [include] files: no file matches \"etc/nothing/*.conf\" (supervisord only warns too)",
    ]);
}

/// Priorities become start order under `tend run`: each program starts only once every
/// program of the next lower priority is running, and shutdown stops them in the
/// reverse order (tend's own transition lines, in time order, tell).
#[test]
fn priorities_order_the_start_and_the_stop() {
    let dir = TestDir::new("import-supervisord-priority");
    let prog = |name: &str, prio: u32| format!("[program:{name}]\ncommand=sleep 1000\npriority={prio}\n");
    // In file order the last starts first.
    dir.write("supervisord.conf", &format!("{}{}{}", prog("web", 300), prog("app", 200), prog("db", 100)));
    let (code, toml, err) = import(dir.path(), &["supervisord", "supervisord.conf"]);
    assert_eq!(code, 0, "{err}");
    let mut tend = Tend::start(&dir, &toml);
    tend.wait_err("web starting->running");
    tend.signal(libc::SIGTERM);
    assert_eq!(tend.exit_code(), 0, "{}", tend.dump());
    let changes: Vec<(String, String)> =
        tend.err.snapshot().iter().filter_map(|l| parse_transition(l)).map(|t| (t.service, t.to)).collect();
    let at = |svc: &str, to: &str| {
        changes
            .iter()
            .position(|(s, t)| s == svc && t == to)
            .unwrap_or_else(|| panic!("no {svc} ->{to}\n{}", tend.dump()))
    };
    // Each starts (leaves stopped or waiting) only after the one below it runs ...
    assert!(at("db", "running") < at("app", "starting"), "{}", tend.dump());
    assert!(at("app", "running") < at("web", "starting"), "{}", tend.dump());
    // ... and is stopped before it is asked to stop.
    assert!(at("web", "stopped") < at("app", "stopping"), "{}", tend.dump());
    assert!(at("app", "stopped") < at("db", "stopping"), "{}", tend.dump());
}
