//! `${VAR}` and `${VAR:-default}` in config string values.
//!
//! Expansion happens on string values only, never in comments or keys, and
//! before the typed parse: each string that holds a `${` is expanded and put
//! back into the text as an escaped TOML string on the same line. Line numbers
//! therefore stay true for every later error.

use toml_edit::{Document, Item, Value};

use super::error::Issue;

/// Expands every string value in `text`, looking variables up with `lookup`.
///
/// Returns the rewritten text, or every problem found (an unset variable with
/// no default, an unterminated `${`), each naming its key path and line.
pub fn expand(text: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, Vec<Issue>> {
    let doc = match Document::parse(text) {
        Ok(doc) => doc,
        Err(e) => {
            let line = e.span().map(|s| line_of(text, s.start));
            return Err(vec![Issue::new("", line, e.message().trim().to_string())]);
        }
    };
    let mut edits = Vec::new();
    let mut issues = Vec::new();
    let mut walker = Walker { text, lookup, edits: &mut edits, issues: &mut issues };
    walker.table(doc.as_table(), &mut Vec::new());
    if !issues.is_empty() {
        return Err(issues);
    }
    let mut out = text.to_string();
    // Apply from the end so that earlier spans stay valid.
    edits.sort_by_key(|e| std::cmp::Reverse(e.0.start));
    for (span, replacement) in edits {
        out.replace_range(span, &replacement);
    }
    Ok(out)
}

/// The 1-based line holding byte `offset` of `text`.
pub fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())].iter().filter(|&&b| b == b'\n').count() + 1
}

struct Walker<'a> {
    text: &'a str,
    lookup: &'a dyn Fn(&str) -> Option<String>,
    edits: &'a mut Vec<(std::ops::Range<usize>, String)>,
    issues: &'a mut Vec<Issue>,
}

impl Walker<'_> {
    fn table(&mut self, table: &toml_edit::Table, path: &mut Vec<String>) {
        for (key, item) in table.iter() {
            path.push(key.to_string());
            self.item(item, path);
            path.pop();
        }
    }

    fn item(&mut self, item: &Item, path: &mut Vec<String>) {
        match item {
            Item::Value(v) => self.value(v, path),
            Item::Table(t) => self.table(t, path),
            Item::ArrayOfTables(a) => {
                for (i, t) in a.iter().enumerate() {
                    path.push(i.to_string());
                    self.table(t, path);
                    path.pop();
                }
            }
            Item::None => {}
        }
    }

    fn value(&mut self, value: &Value, path: &mut Vec<String>) {
        match value {
            Value::String(s) if s.value().contains("${") => {
                let Some(span) = s.span() else { return };
                match expand_str(s.value(), self.lookup) {
                    Ok(expanded) => self.edits.push((span, toml_quote(&expanded))),
                    Err(message) => {
                        self.issues.push(Issue::new(&path.join("."), Some(line_of(self.text, span.start)), message))
                    }
                }
            }
            Value::Array(a) => {
                for (i, v) in a.iter().enumerate() {
                    path.push(i.to_string());
                    self.value(v, path);
                    path.pop();
                }
            }
            Value::InlineTable(t) => {
                for (k, v) in t.iter() {
                    path.push(k.to_string());
                    self.value(v, path);
                    path.pop();
                }
            }
            _ => {}
        }
    }
}

/// Expands the `${…}` references in one string.
pub fn expand_str(input: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find('}').ok_or_else(|| format!("unterminated `${{` in `{input}`"))?;
        let inner = &after[..end];
        let (name, default) = match inner.split_once(":-") {
            Some((n, d)) => (n, Some(d)),
            None => (inner, None),
        };
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!("invalid variable name `{name}` in `${{{inner}}}`"));
        }
        match (lookup(name), default) {
            (Some(v), _) => out.push_str(&v),
            (None, Some(d)) => out.push_str(d),
            (None, None) => {
                return Err(format!(
                    "environment variable `{name}` is not set and has no default (write `${{{name}:-default}}` to give one)"
                ));
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Writes `s` as a TOML basic string on one line.
fn toml_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "HOST" => Some("10.0.0.5".into()),
            "QUOTE" => Some("a\"b\nc".into()),
            _ => None,
        }
    }

    #[test]
    fn expands_set_and_default() {
        assert_eq!(expand_str("http://${HOST}:${PORT:-3001}/mcp", &env).unwrap(), "http://10.0.0.5:3001/mcp");
        assert_eq!(expand_str("${NOPE:-}", &env).unwrap(), "");
        assert_eq!(expand_str("plain $HOST", &env).unwrap(), "plain $HOST");
    }

    #[test]
    fn rejects_unset_and_malformed() {
        assert!(expand_str("${NOPE}", &env).unwrap_err().contains("`NOPE` is not set"));
        assert!(expand_str("${HOST", &env).unwrap_err().contains("unterminated"));
        assert!(expand_str("${a-b}", &env).unwrap_err().contains("invalid variable name"));
    }

    #[test]
    fn rewrites_only_strings_and_keeps_lines() {
        let text = "# ${IN_COMMENT}\n[a]\nx = \"${QUOTE}\"\ny = 3\n";
        let out = expand(text, &env).unwrap();
        assert_eq!(out.lines().count(), text.lines().count());
        let v: toml::Table = toml::from_str(&out).unwrap();
        assert_eq!(v["a"]["x"].as_str(), Some("a\"b\nc"));
    }

    #[test]
    fn unset_variable_names_key_and_line() {
        let text = "[gateway]\nlisten = \"x\"\n\n[[backends]]\nname = \"${MISSING}\"\n";
        let issues = expand(text, &env).unwrap_err();
        assert_eq!(issues.len(), 1);
        assert_eq!(issues[0].path, "backends.0.name");
        assert_eq!(issues[0].line, Some(5));
        assert!(issues[0].message.contains("MISSING"));
    }
}
