//! Stateless-era (2026-07-28) header checks.
//!
//! A stateless request mirrors its body into headers so that intermediaries
//! can route without parsing: `MCP-Protocol-Version` mirrors
//! `_meta["io.modelcontextprotocol/protocolVersion"]`, `Mcp-Method` mirrors
//! `method`, and `Mcp-Name` mirrors `params.name` or `params.uri`. The gateway
//! itself routes on the body, but the spec requires a proxy that could act on
//! the headers to check them first, and a backend behind us may trust them, so
//! a mismatch is refused here with -32020 rather than forwarded.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::HeaderMap;

use crate::mcp::envelope::{Envelope, Kind};
use crate::mcp::era::{FIRST_STATELESS_VERSION, META_PROTOCOL_VERSION, is_stateless};
use crate::mcp::headers::{METHOD, NAME};

/// Why a stateless request is refused before it reaches a backend.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The request has no `_meta` protocol version, which 2026-07-28 makes
    /// required: a malformed request, 400 / -32602 as a conforming server
    /// answers it. The gateway cannot check the mirrored headers without it.
    Malformed(String),
    /// A mirrored header is missing, or does not match the body: 400 /
    /// -32020, which the spec tells an intermediary to refuse.
    Mismatch(String),
}

/// The methods that mirror a target into `Mcp-Name` in the stateless
/// `version`, and the param it comes from. Only these: a method the
/// version removed (`resources/subscribe`) or never had is forwarded
/// unchecked, so that the upstream answers it (404 / -32601) itself.
pub fn mirrored_name(version: &str, method: &str) -> Option<&'static str> {
    // 2026-07-28 is the only stateless version so far; later ones inherit
    // its table until one changes it.
    debug_assert!(is_stateless(version));
    match method {
        "tools/call" | "prompts/get" => Some("name"),
        "resources/read" => Some("uri"),
        _ => None,
    }
}

/// Checks a stateless request's `_meta` and its mirrored headers against its
/// envelope.
///
/// Refuses only what the spec tells an intermediary to refuse (a missing or
/// mismatched mirrored header) and a request without the `_meta` version
/// those checks need. Everything else about the request (an unknown method,
/// a missing `params.name`) is the upstream's to judge. Responses carry no
/// method and are not mirrored, so they pass; notifications are checked
/// against what they carry.
pub fn validate(headers: &HeaderMap, env: &Envelope, version_header: Option<&str>) -> Result<(), Refusal> {
    let mismatch = |m: String| Refusal::Mismatch(m);
    if env.kind == Kind::Response {
        return Ok(());
    }
    let meta = env.meta_version.as_deref();
    if meta.is_none() && env.kind == Kind::Request {
        return Err(Refusal::Malformed(format!("params._meta[\"{META_PROTOCOL_VERSION}\"] is required")));
    }
    match (version_header, meta) {
        (None, _) => return Err(mismatch("missing MCP-Protocol-Version header".into())),
        (Some(h), Some(meta)) if h != meta => {
            return Err(mismatch(format!(
                "MCP-Protocol-Version header `{h}` does not match _meta protocol version `{meta}`"
            )));
        }
        _ => {}
    }
    let method = env.method();
    match header(headers, &METHOD).map_err(mismatch)? {
        None => return Err(mismatch("missing Mcp-Method header".into())),
        Some(h) if h != method => {
            return Err(mismatch(format!("Mcp-Method header `{h}` does not match method `{method}`")));
        }
        Some(_) => {}
    }
    let version = meta.or(version_header).unwrap_or(FIRST_STATELESS_VERSION);
    let Some(param) = mirrored_name(version, method) else { return Ok(()) };
    match (header(headers, &NAME).map_err(mismatch)?, env.name.as_deref()) {
        // Nothing to mirror and nothing mirrored: the upstream judges the
        // missing param.
        (None, None) => Ok(()),
        (None, Some(_)) => Err(mismatch(format!("missing Mcp-Name header for `{method}`"))),
        (Some(raw), expected) => {
            let decoded = decode(raw).ok_or_else(|| mismatch("Mcp-Name header is not valid =?base64?…?=".into()))?;
            match expected {
                Some(expected) if decoded == expected => Ok(()),
                Some(expected) => {
                    Err(mismatch(format!("Mcp-Name header `{decoded}` does not match params.{param} `{expected}`")))
                }
                None => Err(mismatch(format!("Mcp-Name header `{decoded}` but the body has no string params.{param}"))),
            }
        }
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &http::HeaderName) -> Result<Option<&'a str>, String> {
    let mut values = headers.get_all(name).iter();
    let Some(first) = values.next() else { return Ok(None) };
    if values.next().is_some() {
        return Err(format!("more than one {name} header"));
    }
    first.to_str().map(Some).map_err(|_| format!("{name} header is not ASCII"))
}

/// A mirrored header's value for `value`: as it is when it is plain
/// visible ASCII, else `=?base64?…?=`, as the 2026-07-28 headers rules ask.
pub fn encode(value: &str) -> Option<http::HeaderValue> {
    let plain = !value.is_empty()
        && value.bytes().all(|b| (0x20..0x7f).contains(&b))
        && !value.starts_with(' ')
        && !value.ends_with(' ')
        && !value.starts_with("=?");
    match plain {
        true => http::HeaderValue::from_str(value).ok(),
        false => http::HeaderValue::from_str(&format!("=?base64?{}?=", STANDARD.encode(value))).ok(),
    }
}

