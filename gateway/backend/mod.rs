//! Backends: named pools of MCP server instances, the pooled HTTP client
//! that reaches them, and the stack's last layer, [`Forward`].
//!
//! A backend is built once from its config, with everything the request
//! path needs already resolved: its timeouts, its retry policy and budget,
//! its outlier detector, and one live-table [`Record`](crate::table::Record)
//! per instance.

mod client;
mod forward;
mod request;

use std::sync::Arc;
use std::time::Duration;

use http::{HeaderName, HeaderValue};

pub use client::{HttpClient, UpstreamBody};
pub use forward::{Forward, TrackedBody};
pub use request::{CallPolicy, Tried, UpstreamRequest};

use crate::balance::Balancer;
use crate::config;
use crate::outlier::Detector;
use crate::retry;

use crate::table::{Instance, Pool};
use crate::telemetry::backend::BackendMetrics;

/// A backend, built from its config at load time.
pub struct Backend {
    /// The configured name, used in metrics and logs.
    pub name: Arc<str>,
    /// Overall deadline of a request, retries included.
    pub timeout: Duration,
    /// Per-method overrides of `timeout`. A short list scanned in order:
    /// cheaper than hashing for the handful a config names.
    timeouts: Vec<(Box<str>, Duration)>,
    /// Deadline of one attempt's response head.
    pub attempt_timeout: Option<Duration>,
    /// Static headers sent upstream on every request.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// The instances, in config order.
    pub instances: Vec<Arc<Instance>>,
    /// The pooled client shared by the instances.
    pub client: HttpClient,
    /// When and how failed attempts are retried.
    pub retry: retry::Policy,
    /// Passive outlier detection over `instances`.
    pub outlier: Detector,
    /// Picks the instance of each new session or stateless request.
    pub balancer: Balancer,
    /// Active health probe settings, read by the health checker.
    pub health: config::Health,
    /// The backend's metric handles.
    pub metrics: BackendMetrics,
    /// The response cache, when the config asks for one. It lives as long
    /// as the backend, so a reload that keeps the backend keeps its entries.
    pub cache: Option<Arc<crate::cache::Cache>>,
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
        Self::rebuild(cfg, None)
    }

    /// Builds the backend anew for a changed config (on reload). Instances
    /// of `previous` that did not change (same URL, weight and position)
    /// are carried over with their live record: health, ejection, drain,
    /// admin weight and load survive, say, a new timeout.
    pub fn rebuild(cfg: &config::Backend, previous: Option<&Backend>) -> Result<Backend, BuildError> {
        let name = cfg.name.get_ref().clone();
        let client = HttpClient::new(cfg.connect_timeout.0, cfg.ca.as_deref())
            .map_err(|message| BuildError { backend: name.clone(), message })?;
        let epoch = tokio::time::Instant::now();
        let instances = cfg
            .instances
            .iter()
            .enumerate()
            .map(|(i, inst)| {
                let same = previous
                    .and_then(|p| p.instances.get(i))
                    .filter(|old| old.url() == &inst.url.0 && old.record.weight() == inst.weight);
                match same {
                    Some(old) => old.clone(),
                    None => Arc::new(Instance::new(inst.url.0.clone(), inst.weight, i, &name, epoch)),
                }
            })
            .collect();
        Ok(Backend {
            timeout: cfg.timeout.0,
            timeouts: cfg.timeouts.iter().map(|(m, d)| (m.as_str().into(), d.0)).collect(),
            attempt_timeout: cfg.attempt_timeout.map(|d| d.0),
            headers: cfg.header_values(),
            instances,
            client,
            retry: retry::Policy::new(&cfg.retry),
            outlier: Detector::new(&cfg.outlier),
            balancer: Balancer::new(cfg.balance, cfg.instances.len()),
            health: cfg.health.clone(),
            metrics: BackendMetrics::new(&name),
            cache: crate::cache::Cache::for_backend(cfg),
            name: name.into(),
        })
    }

    /// What the stack needs to know about a call of `method` (with tool
    /// `name`, for `tools/call`); `post` tells a POST from a GET or DELETE.
    pub fn policy(&self, method: &str, name: Option<&str>, post: bool) -> CallPolicy {
        let timeout = match post {
            true => self.timeouts.iter().find(|(m, _)| &**m == method).map_or(self.timeout, |(_, d)| *d),
            false => self.timeout,
        };
        CallPolicy {
            timeout,
            replay_safe: post && self.retry.replay_safe(method, name),
            bound_body: post && method != "subscriptions/listen",
        }
    }

    /// The instance a session token names, if this backend still has it.
    pub fn find(&self, url: &str) -> Option<&Arc<Instance>> {
        self.instances.iter().find(|i| i.url_str() == url)
    }
}

impl Pool for Backend {
    fn name(&self) -> &str {
        &self.name
    }

    fn transport(&self) -> &'static str {
        "http"
    }

    fn instances(&self) -> Vec<Arc<Instance>> {
        self.instances.clone()
    }
}
