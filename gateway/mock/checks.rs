//! The header checks a strict server makes before reading a body.

use std::borrow::Cow;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hyper::HeaderMap;
use hyper::header::{ACCEPT, CONTENT_TYPE, HeaderName};

/// `MCP-Protocol-Version`.
pub(crate) static PROTOCOL_VERSION: HeaderName = HeaderName::from_static("mcp-protocol-version");
/// `Mcp-Session-Id`.
pub(crate) static SESSION_ID: HeaderName = HeaderName::from_static("mcp-session-id");
/// `Mcp-Method` (2026-07-28).
pub(crate) static METHOD: HeaderName = HeaderName::from_static("mcp-method");
/// `Mcp-Name` (2026-07-28).
pub(crate) static NAME: HeaderName = HeaderName::from_static("mcp-name");

/// Whether `Accept` admits JSON (if `json`) and SSE (if `sse`).
///
/// Wildcards count; `q` parameters are ignored, as real servers do.
pub(crate) fn accepts(headers: &HeaderMap, json: bool, sse: bool) -> bool {
    let (mut has_json, mut has_sse) = (!json, !sse);
    let items = headers.get_all(ACCEPT).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(','));
    for item in items {
        let media = media_type(item);
        let is = |m: &str| media.eq_ignore_ascii_case(m);
        has_json |= is("application/json") || is("application/*") || is("*/*");
        has_sse |= is("text/event-stream") || is("text/*") || is("*/*");
    }
    has_json && has_sse
}

/// Whether `Content-Type` is `application/json` (parameters allowed).
pub(crate) fn is_json_content(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| media_type(v).eq_ignore_ascii_case("application/json"))
}

/// The one value of a mirrored header, `=?base64?…?=` decoded.
///
/// `Ok(None)` when absent. A repeated header is an error: an intermediary that
/// picks a different copy could route on a value the body does not hold.
pub(crate) fn mirrored<'h>(headers: &'h HeaderMap, name: &HeaderName) -> Result<Option<Cow<'h, str>>, &'static str> {
    let mut all = headers.get_all(name).iter();
    let Some(value) = all.next() else {
        return Ok(None);
    };
    if all.next().is_some() {
        return Err("repeated header");
    }
    let value = std::str::from_utf8(value.as_bytes()).map_err(|_| "header is not UTF-8")?;
    match value.strip_prefix("=?base64?").and_then(|v| v.strip_suffix("?=")) {
        None => Ok(Some(Cow::Borrowed(value))),
        Some(encoded) => {
            let bytes = STANDARD.decode(encoded).map_err(|_| "header is not valid base64")?;
            String::from_utf8(bytes).map(|s| Some(Cow::Owned(s))).map_err(|_| "decoded header is not UTF-8")
        }
    }
}

/// The session id header, if present and readable.
pub(crate) fn session_id(headers: &HeaderMap) -> Option<&str> {
    headers.get(&SESSION_ID).and_then(|v| v.to_str().ok())
}

fn media_type(value: &str) -> &str {
    value.split(';').next().unwrap_or_default().trim()
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    fn with(name: HeaderName, values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(name.clone(), HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn accept_needs_both_or_a_wildcard() {
        let a = |v: &[&str]| accepts(&with(ACCEPT, v), true, true);
        assert!(a(&["application/json, text/event-stream"]));
        assert!(a(&["text/event-stream;q=0.9", "Application/JSON"]));
        assert!(a(&["*/*"]));
        assert!(!a(&["application/json"]));
        assert!(!a(&[]));
        assert!(accepts(&with(ACCEPT, &["text/event-stream"]), false, true));
    }

    #[test]
    fn content_type_allows_parameters() {
        assert!(is_json_content(&with(CONTENT_TYPE, &["application/json; charset=utf-8"])));
        assert!(!is_json_content(&with(CONTENT_TYPE, &["text/plain"])));
        assert!(!is_json_content(&HeaderMap::new()));
    }

    #[test]
    fn mirrored_headers_decode_base64_and_refuse_repeats() {
        let h = with(NAME.clone(), &["=?base64?aMOpbGxv?="]);
        assert_eq!(mirrored(&h, &NAME).unwrap().as_deref(), Some("héllo"));
        let h = with(NAME.clone(), &["echo"]);
        assert_eq!(mirrored(&h, &NAME).unwrap().as_deref(), Some("echo"));
        assert_eq!(mirrored(&HeaderMap::new(), &NAME), Ok(None));
        assert!(mirrored(&with(NAME.clone(), &["a", "b"]), &NAME).is_err());
        assert!(mirrored(&with(NAME.clone(), &["=?base64?!!?="]), &NAME).is_err());
    }
}
