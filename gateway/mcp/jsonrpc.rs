//! JSON-RPC 2.0 wire pieces shared by the gateway and the mock server.
//!
//! Only what both sides need to *write*: error bodies and the standard codes.
//! Reading requests is the front door's job (`front::envelope`), because the
//! gateway parses only the envelope and keeps the rest as raw bytes.

use bytes::Bytes;
use serde_json::value::RawValue;

/// Invalid JSON was received.
pub const PARSE_ERROR: i32 = -32700;
/// The JSON sent is not a valid request object.
pub const INVALID_REQUEST: i32 = -32600;
/// The method does not exist.
pub const METHOD_NOT_FOUND: i32 = -32601;
/// Invalid method parameters.
pub const INVALID_PARAMS: i32 = -32602;
/// Internal error.
pub const INTERNAL_ERROR: i32 = -32603;
/// 2026-07-28: a mirrored header is missing or does not match the body.
pub const HEADER_MISMATCH: i32 = -32020;
/// 2026-07-28: the protocol version is not supported.
pub const UNSUPPORTED_VERSION: i32 = -32022;

/// Serialises `{"jsonrpc":"2.0","id":..,"error":{"code":..,"message":..}}`.
///
/// `id` is the raw id of the request being answered, or `None` for `null`
/// (the request could not be parsed far enough to know it).
pub fn error_body(id: Option<&RawValue>, code: i32, message: &str) -> Bytes {
    error_body_with_data(id, code, message, None)
}

/// Like [`error_body`], with a `data` member.
pub fn error_body_with_data(
    id: Option<&RawValue>,
    code: i32,
    message: &str,
    data: Option<&serde_json::Value>,
) -> Bytes {
    let mut out = Vec::with_capacity(96 + message.len());
    out.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"id\":");
    out.extend_from_slice(id.map_or("null", RawValue::get).as_bytes());
    out.extend_from_slice(b",\"error\":{\"code\":");
    out.extend_from_slice(code.to_string().as_bytes());
    out.extend_from_slice(b",\"message\":");
    // Serialising a &str cannot fail.
    serde_json::to_writer(&mut out, message).unwrap_or_default();
    if let Some(data) = data {
        out.extend_from_slice(b",\"data\":");
        serde_json::to_writer(&mut out, data).unwrap_or_default();
    }
    out.extend_from_slice(b"}}");
    Bytes::from(out)
}

/// Serialises a success response around an already-serialised `result`.
pub fn result_body(id: &RawValue, result: &[u8]) -> Bytes {
    response_body(id, b"result", result)
}

/// Serialises an error response around an already-serialised `error`
/// object (one kept from an upstream answer, say).
pub fn raw_error_body(id: &RawValue, error: &[u8]) -> Bytes {
    response_body(id, b"error", error)
}

fn response_body(id: &RawValue, member: &[u8], raw: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(40 + raw.len());
    out.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"id\":");
    out.extend_from_slice(id.get().as_bytes());
    out.extend_from_slice(b",\"");
    out.extend_from_slice(member);
    out.extend_from_slice(b"\":");
    out.extend_from_slice(raw);
    out.push(b'}');
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_body_echoes_id_and_escapes_message() {
        let id = RawValue::from_string("\"a-1\"".into()).unwrap();
        let body = error_body(Some(&id), INVALID_REQUEST, "bad \"thing\"");
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["id"], "a-1");
        assert_eq!(v["error"]["code"], -32600);
        assert_eq!(v["error"]["message"], "bad \"thing\"");
    }

    #[test]
    fn error_body_without_id_is_null() {
        let body = error_body(None, PARSE_ERROR, "x");
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert!(v["id"].is_null());
    }

    #[test]
    fn result_body_wraps_raw_result() {
        let id = RawValue::from_string("7".into()).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&result_body(&id, b"{\"ok\":1}")).unwrap();
        assert_eq!(v["id"], 7);
        assert_eq!(v["result"]["ok"], 1);
        let e: serde_json::Value =
            serde_json::from_slice(&raw_error_body(&id, b"{\"code\":-1,\"message\":\"m\"}")).unwrap();
        assert_eq!((e["id"].clone(), e["error"]["code"].clone()), (serde_json::json!(7), serde_json::json!(-1)));
    }
}
