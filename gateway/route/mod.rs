//! Routes: which backend a request at a path goes to.
//!
//! A route has a path, a name (for the admin API) and a **split**: one or
//! more sides, each a backend with a weight. A plain `backend = "x"` is a
//! split of one. The side of a request is chosen here, before the
//! backend's policy stack:
//!
//! 1. A request of a session goes to the side in its token, whatever the
//!    weights say now: its upstream session lives there. A shift from blue
//!    to green therefore moves new sessions only, and drops none. A session
//!    whose backend has left the route gets 404, so the client starts anew.
//! 2. With `allow_override`, `x-switchyard-backend: <name>` names the side,
//!    even one weighted 0: that is how an operator tries a canary before
//!    sending it traffic.
//! 3. With `sticky_header`, the header's value picks the side by a stable
//!    hash (FNV-1a, the same in every replica and every build), so one user
//!    stays on one side while the weights stay put.
//! 4. Otherwise the side is drawn at random by weight.
//!
//! The split is an [`ArcSwap`]: the admin API replaces it whole, and a
//! request reads it with no lock. A side that a new split (from the API or
//! a reload) leaves out is kept, retired, at weight 0 rather than vanishing,
//! so sessions already on it keep working and a rollback is one more call.
//! A retired side takes nothing new, not even through the override header;
//! it is gone for good when its backend leaves the config, the gateway
//! restarts, or `session_ttl` has passed since it was retired (then no
//! session on it can be left; see [`split`]), unless the file names it.

pub mod aggregate;
pub mod split;
mod target;

use std::sync::Arc;

use arc_swap::ArcSwap;
use http::{HeaderMap, HeaderName};

pub use aggregate::Aggregate;
pub use split::{Side, Split};
pub use target::Target;

use crate::error::GatewayError;

/// The override header, honoured only on routes that allow it.
pub const OVERRIDE: HeaderName = HeaderName::from_static("x-switchyard-backend");

/// A route: a path and the split behind it.
pub struct Route {
    /// The path, which is also the session token's associated data.
    pub path: Arc<str>,
    /// The admin API's name for it.
    pub name: Arc<str>,
    /// The sides and their weights, swapped whole by the admin API.
    split: ArcSwap<Split>,
    /// The header whose value pins a stateless user to a side.
    sticky_header: Option<HeaderName>,
    /// Whether [`OVERRIDE`] is honoured.
    allow_override: bool,
    /// Metrics of requests that failed before a side was chosen, and of
    /// an aggregated route's fanned-out requests.
    pub unrouted: crate::telemetry::RouteMetrics,
    /// The members, when the route aggregates several servers.
    aggregate: Option<Aggregate>,
    /// The credentials the route requires; `None`: it is open.
    pub auth: Option<Arc<crate::auth::Authenticator>>,
    /// Who may use which tools, prompts and resources; `None`: all.
    pub authz: Option<Arc<crate::auth::Policy>>,
}

// === impl Route ===

impl Route {
    /// A route over `split`.
    pub fn new(path: &str, name: &str, split: Split, sticky_header: Option<HeaderName>, allow_override: bool) -> Self {
        Self {
            unrouted: crate::telemetry::RouteMetrics::new(path, ""),
            path: path.into(),
            name: name.into(),
            split: ArcSwap::from_pointee(split),
            sticky_header,
            allow_override,
            aggregate: None,
            auth: None,
            authz: None,
        }
    }

    /// The members, when the route aggregates several servers.
    pub fn aggregate(&self) -> Option<&Aggregate> {
        self.aggregate.as_ref()
    }

    /// The split in force now.
    pub fn split(&self) -> Arc<Split> {
        self.split.load_full()
    }

    /// Replaces the split; returns the one it replaced.
    pub fn set_split(&self, split: Split) -> Arc<Split> {
        self.split.swap(Arc::new(split))
    }

    /// Whether the override header is honoured.
    pub fn allows_override(&self) -> bool {
        self.allow_override
    }

    /// The sticky header, if any.
    pub fn sticky_header(&self) -> Option<&HeaderName> {
        self.sticky_header.as_ref()
    }

    /// The side of a request: its session's (`session_backend`, from the
    /// token), or else a new draw.
    pub fn side(&self, session_backend: Option<&str>, headers: &HeaderMap) -> Result<Arc<Side>, GatewayError> {
        match session_backend {
            Some(backend) => self.session_side(backend),
            None => self.pick(headers),
        }
    }

    /// The side of a request that belongs to no session yet: a stateless
    /// request, or an `initialize`.
    pub fn pick(&self, headers: &HeaderMap) -> Result<Arc<Side>, GatewayError> {
        let split = self.split.load();
        if self.allow_override
            && let Some(value) = headers.get(&OVERRIDE)
        {
            let name = value.to_str().unwrap_or("");
            return split.named(name).filter(|s| s.retired_since.is_none()).cloned().ok_or_else(|| {
                GatewayError::InvalidRequest(format!(
                    "{OVERRIDE} names `{name}`, which is not a backend of route `{}`",
                    self.name
                ))
            });
        }
        let sticky = self.sticky_header.as_ref().and_then(|h| headers.get(h)).map(|v| split::stable_hash(v.as_bytes()));
        split.choose(sticky.unwrap_or_else(rand::random)).cloned().ok_or(GatewayError::NoInstance)
    }

    /// The side a session's token names. A backend no longer in the route
    /// means the session is gone.
    pub fn session_side(&self, backend: &str) -> Result<Arc<Side>, GatewayError> {
        self.split.load().named(backend).cloned().ok_or(GatewayError::SessionNotFound)
    }
}

/// Builds the route a config entry describes, over `targets`. `previous`
/// is the route this one replaces on reload, so that its sessions' sides
/// stay on (see [`Split::build`]) and an aggregated route keeps what it
/// learned. `None`, with the reason logged, only for a config that skipped
/// validation.
pub fn build(
    cfg: &crate::config::Route,
    targets: &split::Targets,
    limits: &crate::limit::Limits,
    previous: Option<&Route>,
) -> Option<Route> {
    let path = cfg.path.get_ref().as_str();
    let weights: Vec<split::Weight> =
        cfg.sides().into_iter().map(|(backend, weight)| split::Weight { backend: backend.into(), weight }).collect();
    let before = previous.map(|p| p.split());
    let split = match Split::build(path, &weights, targets, limits, before.as_deref()) {
        Ok(split) => split,
        Err(e) => {
            tracing::error!(route = path, "route not served: {e}");
            return None;
        }
    };
    let aggregate = if cfg.members.is_empty() {
        None
    } else {
        match Aggregate::build(cfg, &split, previous.and_then(Route::aggregate)) {
            Ok(a) => Some(a),
            Err(e) => {
                tracing::error!(route = path, "route not served: {e}");
                return None;
            }
        }
    };
    let mut route =
        Route::new(path, &cfg.name(), split, cfg.sticky_header.as_ref().map(|h| h.0.clone()), cfg.allow_override);
    route.aggregate = aggregate;
    Some(route)
}

#[cfg(test)]
mod tests;
