//! The two ways supervisord splits an option value into words, both Python's `shlex`
//! in POSIX mode, over expanded values ([`Ch`], where a placeholder is a word
//! character). Pure.
//!
//! - `command`: `shlex.split(command)` (supervisor/process.py, `get_execv_args`):
//!   words separated by whitespace; `'...'` is literal; in `"..."` a backslash escapes
//!   only `"` and `\`; outside quotes a backslash escapes any character. No shell: no
//!   variables, globs, pipes or redirections.
//! - `environment`: `dict_of_key_value_pairs` (supervisor/datatypes.py): a shlex
//!   tokenizer whose words are letters, digits and `_/.+-():`, every other character a
//!   token of its own, `#` starting a comment; then tokens are taken as `KEY = VALUE`
//!   followed by one separator token (normally `,`), which is not checked.

use super::expand::Ch;

/// `shlex.split`: the words of a command line.
pub fn split_command(s: &[Ch]) -> Result<Vec<Vec<Ch>>, String> {
    let mut words = Vec::new();
    let mut cur: Option<Vec<Ch>> = None;
    let mut it = s.iter().copied();
    while let Some(c) = it.next() {
        match c {
            Ch::C(c) if is_space(c) => {
                if let Some(w) = cur.take() {
                    words.push(w);
                }
            }
            Ch::C('\\') => match it.next() {
                Some(n) => cur.get_or_insert_with(Vec::new).push(n),
                None => return Err("no character after the final backslash".into()),
            },
            Ch::C('\'') => {
                let w = cur.get_or_insert_with(Vec::new);
                loop {
                    match it.next() {
                        Some(Ch::C('\'')) => break,
                        Some(n) => w.push(n),
                        None => return Err("no closing quotation (')".into()),
                    }
                }
            }
            Ch::C('"') => {
                let w = cur.get_or_insert_with(Vec::new);
                loop {
                    match it.next() {
                        Some(Ch::C('"')) => break,
                        Some(Ch::C('\\')) => match it.next() {
                            Some(n @ Ch::C('"' | '\\')) => w.push(n),
                            Some(n) => {
                                w.push(Ch::C('\\'));
                                w.push(n);
                            }
                            None => return Err("no closing quotation (\")".into()),
                        },
                        Some(n) => w.push(n),
                        None => return Err("no closing quotation (\")".into()),
                    }
                }
            }
            other => cur.get_or_insert_with(Vec::new).push(other),
        }
    }
    if let Some(w) = cur {
        words.push(w);
    }
    Ok(words)
}

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

/// shlex's word characters in POSIX mode plus the ones supervisord adds.
fn is_word(c: Ch) -> bool {
    match c {
        Ch::D(_) => true,
        Ch::C(c) => {
            c.is_ascii_alphanumeric()
                || "_/.+-():".contains(c)
                || "ßàáâãäåæçèéêëìíîïðñòóôõöøùúûüýþÿÀÁÂÃÄÅÆÇÈÉÊËÌÍÎÏÐÑÒÓÔÕÖØÙÚÛÜÝÞ".contains(c)
        }
    }
}

/// The tokens of `shlex.shlex(s, posix=True)` with supervisord's word characters.
/// A token is `(text, quoted)`: a quoted empty string is a token, an unquoted one is not.
fn tokens(s: &[Ch]) -> Result<Vec<Vec<Ch>>, String> {
    #[derive(Clone, Copy, PartialEq)]
    enum St {
        Between,
        Word,
        Quote(char),
        Escape { back_to_word: bool, quote: Option<char> },
    }
    let mut out = Vec::new();
    let mut tok: Vec<Ch> = Vec::new();
    let mut quoted = false;
    let mut st = St::Between;
    let mut i = 0;
    let emit = |out: &mut Vec<Vec<Ch>>, tok: &mut Vec<Ch>, quoted: &mut bool| {
        if !tok.is_empty() || *quoted {
            out.push(std::mem::take(tok));
        }
        *quoted = false;
    };
    while i < s.len() {
        let c = s[i];
        i += 1;
        match st {
            St::Between | St::Word => match c {
                Ch::C(x) if is_space(x) => {
                    emit(&mut out, &mut tok, &mut quoted);
                    st = St::Between;
                }
                Ch::C('#') => {
                    // A comment runs to the end of the line.
                    while i < s.len() && s[i] != Ch::C('\n') {
                        i += 1;
                    }
                    emit(&mut out, &mut tok, &mut quoted);
                    st = St::Between;
                }
                Ch::C('\\') => {
                    st = St::Escape { back_to_word: true, quote: None };
                }
                Ch::C(q @ ('\'' | '"')) => st = St::Quote(q),
                c if is_word(c) => {
                    tok.push(c);
                    st = St::Word;
                }
                other => {
                    // Any other character ends the word and is a token by itself.
                    emit(&mut out, &mut tok, &mut quoted);
                    out.push(vec![other]);
                    st = St::Between;
                }
            },
            St::Quote(q) => {
                quoted = true;
                match c {
                    Ch::C(x) if x == q => st = St::Word,
                    Ch::C('\\') if q == '"' => st = St::Escape { back_to_word: false, quote: Some(q) },
                    other => tok.push(other),
                }
            }
            St::Escape { back_to_word, quote } => {
                if let Some(q) = quote {
                    if c != Ch::C(q) && c != Ch::C('\\') {
                        tok.push(Ch::C('\\'));
                    }
                }
                tok.push(c);
                st = if back_to_word { St::Word } else { St::Quote(quote.unwrap_or('"')) };
            }
        }
    }
    match st {
        St::Quote(_) => return Err("no closing quotation".into()),
        St::Escape { .. } => return Err("no character after the final backslash".into()),
        St::Between | St::Word => emit(&mut out, &mut tok, &mut quoted),
    }
    Ok(out)
}

