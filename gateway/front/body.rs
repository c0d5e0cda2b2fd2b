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

use crate::stack::ResponseBody;

/// A guard the body holds until it is done or dropped (for in-flight gauges).
pub type Guard = Box<dyn Send + Sync>;

/// The gateway's response body.
pub struct ProxyBody {
    kind: Kind,
    _guard: Option<Guard>,
}

enum Kind {
    Full(Option<Bytes>),
    Stream { inner: ResponseBody, sse: bool },
}

impl ProxyBody {
    /// A body of known bytes.
    pub fn full(bytes: Bytes) -> Self {
        Self { kind: Kind::Full(Some(bytes).filter(|b| !b.is_empty())), _guard: None }
    }

    /// The upstream's body, streamed.
    pub fn stream(inner: ResponseBody, sse: bool) -> Self {
        Self { kind: Kind::Stream { inner, sse }, _guard: None }
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
                other => other,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Full(b) => b.is_none(),
            Kind::Stream { inner, .. } => inner.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            Kind::Full(None) => SizeHint::with_exact(0),
            Kind::Stream { inner, .. } => inner.size_hint(),
        }
    }
}
