//! A miss: the upstream's answer buffered and split into what may be kept
//! (a result) and what may not (everything else); and the replay of a kept
//! answer, as JSON or SSE, with the asking client's own id.
//!
//! Errors are never cached: a JSON-RPC error, a non-2xx answer, a body that
//! cannot be read or holds no response, a stateless-era result that is not
//! `complete` (an input request is for one client, once). Each of those
//! reaches the caller that made the fetch as it came; callers that waited
//! on that fetch get the same JSON-RPC error with their own id, or a clean
//! 502, never a hang.

use std::borrow::Cow;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::{BodyExt, Limited};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::mcp::headers::REQUEST_ID;
use crate::stack::ProxyBody;

/// The header that says how the cache served a response.
pub const CACHE_HEADER: http::HeaderName = http::HeaderName::from_static("x-switchyard-cache");

/// Largest answer buffered for the cache; a larger one fails its fetch.
pub const MAX_ANSWER: usize = 16 << 20;

/// A fetch that produced nothing to keep.
#[derive(Debug)]
pub enum Miss {
    /// A JSON-RPC error, replayed to each waiter with its own id.
    Rpc {
        /// The upstream's HTTP status.
        status: StatusCode,
        /// The raw `error` object.
        error: Bytes,
    },
    /// Any other answer: passed on as it came to the caller that fetched.
    Other {
        /// The upstream's HTTP status.
        status: StatusCode,
        /// Its `Content-Type`.
        content_type: Option<HeaderValue>,
        /// Its body.
        body: Bytes,
        /// Why it is not a result, for waiters' errors and logs.
        reason: String,
    },
    /// No answer at all; the fetching caller gets the gateway's own error.
    Gateway(String),
    /// A result an invalidation overtook while it was fetched (see
    /// [`super::invalidations`]): every caller gets it, nobody keeps it.
    Overtaken(Bytes),
}

/// What a result says about its own caching (2026-07-28, SEP-2549).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Hints {
    /// `cacheScope: "public"`: the same for every principal.
    pub public: bool,
    /// `ttlMs`: how long it may be kept, at most.
    pub ttl_ms: Option<u64>,
    /// `resultType` is present and is not `"complete"`.
    pub incomplete: bool,
}

/// A fetched answer that may be kept: the raw result and its hints.
pub struct Fetched {
    /// The raw `result` value.
    pub result: Bytes,
    /// What it says about caching.
    pub hints: Hints,
}

/// Buffers `resp` and takes its JSON-RPC response apart.
pub async fn take_apart(resp: Response<ProxyBody>) -> Result<Fetched, Miss> {
    let (parts, body) = resp.into_parts();
    let content_type = parts.headers.get(header::CONTENT_TYPE).cloned();
    let body = Limited::new(body, MAX_ANSWER)
        .collect()
        .await
        .map_err(|e| Miss::Gateway(format!("reading the upstream answer: {e}")))?
        .to_bytes();
    let other = |reason: String| Miss::Other {
        status: parts.status,
        content_type: content_type.clone(),
        body: body.clone(),
        reason,
    };
    let sse = content_type.as_ref().and_then(|v| v.to_str().ok()).is_some_and(|v| v.starts_with("text/event-stream"));
    let messages: Vec<Cow<'_, [u8]>> = if sse {
        crate::mcp::sse::event_data(&body).into_iter().map(|d| Cow::Owned(d.into_bytes())).collect()
    } else {
        vec![Cow::Borrowed(&body[..])]
    };
    #[derive(Deserialize)]
    struct Answer<'a> {
        #[serde(borrow, default)]
        result: Option<&'a RawValue>,
        #[serde(borrow, default)]
        error: Option<&'a RawValue>,
    }
    // The response is the last message; notifications may come before it.
    for message in messages.iter().rev() {
        let Ok(answer) = serde_json::from_slice::<Answer>(message) else { continue };
        match (answer.result, answer.error) {
            (_, Some(error)) => {
                return Err(Miss::Rpc { status: parts.status, error: Bytes::copy_from_slice(error.get().as_bytes()) });
            }
            (Some(result), None) if parts.status.is_success() => {
                let hints = hints(result.get().as_bytes());
                if hints.incomplete {
                    return Err(other("the result is not complete".into()));
                }
                return Ok(Fetched { result: Bytes::copy_from_slice(result.get().as_bytes()), hints });
            }
            _ => {}
        }
    }
    Err(other(format!("the upstream answered {} with no JSON-RPC result", parts.status)))
}

/// Reads `cacheScope`, `ttlMs` and `resultType` from a raw result.
pub fn hints(result: &[u8]) -> Hints {
    #[derive(Deserialize)]
    struct Raw<'a> {
        #[serde(borrow, default, rename = "cacheScope")]
        scope: Option<Cow<'a, str>>,
        #[serde(default, rename = "ttlMs")]
        ttl_ms: Option<u64>,
        #[serde(borrow, default, rename = "resultType")]
        result_type: Option<Cow<'a, str>>,
    }
    match serde_json::from_slice::<Raw>(result) {
        Ok(raw) => Hints {
            public: raw.scope.as_deref() == Some("public"),
            ttl_ms: raw.ttl_ms,
            incomplete: raw.result_type.is_some_and(|t| t != "complete"),
        },
        // Not an object (or odd types): keep it, but privately.
        Err(_) => Hints::default(),
    }
}

/// A kept result answered to a client whose request had `id`.
pub fn replay_result(id: &RawValue, result: &[u8], sse: bool) -> Response<ProxyBody> {
    respond(StatusCode::OK, crate::mcp::jsonrpc::result_body(id, result), sse)
}

/// A JSON-RPC error answered to a client whose request had `id`.
pub fn replay_error(status: StatusCode, id: &RawValue, error: &[u8], sse: bool) -> Response<ProxyBody> {
    respond(status, crate::mcp::jsonrpc::raw_error_body(id, error), sse)
}

