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
//! API; [`view`] turns it into JSON.

mod record;
pub mod view;

use std::sync::Arc;

use arc_swap::ArcSwap;

pub use record::{Health, Load, ProbeResult, Record};

use crate::backend::{Backend, Instance};

/// Every backend's instances, in name order. Clones share one list, which
/// a reload replaces whole.
#[derive(Clone, Default)]
pub struct Table {
    backends: Arc<ArcSwap<Vec<Arc<Backend>>>>,
}

impl Table {
    /// The table of these backends.
    pub fn new(backends: Vec<Arc<Backend>>) -> Self {
        let table = Self::default();
        table.replace(backends);
        table
    }

    /// Replaces the backends (on reload). Records of backends that carry
    /// over are the same objects, so their state carries over too.
    pub fn replace(&self, mut backends: Vec<Arc<Backend>>) {
        backends.sort_by(|a, b| a.name.cmp(&b.name));
        self.backends.store(Arc::new(backends));
    }

    /// The backends, in name order.
    pub fn backends(&self) -> Arc<Vec<Arc<Backend>>> {
        self.backends.load_full()
    }

    /// The backend with this name.
    pub fn backend(&self, name: &str) -> Option<Arc<Backend>> {
        self.backends.load().iter().find(|b| &*b.name == name).cloned()
    }

    /// An instance of a backend, named by its index in the config (`0`, `1`,
    /// …), or by its `host:port` when that is unique in the pool.
    pub fn instance(&self, backend: &str, instance: &str) -> Option<Arc<Instance>> {
        let backend = self.backend(backend)?;
        let pool = &backend.instances;
        if let Ok(i) = instance.parse::<usize>() {
            return pool.get(i).cloned();
        }
        let mut matching = pool.iter().filter(|i| i.url().authority().is_some_and(|a| a.as_str() == instance));
        let first = matching.next()?;
        matching.next().is_none().then(|| first.clone())
    }
}