/// Decodes `=?base64?…?=`; other values are taken as they are.
pub fn decode(value: &str) -> Option<std::borrow::Cow<'_, str>> {
    match value.strip_prefix("=?base64?").and_then(|v| v.strip_suffix("?=")) {
        Some(inner) => {
            let bytes = STANDARD.decode(inner).ok()?;
            String::from_utf8(bytes).ok().map(Into::into)
        }
        None => Some(value.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mcp::envelope::{Message, parse};

    fn env(body: &str) -> Envelope {
        match parse(body.as_bytes()).unwrap() {
            Message::Single(e) => e,
            Message::Batch(_) => panic!(),
        }
    }

    const CALL: &str = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"échø","_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}"#;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn encoded_names_decode_to_themselves() {
        for name in ["echo", "échø", " padded ", "=?base64?x?=", "a\nb"] {
            let value = encode(name).unwrap();
            assert_eq!(decode(value.to_str().unwrap()).unwrap(), name);
        }
        assert_eq!(encode("echo").unwrap(), "echo");
    }

    #[test]
    fn accepts_matching_headers_with_base64_name() {
        let name = format!("=?base64?{}?=", STANDARD.encode("échø"));
        let h = headers(&[("mcp-method", "tools/call"), ("mcp-name", &name)]);
        assert_eq!(validate(&h, &env(CALL), Some("2026-07-28")), Ok(()));
    }

    #[test]
    fn refuses_each_mismatch() {
        let good_name = format!("=?base64?{}?=", STANDARD.encode("échø"));
        type Case<'a> = (Vec<(&'static str, &'a str)>, Option<&'a str>, &'a str);
        let cases: Vec<Case> = vec![
            (vec![("mcp-method", "tools/call"), ("mcp-name", &good_name)], None, "missing MCP-Protocol-Version"),
            (vec![("mcp-method", "tools/call"), ("mcp-name", &good_name)], Some("2025-06-18"), "does not match _meta"),
            (vec![("mcp-name", &good_name)], Some("2026-07-28"), "missing Mcp-Method"),
            (vec![("mcp-method", "tools/list"), ("mcp-name", &good_name)], Some("2026-07-28"), "does not match method"),
            (vec![("mcp-method", "tools/call")], Some("2026-07-28"), "missing Mcp-Name"),
            (
                vec![("mcp-method", "tools/call"), ("mcp-name", "other")],
                Some("2026-07-28"),
                "does not match params.name",
            ),
            (vec![("mcp-method", "tools/call"), ("mcp-name", "=?base64?%%%?=")], Some("2026-07-28"), "not valid"),
            (
                vec![("mcp-method", "tools/call"), ("mcp-method", "tools/call"), ("mcp-name", &good_name)],
                Some("2026-07-28"),
                "more than one",
            ),
        ];
        for (pairs, version, needle) in cases {
            let err = validate(&headers(&pairs), &env(CALL), version).unwrap_err();
            let Refusal::Mismatch(err) = err else { panic!("{pairs:?}: {err:?}") };
            assert!(err.contains(needle), "{pairs:?}: {err}");
        }
    }

    #[test]
    fn a_request_without_its_meta_version_is_malformed() {
        let h = headers(&[("mcp-method", "tools/list")]);
        for body in [
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{}}}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":7}}}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":"x"}}"#,
        ] {
            let err = validate(&h, &env(body), Some("2026-07-28")).unwrap_err();
            assert!(matches!(&err, Refusal::Malformed(m) if m.contains("protocolVersion")), "{body}: {err:?}");
        }
        // A notification carries no required `_meta`; what it mirrors is
        // still checked.
        let note = r#"{"jsonrpc":"2.0","method":"notifications/x"}"#;
        assert_eq!(validate(&headers(&[("mcp-method", "notifications/x")]), &env(note), Some("2026-07-28")), Ok(()));
        assert!(matches!(validate(&h, &env(note), Some("2026-07-28")), Err(Refusal::Mismatch(_))));
    }

    #[test]
    fn mcp_name_only_for_the_methods_the_version_mirrors() {
        let meta = r#""_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}"#;
        // Removed in 2026-07-28, or unknown: forwarded whatever its params.
        for method in ["resources/subscribe", "resources/unsubscribe", "vendor/thing"] {
            let body = format!(r#"{{"jsonrpc":"2.0","id":1,"method":"{method}","params":{{{meta}}}}}"#);
            assert_eq!(
                validate(&headers(&[("mcp-method", method)]), &env(&body), Some("2026-07-28")),
                Ok(()),
                "{method}"
            );
        }
        // A mirrored method without its param and without the header: the
        // upstream judges the missing param.
        let body = format!(r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{{meta}}}}}"#);
        assert_eq!(validate(&headers(&[("mcp-method", "tools/call")]), &env(&body), Some("2026-07-28")), Ok(()));
        // ... but a header that names what the body does not is a mismatch.
        let h = headers(&[("mcp-method", "tools/call"), ("mcp-name", "echo")]);
        assert!(matches!(validate(&h, &env(&body), Some("2026-07-28")), Err(Refusal::Mismatch(_))));
        let body = format!(r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":5,{meta}}}}}"#);
        assert!(matches!(validate(&h, &env(&body), Some("2026-07-28")), Err(Refusal::Mismatch(_))));
        assert_eq!(mirrored_name("2026-07-28", "resources/read"), Some("uri"));
        assert_eq!(mirrored_name("2026-07-28", "prompts/get"), Some("name"));
        assert_eq!(mirrored_name("2026-07-28", "resources/subscribe"), None);
    }

    #[test]
    fn list_needs_no_name() {
        let body = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}"#;
        assert_eq!(validate(&headers(&[("mcp-method", "tools/list")]), &env(body), Some("2026-07-28")), Ok(()));
    }
}
