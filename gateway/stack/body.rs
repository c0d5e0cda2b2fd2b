//! The response body the gateway sends: a whole buffer, or the upstream's
//! body streamed through frame by frame.
//!
//! An SSE stream cut upstream ends cleanly here rather than aborting the
//! client's connection: for SSE a clean end is what a client can act on (it
//! resumes with `Last-Event-ID`). A cut JSON body is passed on as an error, so
//! the client sees a truncated response as truncated.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tower::BoxError;

use super::ResponseBody;

/// A guard the body holds until it is done or dropped (for in-flight gauges).
pub type Guard = Box<dyn Send + Sync>;

/// Sees each chunk of a streamed body as it passes (the cache's
/// notification tap).
pub type Tap = Box<dyn FnMut(&[u8]) + Send + Sync>;

/// The gateway's response body.
pub struct ProxyBody {
    kind: Kind,
    _guard: Option<Guard>,
    tap: Option<Tap>,
}

enum Kind {
    Full(Option<Bytes>),
    Stream {
        inner: ResponseBody,
        sse: bool,
    },
    /// JSON-RPC messages from a channel, each sent as one SSE event.
    Events(tokio::sync::mpsc::UnboundedReceiver<Bytes>),
}

impl ProxyBody {
    /// A body of known bytes.
    pub fn full(bytes: Bytes) -> Self {
        Self { kind: Kind::Full(Some(bytes).filter(|b| !b.is_empty())), _guard: None, tap: None }
    }

    /// The upstream's body, streamed.
    pub fn stream(inner: ResponseBody, sse: bool) -> Self {
        Self { kind: Kind::Stream { inner, sse }, _guard: None, tap: None }
    }

    /// Messages from a channel, framed as SSE `message` events; the body ends
    /// when the sender is dropped.
    pub fn events(rx: tokio::sync::mpsc::UnboundedReceiver<Bytes>) -> Self {
        Self { kind: Kind::Events(rx), _guard: None, tap: None }
    }

    /// Shows every chunk of a streamed body to `tap` on its way through.
    pub fn with_tap(mut self, tap: Tap) -> Self {
        self.tap = Some(tap);
        self
    }

    /// Keeps `guard` alive until the body is finished.
    pub fn with_guard(mut self, guard: Guard) -> Self {
        self._guard = Some(guard);
        self
    }
}

impl Body for ProxyBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        match &mut this.kind {
            Kind::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            Kind::Events(rx) => match rx.poll_recv(cx) {
                Poll::Ready(Some(msg)) => {
                    let mut event = Vec::with_capacity(msg.len() + 24);
                    event.extend_from_slice(b"event: message\ndata: ");
                    event.extend_from_slice(&msg);
                    event.extend_from_slice(b"\n\n");
                    Poll::Ready(Some(Ok(Frame::data(Bytes::from(event)))))
                }
                Poll::Ready(None) => {
                    this._guard = None;
                    Poll::Ready(None)
                }
                Poll::Pending => Poll::Pending,
            },
            Kind::Stream { inner, sse } => match Pin::new(inner).poll_frame(cx) {
                Poll::Ready(Some(Err(e))) if *sse => {
                    tracing::debug!(error = %e, "upstream SSE stream cut; ending the client's stream");
                    this._guard = None;
                    Poll::Ready(None)
                }
                Poll::Ready(None) => {
                    this._guard = None;
                    Poll::Ready(None)
                }
                Poll::Ready(Some(Ok(frame))) => {
                    if let (Some(tap), Some(data)) = (this.tap.as_mut(), frame.data_ref()) {
                        tap(data);
                    }
                    Poll::Ready(Some(Ok(frame)))
                }
                other => other,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Full(b) => b.is_none(),
            Kind::Stream { inner, .. } => inner.is_end_stream(),
            Kind::Events(_) => false,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            Kind::Full(None) => SizeHint::with_exact(0),
            Kind::Stream { inner, .. } => inner.size_hint(),
            Kind::Events(_) => SizeHint::default(),
        }
    }
}
