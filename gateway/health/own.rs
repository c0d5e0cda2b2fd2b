//! Requests of the gateway's own to an instance (probes, learning its
//! eras): one JSON-RPC request, its answer read whole.

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use serde_json::Value;

use crate::backend::Backend;
use crate::mcp::era::{
    FIRST_STATELESS_VERSION as STATELESS_VERSION, LATEST_SESSION_VERSION as SESSION_VERSION, META_PROTOCOL_VERSION,
};
use crate::mcp::headers::{METHOD, PROTOCOL_VERSION, SESSION_ID};
use crate::table::Instance;

/// Most bytes of a probe answer read.
const MAX_ANSWER: usize = 1 << 20;
pub(super) const USER_AGENT: &str = concat!("switchyard-health/", env!("CARGO_PKG_VERSION"));

/// A failed exchange.
pub(super) enum Failure {
    /// 404 inside a session: the server no longer knows it.
    SessionGone,
    /// Anything else, in words for the table.
    Other(String),
}

impl Failure {
    pub(super) fn into_message(self) -> String {
        match self {
            Failure::SessionGone => "the server no longer knows the probe's session".into(),
            Failure::Other(m) => m,
        }
    }
}

/// `server/discover`, as a 2026-07-28 client with no capabilities sends it.
pub(super) async fn discover(backend: &Backend, instance: &Instance, id: u64) -> Result<(HeaderMap, Value), Failure> {
    let body = format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"server/discover","params":{{"_meta":{{"{META_PROTOCOL_VERSION}":"{STATELESS_VERSION}","io.modelcontextprotocol/clientInfo":{{"name":"switchyard-health","version":"{}"}},"io.modelcontextprotocol/clientCapabilities":{{}}}}}}}}"#,
        env!("CARGO_PKG_VERSION")
    );
    let headers = [
        (PROTOCOL_VERSION, HeaderValue::from_static(STATELESS_VERSION)),
        (METHOD, HeaderValue::from_static("server/discover")),
    ];
    rpc(backend, instance, body, &headers, id).await
}

/// `initialize` at the newest session-era version, with no capabilities.
pub(super) fn initialize_body(id: u64) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"initialize","params":{{"protocolVersion":"{SESSION_VERSION}","capabilities":{{}},"clientInfo":{{"name":"switchyard-health","version":"{}"}}}}}}"#,
        env!("CARGO_PKG_VERSION")
    )
}

/// POSTs one JSON-RPC request and returns the answer's headers and `result`.
pub(super) async fn rpc(
    backend: &Backend,
    instance: &Instance,
    body: String,
    extra: &[(HeaderName, HeaderValue)],
    id: u64,
) -> Result<(HeaderMap, Value), Failure> {
    let in_session = extra.iter().any(|(name, _)| name == SESSION_ID);
    let resp =
        backend.send_own(request(backend, instance, body, extra)).await.map_err(|e| Failure::Other(e.to_string()))?;
    let status = resp.status();
    if status == StatusCode::NOT_FOUND && in_session {
        return Err(Failure::SessionGone);
    }
    if !status.is_success() {
        return Err(Failure::Other(format!("HTTP {status}")));
    }
    let (parts, body) = resp.into_parts();
    let sse = parts.headers.get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
    let bytes = Limited::new(body, MAX_ANSWER)
        .collect()
        .await
        .map_err(|e| Failure::Other(format!("reading the answer: {e}")))?
        .to_bytes();
    let answer = messages(&bytes, sse)
        .into_iter()
        .find(|m| m.get("id").and_then(Value::as_u64) == Some(id))
        .ok_or_else(|| Failure::Other("no answer to the probe in the response".into()))?;
    match (answer.get("result"), answer.get("error")) {
        (Some(result), _) => Ok((parts.headers, result.clone())),
        (None, Some(error)) => Err(Failure::Other(format!("JSON-RPC error {error}"))),
        (None, None) => Err(Failure::Other("answer has neither result nor error".into())),
    }
}

pub(super) fn request(
    backend: &Backend,
    instance: &Instance,
    body: String,
    extra: &[(HeaderName, HeaderValue)],
) -> Request<Full<Bytes>> {
    let mut req = Request::new(Full::new(Bytes::from(body)));
    *req.method_mut() = Method::POST;
    *req.uri_mut() = instance.url().clone();
    let headers = req.headers_mut();
    for (name, value) in &backend.headers {
        headers.insert(name.clone(), value.clone());
    }
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(header::ACCEPT, HeaderValue::from_static("application/json, text/event-stream"));
    headers.insert(header::USER_AGENT, HeaderValue::from_static(USER_AGENT));
    for (name, value) in extra {
        headers.insert(name.clone(), value.clone());
    }
    req
}

/// The JSON messages of a body: one JSON value, or the `data` of each SSE
/// event.
pub(super) fn messages(body: &[u8], sse: bool) -> Vec<Value> {
    if !sse {
        return serde_json::from_slice(body).into_iter().collect();
    }
    crate::mcp::sse::event_data(body).iter().filter_map(|data| serde_json::from_str(data).ok()).collect()
}
