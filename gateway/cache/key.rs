//! The cache key, and the canonical form of a request's params in it.
//!
//! Two requests that ask the same thing must get the same key, whatever the
//! order their client wrote the params in and whatever their ids; two that
//! could get different answers must not. So the key holds:
//!
//! - the protocol version, because result shapes differ between versions;
//! - the principal, unless the answer says it is `public` (see
//!   [`super::Scope`]): one client's private answer never reaches another;
//! - the method, and `params.name` / `params.uri` for targeted
//!   invalidation;
//! - the params with object keys sorted, `_meta.progressToken` dropped (it
//!   names the request's progress stream, not what is asked) and an absent
//!   `params` written as `{}`.
//!
//! The backend is not in the key: each backend has a cache of its own.
//! The session is not in it either: sessions of one principal share
//! answers (see the module doc of [`super`] for why that is safe).

use std::fmt::Write as _;
use std::sync::Arc;

use serde_json::Value;

use crate::front::principal::Principal;

/// A cache key: cheap to clone, compared in full.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Key(Arc<Parts>);

#[derive(Debug, PartialEq, Eq, Hash)]
struct Parts {
    version: Box<str>,
    /// `None` for an answer marked public.
    principal: Option<Principal>,
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
}

// === impl Key ===

impl Key {
    /// The key of a request for `principal`.
    pub fn new(version: &str, principal: Principal, method: &str, name: Option<&str>, params: String) -> Self {
        Key(Arc::new(Parts {
            version: version.into(),
            principal: Some(principal),
            method: method.into(),
            name: name.map(Into::into),
            params: params.into(),
        }))
    }

    /// The same key with the principal left out, for answers marked public.
    pub fn public(&self) -> Self {
        let p = &self.0;
        Key(Arc::new(Parts {
            version: p.version.clone(),
            principal: None,
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
        64 + p.version.len() + p.method.len() + p.name.as_ref().map_or(0, |n| n.len()) + p.params.len()
    }
}

/// The canonical text of a JSON-RPC request's `params`: keys sorted at every
/// depth, `_meta.progressToken` dropped (and `_meta` with it when that
/// leaves it empty), absent params as `{}`.
pub fn canonical_params(body: &[u8]) -> Result<String, BadParams> {
    #[derive(serde::Deserialize)]
    struct Request {
        #[serde(default)]
        params: Option<Value>,
    }
    let request: Request = serde_json::from_slice(body).map_err(|_| BadParams::NotJson)?;
    let mut params = match request.params {
        None | Some(Value::Null) => return Ok("{}".into()),
        Some(Value::Object(map)) => map,
        Some(_) => return Err(BadParams::NotObject),
    };
    if let Some(Value::Object(meta)) = params.get_mut("_meta") {
        meta.remove("progressToken");
        if meta.is_empty() {
            params.remove("_meta");
        }
    }
    let mut out = String::with_capacity(64);
    write_sorted(&Value::Object(params), &mut out);
    Ok(out)
}

/// Writes `value` as JSON with object keys sorted, whatever order the map
/// keeps them in (serde_json's `preserve_order` may be on in a build).
fn write_sorted(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                let _ = write!(out, "{}:", Value::String(k.clone()));
                write_sorted(v, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_sorted(v, out);
            }
            out.push(']');
        }
        scalar => {
            let _ = write!(out, "{scalar}");
        }
    }
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
    }

    #[test]
    fn keys_differ_by_principal_version_and_method_and_public_drops_the_principal() {
        let ip = |n| Principal::Ip(std::net::IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, n)));
        let k = |v: &str, p, m: &str| Key::new(v, p, m, None, "{}".into());
        let base = k("2025-06-18", ip(1), "tools/list");
        assert_eq!(base, k("2025-06-18", ip(1), "tools/list"));
        assert_ne!(base, k("2025-06-18", ip(2), "tools/list"));
        assert_ne!(base, k("2025-11-25", ip(1), "tools/list"));
        assert_ne!(base, k("2025-06-18", ip(1), "prompts/list"));
        assert_eq!(base.public(), k("2025-06-18", ip(2), "tools/list").public());
        assert_ne!(base.public(), base);
    }
}
