//! Cancelling a request upstream when its deadline passes.
//!
//! In the session era a dropped stream is not a cancellation (the spec says
//! so: the client may resume it), so the gateway tells the instance with
//! `notifications/cancelled`, in the session the request belongs to. It is
//! fire and forget: the client's answer does not wait on it, and a server
//! that ignores it is no worse off than one that never got it. In the
//! stateless era the request's own stream is closed, and that is the
//! cancellation; nothing is sent.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, header};
use http_body::Body;
use http_body_util::Full;
use serde_json::value::RawValue;

use crate::backend::Backend;

use crate::backend::UpstreamRequest;
use crate::mcp::envelope::{self, Kind, Message};
use crate::mcp::headers::{PROTOCOL_VERSION, SESSION_ID};
use crate::table::Instance;

/// How long the cancellation itself may take.
const CANCEL_TIMEOUT: Duration = Duration::from_secs(5);

/// Where and how to send a session-era cancellation.
pub(super) struct Cancel {
    backend: Arc<Backend>,
    instance: Arc<Instance>,
    /// The upstream's session id, as the request carried it.
    session: HeaderValue,
    /// The negotiated protocol version, as the request carried it.
    version: Option<HeaderValue>,
}

impl Cancel {
    /// The cancellation of a session-era request: one with an instance
    /// already chosen (its session's) and an upstream session id.
    pub(super) fn for_request(backend: &Arc<Backend>, req: &UpstreamRequest) -> Option<Self> {
        if req.http.method() != Method::POST {
            return None;
        }
        let session = req.http.headers().get(SESSION_ID)?.clone();
        Some(Self {
            backend: backend.clone(),
            instance: req.instance.clone()?,
            session,
            version: req.http.headers().get(PROTOCOL_VERSION).cloned(),
        })
    }

    /// Sends `notifications/cancelled` for the request whose body is
    /// `request`, in the background. Notifications and batches have no
    /// single id and are not cancelled.
    pub(super) fn send(&self, request: &Full<Bytes>) {
        let Some(id) = request_id(request) else { return };
        let body = format!(
            r#"{{"jsonrpc":"2.0","method":"notifications/cancelled","params":{{"requestId":{},"reason":"gateway deadline passed"}}}}"#,
            id.get()
        );
        let mut req = Request::new(Full::new(Bytes::from(body)));
        *req.method_mut() = Method::POST;
        *req.uri_mut() = self.instance.url().clone();
        let headers = req.headers_mut();
        for (name, value) in &self.backend.headers {
            headers.insert(name.clone(), value.clone());
        }
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(header::ACCEPT, HeaderValue::from_static("application/json, text/event-stream"));
        headers.insert(SESSION_ID, self.session.clone());
        if let Some(v) = &self.version {
            headers.insert(PROTOCOL_VERSION, v.clone());
        }
        let backend = self.backend.clone();
        let instance = self.instance.display_url();
        tokio::spawn(async move {
            match tokio::time::timeout(CANCEL_TIMEOUT, backend.send_own(req)).await {
                Ok(Ok(resp)) => tracing::debug!(%instance, status = %resp.status(), "sent notifications/cancelled"),
                Ok(Err(e)) => tracing::debug!(%instance, error = %e, "notifications/cancelled failed"),
                Err(_) => tracing::debug!(%instance, "notifications/cancelled timed out"),
            }
        });
    }
}

/// The id of the JSON-RPC request in `body`, when it is one request.
pub(super) fn request_id(body: &Full<Bytes>) -> Option<Box<RawValue>> {
    match envelope::parse(&bytes_of(body)?) {
        Ok(Message::Single(env)) if env.kind == Kind::Request => env.id,
        _ => None,
    }
}

/// The bytes of a `Full` body. `Full` has no getter, but it yields its one
/// frame on the first poll without ever waiting, so a no-op waker does.
fn bytes_of(body: &Full<Bytes>) -> Option<Bytes> {
    let mut body = body.clone();
    let mut cx = Context::from_waker(Waker::noop());
    match Pin::new(&mut body).poll_frame(&mut cx) {
        Poll::Ready(Some(Ok(frame))) => frame.into_data().ok(),
        _ => None,
    }
}
