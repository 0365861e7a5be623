//! The command line as a user sees it, kept in step with its documentation: every
//! subcommand and flag the binary's help prints is in tend(1) and in the bash, zsh and
//! fish completions, and nothing is documented or completed that the binary does not
//! accept. `make install` puts the binary, the man pages and the completions in place.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use support::*;

type Flags = BTreeSet<String>;

fn repo(p: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(p);
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn run_tend(args: &[&str]) -> (i32, String) {
    let out = Command::new(TEND).args(args).stdin(Stdio::null()).output().expect("running tend");
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

fn set(items: &[&str]) -> Flags {
    items.iter().map(|s| s.to_string()).collect()
}

// ---------------------------------------------------------------------------------
// What the binary says

/// The subcommands `tend help` lists, in its order.
fn help_commands() -> Vec<String> {
    let (code, out) = run_tend(&["help"]);
    assert_eq!(code, 0, "tend help: {out}");
    let section = out.split("\nCommands:\n").nth(1).unwrap_or_else(|| panic!("no Commands: in\n{out}"));
    let cmds: Vec<String> = section
        .lines()
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next())
        .map(String::from)
        .collect();
    assert!(cmds.len() > 10, "too few commands in tend help:\n{out}");
    cmds
}

/// The flags `tend CMD --help` prints (argh's `-c, --config` lines; `init`: tini's
/// `-p SIGNAL:` lines), without the `--help` every command has.
fn help_flags(cmd: &str) -> Flags {
    let mut flags = Flags::new();
    if cmd == "init" {
        let (code, out) = run_tend(&["init", "-h"]);
        assert_eq!(code, 0, "tend init -h: {out}");
        for l in out.lines() {
            let Some(rest) = l.strip_prefix("  ") else { continue };
            let Some(head) = rest.split(':').next() else { continue };
            let flag = head.split_whitespace().next().unwrap_or("");
            if flag.starts_with('-') && flag.len() > 1 {
                flags.insert(flag.to_string());
            }
        }
    } else {
        let (code, out) = run_tend(&[cmd, "--help"]);
        assert_eq!(code, 0, "tend {cmd} --help: {out}");
        let section = out.split("\nOptions:\n").nth(1).unwrap_or_else(|| panic!("no Options: in\n{out}"));
        for l in section.lines() {
            let Some(rest) = l.strip_prefix("  ") else { continue };
            if !rest.starts_with('-') {
                continue;
            }
            // `-a, --attach  text`; a long name can leave one space before the text
            // (`-i, --interactive pipe ...`), so the names are the leading words that
            // start with a dash.
            for n in rest.split_whitespace() {
                let n = n.trim_end_matches(',');
                if !n.starts_with('-') {
                    break;
                }
                flags.insert(n.to_string());
            }
        }
    }
    assert!(flags.remove("--help") || cmd == "init", "tend {cmd}: no --help in its help");
    flags
}

// ---------------------------------------------------------------------------------
// What tend(1) says

/// The flags `Fl` macros name on one line of mdoc: `.Op Fl ft` is -f and -t,
/// `.Fl -stdout | -stderr` is --stdout and --stderr, `.It Fl g , Fl -group` is -g and
/// --group; a lone `Fl -` (the end of options) is none.
fn fl_flags(line: &str) -> Flags {
    let is_macro = |t: &str| {
        let b = t.as_bytes();
        (2..=3).contains(&b.len()) && b[0].is_ascii_uppercase() && b[1..].iter().all(|c| c.is_ascii_lowercase())
    };
    let mut flags = Flags::new();
    let mut in_fl = false;
    for t in line.trim_start_matches('.').split_whitespace() {
        if t == "Fl" {
            in_fl = true;
            continue;
        }
        if is_macro(t) {
            in_fl = false;
            continue;
        }
        if !in_fl {
            continue;
        }
        if let Some(long) = t.strip_prefix('-') {
            if !long.is_empty() && long.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
                flags.insert(format!("--{long}"));
            }
        } else if t.chars().all(|c| c.is_ascii_alphabetic()) {
            flags.extend(t.chars().map(|c| format!("-{c}")));
        }
    }
    flags
}

