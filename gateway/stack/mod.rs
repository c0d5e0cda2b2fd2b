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

use crate::backend::{Backend, CallPolicy, Forward, TrackedBody, UpstreamRequest};

use crate::balance::{BalanceLayer, Balancer};
use crate::config;
use crate::deadline::{DeadlineBody, DeadlineLayer};
use crate::error::GatewayError;
use crate::retry::{self, RetryLayer};

pub use body::{Guard, ProxyBody, Tap};

/// The body of a response coming out of the stack.
pub type ResponseBody = DeadlineBody<TrackedBody>;

/// The type-erased per-backend service.
pub type BackendService = BoxCloneSyncService<UpstreamRequest, Response<ResponseBody>, GatewayError>;

/// One HTTP backend's composed stack, with the policy objects its layers
/// hold. It lives as long as the backend's config is unchanged: a reload
/// that keeps the backend keeps its retry budget and balancer state.
#[derive(Clone)]
pub struct Stack {
    /// The backend: the innermost service's connection and instances.
    pub backend: Arc<Backend>,
    /// The retry policy the retry layer holds; the front reads from it
    /// which calls are replay-safe.
    retry: Arc<retry::Policy>,
    /// The balancer the balance layer holds, for the front to choose an
    /// instance before the call (a bridged session is opened on one).
    balancer: Arc<Balancer>,
    service: BackendService,
}

/// Composes the stack for one backend from its config.
pub fn build(backend: Arc<Backend>, cfg: &config::Backend) -> Stack {
    let retry = Arc::new(retry::Policy::new(&cfg.retry));
    let balancer = Arc::new(Balancer::new(cfg.balance, backend.instances.len()));
    let svc = ServiceBuilder::new()
        .layer(DeadlineLayer::new(backend.clone()))
        .layer(RetryLayer::new(backend.clone(), retry.clone()))
        .layer(BalanceLayer::new(backend.clone(), balancer.clone()))
        .service(Forward::new(backend.clone()));
    Stack { backend, retry, balancer, service: BoxCloneSyncService::new(svc) }
}

// === impl Stack ===

impl Stack {
    /// What the stack needs to know about a call of `method` (with tool
    /// `name`, for `tools/call`); `post` tells a POST from a GET or DELETE.
    pub fn policy(&self, method: &str, name: Option<&str>, post: bool) -> CallPolicy {
        CallPolicy {
            timeout: self.backend.timeout_for(method, post),
            replay_safe: post && self.retry.replay_safe(method, name),
            bound_body: post && method != "subscriptions/listen",
        }
    }

    /// The instance the balancer would send new work to now.
    pub fn pick(&self) -> Option<Arc<crate::table::Instance>> {
        self.balancer.pick(&self.backend.instances, None).map(|p| p.instance.clone())
    }

    /// Sends a request through the stack.
    pub async fn call(&self, req: UpstreamRequest) -> Result<Response<ResponseBody>, GatewayError> {
        self.service.clone().oneshot(req).await
    }
}
