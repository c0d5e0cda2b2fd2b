//! The balancer: which instance a request goes to.
//!
//! - A request of a session goes to the session's instance, whatever its
//!   health: the session lives there and nowhere else. (A session whose
//!   instance left the config gets 404 at the front door, so that the
//!   client starts a new one.)
//! - Any other request (a new session, a stateless call) goes to one of the
//!   instances that may take new work, chosen by the backend's `balance`:
//!   - `"p2c"`, the default ([`p2c`]): power of two choices on requests in
//!     flight and EWMA latency, scaled by weight. It adapts to load and to
//!     slow instances, and needs no shared state between requests.
//!   - `"round_robin"` ([`round_robin`]): smooth weighted round robin. Shares
//!     follow the weights exactly, whatever the latency: for pools whose
//!     instances should see a fixed split (a canary at weight 1 of 20).
//! - "May take new work" ([`eligible`]) means not drained, weight above
//!   zero, not marked down by the probes, not ejected by outlier detection,
//!   and not already tried by an earlier attempt of the same request
//!   (unless every other healthy instance has been). Both algorithms share
//!   these rules.
//! - **Panic mode.** When fewer than half of the pool's candidates are
//!   healthy, health is ignored and the request goes to any of them (Envoy's
//!   panic threshold). By then health is more likely wrong, or the fault
//!   shared, than half the pool truly dead, and piling every request onto
//!   the few survivors would take them down too. `switchyard_panic_mode`
//!   shows it.
//!
//! Weights are the live table's (`PUT /admin/.../weight`), read on every
//! pick, so a change applies to the next request. Reading the table takes
//! no lock: a few relaxed atomic loads per instance.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use std::sync::Arc;
//! use switchyard::table::Instance;
//! use switchyard::balance::Balancer;
//! use switchyard::config::Balance;
//!
//! let epoch = tokio::time::Instant::now();
//! let pool: Vec<_> = [1, 3]
//!     .iter()
//!     .enumerate()
//!     .map(|(i, w)| Arc::new(Instance::new("http://127.0.0.1:1/mcp".parse().unwrap(), *w, i, "doc", epoch)))
//!     .collect();
//! let rr = Balancer::new(Balance::RoundRobin, pool.len());
//! let order: Vec<usize> = (0..4).map(|_| rr.pick(&pool, None).unwrap().instance.index).collect();
//! assert_eq!(order, [1, 0, 1, 1]);
//! # }
//! ```

mod eligible;
pub mod p2c;
pub mod round_robin;

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tower::{Layer, Service};

use crate::backend::Backend;

use crate::backend::{Tried, UpstreamRequest};
use crate::config;
use crate::error::GatewayError;
use crate::table::Instance;
use round_robin::RoundRobin;

/// Adds the balancer to a stack.
#[derive(Clone)]
pub struct BalanceLayer {
    backend: Arc<Backend>,
    balancer: Arc<Balancer>,
}

/// Picks the instance, then calls the inner service.
#[derive(Clone)]
pub struct Balance<S> {
    inner: S,
    backend: Arc<Backend>,
    balancer: Arc<Balancer>,
}

/// One backend's balancing: the algorithm, and the state it keeps between
/// picks (round robin's counters).
pub struct Balancer {
    /// What `balance` says.
    algorithm: config::Balance,
    /// Smooth WRR counters, one per instance; untouched under P2C.
    round_robin: RoundRobin,
}

/// What [`Balancer::pick`] chose.
pub struct Pick<'a> {
    /// The instance.
    pub instance: &'a Arc<Instance>,
    /// Whether it was chosen in panic mode.
    pub panic: bool,
}

// === impl Balancer ===

impl Balancer {
    /// A balancer running `algorithm` over a pool of `instances`.
    pub fn new(algorithm: config::Balance, instances: usize) -> Self {
        Self { algorithm, round_robin: RoundRobin::new(instances) }
    }

    /// The algorithm it runs.
    pub fn algorithm(&self) -> config::Balance {
        self.algorithm
    }

    /// Chooses among `pool` (the pool it was built for) for a request whose
    /// earlier attempts are `tried`. `None` when no instance may take new
    /// work (all drained or weighted 0).
    pub fn pick<'a>(&self, pool: &'a [Arc<Instance>], tried: Option<&Tried>) -> Option<Pick<'a>> {
        let eligible = eligible::scan(pool, tried)?;
        let i = match self.algorithm {
            config::Balance::P2c => p2c::pick(pool, &eligible, tried),
            config::Balance::RoundRobin => self.round_robin.pick(pool, &eligible, tried),
        }?;
        Some(Pick { instance: pool.get(i)?, panic: eligible.panic })
    }
}

// === impl BalanceLayer ===

impl BalanceLayer {
    /// Picks among `backend`'s instances with `balancer` (whose state,
    /// the round-robin position, is the backend's).
    pub fn new(backend: Arc<Backend>, balancer: Arc<Balancer>) -> Self {
        Self { backend, balancer }
    }
}

impl<S> Layer<S> for BalanceLayer {
    type Service = Balance<S>;

    fn layer(&self, inner: S) -> Balance<S> {
        Balance { inner, backend: self.backend.clone(), balancer: self.balancer.clone() }
    }
}

// === impl Balance ===

impl<S, R> Service<UpstreamRequest> for Balance<S>
where
    S: Service<UpstreamRequest, Response = R, Error = GatewayError>,
    S::Future: Unpin,
{
    type Response = R;
    type Error = GatewayError;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), GatewayError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: UpstreamRequest) -> Self::Future {
        let instance = match req.instance.take() {
            Some(pinned) => pinned,
            None => match self.balancer.pick(&self.backend.instances, req.tried.as_deref()) {
                Some(p) => {
                    self.backend.metrics.panic(p.panic);
                    p.instance.clone()
                }
                None => return ResponseFuture::Refused(Some(GatewayError::NoInstance)),
            },
        };
        if let Some(tried) = &req.tried {
            tried.record(instance.index);
        }
        req.instance = Some(instance);
        ResponseFuture::Inner(self.inner.call(req))
    }
}

/// The balancer's future: the inner service's, or a refusal when no
/// instance may take the request.
pub enum ResponseFuture<F> {
    /// No instance; the error is taken on the first poll.
    Refused(Option<GatewayError>),
    /// The inner service's future.
    Inner(F),
}

impl<F, R> Future for ResponseFuture<F>
where
    F: Future<Output = Result<R, GatewayError>> + Unpin,
{
    type Output = Result<R, GatewayError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.get_mut() {
            ResponseFuture::Refused(e) => Poll::Ready(Err(e.take().unwrap_or(GatewayError::NoInstance))),
            ResponseFuture::Inner(f) => Pin::new(f).poll(cx),
        }
    }
}

#[cfg(test)]
mod tests;