/// tend(1)'s SYNOPSIS: each command (`.Cm start | stop | restart` names three) with
/// the flags of its lines. A form starts at `.Nm`, or at a `.Cm` that follows a
/// flag line (a form missing its `.Nm`).
fn man_synopsis(man: &str) -> BTreeMap<String, Flags> {
    let syn = man.split("\n.Sh SYNOPSIS\n").nth(1).and_then(|s| s.split("\n.Sh ").next()).expect("SYNOPSIS");
    let mut forms: BTreeMap<String, Flags> = BTreeMap::new();
    let mut cur: Vec<String> = Vec::new();
    let mut prev = "";
    for line in syn.lines() {
        if line.starts_with(".Nm") {
            cur.clear();
        } else if let Some(names) = line.strip_prefix(".Cm ") {
            if cur.is_empty() || !(prev.starts_with(".Nm") || prev.starts_with(".Cm")) {
                cur = names.split('|').map(|n| n.trim().to_string()).collect();
                for c in &cur {
                    forms.entry(c.clone()).or_default();
                }
            }
        } else {
            for c in &cur {
                forms.entry(c.clone()).or_default().extend(fl_flags(line));
            }
        }
        prev = line;
    }
    forms
}

/// The `.Ss tend NAME...` sections of tend(1) for `cmd` (`.Ss tend start, stop,
/// restart Ar service` is one of start's), as (all flags named, flags of `.It` lines).
fn man_sections(man: &str, cmd: &str) -> (Flags, Flags) {
    let (mut all, mut items) = (Flags::new(), Flags::new());
    let mut inside = false;
    for line in man.lines() {
        if line.starts_with(".Sh ") {
            inside = false;
        } else if let Some(title) = line.strip_prefix(".Ss ") {
            let names = title.strip_prefix("tend ").unwrap_or("").split(" Ar ").next().unwrap_or("");
            inside = names.split(" Oo").next().unwrap_or("").split(',').any(|n| n.trim() == cmd);
        } else if inside {
            all.extend(fl_flags(line));
            if line.starts_with(".It ") {
                items.extend(fl_flags(line));
            }
        }
    }
    (all, items)
}

/// The commands the `Client commands` section names, and the options it says every
/// client command takes.
fn man_client_common(man: &str) -> (BTreeSet<String>, Flags) {
    let sec =
        man.split("\n.Ss Client commands\n").nth(1).and_then(|s| s.split("\n.Ss ").next()).expect("Client commands");
    let mut cmds = BTreeSet::new();
    let mut flags = Flags::new();
    // ".Cm ls , status , ... and .Cm version talk to a running .Nm .Cm run ..."
    let mut listing = true;
    for line in sec.lines() {
        listing &= !line.starts_with("talk to");
        if let (true, Some(names)) = (listing, line.strip_prefix(".Cm ")) {
            cmds.extend(names.split(',').map(|n| n.trim().to_string()).filter(|n| !n.is_empty()));
        }
        if line.starts_with(".It ") {
            flags.extend(fl_flags(line));
        }
    }
    (cmds, flags)
}

#[test]
fn fl_parsing_reads_mdoc_flag_lists() {
    assert_eq!(fl_flags(".Op Fl ft"), set(&["-f", "-t"]));
    assert_eq!(fl_flags(".Op Fl -stdout | -stderr | -all"), set(&["--stdout", "--stderr", "--all"]));
    assert_eq!(fl_flags(".It Fl g , Fl -group"), set(&["-g", "--group"]));
    assert_eq!(fl_flags(".It Fl s , -sort Ar column"), set(&["-s", "--sort"]));
    assert_eq!(fl_flags(".Op Fl d Ar @file | - | text"), set(&["-d"]));
    assert_eq!(fl_flags(".Fl -"), set(&[]));
    assert_eq!(fl_flags("With"), set(&[]));
}

