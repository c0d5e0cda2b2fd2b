//! The answers the front door makes itself: 202, JSON, an SSE stream.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};

use crate::stack::ProxyBody;

/// 202 Accepted, for a notification or a client's response.
pub fn accepted() -> Response<ProxyBody> {
    let mut resp = Response::new(ProxyBody::full(Bytes::new()));
    *resp.status_mut() = StatusCode::ACCEPTED;
    resp
}

/// A JSON body.
pub fn json(body: Bytes) -> Response<ProxyBody> {
    let mut resp = Response::new(ProxyBody::full(body));
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

/// An SSE stream, marked for proxies in front not to buffer it.
pub fn sse(body: ProxyBody) -> Response<ProxyBody> {
    let mut resp = Response::new(body);
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    resp
}
