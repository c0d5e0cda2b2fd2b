//! The one response body type: a whole buffer, or SSE events from a channel.
//!
//! A two-variant enum instead of a boxed body keeps the common case (a whole
//! JSON or single-event SSE answer) free of boxing and dynamic dispatch.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::sync::mpsc;

/// A response body.
#[derive(Debug)]
pub(crate) enum MockBody {
    /// The whole body, taken on the first poll.
    Full(Option<Bytes>),
    /// Chunks as a task produces them; ends when the task drops its sender.
    Stream(mpsc::Receiver<Bytes>),
}

impl MockBody {
    pub(crate) fn empty() -> Self {
        MockBody::Full(None)
    }

    pub(crate) fn full(bytes: impl Into<Bytes>) -> Self {
        let bytes = bytes.into();
        MockBody::Full((!bytes.is_empty()).then_some(bytes))
    }
}

impl Body for MockBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            MockBody::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            MockBody::Stream(rx) => rx.poll_recv(cx).map(|chunk| chunk.map(|b| Ok(Frame::data(b)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, MockBody::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            MockBody::Full(bytes) => SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64)),
            MockBody::Stream(_) => SizeHint::default(),
        }
    }
}