#[test]
fn every_command_and_flag_in_help_is_in_the_man_page_and_back() {
    let man = repo("man/tend.1");
    let synopsis = man_synopsis(&man);
    let (client_cmds, client_flags) = man_client_common(&man);
    assert!(
        client_cmds.contains("ls") && client_flags.contains("--socket"),
        "Client commands: {client_cmds:?} {client_flags:?}"
    );
    let cmds = help_commands();

    let mut problems = Vec::new();
    let documented: BTreeSet<&String> = synopsis.keys().filter(|c| *c != "help").collect();
    let listed: BTreeSet<&String> = cmds.iter().collect();
    if documented != listed {
        problems.push(format!("tend help lists {listed:?}\nthe SYNOPSIS shows {documented:?}"));
    }
    for cmd in &cmds {
        let argh = help_flags(cmd);
        let syn = synopsis.get(cmd).cloned().unwrap_or_default();
        let (section, items) = man_sections(&man, cmd);
        if section.is_empty() && items.is_empty() && !man.contains(&format!(".Ss tend {cmd}")) {
            problems.push(format!("tend {cmd}: no .Ss section in tend(1)"));
        }
        let mut docs: Flags = syn.union(&section).cloned().collect();
        if client_cmds.contains(cmd) {
            docs.extend(client_flags.iter().cloned());
        }
        for f in argh.difference(&docs) {
            problems.push(format!("tend {cmd} {f}: in its --help, not in tend(1)"));
        }
        for f in syn.union(&items) {
            if !argh.contains(f) && f != "--help" {
                problems.push(format!("tend {cmd} {f}: in tend(1), not in its --help"));
            }
        }
    }
    assert!(problems.is_empty(), "help and man page disagree:\n{}", problems.join("\n"));
}

// ---------------------------------------------------------------------------------
// The completions

/// Each command's flags as the binary prints them, `help` included (without flags).
fn help_table() -> BTreeMap<String, Flags> {
    let mut t: BTreeMap<String, Flags> = help_commands().into_iter().map(|c| (c.clone(), help_flags(&c))).collect();
    t.insert("help".into(), Flags::new());
    t
}

/// The flags of a zsh `_arguments` spec line: `{-c,--config}'[...`, `'--socket[...`,
/// `'(-a -b)--stderr[...`, `'*-v[...`; not the exclusion lists in parentheses.
fn zsh_flags(line: &str) -> Flags {
    let b = line.as_bytes();
    let mut flags = Flags::new();
    for i in 0..b.len() {
        if b[i] != b'-' || i == 0 || !b"'{,)*".contains(&b[i - 1]) {
            continue;
        }
        let end = (i + 1..b.len()).find(|&j| !(b[j].is_ascii_alphanumeric() || b[j] == b'-')).unwrap_or(b.len());
        if end < b.len() && b"[,}".contains(&b[end]) && end > i + 1 {
            flags.insert(line[i..end].to_string());
        }
    }
    flags
}