/// The pairs of an `environment` value.
#[derive(Debug, Default, PartialEq)]
pub struct EnvPairs {
    /// In order; a repeated key keeps its first place and takes the last value.
    pub pairs: Vec<(Vec<Ch>, Vec<Ch>)>,
    /// Separator tokens other than `,` that supervisord skipped without a word, such as
    /// the `?` that makes `URL=http://h?x=1` two variables, `URL` and `x`.
    pub odd_separators: Vec<Vec<Ch>>,
}

/// `KEY="val",KEY2=val2` -> pairs, exactly as supervisord reads them.
pub fn env_pairs(s: &[Ch]) -> Result<EnvPairs, String> {
    let toks = tokens(s)?;
    let mut out = EnvPairs::default();
    let mut i = 0;
    while i < toks.len() {
        let kv = &toks[i..toks.len().min(i + 3)];
        if kv.len() != 3 || kv[1] != [Ch::C('=')] {
            return Err("unexpected end of KEY=\"value\" pairs".into());
        }
        let (k, v) = (kv[0].clone(), kv[2].clone());
        match out.pairs.iter_mut().find(|(ok, _)| *ok == k) {
            Some(slot) => slot.1 = v,
            None => out.pairs.push((k, v)),
        }
        if let Some(sep) = toks.get(i + 3) {
            if *sep != [Ch::C(',')] {
                out.odd_separators.push(sep.clone());
            }
        }
        i += 4;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::expand::{chars, plain};
    use super::*;

    fn split(s: &str) -> Result<Vec<String>, String> {
        Ok(split_command(&chars(s))?.iter().map(|w| plain(w).unwrap()).collect())
    }

    fn env(s: &str) -> Result<Vec<(String, String)>, String> {
        Ok(env_pairs(&chars(s))?.pairs.iter().map(|(k, v)| (plain(k).unwrap(), plain(v).unwrap())).collect())
    }

    #[test]
    fn commands_split_like_shlex() {
        assert_eq!(split("/bin/cat").unwrap(), ["/bin/cat"]);
        assert_eq!(split("  prog  -p \"foo bar\"\t'x y'\n z").unwrap(), ["prog", "-p", "foo bar", "x y", "z"]);
        assert_eq!(split("a'b'\"c\"d").unwrap(), ["abcd"]);
        assert_eq!(split("a '' \"\" b").unwrap(), ["a", "", "", "b"]);
        assert_eq!(split(r#"a\ b \$x "q\"\\\$" 'r\n'"#).unwrap(), ["a b", "$x", r#"q"\\$"#, r"r\n"]);
        assert_eq!(
            split("sh -c 'echo $HOME; exit 3' # not a comment").unwrap(),
            ["sh", "-c", "echo $HOME; exit 3", "#", "not", "a", "comment"]
        );
        assert!(split("").unwrap().is_empty());
        assert!(split("a 'b").unwrap_err().contains("no closing quotation"));
        assert!(split("a \"b").unwrap_err().contains("no closing quotation"));
        assert!(split("a \\").unwrap_err().contains("backslash"));
    }

    #[test]
    fn placeholders_are_word_characters() {
        let mut v = chars("--port=80");
        v.push(Ch::D(0));
        v.extend(chars(" next"));
        let w = split_command(&v).unwrap();
        assert_eq!(w.len(), 2);
        assert_eq!(w[0].last(), Some(&Ch::D(0)));
        let mut e = chars("A=x");
        e.push(Ch::D(3));
        e.extend(chars(",B=1"));
        let p = env_pairs(&e).unwrap().pairs;
        assert_eq!(p[0].1, vec![Ch::C('x'), Ch::D(3)]);
        assert_eq!(plain(&p[1].1).unwrap(), "1");
    }

    #[test]
    fn environment_like_supervisord() {
        let pairs = |v: &[(&str, &str)]| v.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect::<Vec<_>>();
        assert_eq!(env("A=\"1\",B=\"2\"").unwrap(), pairs(&[("A", "1"), ("B", "2")]));
        assert_eq!(
            env("KEY=\"val:123\",KEY2=\"val,456\", PATH=/usr/bin:/bin").unwrap(),
            pairs(&[("KEY", "val:123"), ("KEY2", "val,456"), ("PATH", "/usr/bin:/bin")])
        );
        assert_eq!(env("\n  A=1,\n  B='x y'").unwrap(), pairs(&[("A", "1"), ("B", "x y")]));
        assert_eq!(env("A=\"\",B=2").unwrap(), pairs(&[("A", ""), ("B", "2")]));
        // The separator is not checked; a repeated key keeps its place.
        assert_eq!(env("A=1;B=2,A=3").unwrap(), pairs(&[("A", "3"), ("B", "2")]));
        assert_eq!(env("A=\"x\\\"y\"").unwrap(), pairs(&[("A", "x\"y")]));
        assert_eq!(env("A=a\"b c\"d").unwrap(), pairs(&[("A", "ab cd")]));
        assert_eq!(env("A=1 # comment, B=2").unwrap(), pairs(&[("A", "1")]));
        assert!(env("").unwrap().is_empty());
        // Unquoted characters outside the word set split the value, as in supervisord.
        assert_eq!(env("URL=http://x?y=1").unwrap(), pairs(&[("URL", "http://x"), ("y", "1")]));
        let odd = env_pairs(&chars("URL=http://x?y=1,Z=2")).unwrap().odd_separators;
        assert_eq!(odd, vec![vec![Ch::C('?')]]);
        assert!(env("A=1 B=2").is_err());
        assert!(env("A=").is_err());
        assert!(env("A=\"open").unwrap_err().contains("no closing quotation"));
    }
}
