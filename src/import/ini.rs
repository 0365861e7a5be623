//! supervisord's INI dialect: Python's `configparser.RawConfigParser` as supervisord
//! sets it up (supervisor/options.py, `UnhosedConfigParser`), with the line of every
//! section and key kept for messages. Pure: text in, sections out.
//!
//! What that dialect is (Python 3's configparser, `inline_comment_prefixes=(';', '#')`,
//! `strict=False`):
//! - `[NAME]` starts a section; `NAME` is everything between the first `[` and the last
//!   `]` of the line. A repeated section is merged into the first one.
//! - `key = value` or `key: value`; the first `=` or `:` splits. Keys are lower-cased
//!   and trimmed, values trimmed. A repeated key replaces the earlier value.
//! - A line whose first non-blank character is `;` or `#` is a comment, and so is the
//!   rest of any line from a `;` or `#` that follows whitespace (`command=sh -c 'a ; b'`
//!   loses ` ; b'`, as supervisord's manual warns).
//! - A line indented deeper than its key's line continues the value (joined with a
//!   newline); blank lines inside a continued value are kept, trailing ones dropped.
//! - `[DEFAULT]` holds fallbacks for every other section.

use std::fmt;

/// One `key = value`, with the 1-based line of its key and the index of the file it
/// came from (the main file is 0, included files follow).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub key: String,
    pub value: String,
    pub line: usize,
    pub file: usize,
}

/// One section, all its occurrences merged, keys in first-seen order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Section {
    pub name: String,
    /// Where the section first appears.
    pub line: usize,
    pub file: usize,
    pub entries: Vec<Entry>,
}

impl Section {
    /// The entry for `key` (keys are lower-case).
    pub fn get(&self, key: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.key == key)
    }

    fn set(&mut self, entry: Entry) -> usize {
        match self.entries.iter().position(|e| e.key == entry.key) {
            Some(i) => {
                self.entries[i] = entry;
                i
            }
            None => {
                self.entries.push(entry);
                self.entries.len() - 1
            }
        }
    }
}

/// A parsed file (or several merged, see [`Ini::merge`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ini {
    /// Sections in first-seen order, `[DEFAULT]` excluded.
    pub sections: Vec<Section>,
    /// The `[DEFAULT]` section, if any.
    pub defaults: Option<Section>,
}

impl Ini {
    pub fn section(&self, name: &str) -> Option<&Section> {
        self.sections.iter().find(|s| s.name == name)
    }

    /// Add another file's sections, as configparser's `read` of a further file does:
    /// a section seen before gets the new keys (replacing values of keys it had).
    pub fn merge(&mut self, other: Ini) {
        for s in other.sections {
            match self.sections.iter_mut().find(|t| t.name == s.name) {
                Some(t) => {
                    for e in s.entries {
                        t.set(e);
                    }
                }
                None => self.sections.push(s),
            }
        }
        if let Some(d) = other.defaults {
            match &mut self.defaults {
                Some(t) => {
                    for e in d.entries {
                        t.set(e);
                    }
                }
                None => self.defaults = Some(d),
            }
        }
    }
}

/// A line the parser cannot read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IniError {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for IniError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// Where the current value is: the section (None for `[DEFAULT]`) and entry index.
#[derive(Clone, Copy)]
enum Cursor {
    Section(usize),
    Default,
}

