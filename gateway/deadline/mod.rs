//! The overall deadline of a request, every retry included.
//!
//! Unlike tower's `Timeout`, which only bounds the future that yields the
//! response head, this layer bounds what MCP clients actually wait for:
//!
//! - **POST** (other than `subscriptions/listen`): the whole response, SSE
//!   body included. A tool that streams progress for ten minutes is still
//!   bounded by its method's `timeout`; give long tools a longer one with
//!   `[backends.timeouts] "tools/call" = "10m"`. Progress notifications do
//!   not extend the deadline: a deadline that a chatty server can push back
//!   forever bounds nothing, and the per-method override already says how
//!   long a tool may take.
//! - **GET streams, DELETE and `subscriptions/listen`**: only the response
//!   head. Those streams are meant to stay open.
//!
//! When the deadline passes:
//!
//! - Upstream is cancelled. In the session era the gateway sends
//!   `notifications/cancelled` for the request's id to the session's
//!   instance, fire and forget. In the stateless era closing the stream is
//!   the cancellation, and dropping the attempt does exactly that.
//! - Before the head: the client gets `504` with a JSON-RPC error (-32011).
//! - After the head, on an SSE stream: the gateway sends one last event
//!   holding a JSON-RPC error (-32011) for the request's id, then ends the
//!   stream, whether or not the upstream would ever have closed it.
//! - After the head, on a JSON body: the body ends with an error, so the
//!   client sees the answer was cut, not a truncated one as complete.

mod body;
mod cancel;

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::Response;
use tokio::time::Instant;
use tower::{Layer, Service};

pub use body::DeadlineBody;
use cancel::Cancel;

use crate::backend::Backend;
use crate::backend::UpstreamRequest;
use crate::error::GatewayError;

/// Adds the overall deadline to a stack.
#[derive(Clone)]
pub struct DeadlineLayer {
    backend: Arc<Backend>,
}

/// Bounds a request by its method's deadline.
#[derive(Clone)]
pub struct Deadline<S> {
    inner: S,
    backend: Arc<Backend>,
}

// === impl DeadlineLayer ===

impl DeadlineLayer {
    /// Deadlines (and cancellation) for `backend`.
    pub fn new(backend: Arc<Backend>) -> Self {
        Self { backend }
    }
}

impl<S> Layer<S> for DeadlineLayer {
    type Service = Deadline<S>;

    fn layer(&self, inner: S) -> Deadline<S> {
        Deadline { inner, backend: self.backend.clone() }
    }
}

// === impl Deadline ===

impl<S, B> Service<UpstreamRequest> for Deadline<S>
where
    S: Service<UpstreamRequest, Response = Response<B>, Error = GatewayError>,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = Response<DeadlineBody<B>>;
    type Error = GatewayError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, GatewayError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), GatewayError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: UpstreamRequest) -> Self::Future {
        let timeout = req.policy.timeout;
        let bound_body = req.policy.bound_body;
        let deadline = Instant::now() + timeout;
        req.deadline = Some(deadline);
        let cancel = Cancel::for_request(&self.backend, &req);
        let body = req.http.body().clone();
        let answer = self.inner.call(req);
        Box::pin(async move {
            let mut timer = Box::pin(tokio::time::sleep_until(deadline));
            tokio::select! {
                biased;
                result = answer => {
                    let resp = result?;
                    let sse = resp
                        .headers()
                        .get(http::header::CONTENT_TYPE)
                        .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
                    let limit = bound_body.then(|| body::Limit { timer, timeout, sse, cancel, request: body });
                    Ok(resp.map(|b| DeadlineBody::new(b, limit)))
                }
                () = &mut timer => {
                    if let Some(cancel) = cancel {
                        cancel.send(&body);
                    }
                    Err(GatewayError::UpstreamTimeout(timeout))
                }
            }
        })
    }
}

#[cfg(test)]
mod tests;
