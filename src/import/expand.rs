//! supervisord's `%(name)s` expressions: Python's `%` formatting with a mapping, which
//! supervisord applies to every option value (supervisor/options.py, `expand`). Pure.
//!
//! A value expands to a sequence of [`Ch`]: plain characters, and placeholders for the
//! parts that only exist when the service runs (the instance number of one of several
//! processes, an environment variable that is not in the file, the host name). The
//! lexers in `lex.rs` treat a placeholder as one word character, so a value can be
//! split into words first and each placeholder rendered as shell code afterwards.

use std::fmt;

/// One character of an expanded value, or a placeholder (an index into the list of
/// [`Dyn`]s the expansion filled).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ch {
    C(char),
    D(usize),
}

/// Text with no placeholders as [`Ch`]s.
#[cfg(test)]
pub fn chars(s: &str) -> Vec<Ch> {
    s.chars().map(Ch::C).collect()
}

/// The plain text of `v`, or None if it has a placeholder.
pub fn plain(v: &[Ch]) -> Option<String> {
    v.iter()
        .map(|c| match c {
            Ch::C(c) => Some(*c),
            Ch::D(_) => None,
        })
        .collect()
}

/// A value known only when the service runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DynKind {
    /// `%(process_num)s` of one of several instances: tend's `$TEND_INSTANCE` plus the
    /// program's `numprocs_start`.
    Instance { offset: i64 },
    /// `%(ENV_X)s` for a variable that is not set in the file: `$X` at run time.
    Env(String),
    /// `%(host_node_name)s`: `uname -n` at run time.
    Host,
}

/// A placeholder: what it stands for and how Python would have formatted it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dyn {
    pub kind: DynKind,
    pub spec: Spec,
}

/// A conversion specification after `%(name)`: flags, width, precision, conversion.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Spec {
    pub minus: bool,
    pub zero: bool,
    pub plus: bool,
    pub space: bool,
    pub width: Option<usize>,
    pub precision: Option<usize>,
    /// `s` or `d` (`i` and `u` are read as `d`).
    pub conv: char,
}

impl Spec {
    /// True for a plain `%(x)s` or `%(x)d`: the value as it is.
    pub fn is_plain(&self) -> bool {
        !self.minus && !self.zero && !self.plus && !self.space && self.width.is_none() && self.precision.is_none()
    }

    /// The same specification for printf(1): `%02d`, `%-8s`.
    pub fn printf(&self) -> String {
        let mut s = String::from("%");
        for (on, c) in [(self.minus, '-'), (self.zero, '0'), (self.plus, '+'), (self.space, ' ')] {
            if on {
                s.push(c);
            }
        }
        if let Some(w) = self.width {
            s.push_str(&w.to_string());
        }
        if let Some(p) = self.precision {
            s.push('.');
            s.push_str(&p.to_string());
        }
        s.push(self.conv);
        s
    }
}

/// A value a name stands for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Val {
    Str(String),
    Int(i64),
}

impl fmt::Display for Val {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Val::Str(s) => f.write_str(s),
            Val::Int(i) => write!(f, "{i}"),
        }
    }
}

/// What a name resolves to.
pub enum Lookup {
    Value(Val),
    Dynamic(DynKind),
}

/// Expand `template`. `lookup` resolves a name (its error is the message for an unknown
/// or unusable name); placeholders are appended to `dyns`.
pub fn expand(
    template: &str,
    lookup: &mut dyn FnMut(&str) -> Result<Lookup, String>,
    dyns: &mut Vec<Dyn>,
) -> Result<Vec<Ch>, String> {
    let mut out = Vec::with_capacity(template.len());
    let mut it = template.char_indices().peekable();
    while let Some((_, c)) = it.next() {
        if c != '%' {
            out.push(Ch::C(c));
            continue;
        }
        let bad = |why: &str| format!("badly formatted: {why} (write %% for a literal percent sign)");
        match it.next() {
            Some((_, '%')) => {
                out.push(Ch::C('%'));
                continue;
            }
            Some((_, '(')) => {}
            Some((_, other)) => return Err(bad(&format!("'%{other}' has no (name)"))),
            None => return Err(bad("a '%' at the end")),
        }
        // The name runs to the matching ')', nested parentheses counted, as in Python.
        let mut depth = 1;
        let mut name = String::new();
        loop {
            match it.next() {
                None => return Err(bad("a '%(' without its ')'")),
                Some((_, '(')) => {
                    depth += 1;
                    name.push('(');
                }
                Some((_, ')')) => {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                    name.push(')');
                }
                Some((_, c)) => name.push(c),
            }
        }
        let spec = parse_spec(&mut it).map_err(|m| bad(&format!("%({name}){m}")))?;
        match lookup(&name)? {
            Lookup::Value(v) => {
                let s = format_value(&v, &spec)
                    .map_err(|m| format!("%({name}){}: {m}", spec.printf().trim_start_matches('%')))?;
                out.extend(s.chars().map(Ch::C));
            }
            Lookup::Dynamic(kind) => {
                if spec.conv == 'd' && matches!(kind, DynKind::Env(_) | DynKind::Host) {
                    return Err(format!("%({name})d: a number is required, not a string"));
                }
                out.push(Ch::D(dyns.len()));
                dyns.push(Dyn { kind, spec });
            }
        }
    }
    Ok(out)
}

