//! Rewriting one field of a message's `params` without parsing the rest.
//!
//! An aggregated route sends a `tools/call` on with the member's own name
//! for the tool. Parsing the whole body into a `Value` and writing it out
//! again would cost as much as the rest of the request's JSON work; this
//! reads the top level and `params` as raw slices, in order, and writes
//! them back with the one field replaced, so arguments of any size are
//! copied, not parsed.

use std::fmt;

use serde::Deserialize;
use serde::de::{MapAccess, Visitor};
use serde_json::value::RawValue;

/// An object's fields as raw slices, in their order. Keys are borrowed, so
/// an object with an escaped key does not parse (the caller falls back).
struct Fields<'a>(Vec<(&'a str, &'a RawValue)>);

impl<'de: 'a, 'a> Deserialize<'de> for Fields<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Fields<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Fields<'a>, M::Error> {
                let mut out = Vec::new();
                while let Some(entry) = map.next_entry::<&'de str, &'de RawValue>()? {
                    out.push(entry);
                }
                Ok(Fields(out))
            }
        }
        d.deserialize_map(V(std::marker::PhantomData))
    }
}

/// `body` with the one JSON string `old` in it replaced by `new`, when `old`
/// appears exactly once, written the way `serde_json` writes it. The caller
/// knows `old` is the value of a field it read (so the one occurrence is that
/// field); where it also appears elsewhere (in the arguments, say), or was
/// written with escapes, this is `None` and [`with_param`] does it field by
/// field. The fast path of a routed call: one scan, one copy.
pub fn replace_unique_string(body: &[u8], old: &str, new: &str) -> Option<Vec<u8>> {
    // With an escape anywhere, the field could be written escaped and an
    // argument hold the plain form: only a body without one is sure.
    if body.contains(&b'\\') {
        return None;
    }
    let old = serde_json::to_string(old).ok()?;
    let new = serde_json::to_string(new).ok()?;
    let (old, new) = (old.as_bytes(), new.as_bytes());
    let at = find(body, old)?;
    if find(&body[at + old.len()..], old).is_some() {
        return None;
    }
    let mut out = Vec::with_capacity(body.len() - old.len() + new.len());
    out.extend_from_slice(&body[..at]);
    out.extend_from_slice(new);
    out.extend_from_slice(&body[at + old.len()..]);
    Some(out)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// `body` with `params[key]` set to the string `value`; every other byte of
/// the message as it was. `None` when `body` is not an object whose
/// `params` is an object (or has escaped keys).
pub fn with_param(body: &[u8], key: &str, value: &str) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(body).ok()?;
    let top: Fields = serde_json::from_str(text).ok()?;
    let params = top.0.iter().find(|(k, _)| *k == "params")?.1;
    let fields: Fields = serde_json::from_str(params.get()).ok()?;
    let value = serde_json::to_string(value).ok()?;
    let mut out = Vec::with_capacity(body.len() + value.len());
    out.push(b'{');
    for (i, (k, v)) in top.0.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        push_key(&mut out, k);
        if *k != "params" {
            out.extend_from_slice(v.get().as_bytes());
            continue;
        }
        out.push(b'{');
        let mut first = true;
        for (pk, pv) in fields.0.iter() {
            if !first {
                out.push(b',');
            }
            first = false;
            push_key(&mut out, pk);
            out.extend_from_slice(if *pk == key { value.as_bytes() } else { pv.get().as_bytes() });
        }
        if !fields.0.iter().any(|(pk, _)| *pk == key) {
            if !first {
                out.push(b',');
            }
            push_key(&mut out, key);
            out.extend_from_slice(value.as_bytes());
        }
        out.push(b'}');
    }
    out.push(b'}');
    Some(out)
}

/// A key borrowed from the input had no escapes, so it is written as it was.
fn push_key(out: &mut Vec<u8>, key: &str) {
    out.push(b'"');
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b"\":");
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn rewritten(body: &str, key: &str, value: &str) -> Option<Value> {
        with_param(body.as_bytes(), key, value).map(|b| serde_json::from_slice(&b).unwrap())
    }

    #[test]
    fn one_field_changes_and_the_rest_is_kept() {
        let body = r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"wiki__search","arguments":{"name":"wiki__search","q":[1,{"x":"\"y\""}]},"_meta":{"k":1}}}"#;
        let out = rewritten(body, "name", "search").unwrap();
        assert_eq!(out["params"]["name"], "search");
        // The argument of the same name is the tool's, not the gateway's.
        assert_eq!(out["params"]["arguments"], json!({ "name": "wiki__search", "q": [1, { "x": "\"y\"" }] }));
        assert_eq!(out["params"]["_meta"], json!({ "k": 1 }));
        assert_eq!(out["id"], 7);
        let quoted = rewritten(r#"{"params":{"name":"a"}}"#, "name", "a \"b\"\n").unwrap();
        assert_eq!(quoted["params"]["name"], "a \"b\"\n");
        let added = rewritten(r#"{"params":{}}"#, "name", "x").unwrap();
        assert_eq!(added["params"]["name"], "x");
    }

    #[test]
    fn a_unique_string_is_replaced_in_place() {
        let body =
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"wiki__search","arguments":{"q":"x"}}}"#;
        let out = replace_unique_string(body.as_bytes(), "wiki__search", "search").unwrap();
        assert_eq!(out, body.replace("wiki__search", "search").as_bytes());
        // Twice (the arguments hold it too), or escaped: not this way.
        let twice = r#"{"params":{"name":"a__b","arguments":{"k":"a__b"}}}"#;
        assert!(replace_unique_string(twice.as_bytes(), "a__b", "b").is_none());
        let escaped = r#"{"params":{"name":"a\u005f_b"}}"#;
        assert!(replace_unique_string(escaped.as_bytes(), "a__b", "b").is_none());
        // The name escaped, an argument holding the plain form: not this way.
        let decoy = r#"{"params":{"name":"a\u005f_b","arguments":{"q":"a__b"}}}"#;
        assert!(replace_unique_string(decoy.as_bytes(), "a__b", "b").is_none());
        // A longer string holding it is not it.
        let longer = r#"{"params":{"name":"xa__b"}}"#;
        assert!(replace_unique_string(longer.as_bytes(), "a__b", "b").is_none());
    }

    #[test]
    fn what_it_cannot_rewrite_is_none() {
        for bad in ["", "[]", "{", r#"{"params":[1]}"#, r#"{"id":1}"#, r#"{"params":{"na\u006de":"x"}}"#, "\u{ff}"] {
            assert!(with_param(bad.as_bytes(), "name", "x").is_none(), "{bad}");
        }
    }
}
