//! The cache key, and the canonical form of a request's params in it.
//!
//! Two requests that ask the same thing must get the same key, whatever the
//! order their client wrote the params in and whatever their ids; two that
//! could get different answers must not. So the key holds:
//!
//! - the protocol version, because result shapes differ between versions;
//! - the principal, unless the answer says it is `public` (see
//!   [`super::Scope`]): one client's private answer never reaches another;
//! - the session, on a backend that gives each session a process of its
//!   own (stdio `per_session`): that process's state is the session's, so
//!   not even `public` answers cross sessions there;
//! - the method, and `params.name` / `params.uri` for targeted
//!   invalidation;
//! - the params with object keys sorted, `_meta.progressToken` dropped (it
//!   names the request's progress stream, not what is asked) and an absent
//!   `params` written as `{}`.
//!
//! The backend is not in the key: each backend has a cache of its own.
//! Elsewhere the session is not in it: sessions of one principal share
//! answers (see the module doc of [`super`] for why that is safe).

use std::borrow::Cow;
use std::sync::Arc;

use serde_json::value::RawValue;

use crate::client::Principal;

/// A cache key: cheap to clone, compared in full.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Key(Arc<Parts>);

#[derive(Debug, PartialEq, Eq, Hash)]
struct Parts {
    version: Box<str>,
    /// `None` for an answer marked public.
    principal: Option<Principal>,
    /// The session, where each has a process of its own; kept in public keys.
    session: Option<Box<str>>,
    method: Box<str>,
    /// `params.name` or `params.uri`.
    name: Option<Box<str>>,
    params: Box<str>,
}

/// Why a request's params cannot be keyed; such a request bypasses the cache.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum BadParams {
    /// The body is not JSON (the envelope parser normally catches this).
    #[error("the request body is not JSON")]
    NotJson,
    /// `params` is not an object.
    #[error("`params` is not an object")]
    NotObject,
    /// An object in `params` names a key twice. Servers disagree on which
    /// one counts, so no key could stand for what the server will read.
    #[error("an object in `params` has a duplicate key")]
    DuplicateKey,
}

// === impl Key ===

impl Key {
    /// The key of a request for `principal`, in `session` where answers
    /// are per session.
    pub fn new(
        version: &str,
        principal: Principal,
        session: Option<&str>,
        method: &str,
        name: Option<&str>,
        params: String,
    ) -> Self {
        Key(Arc::new(Parts {
            version: version.into(),
            principal: Some(principal),
            session: session.map(Into::into),
            method: method.into(),
            name: name.map(Into::into),
            params: params.into(),
        }))
    }

    /// The same key with the principal left out, for answers marked public.
    /// The session stays: a public answer of one session's process says
    /// nothing of another's.
    pub fn public(&self) -> Self {
        let p = &self.0;
        Key(Arc::new(Parts {
            version: p.version.clone(),
            principal: None,
            session: p.session.clone(),
            method: p.method.clone(),
            name: p.name.clone(),
            params: p.params.clone(),
        }))
    }

    /// The method.
    pub fn method(&self) -> &str {
        &self.0.method
    }

    /// `params.name` or `params.uri`.
    pub fn name(&self) -> Option<&str> {
        self.0.name.as_deref()
    }

    /// Bytes the key holds, counted in the cache's weight.
    pub fn weight(&self) -> usize {
        let p = &self.0;
        64 + p.version.len()
            + p.session.as_ref().map_or(0, |s| s.len())
            + p.method.len()
            + p.name.as_ref().map_or(0, |n| n.len())
            + p.params.len()
    }
}

/// The canonical text of a JSON-RPC request's `params`: keys sorted at every
/// depth, `_meta.progressToken` dropped (and `_meta` with it when that
/// leaves it empty), absent params as `{}`.
///
/// It works on the raw text, never building a `serde_json::Value`: objects
/// are read as sorted lists of borrowed raw values, and scalars are copied as
/// the client wrote them. So `1` and `1.0`, or `"A"` and `"\u0041"`, make
/// different keys: a miss, never a wrong answer.
pub fn canonical_params(body: &[u8]) -> Result<String, BadParams> {
    #[derive(serde::Deserialize)]
    struct Request<'a> {
        #[serde(borrow, default)]
        params: Option<&'a RawValue>,
    }
    let request: Request = serde_json::from_slice(body).map_err(|_| BadParams::NotJson)?;
    let params = match request.params.map(RawValue::get) {
        None | Some("null") => return Ok("{}".into()),
        Some(text) if text.starts_with('{') => text,
        Some(_) => return Err(BadParams::NotObject),
    };
    let mut out = String::with_capacity(params.len());
    write_object(params, true, &mut out)?;
    Ok(out)
}

