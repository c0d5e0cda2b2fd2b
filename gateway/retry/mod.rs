//! Retries: another attempt, on another instance, when that is safe and the
//! budget allows.
//!
//! What is safe to retry is decided in [`policy`]. How much is allowed is a
//! budget, not a count:
//!
//! # Why a budget and not just `attempts`
//!
//! A fixed number of retries per request multiplies load exactly when the
//! backend can least take it: with three attempts each, a pool that starts
//! failing sees three times its traffic, fails more, and the retries
//! compound through every proxy in the path (a retry storm). The budget
//! ([`budget`], after finagle, linkerd and tower's `TpsBudget`) lets retries
//! be at most `budget_percent` of the requests of the last second, plus
//! `min_per_second` so that a quiet backend can still retry its rare
//! failures. When a whole pool fails, the upstream sees at
//! most `1 + budget_percent/100` times the client load plus
//! `min_per_second`, however many attempts a request may make.
//! `attempts` still caps a single request, so that one request cannot spend
//! the whole budget.
//!
//! # Where a retry goes, and when
//!
//! - To another instance: the balancer skips the instances this request
//!   already tried, unless none is left (a pool of one retries in place).
//! - After a jittered backoff ([`Policy::backoff`]), or after the upstream's
//!   `Retry-After` when that is longer.
//! - Only if it can start before the overall deadline; otherwise the last
//!   failure is the answer.
//!
//! A response discarded for a retry is dropped whole, body included, before
//! the next attempt starts, which also returns its instance's load.

pub mod budget;
mod policy;

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::Response;
use tokio::time::Instant;
use tower::{Layer, Service, ServiceExt};

pub use policy::{Policy, Verdict, judge_error, judge_response, retry_after};

use crate::backend::Backend;
use crate::backend::{Tried, UpstreamRequest};
use crate::error::GatewayError;

/// Adds retries to a stack.
#[derive(Clone)]
pub struct RetryLayer {
    backend: Arc<Backend>,
    policy: Arc<Policy>,
}

/// Retries the inner service's failed attempts.
#[derive(Clone)]
pub struct Retry<S> {
    inner: S,
    backend: Arc<Backend>,
    policy: Arc<Policy>,
}

// === impl RetryLayer ===

impl RetryLayer {
    /// Retries `backend`'s requests under `policy` (its attempts, backoff
    /// and budget, shared by every request of the backend).
    pub fn new(backend: Arc<Backend>, policy: Arc<Policy>) -> Self {
        Self { backend, policy }
    }
}

impl<S> Layer<S> for RetryLayer {
    type Service = Retry<S>;

    fn layer(&self, inner: S) -> Retry<S> {
        Retry { inner, backend: self.backend.clone(), policy: self.policy.clone() }
    }
}

// === impl Retry ===

impl<S, B> Service<UpstreamRequest> for Retry<S>
where
    S: Service<UpstreamRequest, Response = Response<B>, Error = GatewayError> + Clone + Send + 'static,
    S::Future: Send,
    B: Send + 'static,
{
    type Response = Response<B>;
    type Error = GatewayError;
    type Future = Pin<Box<dyn Future<Output = Result<Response<B>, GatewayError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), GatewayError>> {
        // Readiness is checked per attempt, on a clone of the inner service.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut req: UpstreamRequest) -> Self::Future {
        let inner = self.inner.clone();
        let (backend, policy) = (self.backend.clone(), self.policy.clone());
        if policy.attempts > 1 {
            policy.deposit();
            if req.tried.is_none() {
                req.tried = Some(Arc::new(Tried::default()));
            }
        }
        Box::pin(async move { attempt_until_done(inner, &backend, &policy, req).await })
    }
}

async fn attempt_until_done<S, B>(
    inner: S,
    backend: &Backend,
    policy: &Policy,
    mut req: UpstreamRequest,
) -> Result<Response<B>, GatewayError>
where
    S: Service<UpstreamRequest, Response = Response<B>, Error = GatewayError> + Clone,
{
    let replay_safe = req.policy.replay_safe;
    let mut attempt = 1;
    loop {
        // The copy is made before sending, because sending consumes the
        // request; the last attempt needs none.
        let next = (attempt < policy.attempts).then(|| req.clone_for_retry());
        let result = inner.clone().oneshot(req).await;
        if attempt > 1 {
            backend.metrics.retried(matches!(&result, Ok(r) if !r.status().is_server_error()));
        }
        let Some(next) = next else { return result };
        let verdict = match &result {
            Ok(resp) => judge_response(resp.status(), resp.headers(), replay_safe),
            Err(e) => judge_error(e, replay_safe),
        };
        let Verdict::Retry(retry_after) = verdict else { return result };
        let wait = policy.backoff(attempt).max(retry_after);
        if next.deadline.is_some_and(|d| Instant::now() + wait >= d) {
            return result;
        }
        if !policy.withdraw() {
            backend.metrics.budget_exhausted();
            return result;
        }
        tracing::debug!(
            backend = &*backend.name, attempt, ?wait,
            outcome = %match &result { Ok(r) => r.status().to_string(), Err(e) => e.to_string() },
            "retrying"
        );
        // Drop the failed attempt (and any body) before waiting.
        drop(result);
        tokio::time::sleep(wait).await;
        attempt += 1;
        req = next;
    }
}

#[cfg(test)]
mod tests;
