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

mod instance;
mod record;
pub mod view;

use std::sync::Arc;

use arc_swap::ArcSwap;

pub use instance::Instance;
pub use record::{Health, Load, ProbeResult, Record};

use crate::backend::Backend;
use crate::stdio::StdioBackend;

/// Every backend's instances, in name order. Clones share one table,
/// which a reload replaces whole.
#[derive(Clone, Default)]
pub struct Table {
    pools: Arc<ArcSwap<Pools>>,
}

/// The backends at one moment.
#[derive(Default)]
struct Pools {
    /// HTTP backends, in name order.
    http: Vec<Arc<Backend>>,
    /// stdio backends, in name order; their processes are their instances.
    stdio: Vec<Arc<StdioBackend>>,
}

impl Table {
    /// The table of these backends.
    pub fn new(backends: Vec<Arc<Backend>>) -> Self {
        let table = Self::default();
        table.replace(backends, Vec::new());
        table
    }

    /// The table with these stdio backends too.
    pub fn with_stdio(self, stdio: Vec<Arc<StdioBackend>>) -> Self {
        self.replace(self.backends().to_vec(), stdio);
        self
    }

    /// Replaces the backends (on reload). Records of backends that carry
    /// over are the same objects, so their state carries over too.
    pub fn replace(&self, mut http: Vec<Arc<Backend>>, mut stdio: Vec<Arc<StdioBackend>>) {
        http.sort_by(|a, b| a.name.cmp(&b.name));
        stdio.sort_by(|a, b| a.name.cmp(&b.name));
        self.pools.store(Arc::new(Pools { http, stdio }));
    }

    /// The stdio backends, in name order.
    pub fn stdio(&self) -> Vec<Arc<StdioBackend>> {
        self.pools.load().stdio.clone()
    }

    /// The backends, in name order.
    pub fn backends(&self) -> Vec<Arc<Backend>> {
        self.pools.load().http.clone()
    }

    /// The backend with this name.
    pub fn backend(&self, name: &str) -> Option<Arc<Backend>> {
        self.pools.load().http.iter().find(|b| &*b.name == name).cloned()
    }

    /// An instance of a backend, named by its index in the config (`0`, `1`,
    /// …), or by its `host:port` when that is unique in the pool. A stdio
    /// process is named by its slot (or, `per_session`, its place).
    pub fn instance(&self, backend: &str, instance: &str) -> Option<Arc<Instance>> {
        if let Some(stdio) = self.pools.load().stdio.iter().find(|b| &*b.name == backend) {
            let index = instance.parse::<usize>().ok()?;
            return stdio.instances().into_iter().find(|i| i.index == index);
        }
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
