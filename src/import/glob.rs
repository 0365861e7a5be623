//! The file patterns of supervisord's `[include] files`: Python's `glob.glob`, `*`, `?`
//! and `[...]` (with `[!...]`) in any path component, a leading `.` matched only by a
//! pattern that starts with one, no `~` and no `**`. [`matches`] is pure; [`glob`]
//! reads directories.

use std::path::{Path, PathBuf};

fn has_magic(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// True if `name` matches the shell pattern `pat` (one path component).
pub fn matches(pat: &str, name: &str) -> bool {
    if name.starts_with('.') && !pat.starts_with('.') {
        return false;
    }
    let p: Vec<char> = pat.chars().collect();
    let n: Vec<char> = name.chars().collect();
    match_from(&p, &n)
}

fn match_from(p: &[char], n: &[char]) -> bool {
    match p.first() {
        None => n.is_empty(),
        Some('*') => (0..=n.len()).any(|i| match_from(&p[1..], &n[i..])),
        Some('?') => !n.is_empty() && match_from(&p[1..], &n[1..]),
        Some('[') => match class(&p[1..]) {
            Some((set, negated, used)) => {
                let Some(&c) = n.first() else { return false };
                let inside = set.iter().any(|&(lo, hi)| lo <= c && c <= hi);
                inside != negated && match_from(&p[1 + used..], &n[1..])
            }
            // An unclosed `[` is a literal.
            None => n.first() == Some(&'[') && match_from(&p[1..], &n[1..]),
        },
        Some(&c) => n.first() == Some(&c) && match_from(&p[1..], &n[1..]),
    }
}

/// A `[...]` class after its `[`: the ranges, whether it is negated, and how many
/// pattern characters it used (through the `]`).
#[allow(clippy::type_complexity)]
fn class(p: &[char]) -> Option<(Vec<(char, char)>, bool, usize)> {
    let mut i = 0;
    let negated = matches!(p.first(), Some('!'));
    if negated {
        i += 1;
    }
    let mut set = Vec::new();
    let mut first = true;
    while i < p.len() {
        let c = p[i];
        if c == ']' && !first {
            return Some((set, negated, i + 1));
        }
        first = false;
        if i + 2 < p.len() && p[i + 1] == '-' && p[i + 2] != ']' {
            set.push((c, p[i + 2]));
            i += 3;
        } else {
            set.push((c, c));
            i += 1;
        }
    }
    None
}

/// The existing paths matching `pattern`, sorted.
pub fn glob(pattern: &str) -> Vec<PathBuf> {
    let mut found = vec![if pattern.starts_with('/') { PathBuf::from("/") } else { PathBuf::new() }];
    let parts: Vec<&str> = pattern.split('/').filter(|c| !c.is_empty()).collect();
    for (i, part) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        let mut next = Vec::new();
        for base in &found {
            if has_magic(part) {
                let dir = if base.as_os_str().is_empty() { Path::new(".") } else { base.as_path() };
                let Ok(rd) = std::fs::read_dir(dir) else { continue };
                for e in rd.flatten() {
                    let name = e.file_name();
                    if let Some(n) = name.to_str() {
                        if matches(part, n) {
                            next.push(base.join(n));
                        }
                    }
                }
            } else {
                next.push(base.join(part));
            }
        }
        // Directories in between must exist; the last component must exist at all.
        next.retain(|p| if last { p.exists() } else { p.is_dir() });
        found = next;
    }
    if parts.is_empty() {
        return Vec::new();
    }
    found.sort();
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        assert!(matches("*.conf", "web.conf"));
        assert!(!matches("*.conf", "web.conf.bak"));
        assert!(!matches("*.conf", ".hidden.conf"));
        assert!(matches(".*.conf", ".hidden.conf"));
        assert!(matches("config??.conf", "config01.conf"));
        assert!(!matches("config??.conf", "config1.conf"));
        assert!(matches("[a-c]x", "bx"));
        assert!(!matches("[!a-c]x", "bx"));
        assert!(matches("[!a-c]x", "dx"));
        assert!(matches("[]]", "]"));
        assert!(matches("a[", "a["));
        assert!(matches("foo.conf", "foo.conf"));
        assert!(matches("*", ""));
    }

    #[test]
    fn globbing_directories() {
        let dir = std::env::temp_dir().join(format!("tend-glob-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for p in ["conf.d/b.conf", "conf.d/a.conf", "conf.d/.x.conf", "conf.d/c.txt", "other.d/z.conf"] {
            let f = dir.join(p);
            std::fs::create_dir_all(f.parent().unwrap()).unwrap();
            std::fs::write(&f, "").unwrap();
        }
        let d = dir.to_str().unwrap();
        let names = |pat: &str| -> Vec<String> {
            glob(&format!("{d}/{pat}")).iter().map(|p| p.strip_prefix(&dir).unwrap().display().to_string()).collect()
        };
        assert_eq!(names("conf.d/*.conf"), ["conf.d/a.conf", "conf.d/b.conf"]);
        assert_eq!(names("*.d/*.conf"), ["conf.d/a.conf", "conf.d/b.conf", "other.d/z.conf"]);
        assert_eq!(names("conf.d/c.txt"), ["conf.d/c.txt"]);
        assert!(names("conf.d/missing.conf").is_empty());
        assert!(names("nodir/*.conf").is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