/// The members of the object `text`, sorted by key; a key named twice
/// makes the request uncacheable.
fn entries(text: &str) -> Result<Vec<(Name<'_>, &RawValue)>, BadParams> {
    let Members(mut members) = serde_json::from_str(text).map_err(|_| BadParams::NotJson)?;
    members.sort_by(|a, b| a.0.cmp(&b.0));
    if members.windows(2).any(|w| w[0].0 == w[1].0) {
        return Err(BadParams::DuplicateKey);
    }
    Ok(members)
}

/// An object's members in the order written, duplicates kept (a map type
/// would keep one of them silently).
struct Members<'a>(Vec<(Name<'a>, &'a RawValue)>);

impl<'de: 'a, 'a> serde::Deserialize<'de> for Members<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for Visitor<'a> {
            type Value = Members<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut members = Vec::with_capacity(map.size_hint().unwrap_or(4));
                while let Some(member) = map.next_entry()? {
                    members.push(member);
                }
                Ok(Members(members))
            }
        }
        d.deserialize_map(Visitor(std::marker::PhantomData))
    }
}

/// An object key, borrowed from the body unless it holds escapes.
#[derive(serde::Deserialize, PartialEq, Eq, PartialOrd, Ord)]
struct Name<'a>(#[serde(borrow)] Cow<'a, str>);

/// Writes the object `text` with its keys sorted; `top` marks `params`
/// itself, whose `_meta.progressToken` is left out.
fn write_object(text: &str, top: bool, out: &mut String) -> Result<(), BadParams> {
    let map = entries(text)?;
    out.push('{');
    let mut first = true;
    for (name, value) in &map {
        let mark = out.len();
        if !first {
            out.push(',');
        }
        write_name(name, out)?;
        out.push(':');
        if top && name.0 == "_meta" && value.get().starts_with('{') {
            if !write_meta(value.get(), out)? {
                out.truncate(mark);
                continue;
            }
        } else {
            write_value(value.get(), out)?;
        }
        first = false;
    }
    out.push('}');
    Ok(())
}

/// Writes `params._meta` without its `progressToken` (it names the
/// request's progress stream, not what is asked). Returns whether anything
/// was left to write.
fn write_meta(text: &str, out: &mut String) -> Result<bool, BadParams> {
    let map = entries(text)?;
    let kept: Vec<_> = map.iter().filter(|(Name(name), _)| *name != "progressToken").collect();
    if kept.is_empty() {
        return Ok(false);
    }
    out.push('{');
    for (i, (name, value)) in kept.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_name(name, out)?;
        out.push(':');
        write_value(value.get(), out)?;
    }
    out.push('}');
    Ok(true)
}

fn write_value(text: &str, out: &mut String) -> Result<(), BadParams> {
    match text.as_bytes().first() {
        Some(b'{') => write_object(text, false, out),
        Some(b'[') => {
            let items: Vec<&RawValue> = serde_json::from_str(text).map_err(|_| BadParams::NotJson)?;
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(item.get(), out)?;
            }
            out.push(']');
            Ok(())
        }
        _ => {
            out.push_str(text);
            Ok(())
        }
    }
}

