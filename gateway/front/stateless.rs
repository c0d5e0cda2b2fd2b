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

use super::envelope::{Envelope, Kind, name_param};

/// The first protocol version of the stateless era. Versions are dates, so
/// later versions compare greater as strings.
pub const FIRST_STATELESS_VERSION: &str = "2026-07-28";

/// Whether `version` belongs to the stateless era.
pub fn is_stateless(version: &str) -> bool {
    version >= FIRST_STATELESS_VERSION
}

/// Checks the mirrored headers of a stateless request against its envelope.
///
/// Returns the reason for a -32020 answer. Responses carry no method and are
/// not mirrored, so they pass.
pub fn validate(headers: &HeaderMap, env: &Envelope, version_header: Option<&str>) -> Result<(), String> {
    if env.kind == Kind::Response {
        return Ok(());
    }
    let meta = env.meta_version.as_deref().unwrap_or("");
    match version_header {
        None => return Err("missing MCP-Protocol-Version header".into()),
        Some(h) if h != meta => {
            return Err(format!("MCP-Protocol-Version header `{h}` does not match _meta protocol version `{meta}`"));
        }
        Some(_) => {}
    }
    let method = env.method();
    match header(headers, "mcp-method")? {
        None => return Err("missing Mcp-Method header".into()),
        Some(h) if h != method => return Err(format!("Mcp-Method header `{h}` does not match method `{method}`")),
        Some(_) => {}
    }
    if let Some(param) = name_param(method) {
        let Some(expected) = env.name.as_deref() else {
            return Err(format!("`{method}` needs `params.{param}`"));
        };
        match header(headers, "mcp-name")? {
            None => return Err(format!("missing Mcp-Name header for `{method}`")),
            Some(raw) => {
                let decoded = decode(raw).ok_or("Mcp-Name header is not valid =?base64?…?=")?;
                if decoded != expected {
                    return Err(format!("Mcp-Name header `{decoded}` does not match params.{param} `{expected}`"));
                }
            }
        }
    }
    Ok(())
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, String> {
    let mut values = headers.get_all(name).iter();
    let Some(first) = values.next() else { return Ok(None) };
    if values.next().is_some() {
        return Err(format!("more than one {name} header"));
    }
    first.to_str().map(Some).map_err(|_| format!("{name} header is not ASCII"))
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
    use crate::front::envelope::{Message, parse};

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
            assert!(err.contains(needle), "{pairs:?}: {err}");
        }
    }

    #[test]
    fn list_needs_no_name() {
        let body = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}"#;
        assert_eq!(validate(&headers(&[("mcp-method", "tools/list")]), &env(body), Some("2026-07-28")), Ok(()));
    }

    #[test]
    fn era_by_version() {
        assert!(is_stateless("2026-07-28"));
        assert!(is_stateless("2027-01-01"));
        assert!(!is_stateless("2025-11-25"));
    }
}
