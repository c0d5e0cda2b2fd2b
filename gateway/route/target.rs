//! What a side of a route sends its requests to: an HTTP backend's stack,
//! or a stdio pool, each with the backend's response cache when it has one.
//! The cache sits here, beside the backend rather than in it, because the
//! front door answers from it before either kind of backend is asked.

use std::sync::Arc;

use crate::backend::Backend;
use crate::cache::Cache;
use crate::stack::Stack;
use crate::stdio::StdioBackend;
use crate::table::Pool;

/// What a route's backend is.
pub enum Target {
    /// HTTP instances behind the per-backend policy stack.
    Http {
        /// The backend's composed stack.
        stack: Stack,
        /// The response cache, when the config asks for one.
        cache: Option<Arc<Cache>>,
    },
    /// A supervised pool of stdio processes.
    Stdio {
        /// The pool.
        stdio: Arc<StdioBackend>,
        /// The response cache, when the config asks for one.
        cache: Option<Arc<Cache>>,
    },
}

// === impl Target ===

impl Target {
    /// The backend's response cache, when it has one.
    pub fn cache(&self) -> Option<&Arc<Cache>> {
        match self {
            Target::Http { cache, .. } | Target::Stdio { cache, .. } => cache.as_ref(),
        }
    }

    /// The backend's instances, as the live table lists them.
    pub fn pool(&self) -> Arc<dyn Pool> {
        match self {
            Target::Http { stack, .. } => stack.backend.clone(),
            Target::Stdio { stdio, .. } => stdio.clone(),
        }
    }

    /// The HTTP backend, when this is one.
    pub fn http(&self) -> Option<&Arc<Backend>> {
        match self {
            Target::Http { stack, .. } => Some(&stack.backend),
            Target::Stdio { .. } => None,
        }
    }

    /// The stdio pool, when this is one.
    pub fn stdio(&self) -> Option<&Arc<StdioBackend>> {
        match self {
            Target::Stdio { stdio, .. } => Some(stdio),
            Target::Http { .. } => None,
        }
    }
}