/// Writes an object key as a JSON string. A key serde_json could borrow had
/// no escapes in the body, so its text is already valid inside quotes.
fn write_name(Name(name): &Name<'_>, out: &mut String) -> Result<(), BadParams> {
    match name {
        Cow::Borrowed(text) => {
            out.push('"');
            out.push_str(text);
            out.push('"');
        }
        Cow::Owned(text) => out.push_str(&serde_json::to_string(text).map_err(|_| BadParams::NotJson)?),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_order_does_not_matter_at_any_depth() {
        let a = canonical_params(br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","arguments":{"b":1,"a":[{"d":2,"c":3}]}}}"#);
        let b = canonical_params(br#"{"params":{"arguments":{"a":[{"c":3,"d":2}],"b":1},"name":"x"},"method":"tools/call","id":1,"jsonrpc":"2.0"}"#);
        assert_eq!(a, b);
        assert_eq!(a.unwrap(), r#"{"arguments":{"a":[{"c":3,"d":2}],"b":1},"name":"x"}"#);
    }

    #[test]
    fn the_id_and_progress_token_are_ignored_but_other_meta_is_kept() {
        let a = canonical_params(br#"{"id":1,"params":{"cursor":"c","_meta":{"progressToken":7}}}"#).unwrap();
        let b = canonical_params(br#"{"id":"other","params":{"cursor":"c"}}"#).unwrap();
        assert_eq!(a, b);
        let c = canonical_params(br#"{"id":1,"params":{"cursor":"c","_meta":{"progressToken":7,"k":1}}}"#).unwrap();
        assert_eq!(c, r#"{"_meta":{"k":1},"cursor":"c"}"#);
    }

    #[test]
    fn escaped_keys_match_plain_ones_and_only_the_top_meta_loses_its_token() {
        let escaped = canonical_params(br#"{"params":{"a\u0062":1,"aa":2}}"#).unwrap();
        assert_eq!(escaped, r#"{"aa":2,"ab":1}"#);
        let quoted = canonical_params(br#"{"params":{"q\"k":1}}"#).unwrap();
        assert_eq!(quoted, r#"{"q\"k":1}"#);
        let nested =
            canonical_params(br#"{"params":{"arguments":{"_meta":{"progressToken":1}},"_meta":{"progressToken":2}}}"#);
        assert_eq!(nested.unwrap(), r#"{"arguments":{"_meta":{"progressToken":1}}}"#);
        let spaced = canonical_params(b"{\"params\": { \"b\" : [ 1 , {\"y\":2, \"x\":1} ] , \"a\" : null } }").unwrap();
        assert_eq!(spaced, r#"{"a":null,"b":[1,{"x":1,"y":2}]}"#);
    }

    #[test]
    fn absent_null_and_empty_params_are_the_same() {
        let empty = canonical_params(br#"{"id":1,"params":{}}"#).unwrap();
        assert_eq!(canonical_params(br#"{"id":1}"#).unwrap(), empty);
        assert_eq!(canonical_params(br#"{"id":1,"params":null}"#).unwrap(), empty);
    }

    #[test]
    fn different_values_and_strings_with_escapes_differ() {
        let a = canonical_params(br#"{"params":{"uri":"a\"b"}}"#).unwrap();
        let b = canonical_params(br#"{"params":{"uri":"a\\b"}}"#).unwrap();
        assert_ne!(a, b);
        assert_eq!(a, r#"{"uri":"a\"b"}"#);
        assert_ne!(canonical_params(br#"{"params":{"n":1}}"#), canonical_params(br#"{"params":{"n":1.0}}"#));
    }

    #[test]
    fn bad_params_are_refused() {
        assert_eq!(canonical_params(br#"{"params":[1,2]}"#), Err(BadParams::NotObject));
        assert_eq!(canonical_params(br#"{"params":"x"}"#), Err(BadParams::NotObject));
        assert_eq!(canonical_params(b"{not json"), Err(BadParams::NotJson));
        assert_eq!(canonical_params(br#"{"params":{"a":}}"#), Err(BadParams::NotJson));
        assert_eq!(canonical_params(br#"{"params":{"a":[1,}}"#), Err(BadParams::NotJson));
        // A duplicate key at any depth, however it is spelled, bypasses the cache.
        assert_eq!(canonical_params(br#"{"params":{"q":"a","q":"b"}}"#), Err(BadParams::DuplicateKey));
        let nested = br#"{"params":{"arguments":{"q":"a","\u0071":"b"}}}"#;
        assert_eq!(canonical_params(nested), Err(BadParams::DuplicateKey));
        assert_eq!(canonical_params(br#"{"params":{"a":[{"k":1,"k":1}]}}"#), Err(BadParams::DuplicateKey));
    }

    #[test]
    fn keys_differ_by_principal_version_and_method_and_public_drops_the_principal() {
        let ip = |n| Principal::Ip(std::net::IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, n)));
        let k = |v: &str, p, m: &str| Key::new(v, p, None, m, None, "{}".into());
        let base = k("2025-06-18", ip(1), "tools/list");
        assert_eq!(base, k("2025-06-18", ip(1), "tools/list"));
        assert_ne!(base, k("2025-06-18", ip(2), "tools/list"));
        assert_ne!(base, k("2025-11-25", ip(1), "tools/list"));
        assert_ne!(base, k("2025-06-18", ip(1), "prompts/list"));
        assert_eq!(base.public(), k("2025-06-18", ip(2), "tools/list").public());
        assert_ne!(base.public(), base);
    }

    #[test]
    fn per_session_keys_differ_by_session_even_when_public() {
        let ip = Principal::Ip(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));
        let k = |s: Option<&str>| Key::new("2025-06-18", ip, s, "tools/list", None, "{}".into());
        assert_eq!(k(Some("1")), k(Some("1")));
        assert_ne!(k(Some("1")), k(Some("2")));
        assert_ne!(k(Some("1")), k(None));
        assert_ne!(k(Some("1")).public(), k(Some("2")).public());
        assert_ne!(k(Some("1")).public(), k(None).public());
    }
}
