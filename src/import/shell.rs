//! Rendering expanded words as `/bin/sh` code, for commands whose arguments are only
//! known when the service runs (the instance number, a variable from the environment
//! tend is started with). Pure.

use super::expand::{Ch, Dyn, DynKind};

/// `s` as one shell word: unchanged if it has only characters the shell leaves alone,
/// else in single quotes.
pub fn quote(s: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "@%+=:,./_-".contains(c);
    if !s.is_empty() && s.chars().all(safe) {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// A word with placeholders as one shell word.
pub fn word(w: &[Ch], dyns: &[Dyn]) -> String {
    let mut out = String::new();
    let mut lit = String::new();
    for c in w {
        match c {
            Ch::C(c) => lit.push(*c),
            Ch::D(i) => {
                if !lit.is_empty() {
                    out.push_str(&quote(&std::mem::take(&mut lit)));
                }
                match dyns.get(*i) {
                    Some(d) => out.push_str(&expr(d)),
                    // Placeholders index the arena they were made with.
                    None => out.push_str("''"),
                }
            }
        }
    }
    if !lit.is_empty() || out.is_empty() {
        out.push_str(&quote(&lit));
    }
    out
}

/// One placeholder as a double-quoted expansion.
fn expr(d: &Dyn) -> String {
    let base = match &d.kind {
        DynKind::Instance { offset: 0 } => "$TEND_INSTANCE".to_string(),
        DynKind::Instance { offset } if *offset > 0 => format!("$((TEND_INSTANCE + {offset}))"),
        DynKind::Instance { offset } => format!("$((TEND_INSTANCE - {}))", offset.unsigned_abs()),
        // `?`: an unset variable stops the command with a message, as supervisord
        // refuses a %(ENV_X)s it cannot expand.
        DynKind::Env(name) => format!("${{{name}?}}"),
        DynKind::Host => "$(uname -n)".to_string(),
    };
    if d.spec.is_plain() {
        format!("\"{base}\"")
    } else {
        format!("\"$(printf '{}' \"{base}\")\"", d.spec.printf())
    }
}

/// True for a name the shell can expand as `$NAME`.
pub fn is_name(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(f) if f == '_' || f.is_ascii_alphabetic())
        && c.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::super::expand::{chars, Spec};
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(quote("/usr/bin/x"), "/usr/bin/x");
        assert_eq!(quote("--opt=a,b"), "--opt=a,b");
        assert_eq!(quote(""), "''");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's $HOME"), "'it'\\''s $HOME'");
        assert!(is_name("PATH") && is_name("_x1") && !is_name("1x") && !is_name("A-B") && !is_name(""));
    }

    #[test]
    fn words_with_placeholders() {
        let d =
            |kind, conv, width: Option<usize>, zero| Dyn { kind, spec: Spec { conv, width, zero, ..Spec::default() } };
        let dyns = vec![
            d(DynKind::Instance { offset: 0 }, 's', None, false),
            d(DynKind::Instance { offset: 5 }, 'd', Some(2), true),
            d(DynKind::Env("HOME".into()), 's', None, false),
            d(DynKind::Host, 's', None, false),
            d(DynKind::Instance { offset: -1 }, 'd', None, false),
        ];
        let mut w = chars("--port=80");
        w.push(Ch::D(1));
        assert_eq!(word(&w, &dyns), "--port=80\"$(printf '%02d' \"$((TEND_INSTANCE + 5))\")\"");
        let mut w = chars("a b/");
        w.push(Ch::D(2));
        w.push(Ch::D(0));
        w.push(Ch::D(3));
        w.push(Ch::D(4));
        assert_eq!(word(&w, &dyns), "'a b/'\"${HOME?}\"\"$TEND_INSTANCE\"\"$(uname -n)\"\"$((TEND_INSTANCE - 1))\"");
        assert_eq!(word(&[], &dyns), "''");
    }

    #[test]
    fn rendered_words_mean_what_they_say() {
        // Run the rendered words through a real /bin/sh.
        let dyns = vec![Dyn {
            kind: DynKind::Instance { offset: 3 },
            spec: Spec { conv: 'd', width: Some(3), zero: true, ..Spec::default() },
        }];
        let mut w = chars("x'y \"z");
        w.push(Ch::D(0));
        let script = format!("printf '%s' {}", word(&w, &dyns));
        let out =
            std::process::Command::new("/bin/sh").arg("-c").arg(&script).env("TEND_INSTANCE", "4").output().unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "x'y \"z007");
    }
}
