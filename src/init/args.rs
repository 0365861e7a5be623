//! tini's command line: `[-h] [-s] [-p SIG] [-v]... [-w] [-g] [-e CODE]... [-l]
//! [--version] [--] PROGRAM [ARGS...]`, and its environment variables.
//!
//! Parsed like POSIX getopt: short options may be clustered (`-sg`, `-vvv`), an option
//! argument may be attached (`-e42`, `-pSIGKILL`) or separate, and parsing stops at `--`
//! or at the first argument that is not an option. (glibc's getopt, which tini uses,
//! would also take options placed after the program name, so `tini ls -l` prints tini's
//! licence; tend runs `ls -l`. Every command line tini accepts with `--` means the same.)

use std::ffi::OsString;

use crate::daemon::signals::parse_signal;

/// Options of one `tend init` run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InitOptions {
    pub subreaper: bool,
    pub pdeathsig: Option<i32>,
    pub verbosity: u32,
    pub warn_on_reap: bool,
    pub kill_group: bool,
    /// Exit codes remapped to 0 (`-e`).
    pub expect: Vec<u8>,
    pub command: Vec<OsString>,
}

/// The outcome of parsing: run, or exit at once with this code and output.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    Run(InitOptions),
    Exit { code: i32, stdout: String, stderr: String },
}

pub fn usage(name: &str) -> String {
    format!(
        "{name} (tend version {v}, tini {t} compatible)\n\
         Usage: {name} [OPTIONS] PROGRAM -- [ARGS] | --version\n\n\
         Execute a program under the supervision of a valid init process ({name})\n\n\
         Command line options:\n\n  \
         --version: Show version and exit.\n  \
         -h: Show this help message and exit.\n  \
         -s: Register as a process subreaper (requires Linux >= 3.4).\n  \
         -p SIGNAL: Trigger SIGNAL when parent dies, e.g. \"-p SIGKILL\".\n  \
         -v: Generate more verbose output. Repeat up to 3 times.\n  \
         -w: Print a warning when processes are getting reaped.\n  \
         -g: Send signals to the child's process group.\n  \
         -e EXIT_CODE: Remap EXIT_CODE (from 0 to 255) to 0 (can be repeated).\n  \
         -l: Show license and exit.\n\n\
         Environment variables:\n\n  \
         TINI_SUBREAPER: Register as a process subreaper (requires Linux >= 3.4).\n  \
         TINI_VERBOSITY: Set the verbosity level (default: 1).\n  \
         TINI_KILL_PROCESS_GROUP: Send signals to the child's process group.\n\n",
        v = crate::VERSION,
        t = crate::TINI_COMPAT_VERSION,
    )
}

pub const LICENSE: &str = include_str!("../../LICENSE");

/// True if `arg` would be read by tini as one of its options (used to recognise a
/// tini command line given to plain `tend`).
pub fn is_tini_flag(arg: &str) -> bool {
    let Some(cluster) = arg.strip_prefix('-') else { return false };
    if cluster.is_empty() || cluster.starts_with('-') {
        return arg == "--" || arg == "--version";
    }
    for c in cluster.chars() {
        match c {
            's' | 'v' | 'w' | 'g' | 'h' | 'l' => {}
            'p' | 'e' => return true,
            _ => return false,
        }
    }
    true
}

fn fail(name: &str, msg: String) -> Parsed {
    Parsed::Exit {
        code: 1,
        stdout: String::new(),
        stderr: format!("[FATAL tend ({})] {msg}\n{}", std::process::id(), usage(name)),
    }
}

/// Parse tini's arguments (everything after the program name).
pub fn parse(name: &str, args: &[OsString]) -> Parsed {
    if args.len() == 1 && args[0] == "--version" {
        return Parsed::Exit {
            code: 0,
            stdout: format!(
                "tend version {} (tini version {} compatible)\n",
                crate::VERSION,
                crate::TINI_COMPAT_VERSION
            ),
            stderr: String::new(),
        };
    }
    let mut o = InitOptions {
        subreaper: false,
        pdeathsig: None,
        verbosity: crate::diag::DEFAULT_VERBOSITY,
        warn_on_reap: false,
        kill_group: false,
        expect: Vec::new(),
        command: Vec::new(),
    };
    let mut i = 0;
    while i < args.len() {
        let arg = args[i].to_string_lossy();
        if arg == "--" {
            i += 1;
            break;
        }
        if !arg.starts_with('-') || arg == "-" {
            break;
        }
        let cluster: Vec<char> = arg[1..].chars().collect();
        let mut j = 0;
        while j < cluster.len() {
            let c = cluster[j];
            match c {
                'h' => return Parsed::Exit { code: 0, stdout: usage(name), stderr: String::new() },
                'l' => return Parsed::Exit { code: 0, stdout: LICENSE.to_string(), stderr: String::new() },
                's' => o.subreaper = true,
                'v' => o.verbosity = o.verbosity.saturating_add(1),
                'w' => o.warn_on_reap = true,
                'g' => o.kill_group = true,
                'p' | 'e' => {
                    let rest: String = cluster[j + 1..].iter().collect();
                    let value = if !rest.is_empty() {
                        rest
                    } else if i + 1 < args.len() {
                        i += 1;
                        args[i].to_string_lossy().into_owned()
                    } else {
                        return fail(name, format!("option requires an argument -- '{c}'"));
                    };
                    if c == 'p' {
                        match parse_signal(&value) {
                            Ok(sig) => o.pdeathsig = Some(sig),
                            Err(_) => return fail(name, format!("Not a valid option for -p: {value}")),
                        }
                    } else {
                        match value.parse::<u8>() {
                            Ok(code) if value.bytes().all(|b| b.is_ascii_digit()) => o.expect.push(code),
                            _ => return fail(name, format!("Not a valid option for -e: {value}")),
                        }
                    }
                    j = cluster.len();
                    continue;
                }
                other => return fail(name, format!("invalid option -- '{other}'")),
            }
            j += 1;
        }
        i += 1;
    }
    o.command = args[i..].to_vec();
    if o.command.is_empty() {
        return Parsed::Exit { code: 1, stdout: String::new(), stderr: usage(name) };
    }
    Parsed::Run(o)
}