/// Parse one file; `file` is stored in every entry.
pub fn parse(text: &str, file: usize) -> Result<Ini, IniError> {
    let mut ini = Ini::default();
    let mut cursect: Option<Cursor> = None;
    // The entry being written and its continuation lines.
    let mut current: Option<(Cursor, usize)> = None;
    let mut pieces: Vec<String> = Vec::new();
    let mut indent_level = 0usize;

    let flush = |ini: &mut Ini, current: Option<(Cursor, usize)>, pieces: &mut Vec<String>| {
        if let Some((c, i)) = current {
            let joined = pieces.join("\n").trim_end().to_string();
            let sect = match c {
                Cursor::Section(s) => &mut ini.sections[s],
                Cursor::Default => match &mut ini.defaults {
                    Some(d) => d,
                    None => return,
                },
            };
            sect.entries[i].value = joined;
        }
        pieces.clear();
    };

    for (n, raw) in text.lines().enumerate() {
        let lineno = n + 1;
        if raw.contains('\0') {
            // Nothing tend passes on (argv, environment, paths) can hold one.
            return Err(IniError { line: lineno, message: "the line contains a NUL character".into() });
        }
        let comment_start = comment_start(raw);
        let value = raw[..comment_start.unwrap_or(raw.len())].trim();
        if value.is_empty() {
            // A blank line continues a value; a comment line does not add to it.
            if comment_start.is_none() && current.is_some() {
                pieces.push(String::new());
            }
            continue;
        }
        let indent = raw.chars().take_while(|c| c.is_whitespace()).count();
        if current.is_some() && indent > indent_level {
            pieces.push(value.to_string());
            continue;
        }
        indent_level = indent;
        if let Some(name) = section_header(value) {
            flush(&mut ini, current.take(), &mut pieces);
            if name == "DEFAULT" {
                if ini.defaults.is_none() {
                    ini.defaults = Some(Section { name: name.to_string(), line: lineno, file, entries: Vec::new() });
                }
                cursect = Some(Cursor::Default);
            } else {
                let idx = match ini.sections.iter().position(|s| s.name == name) {
                    Some(i) => i,
                    None => {
                        ini.sections.push(Section { name: name.to_string(), line: lineno, file, entries: Vec::new() });
                        ini.sections.len() - 1
                    }
                };
                cursect = Some(Cursor::Section(idx));
            }
            continue;
        }
        let Some(c) = cursect else {
            return Err(IniError { line: lineno, message: format!("{value:?} comes before any [section] header") });
        };
        let Some((key, val)) = option_line(value) else {
            return Err(IniError {
                line: lineno,
                message: format!("expected a [section] header, a `key = value` line or a comment, found {value:?}"),
            });
        };
        flush(&mut ini, current.take(), &mut pieces);
        let entry = Entry { key, value: String::new(), line: lineno, file };
        let sect = match c {
            Cursor::Section(s) => &mut ini.sections[s],
            Cursor::Default => match &mut ini.defaults {
                Some(d) => d,
                // Cursor::Default is set only after `defaults` is.
                None => continue,
            },
        };
        let i = sect.set(entry);
        current = Some((c, i));
        pieces.push(val.to_string());
    }
    flush(&mut ini, current.take(), &mut pieces);
    Ok(ini)
}

/// Byte offset where a comment starts: a `;` or `#` at the start of the line or after
/// whitespace (configparser's inline_comment_prefixes), or the whole line when its
/// first non-blank character is one (comment_prefixes).
fn comment_start(line: &str) -> Option<usize> {
    if line.trim_start().starts_with([';', '#']) {
        return Some(0);
    }
    let mut prev_space = true;
    for (i, c) in line.char_indices() {
        if (c == ';' || c == '#') && prev_space {
            return Some(i);
        }
        prev_space = c.is_whitespace();
    }
    None
}

/// `[NAME]...` -> NAME: from after the first `[` to the last `]` (configparser's
/// "very permissive" SECTCRE, matched at the start of the line only).
fn section_header(value: &str) -> Option<&str> {
    let rest = value.strip_prefix('[')?;
    let end = rest.rfind(']')?;
    let name = &rest[..end];
    (!name.is_empty()).then_some(name)
}