/// Flags, width, precision, an ignored length modifier and the conversion character.
fn parse_spec(it: &mut std::iter::Peekable<std::str::CharIndices<'_>>) -> Result<Spec, String> {
    let mut spec = Spec::default();
    while let Some(&(_, c)) = it.peek() {
        match c {
            '-' => spec.minus = true,
            '0' => spec.zero = true,
            '+' => spec.plus = true,
            ' ' => spec.space = true,
            '#' => {}
            _ => break,
        }
        it.next();
    }
    let digits = |it: &mut std::iter::Peekable<std::str::CharIndices<'_>>| {
        let mut n: Option<usize> = None;
        while let Some(&(_, c)) = it.peek() {
            let Some(d) = c.to_digit(10) else { break };
            n = Some(n.unwrap_or(0).saturating_mul(10).saturating_add(d as usize));
            it.next();
        }
        n
    };
    spec.width = digits(it);
    if it.peek().map(|&(_, c)| c) == Some('.') {
        it.next();
        spec.precision = Some(digits(it).unwrap_or(0));
    }
    while matches!(it.peek(), Some(&(_, 'h' | 'l' | 'L'))) {
        it.next();
    }
    match it.next() {
        Some((_, 's')) => spec.conv = 's',
        Some((_, 'd' | 'i' | 'u')) => spec.conv = 'd',
        Some((_, c)) => return Err(format!(": unsupported conversion '{c}' (tend imports %(name)s and %(name)d)")),
        None => return Err(": incomplete format".into()),
    }
    if spec.width.is_some_and(|w| w > 4096) || spec.precision.is_some_and(|p| p > 4096) {
        return Err(": width or precision too large".into());
    }
    Ok(spec)
}

/// Format a known value as Python's `%` would.
pub fn format_value(v: &Val, spec: &Spec) -> Result<String, String> {
    let body = match (spec.conv, v) {
        ('s', v) => {
            let s = v.to_string();
            match spec.precision {
                Some(p) => s.chars().take(p).collect(),
                None => s,
            }
        }
        (_, Val::Int(i)) => {
            let mut digits = i.unsigned_abs().to_string();
            if let Some(p) = spec.precision {
                while digits.len() < p {
                    digits.insert(0, '0');
                }
            }
            let sign = if *i < 0 {
                "-"
            } else if spec.plus {
                "+"
            } else if spec.space {
                " "
            } else {
                ""
            };
            if spec.zero && !spec.minus {
                let width = spec.width.unwrap_or(0);
                while sign.len() + digits.len() < width {
                    digits.insert(0, '0');
                }
            }
            format!("{sign}{digits}")
        }
        (_, Val::Str(_)) => return Err("a number is required, not a string".into()),
    };
    let width = spec.width.unwrap_or(0);
    let len = body.chars().count();
    if len >= width {
        return Ok(body);
    }
    let pad = " ".repeat(width - len);
    Ok(if spec.minus { format!("{body}{pad}") } else { format!("{pad}{body}") })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(name: &str) -> Result<Lookup, String> {
        match name {
            "program_name" => Ok(Lookup::Value(Val::Str("web".into()))),
            "process_num" => Ok(Lookup::Value(Val::Int(7))),
            "neg" => Ok(Lookup::Value(Val::Int(-7))),
            "n" => Ok(Lookup::Dynamic(DynKind::Instance { offset: 0 })),
            "ENV_HOME" => Ok(Lookup::Dynamic(DynKind::Env("HOME".into()))),
            _ => Err(format!("unknown name {name}")),
        }
    }

    fn ex(s: &str) -> Result<String, String> {
        let mut d = Vec::new();
        let v = expand(s, &mut lookup, &mut d)?;
        Ok(plain(&v).unwrap())
    }

    #[test]
    fn python_formatting() {
        assert_eq!(ex("/srv/%(program_name)s/x").unwrap(), "/srv/web/x");
        assert_eq!(ex("80%(process_num)02d").unwrap(), "8007");
        assert_eq!(ex("%(process_num)s|%(process_num)3d|%(process_num)-3d|").unwrap(), "7|  7|7  |");
        assert_eq!(ex("%(neg)05d %(process_num)+d %(process_num).3d").unwrap(), "-0007 +7 007");
        assert_eq!(ex("%(program_name).2s|%(program_name)5s").unwrap(), "we|  web");
        assert_eq!(ex("100%% %(process_num)i%(process_num)u").unwrap(), "100% 77");
        assert_eq!(ex("no expressions").unwrap(), "no expressions");
    }

    #[test]
    fn placeholders() {
        let mut d = Vec::new();
        let v = expand("--port=80%(n)02d:%(ENV_HOME)s", &mut lookup, &mut d).unwrap();
        assert_eq!(plain(&v), None);
        assert_eq!(d.len(), 2);
        assert_eq!(d[0].kind, DynKind::Instance { offset: 0 });
        assert_eq!(d[0].spec.printf(), "%02d");
        assert_eq!(d[1].spec.printf(), "%s");
        assert!(d[1].spec.is_plain());
        assert_eq!(v.iter().filter(|c| matches!(c, Ch::D(_))).count(), 2);
    }

    #[test]
    fn errors() {
        assert!(ex("50%").unwrap_err().contains("a '%' at the end"));
        assert!(ex("date +%s").unwrap_err().contains("'%s' has no (name)"));
        assert!(ex("%(program_name").unwrap_err().contains("without its ')'"));
        assert!(ex("%(program_name)").unwrap_err().contains("incomplete format"));
        assert!(ex("%(program_name)x").unwrap_err().contains("unsupported conversion 'x'"));
        assert!(ex("%(program_name)d").unwrap_err().contains("a number is required"));
        assert!(ex("%(ENV_HOME)d").unwrap_err().contains("a number is required"));
        assert_eq!(ex("%(nope)s").unwrap_err(), "unknown name nope");
    }
}