/// C `atoi`: optional blanks and sign, then digits; anything else ends the number.
fn atoi(s: &str) -> i64 {
    let t = s.trim_start();
    let (neg, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let mut n: i64 = 0;
    for b in digits.bytes().take_while(|b| b.is_ascii_digit()) {
        n = n.saturating_mul(10).saturating_add(i64::from(b - b'0'));
    }
    if neg {
        -n
    } else {
        n
    }
}

/// Apply tini's environment variables on top of the parsed flags, as tini does after
/// its getopt loop: `TINI_SUBREAPER` and `TINI_KILL_PROCESS_GROUP` switch on when set
/// (to anything); `TINI_VERBOSITY` replaces the level (atoi; a negative value, which
/// tini stores in an unsigned int, means everything).
pub fn apply_env(o: &mut InitOptions, get: impl Fn(&str) -> Option<OsString>) {
    if get("TINI_SUBREAPER").is_some() {
        o.subreaper = true;
    }
    if get("TINI_KILL_PROCESS_GROUP").is_some() {
        o.kill_group = true;
    }
    if let Some(v) = get("TINI_VERBOSITY") {
        let n = atoi(&v.to_string_lossy());
        o.verbosity = if n < 0 { u32::MAX } else { u32::try_from(n).unwrap_or(u32::MAX) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    fn run(v: &[&str]) -> InitOptions {
        match parse("tini", &args(v)) {
            Parsed::Run(o) => o,
            other => panic!("{v:?} -> {other:?}"),
        }
    }

    fn exit_code(v: &[&str]) -> i32 {
        match parse("tini", &args(v)) {
            Parsed::Exit { code, .. } => code,
            other => panic!("{v:?} -> {other:?}"),
        }
    }

    #[test]
    fn clustered_and_separate_options() {
        let o = run(&["-sgvvw", "-e", "3", "-e42", "-pSIGKILL", "--", "cmd", "-x"]);
        assert!(o.subreaper && o.kill_group && o.warn_on_reap);
        assert_eq!(o.verbosity, 3);
        assert_eq!(o.expect, vec![3, 42]);
        assert_eq!(o.pdeathsig, Some(libc::SIGKILL));
        assert_eq!(o.command, args(&["cmd", "-x"]));
    }

    #[test]
    fn stops_at_first_non_option() {
        let o = run(&["-s", "ls", "-l"]);
        assert_eq!(o.command, args(&["ls", "-l"]));
        assert_eq!(run(&["--", "--", "x"]).command, args(&["--", "x"]));
    }

    #[test]
    fn exits_without_running() {
        assert_eq!(exit_code(&["--version"]), 0);
        assert_eq!(exit_code(&["-h"]), 0);
        assert_eq!(exit_code(&["-l"]), 0);
        assert_eq!(exit_code(&[]), 1);
        assert_eq!(exit_code(&["--"]), 1);
        assert_eq!(exit_code(&["-x", "--", "a"]), 1);
        assert_eq!(exit_code(&["-e", "256", "--", "a"]), 1);
        assert_eq!(exit_code(&["-e", "-1", "--", "a"]), 1);
        assert_eq!(exit_code(&["-e", "4x", "--", "a"]), 1);
        assert_eq!(exit_code(&["-p", "NOPE", "--", "a"]), 1);
        assert_eq!(exit_code(&["-p"]), 1);
        assert_eq!(exit_code(&["--version", "x"]), 1);
    }

    #[test]
    fn environment() {
        let mut o = run(&["-vv", "--", "a"]);
        apply_env(&mut o, |k| match k {
            "TINI_SUBREAPER" => Some("".into()),
            "TINI_VERBOSITY" => Some(" 0x".into()),
            _ => None,
        });
        assert!(o.subreaper && !o.kill_group);
        assert_eq!(o.verbosity, 0);
        apply_env(&mut o, |k| (k == "TINI_VERBOSITY").then(|| "-1".into()));
        assert_eq!(o.verbosity, u32::MAX);
    }

    #[test]
    fn recognises_tini_flags() {
        for f in ["-s", "-sg", "-vvv", "-p", "-pSIGKILL", "-e", "-e1", "--", "--version", "-l", "-w"] {
            assert!(is_tini_flag(f), "{f}");
        }
        for f in ["-x", "--help", "-", "run", "-sx", "--socket"] {
            assert!(!is_tini_flag(f), "{f}");
        }
    }
}