/// _tend: the `commands=( 'name:description' ...)` list and the flags of each
/// `case $words[1]` branch (`$common` stands for the `common=(...)` specs).
fn zsh_table(script: &str) -> BTreeMap<String, Flags> {
    let block = |start: &str| -> Vec<&str> {
        let from = script.split(start).nth(1).unwrap_or_else(|| panic!("_tend: no {start}"));
        from.lines().skip(1).take_while(|l| l.trim() != ")").collect()
    };
    let common: Flags = block("common=(").iter().flat_map(|l| zsh_flags(l)).collect();
    let mut table: BTreeMap<String, Flags> = BTreeMap::new();
    for l in block("commands=(") {
        let name = l.trim().trim_start_matches(['\'', '"']).split(':').next().unwrap_or("");
        table.insert(name.to_string(), Flags::new());
    }
    let args = script.split("case $words[1] in").nth(1).expect("_tend: no case $words[1]");
    let mut cur: Vec<String> = Vec::new();
    for l in args.lines() {
        let t = l.trim();
        if t == "esac" {
            break;
        }
        if let Some(pat) = t.strip_suffix(')') {
            if !pat.is_empty() && pat.chars().all(|c| c.is_ascii_lowercase() || c == '|' || c == '-') {
                cur = pat.split('|').map(String::from).collect();
                for c in &cur {
                    assert!(table.contains_key(c), "_tend: branch {c} is not in commands=()");
                }
                continue;
            }
        }
        for c in &cur {
            let e = table.entry(c.clone()).or_default();
            e.extend(zsh_flags(l));
            if l.contains("$common") {
                e.extend(common.iter().cloned());
            }
        }
    }
    table
}

/// tend.fish: the top-level `-a NAME` completions, and for each `complete` line
/// conditioned on `__fish_seen_subcommand_from CMD...`, its `-s X` and `-l NAME`.
fn fish_table(script: &str) -> BTreeMap<String, Flags> {
    let mut table: BTreeMap<String, Flags> = BTreeMap::new();
    for l in script.lines().filter(|l| l.starts_with("complete -c tend ")) {
        let words: Vec<&str> = l.split_whitespace().collect();
        let opt = |name: &str| words.iter().position(|w| *w == name).and_then(|i| words.get(i + 1)).copied();
        if l.contains("\"not __fish_seen_subcommand_from $cmds\"") {
            if let Some(a) = opt("-a") {
                table.entry(a.to_string()).or_default();
            }
            continue;
        }
        let Some(cond) = l.split("__fish_seen_subcommand_from ").nth(1) else { continue };
        let cmds: Vec<&str> = cond.split('\'').next().unwrap_or("").split_whitespace().collect();
        let mut flags = Flags::new();
        for (i, w) in words.iter().enumerate() {
            match (*w, words.get(i + 1)) {
                ("-s", Some(x)) => drop(flags.insert(format!("-{x}"))),
                ("-l", Some(x)) => drop(flags.insert(format!("--{x}"))),
                _ => {}
            }
        }
        for c in cmds {
            table.entry(c.to_string()).or_default().extend(flags.iter().cloned());
        }
    }
    table
}

/// What the bash completion offers for the words `line` (the last one being completed).
fn bash_complete(line: &[&str], env: &[(&str, &str)]) -> BTreeSet<String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("completions/tend.bash");
    let words = line.iter().map(|w| format!("'{w}'")).collect::<Vec<_>>().join(" ");
    let prog = format!(
        "source '{}'; COMP_WORDS=({words}); COMP_CWORD={}; _tend; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        script.display(),
        line.len() - 1
    );
    let out = Command::new("bash")
        .arg("--norc")
        .arg("-c")
        .arg(&prog)
        .envs(env.iter().copied())
        .output()
        .expect("running bash");
    assert!(out.status.success(), "bash: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().filter(|l| !l.is_empty()).map(String::from).collect()
}

