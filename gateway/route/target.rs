//! What a side of a route sends its requests to.

use std::sync::Arc;

use crate::backend::Backend;
use crate::stack::BackendService;

/// What a route's backend is.
pub enum Target {
    /// HTTP instances behind the per-backend policy stack.
    Http {
        /// The backend.
        backend: Arc<Backend>,
        /// The backend's composed stack.
        service: BackendService,
    },
    /// A supervised pool of stdio processes.
    Stdio(Arc<crate::stdio::StdioBackend>),
}

impl Target {
    /// The backend's response cache, when it has one.
    pub fn cache(&self) -> Option<&Arc<crate::cache::Cache>> {
        match self {
            Target::Http { backend, .. } => backend.cache.as_ref(),
            Target::Stdio(stdio) => stdio.cache.as_ref(),
        }
    }
}
