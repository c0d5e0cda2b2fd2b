//! Backends: named pools of MCP server instances, and the pooled HTTP client
//! that reaches them.
//!
//! Choosing among several instances comes with the balancer; for now a request
//! goes to the first instance not known to be down (passive health: a failed
//! connect marks an instance down, a success marks it up), or to the instance
//! its session is pinned to.

mod client;
mod instance;

use std::sync::Arc;

use http::{HeaderName, HeaderValue};

pub use client::{HttpClient, UpstreamBody};
pub use instance::{Health, Instance};

use crate::config;

/// A backend, built from its config at load time.
pub struct Backend {
    /// The configured name, used in metrics and logs.
    pub name: Arc<str>,
    /// Deadline for the upstream's response head.
    pub timeout: std::time::Duration,
    /// Static headers sent upstream on every request.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// The instances, in config order.
    pub instances: Vec<Arc<Instance>>,
    /// The pooled client shared by the instances.
    pub client: HttpClient,
}

/// Building a backend failed (an unreadable `ca` file).
#[derive(Debug, thiserror::Error)]
#[error("backend `{backend}`: {message}")]
pub struct BuildError {
    backend: String,
    message: String,
}

impl Backend {
    /// Builds the runtime backend from its config.
    pub fn build(cfg: &config::Backend) -> Result<Backend, BuildError> {
        let name = cfg.name.get_ref().clone();
        let client = HttpClient::new(cfg.connect_timeout.0, cfg.ca.as_deref())
            .map_err(|message| BuildError { backend: name.clone(), message })?;
        Ok(Backend {
            name: name.into(),
            timeout: cfg.timeout.0,
            headers: cfg.header_values(),
            instances: cfg.instances.iter().map(|i| Arc::new(Instance::new(i.url.0.clone(), i.weight))).collect(),
            client,
        })
    }

    /// The instance a new request goes to: the first one not known to be
    /// down, or the first one when all are down (better to try than to refuse).
    pub fn pick(&self) -> &Arc<Instance> {
        self.instances.iter().find(|i| i.health() != Health::Down).unwrap_or(&self.instances[0])
    }

    /// The instance a session token names, if this backend still has it.
    pub fn find(&self, url: &str) -> Option<&Arc<Instance>> {
        self.instances.iter().find(|i| i.url_str() == url)
    }
}
