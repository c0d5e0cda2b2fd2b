//! Reading an upstream's whole answer to a request the gateway makes for
//! a client (a member's fanned-out list, a bridged session's
//! `initialize`): the JSON-RPC response, sent as JSON or as the one
//! response event of an SSE stream.

use bytes::{Bytes, BytesMut};
use http::{Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use serde_json::Value;
use tokio::sync::mpsc;

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

/// Reads an upstream's SSE body event by event, sending each JSON-RPC
/// message, as `each` makes it and compacted onto one line, to `out`. Ends
/// with the body, when `out` is closed, or at an event over `max` bytes
/// (`what` names the stream in that warning).
pub(crate) async fn each_event(
    mut body: ProxyBody,
    out: mpsc::UnboundedSender<Bytes>,
    max: usize,
    what: &str,
    mut each: impl FnMut(&str) -> Option<Bytes>,
) {
    let mut buf = BytesMut::new();
    loop {
        let frame = tokio::select! {
            f = body.frame() => f,
            _ = out.closed() => return,
        };
        let Some(Ok(frame)) = frame else { return };
        let Ok(data) = frame.into_data() else { continue };
        buf.extend_from_slice(&data);
        if buf.len() > max && crate::mcp::sse::event_end(&buf).is_none() {
            tracing::warn!("{what} sent an event over {max} bytes; the stream is cut there");
            return;
        }
        while let Some(end) = crate::mcp::sse::event_end(&buf) {
            let event = buf.split_to(end);
            for message in crate::mcp::sse::event_data(&event) {
                let Some(made) = each(&message) else { continue };
                // One line, so that the message fits on one `data:` line: a
                // JSON text with no raw newline is one already (a string
                // cannot hold one), and most are; the rest are compacted.
                let line = match made.contains(&b'\n') {
                    false => made,
                    true => match serde_json::from_slice::<Value>(&made).ok().and_then(|v| serde_json::to_vec(&v).ok())
                    {
                        Some(compact) => Bytes::from(compact),
                        None => continue,
                    },
                };
                if out.send(line).is_err() {
                    return;
                }
            }
        }
    }
}
