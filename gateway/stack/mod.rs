//! The one place the per-backend policy stack is composed, in request order.
//!
//! ```text
//! deadline → retry → balance → forward
//! ```
//!
//! - [`deadline`](crate::deadline): the overall deadline per method, every
//!   retry included; cancels upstream and answers 504 when it passes, and
//!   bounds the SSE body of a POST too.
//! - [`retry`](crate::retry): tries a failed attempt again on another
//!   instance when that is safe, within a budget.
//! - [`balance`](crate::balance): picks the instance: the session's own, or
//!   one the backend's `balance` chooses (P2C or smooth weighted round robin).
//! - [`forward`](crate::backend::Forward): sends it with the pooled client,
//!   bounded by `attempt_timeout`, and tells passive outlier detection how
//!   it went.
//!
//! Before this stack, in the front door ([`Front::post`](crate::front::Front)),
//! come the stages that both transports share, in this order:
//!
//! ```text
//! route (split side) → rate limits + admission (limit) → cache → this stack | a stdio process
//! ```
//!
//! They are not tower layers here because stdio backends do not go through
//! this stack, and a rate limit or a cache hit must answer before anything
//! is sent to either kind of backend. A newcomer reads `Front::post`, then
//! [`build`], to see where a request goes.

mod body;

use std::sync::Arc;

use http::Response;
use tower::util::BoxCloneSyncService;
use tower::{ServiceBuilder, ServiceExt};

use crate::backend::{Backend, Forward, TrackedBody, UpstreamRequest};

use crate::balance::BalanceLayer;
use crate::deadline::{DeadlineBody, DeadlineLayer};
use crate::error::GatewayError;
use crate::retry::RetryLayer;

pub use body::{Guard, ProxyBody, Tap};

/// The body of a response coming out of the stack.
pub type ResponseBody = DeadlineBody<TrackedBody>;

/// The type-erased per-backend service.
pub type BackendService = BoxCloneSyncService<UpstreamRequest, Response<ResponseBody>, GatewayError>;

/// Composes the stack for one backend.
pub fn build(backend: Arc<Backend>) -> BackendService {
    let svc = ServiceBuilder::new()
        .layer(DeadlineLayer::new(backend.clone()))
        .layer(RetryLayer::new(backend.clone()))
        .layer(BalanceLayer::new(backend.clone()))
        .service(Forward::new(backend));
    BoxCloneSyncService::new(svc)
}

/// Sends through a stack built by [`build`].
pub async fn call(svc: &BackendService, req: UpstreamRequest) -> Result<Response<ResponseBody>, GatewayError> {
    svc.clone().oneshot(req).await
}
