//! A response body that ends at the request's deadline.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::Full;
use tokio::time::Sleep;
use tower::BoxError;

use super::cancel::{Cancel, request_id};
use crate::error::{GatewayError, codes};
use crate::mcp::jsonrpc;

/// The upstream's body, cut off at the deadline when the request's body is
/// bounded.
pub struct DeadlineBody<B> {
    /// `None` once the deadline passed: dropping it closes the upstream
    /// stream, which is the stateless era's cancellation.
    inner: Option<B>,
    /// What to do at the deadline; `None` for unbounded bodies.
    limit: Option<Limit>,
}

/// A bounded body's deadline and what its expiry needs.
pub(super) struct Limit {
    /// Fires at the deadline.
    pub timer: Pin<Box<Sleep>>,
    /// The deadline's length, for the error message.
    pub timeout: Duration,
    /// Whether the body is SSE, which gets a last error event.
    pub sse: bool,
    /// How to cancel upstream, in the session era.
    pub cancel: Option<Cancel>,
    /// The request body, read for its id only if the deadline passes.
    pub request: Full<Bytes>,
}

impl<B> DeadlineBody<B> {
    pub(super) fn new(inner: B, limit: Option<Limit>) -> Self {
        Self { inner: Some(inner), limit }
    }
}

/// The body ended at the deadline.
#[derive(Debug, thiserror::Error)]
#[error("response cut at the {0:?} deadline")]
pub struct Elapsed(Duration);

impl<B> Body for DeadlineBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        let Some(inner) = this.inner.as_mut() else { return Poll::Ready(None) };
        // The body first: a frame that is ready at the deadline still goes out.
        if let Poll::Ready(frame) = Pin::new(inner).poll_frame(cx) {
            if frame.is_none() {
                this.limit = None;
            }
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        let Some(limit) = this.limit.as_mut() else { return Poll::Pending };
        if limit.timer.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        // The deadline passed with the body still open.
        this.inner = None;
        let Some(limit) = this.limit.take() else { return Poll::Ready(None) };
        if let Some(cancel) = &limit.cancel {
            cancel.send(&limit.request);
        }
        tracing::debug!(timeout = ?limit.timeout, sse = limit.sse, "deadline passed mid-body; ending the response");
        if !limit.sse {
            return Poll::Ready(Some(Err(Box::new(Elapsed(limit.timeout)))));
        }
        let id = request_id(&limit.request);
        let error = GatewayError::UpstreamTimeout(limit.timeout);
        let body = jsonrpc::error_body(id.as_deref(), codes::GATEWAY_TIMEOUT, &error.to_string());
        // The blank lines first end any event the upstream left half-sent,
        // so that the error is an event of its own.
        let mut event = Vec::with_capacity(body.len() + 32);
        event.extend_from_slice(b"\n\nevent: message\ndata: ");
        event.extend_from_slice(&body);
        event.extend_from_slice(b"\n\n");
        Poll::Ready(Some(Ok(Frame::data(Bytes::from(event)))))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        // The upstream's: only an SSE body (never of known length) can gain
        // the error event, and a JSON body cut short ends in an error anyway.
        self.inner.as_ref().map_or_else(|| SizeHint::with_exact(0), Body::size_hint)
    }
}