/// `key = value` or `key: value`: split at the first `=` or `:`; the key lower-cased.
/// None if there is no delimiter or the key is empty.
fn option_line(value: &str) -> Option<(String, &str)> {
    let at = value.find(['=', ':'])?;
    let key = value[..at].trim();
    if key.is_empty() {
        return None;
    }
    Some((key.to_ascii_lowercase(), value[at + 1..].trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Ini {
        parse(text, 0).unwrap()
    }

    fn val<'a>(ini: &'a Ini, sect: &str, key: &str) -> &'a str {
        &ini.section(sect).unwrap().get(key).unwrap().value
    }

    #[test]
    fn sections_keys_and_lines() {
        let ini = p(
            "; top comment\n[supervisord]\nnodaemon=true\n\n[program:web]\nCommand = /bin/web --port 80\nuser: www\n",
        );
        assert_eq!(ini.sections.len(), 2);
        let web = ini.section("program:web").unwrap();
        assert_eq!(web.line, 5);
        let cmd = web.get("command").unwrap();
        assert_eq!((cmd.value.as_str(), cmd.line), ("/bin/web --port 80", 6));
        assert_eq!(val(&ini, "program:web", "user"), "www");
        assert_eq!(val(&ini, "supervisord", "nodaemon"), "true");
    }

    #[test]
    fn first_delimiter_splits() {
        let ini = p("[a]\nenvironment=A=\"1\",B=\"2\"\nurl: http://x:1/y\ncommand=/bin/x a:b\n");
        assert_eq!(val(&ini, "a", "environment"), "A=\"1\",B=\"2\"");
        assert_eq!(val(&ini, "a", "url"), "http://x:1/y");
        assert_eq!(val(&ini, "a", "command"), "/bin/x a:b");
        // An empty value is a value.
        assert_eq!(val(&p("[a]\nk =\n"), "a", "k"), "");
    }

    #[test]
    fn inline_comments_need_whitespace_before() {
        let ini = p("[a]\nx = 1 ; one\ny = a;b#c\nz = sh -c 'foo ; bar'\nw = #all\n");
        assert_eq!(val(&ini, "a", "x"), "1");
        assert_eq!(val(&ini, "a", "y"), "a;b#c");
        assert_eq!(val(&ini, "a", "z"), "sh -c 'foo");
        assert_eq!(val(&ini, "a", "w"), "");
        let ini = p("[a]\n  ; indented comment\n# x = 2\nk=v\n");
        assert_eq!(ini.section("a").unwrap().entries.len(), 1);
    }

    #[test]
    fn continuation_lines() {
        let text = "[a]\nenvironment =\n    A=\"1\",\n\n    B=\"2\"\n    ; a comment\n\nnext=1\n";
        let ini = p(text);
        assert_eq!(val(&ini, "a", "environment"), "\nA=\"1\",\n\nB=\"2\"");
        assert_eq!(val(&ini, "a", "next"), "1");
        // A line indented no deeper than its key is a new key.
        let ini = p("[a]\n  x = 1\n  y = 2\n");
        assert_eq!((val(&ini, "a", "x"), val(&ini, "a", "y")), ("1", "2"));
        let ini = p("[a]\n  x = 1\n    y = 2\n");
        assert_eq!(val(&ini, "a", "x"), "1\ny = 2");
    }

    #[test]
    fn repeats_merge_and_replace() {
        let ini = p("[a]\nx=1\ny=2\n[b]\nz=3\n[a]\nx=4\n");
        let a = ini.section("a").unwrap();
        assert_eq!(
            a.entries.iter().map(|e| (e.key.as_str(), e.value.as_str(), e.line)).collect::<Vec<_>>(),
            [("x", "4", 7), ("y", "2", 3)]
        );
        let mut ini = p("[a]\nx=1\n");
        ini.merge(parse("[a]\nx=2\ny=3\n[c]\nk=v\n", 1).unwrap());
        let a = ini.section("a").unwrap();
        assert_eq!((a.get("x").unwrap().value.as_str(), a.get("x").unwrap().file), ("2", 1));
        assert_eq!(a.get("y").unwrap().value, "3");
        assert_eq!(ini.sections[1].name, "c");
    }

    #[test]
    fn default_section() {
        let ini = p("[DEFAULT]\nuser=app\n[program:a]\ncommand=x\n");
        assert_eq!(ini.sections.len(), 1);
        assert_eq!(ini.defaults.unwrap().get("user").unwrap().value, "app");
    }

    #[test]
    fn headers_are_permissive() {
        let ini = p("[program:a b] trailing\nk=v\n[x]y]\n");
        assert_eq!(ini.sections[0].name, "program:a b");
        assert_eq!(ini.sections[1].name, "x]y");
    }

    #[test]
    fn errors_name_the_line() {
        let e = parse("command=x\n", 0).unwrap_err();
        assert_eq!(e.line, 1);
        assert!(e.message.contains("before any [section]"), "{e}");
        let e = parse("[a]\nok=1\n\nthis is not an option\n", 0).unwrap_err();
        assert_eq!(e.line, 4);
        assert!(e.message.contains("\"this is not an option\""), "{e}");
        let e = parse("[a]\n= value\n", 0).unwrap_err();
        assert_eq!(e.line, 2);
        assert!(parse("[]\n", 0).is_err());
        assert_eq!(parse("[a]\nk=a\0b\n", 0).unwrap_err().line, 2);
    }

    #[test]
    fn crlf_lines() {
        let ini = p("[a]\r\nx = 1\r\n");
        assert_eq!(val(&ini, "a", "x"), "1");
    }
}
