//! The live backend table: what the gateway knows about every instance, now.
//!
//! One [`Record`] per instance holds its health (from active probes), its
//! ejection (from passive outlier detection), the operator's drain flag and
//! weight (from the admin API), and its load (requests in flight, EWMA
//! latency, totals). Writers are few and slow: the health checker, the
//! outlier detector and the admin API. The reader that matters is the
//! balancer, on every request, so every field is an atomic (or an
//! [`ArcSwapOption`] for the rare strings) and reading takes no lock.
//!
//! Times are kept as milliseconds since the record was made, on tokio's
//! clock, so that tests can pause time and so that a time fits in an atomic.
//!
//! [`Table`] is the list of pools, for `/health`, `/metrics` and the admin
//! API; [`view`] turns it into JSON. stdio backends join it with their
//! processes as instances (see `crate::stdio`).

mod era;
mod instance;
mod record;
pub mod view;

use std::sync::Arc;

use arc_swap::ArcSwap;

pub use era::{Bridged, BridgedKey, EraState, Speaks};
pub use instance::Instance;
pub use record::{Health, Load, ProbeResult, Record};

/// A pool of instances the table lists: an HTTP backend's instances, or a
/// stdio backend's processes. Pools register through this, so the table
/// knows records and never the backend or the process behind them.
pub trait Pool: Send + Sync {
    /// The backend's name.
    fn name(&self) -> &str;
    /// `"http"` or `"stdio"`, as the admin API shows it.
    fn transport(&self) -> &'static str;
    /// The instances now (a stdio pool's change as processes come and go).
    fn instances(&self) -> Vec<Arc<Instance>>;
    /// The pool's own `/health` summary, and whether it is up, when it
    /// makes one (stdio: processes and restarts); `None` takes the summary
    /// the table derives from the instances.
    fn summary(&self) -> Option<(bool, serde_json::Value)> {
        None
    }
}

/// Every backend's instances, in name order. Clones share one table,
/// which a reload replaces whole.
#[derive(Clone, Default)]
pub struct Table {
    pools: Arc<ArcSwap<Vec<Arc<dyn Pool>>>>,
}

impl Table {
    /// The table of these pools.
    pub fn new(pools: Vec<Arc<dyn Pool>>) -> Self {
        let table = Self::default();
        table.replace(pools);
        table
    }

    /// Replaces the pools (on reload). Records of backends that carry
    /// over are the same objects, so their state carries over too.
    pub fn replace(&self, mut pools: Vec<Arc<dyn Pool>>) {
        pools.sort_by(|a, b| a.name().cmp(b.name()));
        self.pools.store(Arc::new(pools));
    }

    /// The pools, in name order.
    pub fn pools(&self) -> Arc<Vec<Arc<dyn Pool>>> {
        self.pools.load_full()
    }

    /// An instance of a backend, named by its index in the config (`0`, `1`,
    /// …), or by its `host:port` when that is unique in the pool. A stdio
    /// process is named by its slot (or, `per_session`, its place).
    pub fn instance(&self, backend: &str, instance: &str) -> Option<Arc<Instance>> {
        let pools = self.pools.load();
        let pool = pools.iter().find(|p| p.name() == backend)?.instances();
        if let Ok(index) = instance.parse::<usize>() {
            return pool.into_iter().find(|i| i.index == index);
        }
        let mut matching = pool.iter().filter(|i| i.url().authority().is_some_and(|a| a.as_str() == instance));
        let first = matching.next()?;
        matching.next().is_none().then(|| first.clone())
    }
}
