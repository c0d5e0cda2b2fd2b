//! The processes of a stdio backend as instances of the live table, and
//! the pick that reads it.
//!
//! Every process is an [`Instance`] with a [`Record`](crate::table::Record),
//! like an HTTP instance: `GET /admin/backends` lists it with its pid and
//! restart count, `/metrics` has its `switchyard_backend_up`, and the admin
//! API drains it or sets its weight. Its "URL" is a label that names its
//! place, not the process: `stdio://process/{i}` for slot `i` of the shared
//! pool, `stdio://session/{i}` for place `i` of a `per_session` backend
//! (places are reused, lowest first, so labels, and metric series, stay
//! within `max_processes`).
//!
//! The shared pool's pick is the HTTP balancer's ([`Balancer`], P2C or
//! round robin as the backend's `balance` says) over the slots whose
//! process is running: drained and weight-0 processes get no new requests;
//! a `down` one gets none unless fewer than half are healthy (panic mode).

use std::sync::Arc;

use http::Uri;
use tokio::time::Instant;

use super::process::Process;
use super::supervisor::Slot;
use crate::balance::Balancer;
use crate::table::Instance;
use crate::telemetry::backend::BackendMetrics;

/// The row of slot `index` (or, `per_session`, of place `index`).
pub fn instance(backend: &str, per_session: bool, index: usize, epoch: Instant) -> Arc<Instance> {
    let kind = if per_session { "session" } else { "process" };
    let url = Uri::try_from(format!("stdio://{kind}/{index}")).unwrap_or_default();
    Arc::new(Instance::new(url, 1, index, backend, epoch))
}

/// The process of the slot the balancer picks, with its row; `None` when
/// none is running or every one is drained or weighted 0. `instances` are
/// the slots' rows, in slot order.
pub fn pick(
    slots: &[Arc<Slot>],
    instances: &[Arc<Instance>],
    balancer: &Balancer,
    metrics: &BackendMetrics,
) -> Option<(Arc<Process>, Arc<Instance>)> {
    let running = |s: &Arc<Slot>| s.current.load().as_ref().is_some_and(|p| p.is_alive());
    // The whole pool is running nearly always; only while a slot restarts
    // is a list of the others made.
    let (index, panic) = if slots.iter().all(running) {
        balancer.pick(instances, None).map(|p| (p.instance.index, p.panic))?
    } else {
        let live: Vec<Arc<Instance>> = slots.iter().filter(|s| running(s)).map(|s| s.instance.clone()).collect();
        balancer.pick(&live, None).map(|p| (p.instance.index, p.panic))?
    };
    metrics.panic(panic);
    let slot = slots.get(index)?;
    let process = slot.current.load_full().filter(|p| p.is_alive())?;
    Some((process, slot.instance.clone()))
}

/// Whether [`pick`] would find a process, without counting a pick: one is
/// running, not drained, with a weight. (If every such one is `down`, panic
/// mode still sends it requests.)
pub fn can_serve(slots: &[Arc<Slot>]) -> bool {
    slots.iter().any(|s| {
        let r = &s.instance.record;
        s.current.load().as_ref().is_some_and(|p| p.is_alive()) && !r.drained() && r.effective_weight() > 0
    })
}