/// An answer passed on as it came.
pub fn replay_other(status: StatusCode, content_type: Option<&HeaderValue>, body: Bytes) -> Response<ProxyBody> {
    let mut resp = Response::new(ProxyBody::full(body));
    *resp.status_mut() = status;
    if let Some(ct) = content_type {
        resp.headers_mut().insert(header::CONTENT_TYPE, ct.clone());
    }
    resp
}

fn respond(status: StatusCode, message: Bytes, sse: bool) -> Response<ProxyBody> {
    let body = if sse {
        let mut event = Vec::with_capacity(message.len() + 24);
        event.extend_from_slice(b"event: message\ndata: ");
        event.extend_from_slice(&message);
        event.extend_from_slice(b"\n\n");
        Bytes::from(event)
    } else {
        message
    };
    let mut resp = Response::new(ProxyBody::full(body));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    if sse {
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    } else {
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    }
    resp
}

/// Marks how the cache served `resp`, and gives it the client's request id.
pub fn mark(mut resp: Response<ProxyBody>, verdict: &'static str, request_id: &HeaderValue) -> Response<ProxyBody> {
    let h = resp.headers_mut();
    h.insert(CACHE_HEADER, HeaderValue::from_static(verdict));
    h.insert(REQUEST_ID, request_id.clone());
    resp
}

/// Whether the client would rather have SSE than JSON: the type with the
/// higher `q` in `Accept` wins, and on a tie the one listed first. Every
/// POST accepts both, so this only picks the client's preference.
pub fn prefers_sse(accept: Option<&HeaderValue>) -> bool {
    let Some(accept) = accept.and_then(|v| v.to_str().ok()) else { return false };
    let mut best: Option<(f32, bool)> = None;
    for item in accept.split(',') {
        let mut parts = item.split(';');
        let media = parts.next().unwrap_or("").trim();
        let sse = match media {
            "text/event-stream" => true,
            "application/json" => false,
            _ => continue,
        };
        let q =
            parts.filter_map(|p| p.trim().strip_prefix("q=")).find_map(|q| q.trim().parse::<f32>().ok()).unwrap_or(1.0);
        if q > 0.0 && best.is_none_or(|(b, _)| q > b) {
            best = Some((q, sse));
        }
    }
    best.is_some_and(|(_, sse)| sse)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(v: &'static str) -> Option<HeaderValue> {
        Some(HeaderValue::from_static(v))
    }

    #[test]
    fn the_clients_preferred_format_wins() {
        assert!(!prefers_sse(accept("application/json, text/event-stream").as_ref()));
        assert!(prefers_sse(accept("text/event-stream, application/json").as_ref()));
        assert!(prefers_sse(accept("application/json;q=0.5, text/event-stream").as_ref()));
        assert!(!prefers_sse(accept("text/event-stream;q=0, application/json").as_ref()));
        assert!(!prefers_sse(None));
    }

    #[test]
    fn hints_are_read_from_the_result() {
        let h = hints(br#"{"tools":[],"ttlMs":5000,"cacheScope":"public","resultType":"complete"}"#);
        assert_eq!(h, Hints { public: true, ttl_ms: Some(5000), incomplete: false });
        assert_eq!(hints(br#"{"tools":[],"cacheScope":"private"}"#), Hints::default());
        assert!(hints(br#"{"resultType":"input_required","inputRequests":{}}"#).incomplete);
        assert_eq!(hints(b"[1]"), Hints::default());
    }

    async fn apart(status: u16, ct: &'static str, body: &'static str) -> Result<Fetched, Miss> {
        let mut resp = Response::new(ProxyBody::full(Bytes::from_static(body.as_bytes())));
        *resp.status_mut() = StatusCode::from_u16(status).unwrap();
        resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
        take_apart(resp).await
    }

    #[tokio::test]
    async fn results_are_kept_and_everything_else_is_not() {
        let sse = "event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{}}\n\n\
                   event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":3,\"result\":{\"tools\":[]}}\n\n";
        let fetched = apart(200, "text/event-stream", sse).await.unwrap();
        assert_eq!(&fetched.result[..], br#"{"tools":[]}"#);
        let json = apart(200, "application/json", r#"{"jsonrpc":"2.0","id":1,"result":{"a":1}}"#).await.unwrap();
        assert_eq!(&json.result[..], br#"{"a":1}"#);
        let error = r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32603,"message":"boom"}}"#;
        assert!(matches!(apart(200, "application/json", error).await, Err(Miss::Rpc { .. })));
        assert!(matches!(apart(500, "application/json", error).await, Err(Miss::Rpc { status, .. }) if status == 500));
        let ok_but_502 = r#"{"jsonrpc":"2.0","id":1,"result":{}}"#;
        assert!(matches!(apart(502, "application/json", ok_but_502).await, Err(Miss::Other { .. })));
        assert!(matches!(apart(404, "text/plain", "gone").await, Err(Miss::Other { .. })));
        let input = r#"{"jsonrpc":"2.0","id":1,"result":{"resultType":"input_required"}}"#;
        assert!(matches!(apart(200, "application/json", input).await, Err(Miss::Other { .. })));
    }

    #[test]
    fn replays_splice_the_callers_id() {
        let id = RawValue::from_string("\"mine\"".into()).unwrap();
        let resp = replay_result(&id, br#"{"x":1}"#, false);
        assert_eq!(resp.headers()[header::CONTENT_TYPE], "application/json");
        let resp = replay_error(StatusCode::OK, &id, br#"{"code":1,"message":"m"}"#, true);
        assert_eq!(resp.headers()[header::CONTENT_TYPE], "text/event-stream");
    }
}
