//! Reading an upstream's whole answer to a request the gateway makes for
//! a client (a member's fanned-out list, a bridged session's
//! `initialize`): the JSON-RPC response, sent as JSON or as the one
//! response event of an SSE stream.

use http::{Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use serde_json::Value;

use super::is_sse;
use crate::error::GatewayError;
use crate::stack::ProxyBody;

/// Most bytes of one such answer.
const MAX_ANSWER: usize = 16 << 20;

/// Reads an upstream's whole answer to a request: the JSON-RPC response, sent
/// as JSON or as the one response event of an SSE stream.
pub(crate) async fn read_reply(status: StatusCode, sse: bool, body: ProxyBody) -> Result<Value, GatewayError> {
    if status == StatusCode::NOT_FOUND {
        return Err(GatewayError::SessionNotFound);
    }
    let bytes = Limited::new(body, MAX_ANSWER)
        .collect()
        .await
        .map_err(|e| GatewayError::UpstreamFailed(format!("reading a member's answer: {e}")))?
        .to_bytes();
    let parse = |b: &[u8]| {
        serde_json::from_slice::<Value>(b).ok().filter(|v| v.get("result").is_some() || v.get("error").is_some())
    };
    let reply =
        if sse { crate::mcp::sse::event_data(&bytes).iter().find_map(|d| parse(d.as_bytes())) } else { parse(&bytes) };
    match reply {
        Some(r) => Ok(r),
        None if !status.is_success() => Err(GatewayError::UpstreamFailed(format!("member answered HTTP {status}"))),
        None => Err(GatewayError::UpstreamFailed("member's answer holds no JSON-RPC response".into())),
    }
}

/// Reads an upstream response that went through the front's own answer path.
pub(crate) async fn reply_of(resp: Response<ProxyBody>) -> Result<Value, GatewayError> {
    let (parts, body) = resp.into_parts();
    read_reply(parts.status, is_sse(&parts.headers), body).await
}

/// The `result` of a reply, or its error as a failure.
pub(crate) fn result_of(reply: Value) -> Result<Value, GatewayError> {
    match reply {
        Value::Object(mut obj) => match obj.remove("result") {
            Some(result) => Ok(result),
            None => {
                let message =
                    obj.get("error").and_then(|e| e.get("message")).and_then(Value::as_str).unwrap_or("error");
                Err(GatewayError::UpstreamFailed(format!("member answered with an error: {message}")))
            }
        },
        _ => Err(GatewayError::UpstreamFailed("member's answer is not an object".into())),
    }
}
