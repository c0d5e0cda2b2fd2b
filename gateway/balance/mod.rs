//! The balancer: which instance a request goes to.
//!
//! - A request of a session goes to the session's instance, whatever its
//!   health: the session lives there and nowhere else. (A session whose
//!   instance left the config gets 404 at the front door, so that the
//!   client starts a new one.)
//! - Any other request (a new session, a stateless call) goes to the least
//!   loaded of the instances that may take new work: fewest requests in
//!   flight per unit of weight, then the lowest EWMA latency, then a random
//!   pick, so that an idle pool is shared round the instances rather than
//!   piled on the first.
//! - "May take new work" means not drained, weight above zero, not marked
//!   down by the probes, not ejected by outlier detection, and not already
//!   tried by an earlier attempt of the same request (unless every other
//!   instance has been).
//! - **Panic mode.** When fewer than half of the pool's candidates are
//!   healthy, health is ignored and the request goes to the least loaded of
//!   all of them (Envoy's panic threshold). By then health is more likely
//!   wrong, or the fault shared, than half the pool truly dead, and piling
//!   every request onto the few survivors would take them down too.
//!   `switchyard_panic_mode` shows it.
//!
//! Reading the table takes no lock: a few relaxed atomic loads per instance.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tower::{Layer, Service};

use crate::backend::{Backend, Instance};
use crate::error::GatewayError;
use crate::stack::{Tried, UpstreamRequest};

/// Adds the balancer to a stack.
#[derive(Clone)]
pub struct BalanceLayer {
    backend: Arc<Backend>,
}

/// Picks the instance, then calls the inner service.
#[derive(Clone)]
pub struct Balance<S> {
    inner: S,
    backend: Arc<Backend>,
}

/// What [`pick`] chose.
pub struct Pick<'a> {
    /// The instance.
    pub instance: &'a Arc<Instance>,
    /// Whether it was chosen in panic mode.
    pub panic: bool,
}

/// Chooses among `pool` for a request whose earlier attempts are `tried`.
/// `None` when no instance may take new work (all drained or weighted 0).
pub fn pick<'a>(pool: &'a [Arc<Instance>], tried: Option<&Tried>) -> Option<Pick<'a>> {
    let now_ms = pool.first()?.record.now_ms();
    let n = pool.len();
    let start = if n > 1 { rand::random_range(0..n) } else { 0 };
    // Best of each class: [healthy & untried, any & untried, healthy, any].
    let mut best: [Option<(Score, usize)>; 4] = [None; 4];
    let (mut candidates, mut healthy) = (0usize, 0usize);
    for k in 0..n {
        let i = (start + k) % n;
        let r = &pool[i].record;
        let weight = r.effective_weight();
        if weight == 0 || r.drained() {
            continue;
        }
        candidates += 1;
        let is_healthy = r.healthy(now_ms);
        healthy += usize::from(is_healthy);
        let untried = !tried.is_some_and(|t| t.contains(i));
        let score = Score::of(r.in_flight(), weight, r.ewma_bits());
        let classes = [is_healthy && untried, untried, is_healthy, true];
        for (class, eligible) in classes.into_iter().enumerate() {
            if eligible && best[class].is_none_or(|(b, _)| score < b) {
                best[class] = Some((score, i));
            }
        }
    }
    if candidates == 0 {
        return None;
    }
    let panic = healthy * 2 < candidates;
    let order: &[usize] = if panic { &[1, 3] } else { &[0, 2] };
    let (_, i) = order.iter().find_map(|c| best[*c])?;
    Some(Pick { instance: &pool[i], panic })
}

/// Load per unit of weight, then latency; lower is better.
#[derive(Clone, Copy, Debug, PartialEq, PartialOrd)]
struct Score {
    load: f64,
    /// [`Record::ewma_bits`](crate::table::Record::ewma_bits).
    ewma: u64,
}

impl Score {
    fn of(in_flight: u32, weight: u32, ewma: u64) -> Self {
        Self { load: f64::from(in_flight) / f64::from(weight.max(1)), ewma }
    }
}

// === impl BalanceLayer ===

impl BalanceLayer {
    /// The balancer over `backend`'s instances.
    pub fn new(backend: Arc<Backend>) -> Self {
        Self { backend }
    }
}

impl<S> Layer<S> for BalanceLayer {
    type Service = Balance<S>;

    fn layer(&self, inner: S) -> Balance<S> {
        Balance { inner, backend: self.backend.clone() }
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
            None => match pick(&self.backend.instances, req.tried.as_deref()) {
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
