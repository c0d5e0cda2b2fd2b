//! Backends: named pools of MCP server instances, the pooled HTTP client
//! that reaches them, and the stack's last layer, [`Forward`].
//!
//! A backend is built once from its config, with everything the innermost
//! service needs already resolved: its timeouts, its outlier detector, and
//! one live-table [`Record`](crate::table::Record) per instance. The policy
//! layers above it hold their own policies (see [`crate::stack`]).
//!
//! What the gateway proves to the instances is the backend's too, since it
//! goes with every connection and every request, whoever sends it: the
//! client certificate lives in the [`HttpClient`], and the OAuth token of
//! [`oauth`] is added by [`Forward`] and by [`Backend::send_own`].

mod client;
mod forward;
pub mod oauth;
mod request;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Request, Response, header};
use http_body_util::Full;

pub use client::{HttpClient, UpstreamBody};
pub use forward::{Forward, TrackedBody};
pub(crate) use request::copy_http;
pub use request::{CallPolicy, Tried, UpstreamRequest};

use oauth::{HttpFetch, TokenRequest, TokenSource};

use crate::config;
use crate::error::GatewayError;
use crate::outlier::Detector;

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
    /// Whether clients' own credentials go upstream (`passthrough_auth`).
    pub passthrough_auth: bool,
    /// Which protocol eras the instances speak, as configured (`era`).
    pub era: config::ServerEra,
    /// The instances, in config order.
    pub instances: Vec<Arc<Instance>>,
    /// The pooled client shared by the instances.
    pub client: HttpClient,
    /// The OAuth token sent upstream, when the backend has `oauth`.
    pub oauth: Option<Arc<TokenSource>>,
    /// Passive outlier detection over `instances`.
    pub outlier: Detector,
    /// Active health probe settings, read by the health checker.
    pub health: config::HealthCheck,
    /// The backend's metric handles.
    pub metrics: BackendMetrics,
}

/// Building a part of the runtime failed (a backend's unreadable `ca`,
/// `client_cert` or `client_key` file; an auth block's JWKS file).
#[derive(Debug, thiserror::Error)]
#[error("{part}: {message}")]
pub struct BuildError {
    /// What failed, such as ``backend `search` ``.
    part: String,
    message: String,
}

impl BuildError {
    /// `part` (a backend, an auth block, named) could not be built.
    pub fn new(part: impl Into<String>, message: impl Into<String>) -> Self {
        Self { part: part.into(), message: message.into() }
    }
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
        let client = HttpClient::new(cfg.connect_timeout.0, cfg.ca.as_deref(), cfg.client_identity())
            .map_err(|message| BuildError::new(format!("backend `{name}`"), message))?;
        let oauth = cfg.oauth().map(|o| {
            let request = TokenRequest::new(o);
            let endpoint = request.uri().to_string();
            Arc::new(TokenSource::new(&name, &endpoint, Box::new(HttpFetch { client: client.clone(), request })))
        });
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
        if cfg.passthrough_auth {
            tracing::warn!(backend = %name, "passthrough_auth: clients' Authorization and X-Api-Key go to this backend");
        }
        Ok(Backend {
            timeout: cfg.timeout.0,
            timeouts: cfg.timeouts.iter().map(|(m, d)| (m.as_str().into(), d.0)).collect(),
            attempt_timeout: cfg.attempt_timeout.map(|d| d.0),
            headers: cfg.header_values(),
            passthrough_auth: cfg.passthrough_auth,
            era: cfg.era,
            instances,
            client,
            oauth,
            outlier: Detector::new(&cfg.outlier),
            health: cfg.health.clone(),
            metrics: BackendMetrics::new(&name),
            name: name.into(),
        })
    }

    /// The overall deadline of a call of `method`: its override for a POST,
    /// else `timeout`. `post` tells a POST from a GET or DELETE.
    pub fn timeout_for(&self, method: &str, post: bool) -> Duration {
        match post {
            true => self.timeouts.iter().find(|(m, _)| &**m == method).map_or(self.timeout, |(_, d)| *d),
            false => self.timeout,
        }
    }

    /// Sends a request the gateway makes of its own (a health probe, a
    /// cancellation) with the backend's OAuth token, when it has one. A 401
    /// drops the token for the next request; the request itself is not sent
    /// again (see [`Forward`] for client requests).
    pub async fn send_own(&self, mut req: Request<Full<Bytes>>) -> Result<Response<UpstreamBody>, GatewayError> {
        let Some(oauth) = &self.oauth else { return self.client.send(req).await };
        let token = oauth.token().await?;
        req.headers_mut().insert(header::AUTHORIZATION, token.header().clone());
        let resp = self.client.send(req).await?;
        oauth.observe(&token, resp.status()).await;
        Ok(resp)
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
