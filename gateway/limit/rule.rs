//! One `[[rate_limits]]` rule, built: what it matches, whose bucket a
//! request takes from, and where the buckets live.

use std::sync::Arc;
use std::time::Duration;

use metrics::Counter;

use super::gcra::{Decision, Gcra, LocalBuckets};
use super::redis::{Connection, RedisBuckets};
use crate::config::limit::{LimitKey, RateLimit};

/// A rule ready for the request path.
pub struct Rule {
    /// The `rule` label and the shared keys' prefix.
    pub name: Arc<str>,
    /// Whose requests share a bucket.
    pub key: LimitKey,
    route: Option<String>,
    backend: Option<String>,
    method: Option<Box<str>>,
    tool: Option<Box<str>>,
    /// The buckets of this process: the only ones without a store, the
    /// fallback with one.
    local: LocalBuckets,
    /// The shared buckets, with `store`.
    shared: Option<RedisBuckets>,
    /// `switchyard_ratelimited_total{rule}`.
    limited: Counter,
    /// What the rule was built from ([`fingerprint`]), so that a reload
    /// keeps it, buckets and all, when its config did not change.
    print: Box<str>,
}

/// Which buckets an admitted request took its token from, so that a refund
/// goes back to the same ones even if the store failed or came back since.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Taken {
    /// This process's buckets.
    Local,
    /// The store's.
    Shared,
}

// === impl Rule ===

impl Rule {
    /// Builds rule number `index` of the config; `connect` gives the shared
    /// connection for a store URL.
    pub fn build(
        index: usize,
        cfg: &RateLimit,
        connect: &mut dyn FnMut(&RateLimit) -> Option<Arc<Connection>>,
    ) -> Self {
        let name: Arc<str> = match &cfg.name {
            Some(n) => n.get_ref().as_str().into(),
            None => format!("rate_limits.{index}").into(),
        };
        let gcra = Gcra::new(cfg.rate.count, cfg.rate.period, cfg.burst());
        let shared = connect(cfg).map(|conn| RedisBuckets::new(conn, name.clone(), gcra));
        Self {
            limited: metrics::counter!("switchyard_ratelimited_total", "rule" => name.to_string()),
            print: fingerprint(index, cfg).into(),
            name,
            key: cfg.key,
            route: cfg.matches.route.as_ref().map(|r| r.get_ref().clone()),
            backend: cfg.matches.backend.as_ref().map(|b| b.get_ref().clone()),
            method: cfg.matches.method.as_deref().map(Into::into),
            tool: cfg.matches.tool.as_deref().map(Into::into),
            local: LocalBuckets::new(gcra),
            shared,
        }
    }

    /// Whether the rule can match any request on this route; decided once
    /// per route at load, so that a route no rule names pays nothing.
    pub fn covers(&self, path: &str, backend: &str) -> bool {
        self.route.as_deref().is_none_or(|r| r == path) && self.backend.as_deref().is_none_or(|b| b == backend)
    }

    /// Whether it counts a request for `method` (with tool `name`, for
    /// `tools/call`).
    pub fn matches(&self, method: &str, name: Option<&str>) -> bool {
        self.method.as_deref().is_none_or(|m| m == method)
            && self.tool.as_deref().is_none_or(|t| method == "tools/call" && name == Some(t))
    }

    /// Takes one request from `key`'s bucket: the shared one when the store
    /// answers, this process's otherwise. A refusal says how long until the
    /// bucket has room.
    pub async fn check(&self, key: &str) -> Result<Taken, Duration> {
        let shared = match &self.shared {
            Some(redis) => redis.check(key).await.map(|d| (d, Taken::Shared)),
            None => None,
        };
        match shared.unwrap_or_else(|| (self.local.check(key), Taken::Local)) {
            (Decision::Allow, taken) => Ok(taken),
            (Decision::Deny(wait), _) => {
                self.limited.increment(1);
                Err(wait)
            }
        }
    }

    /// Gives back the token [`Rule::check`] took from `key`'s bucket in
    /// `taken`, because a later rule refused the request.
    pub async fn refund(&self, key: &str, taken: Taken) {
        match (taken, &self.shared) {
            (Taken::Shared, Some(redis)) => redis.refund(key).await,
            _ => self.local.refund(key),
        }
    }

    /// Whether the rule has a store and is on its local buckets now.
    pub fn falling_back(&self) -> bool {
        self.shared.as_ref().is_some_and(RedisBuckets::falling_back)
    }

    /// What the rule was built from; equal for equal configs.
    pub fn fingerprint(&self) -> &str {
        &self.print
    }
}

/// Everything rule number `index` of the config is built from, and nothing
/// else: not the file's spans (a rule moved down by a new line above it is
/// the same rule), but the name it gets by its place when it has none, and
/// the store URL with its password (a new password needs a new connection).
pub fn fingerprint(index: usize, cfg: &RateLimit) -> String {
    let text = |s: &Option<toml::Spanned<String>>| s.as_ref().map(|s| s.get_ref().clone());
    let name = text(&cfg.name).unwrap_or_else(|| format!("rate_limits.{index}"));
    let m = &cfg.matches;
    format!(
        "{name:?} {:?} {:?} {:?} {:?} {:?} {}/{:?} {} {:?} {:?}",
        cfg.key,
        text(&m.route),
        text(&m.backend),
        m.method,
        m.tool,
        cfg.rate.count,
        cfg.rate.period,
        cfg.burst(),
        cfg.store.as_ref().map(|s| &s.url),
        cfg.store_timeout.0,
    )
}