/// Whether `shell` is installed (the zsh and fish checks that run the shell need it;
/// their scripts are parsed either way).
fn have(shell: &str) -> bool {
    Command::new(shell)
        .arg("-c")
        .arg("exit 0")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// What fish offers for the command line `line` (the part after the last space being
/// completed): the first column of `complete -C`.
fn fish_complete(line: &str, env: &[(&str, &str)]) -> BTreeSet<String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("completions/tend.fish");
    let prog = format!("source '{}'; complete -C '{line}'", script.display());
    let out = Command::new("fish")
        .arg("--no-config")
        .arg("-c")
        .arg(&prog)
        .envs(env.iter().copied())
        .output()
        .expect("running fish");
    assert!(out.status.success(), "fish: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().filter_map(|l| l.split('\t').next()).map(String::from).collect()
}

/// A table's differences from the binary's, one line each.
fn diff_tables(what: &str, got: &BTreeMap<String, Flags>, want: &BTreeMap<String, Flags>) -> Vec<String> {
    let mut problems = Vec::new();
    for (cmd, flags) in want {
        match got.get(cmd) {
            None => problems.push(format!("{what}: no command {cmd}")),
            Some(g) => {
                for f in flags.difference(g) {
                    problems.push(format!("{what}: tend {cmd} {f} is missing"));
                }
                for f in g.difference(flags) {
                    if f != "--help" {
                        problems.push(format!("{what}: tend {cmd} {f} does not exist"));
                    }
                }
            }
        }
    }
    for cmd in got.keys().filter(|c| !want.contains_key(*c)) {
        problems.push(format!("{what}: command {cmd} does not exist"));
    }
    problems
}

#[test]
fn completions_offer_exactly_the_commands_and_flags_of_the_binary() {
    let want = help_table();
    let mut problems = Vec::new();

    let mut bash: BTreeMap<String, Flags> = BTreeMap::new();
    for c in bash_complete(&["tend", ""], &[]) {
        if c != "--help" {
            bash.insert(c, Flags::new());
        }
    }
    for cmd in want.keys() {
        if bash.contains_key(cmd) {
            bash.insert(cmd.clone(), bash_complete(&["tend", cmd, "-"], &[]));
        }
    }
    problems.extend(diff_tables("tend.bash", &bash, &want));
    problems.extend(diff_tables("_tend", &zsh_table(&repo("completions/_tend")), &want));
    problems.extend(diff_tables("tend.fish", &fish_table(&repo("completions/tend.fish")), &want));
    if have("fish") {
        let mut fish: BTreeMap<String, Flags> = BTreeMap::new();
        for c in fish_complete("tend ", &[]) {
            let flags = fish_complete(&format!("tend {c} -"), &[]).into_iter().filter(|f| f.starts_with('-')).collect();
            fish.insert(c, flags);
        }
        problems.extend(diff_tables("tend.fish (run in fish)", &fish, &want));
    }
    for shell in ["zsh", "fish"].into_iter().filter(|s| have(s)) {
        let script = if shell == "zsh" { "completions/_tend" } else { "completions/tend.fish" };
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(script);
        let out = Command::new(shell).arg("-n").arg(&path).output().expect("running the shell");
        if !out.status.success() {
            problems.push(format!("{shell} -n {script}: {}", String::from_utf8_lossy(&out.stderr)));
        }
    }
    assert!(problems.is_empty(), "completions and binary disagree:\n{}", problems.join("\n"));

    // Every command that takes options offers --help too (zsh and fish are checked
    // for not offering what does not exist above).
    assert!(bash_complete(&["tend", "logs", "--h"], &[]).contains("--help"));
    assert_eq!(bash_complete(&["tend", "logs", "--fo"], &[]), set(&["--follow"]));
    assert_eq!(bash_complete(&["tend", "top", "--sort", "r"], &[]), set(&["rss", "restarts", "ready", "req"]));
    assert_eq!(bash_complete(&["tend", "import", ""], &[]), set(&["supervisord", "procfile"]));
}

#[test]
fn bash_completes_service_names_from_the_running_tend() {
    let dir = TestDir::new("compl-services");
    let mut tend = Tend::start(&dir, "[service.web]\ncommand = [\"sleep\", \"60\"]\n\n[service.db]\ncommand = [\"sleep\", \"60\"]\n\n[service.worker]\ncommand = [\"sleep\", \"60\"]\n");
    let sock = dir.join("tend.sock");
    let sock = sock.to_str().expect("UTF-8 path");
    let deadline = std::time::Instant::now() + DEADLINE;
    let tend_dir = Path::new(TEND).parent().expect("binary dir").to_str().expect("UTF-8 path").to_string();
    let path = format!("{tend_dir}:{}", std::env::var("PATH").unwrap_or_default());
    let env = [("TEND_SOCKET", sock), ("PATH", path.as_str())];
    loop {
        let got = bash_complete(&["tend", "status", ""], &env);
        if got == set(&["web", "db", "worker"]) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "tend status <TAB> offers {got:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(bash_complete(&["tend", "logs", "-f", "w"], &env), set(&["web", "worker"]));
    // --socket on the command line is the one asked.
    assert_eq!(bash_complete(&["tend", "stop", "--socket", sock, "d"], &[("PATH", path.as_str())]), set(&["db"]));
    // No tend answering: nothing offered, no error printed into the command line.
    assert_eq!(
        bash_complete(&["tend", "stop", ""], &[("TEND_SOCKET", "/nonexistent/tend.sock"), ("PATH", path.as_str())]),
        set(&[])
    );
    if have("fish") {
        assert_eq!(fish_complete("tend restart ", &env), set(&["web", "db", "worker"]));
        assert_eq!(fish_complete("tend logs -f w", &env), set(&["web", "worker"]));
    }
    tend.signal(libc::SIGTERM);
    assert_eq!(tend.exit_code(), 0, "{}", tend.dump());
}

// ---------------------------------------------------------------------------------
// make install

#[test]
fn make_install_puts_binary_man_pages_and_completions_under_destdir() {
    let dir = TestDir::new("make-install");
    let dest = dir.join("dest");
    let out = Command::new("make")
        // Not the jobserver or variables of a `make test` this runs under.
        .env_remove("MAKEFLAGS")
        .env_remove("MFLAGS")
        .env_remove("MAKELEVEL")
        .arg("-s")
        .arg("-C")
        .arg(env!("CARGO_MANIFEST_DIR"))
        .arg("install")
        .arg(format!("DESTDIR={}", dest.display()))
        .arg("PREFIX=/usr")
        .arg(format!("BIN={TEND}"))
        .output()
        .expect("running make");
    assert!(
        out.status.success(),
        "make install: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let files = [
        ("usr/bin/tend", 0o755, None),
        ("usr/share/man/man1/tend.1", 0o644, Some("man/tend.1")),
        ("usr/share/man/man5/tend.toml.5", 0o644, Some("man/tend.toml.5")),
        ("usr/share/man/man7/tend-protocol.7", 0o644, Some("man/tend-protocol.7")),
        ("usr/share/bash-completion/completions/tend", 0o644, Some("completions/tend.bash")),
        ("usr/share/zsh/site-functions/_tend", 0o644, Some("completions/_tend")),
        ("usr/share/fish/vendor_completions.d/tend.fish", 0o644, Some("completions/tend.fish")),
    ];
    use std::os::unix::fs::PermissionsExt;
    for (path, mode, source) in files {
        let p = dest.join(path);
        let meta = fs::metadata(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        assert_eq!(meta.permissions().mode() & 0o7777, mode, "{path}: mode");
        if let Some(src) = source {
            assert_eq!(fs::read_to_string(&p).expect("installed file"), repo(src), "{path} differs from {src}");
        }
    }
    assert_eq!(fs::read(dest.join("usr/bin/tend")).expect("installed binary"), fs::read(TEND).expect("binary"));
    let (code, v) = {
        let o = Command::new(dest.join("usr/bin/tend"))
            .arg("version")
            .env("TEND_SOCKET", dir.join("none.sock"))
            .output()
            .expect("installed tend");
        (o.status.code(), String::from_utf8_lossy(&o.stdout).into_owned())
    };
    assert!(v.contains(env!("CARGO_PKG_VERSION")), "installed tend version: {code:?} {v}");
    // Nothing else is installed.
    let mut count = 0;
    let mut stack = vec![dest.clone()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).expect("read_dir").flatten() {
            if e.file_type().expect("file type").is_dir() {
                stack.push(e.path());
            } else {
                count += 1;
            }
        }
    }
    assert_eq!(count, files.len(), "files under DESTDIR");
}
