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

mod record;
pub mod view;

use std::sync::Arc;

pub use record::{Health, Load, ProbeResult, Record};

use crate::backend::{Backend, Instance};
use crate::stdio::StdioBackend;

/// Every backend's instances, in name order.
#[derive(Clone, Default)]
pub struct Table {
    backends: Vec<Arc<Backend>>,
    /// stdio backends, in name order; their processes are their instances.
    stdio: Vec<Arc<StdioBackend>>,
}

impl Table {
    /// The table of these backends.
    pub fn new(mut backends: Vec<Arc<Backend>>) -> Self {
        backends.sort_by(|a, b| a.name.cmp(&b.name));
        Self { backends, stdio: Vec::new() }
    }

    /// The table with these stdio backends too.
    pub fn with_stdio(mut self, mut stdio: Vec<Arc<StdioBackend>>) -> Self {
        stdio.sort_by(|a, b| a.name.cmp(&b.name));
        self.stdio = stdio;
        self
    }

    /// The stdio backends, in name order.
    pub fn stdio(&self) -> &[Arc<StdioBackend>] {
        &self.stdio
    }

    /// The backends, in name order.
    pub fn backends(&self) -> &[Arc<Backend>] {
        &self.backends
    }

    /// The backend with this name.
    pub fn backend(&self, name: &str) -> Option<&Arc<Backend>> {
        self.backends.iter().find(|b| &*b.name == name)
    }

    /// An instance of a backend, named by its index in the config (`0`, `1`,
    /// …), or by its `host:port` when that is unique in the pool. A stdio
    /// process is named by its slot (or, `per_session`, its place).
    pub fn instance(&self, backend: &str, instance: &str) -> Option<Arc<Instance>> {
        if let Some(stdio) = self.stdio.iter().find(|b| &*b.name == backend) {
            let index = instance.parse::<usize>().ok()?;
            return stdio.instances().into_iter().find(|i| i.index == index);
        }
        let pool = &self.backend(backend)?.instances;
        if let Ok(i) = instance.parse::<usize>() {
            return pool.get(i).cloned();
        }
        let mut matching = pool.iter().filter(|i| i.url().authority().is_some_and(|a| a.as_str() == instance));
        let first = matching.next()?;
        matching.next().is_none().then(|| first.clone())
    }
}
