//! Reading the negotiated protocol version out of an `initialize` response.
//!
//! This is the one response the gateway buffers: it is small, and the version
//! goes into the session token, where it later decides whether a batch is
//! allowed. The body is re-sent unchanged.

use serde::Deserialize;

#[derive(Deserialize)]
struct Reply<'a> {
    #[serde(borrow)]
    result: Option<InitResult<'a>>,
}

#[derive(Deserialize)]
struct InitResult<'a> {
    #[serde(borrow, rename = "protocolVersion")]
    protocol_version: Option<std::borrow::Cow<'a, str>>,
}

/// The `result.protocolVersion` of an initialize response, sent as JSON or as
/// SSE `data:` lines.
pub fn negotiated_version(body: &[u8], sse: bool) -> Option<String> {
    let from_json = |bytes: &[u8]| -> Option<String> {
        let reply: Reply = serde_json::from_slice(bytes).ok()?;
        reply.result?.protocol_version.map(|v| v.into_owned())
    };
    if !sse {
        return from_json(body);
    }
    crate::mcp::sse::event_data(body).iter().find_map(|data| from_json(data.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_and_sse() {
        let json = br#"{"jsonrpc":"2.0","id":1,"result":{"protocolVersion":"2025-06-18","capabilities":{}}}"#;
        assert_eq!(negotiated_version(json, false).as_deref(), Some("2025-06-18"));
        let sse = "id: 0\ndata: \n\nevent: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\ndata: \"result\":{\"protocolVersion\":\"2025-03-26\"}}\n\n";
        assert_eq!(negotiated_version(sse.as_bytes(), true).as_deref(), Some("2025-03-26"));
        assert_eq!(negotiated_version(b"garbage", false), None);
        assert_eq!(negotiated_version(b"data: {\"error\":{}}\n\n", true), None);
    }
}
