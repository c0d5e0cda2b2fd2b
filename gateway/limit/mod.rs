//! Rate limits and admission: the front door's two ways of saying "not now".
//!
//! Both run in the front door after the JSON-RPC envelope is parsed (so the
//! method and tool name are known and validated) and before anything reaches
//! a backend, for HTTP and stdio backends alike. A refused request never
//! touches the backend table or outlier detection: it was never sent.
//!
//! - **Rate limits** (`[[rate_limits]]`): GCRA buckets ([`gcra`]) per
//!   client, per IP or global, one set per rule shared by every connection,
//!   kept in this process or in Redis ([`redis`]) so that replicas share
//!   them. Over the limit: 429, `Retry-After`, and JSON-RPC error -32005 whose
//!   `data` is `{"retryAfterMs": n, "rule": "…"}`.
//! - **Admission** (`max_in_flight` per backend, [`admission`]): past the
//!   cap, a fast 503 with `Retry-After` and -32003 whose `data` is
//!   `{"retryAfterMs": n, "backend": "…"}`, no queue; `n` comes from how
//!   long the backend's requests have lately held their slots. Only messages
//!   holding a request take a slot.
//!
//! What is counted:
//! - Only POSTed JSON-RPC *requests*. Notifications and the client's
//!   responses to server requests pass: refusing `notifications/cancelled`
//!   or an elicitation answer would make things worse, not better. Each
//!   request of a (2025-03-26) batch counts on its own, and one refusal
//!   refuses the batch.
//! - GET and DELETE are neither limited nor admitted: a GET opens the
//!   server's stream (one per session), and a refused DELETE would only keep
//!   a session alive longer.
//! - A request that matches several rules takes from each, in config
//!   order, and the first refusal wins; the rules (and, in a batch, the
//!   requests) that admitted it before then get their tokens back, so a
//!   refused request costs no bucket anything. Rate limits run before
//!   admission, so a refused request holds no slot.
//!
//! Cheap when nothing matches: [`Limits::for_route`] keeps, per route, only
//! the rules whose `route` and `backend` can match it, so a route with no
//! rule and no `max_in_flight` returns at once.
//!
//! A reload keeps what did not change ([`Limits::rebuild`]): a rule whose
//! whole config (its name, key, match, rate, burst, store and timeout, but
//! not where in the file it is written) is the same keeps its buckets, so a
//! throttled client stays throttled; and a backend whose `max_in_flight` and
//! deadline are the same keeps its admission count, so the requests in
//! flight across the reload still hold their slots. A changed rule or cap
//! starts fresh. Shared buckets live in Redis and need nothing; the rule
//! keeps its connection and its local fallback buckets.

pub mod admission;
pub mod gcra;
pub mod redis;
pub mod rule;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use http::HeaderMap;

pub use admission::{Admission, Permit};
pub use gcra::{Decision, Gcra, LocalBuckets};
pub use rule::{Rule, Taken};

use crate::client::Client;
use crate::config::Config;
use crate::config::limit::LimitKey;
use crate::error::GatewayError;
use crate::mcp::envelope::{Envelope, Kind, Message};

/// Every rule and admission cap, built once from the config.
#[derive(Default)]
pub struct Limits {
    rules: Vec<Arc<Rule>>,
    admission: HashMap<String, Arc<Admission>>,
    /// The Redis connections by store URL, for the rules of the next reload.
    connections: HashMap<String, Arc<redis::Connection>>,
}

/// The rules and cap that apply to one route.
#[derive(Default)]
pub struct RouteLimit {
    rules: Box<[Arc<Rule>]>,
    admission: Option<Arc<Admission>>,
}

// === impl Limits ===

impl Limits {
    /// Builds the rules (with one Redis connection per store URL) and the
    /// backends' admission caps.
    pub fn build(config: &Config) -> Self {
        Self::rebuild(config, None)
    }

    /// Builds them for a reload: the rules and caps of `previous` whose
    /// settings `config` did not change carry over, buckets, counts and
    /// connections included.
    pub fn rebuild(config: &Config, previous: Option<&Limits>) -> Self {
        let mut connections = previous.map(|p| p.connections.clone()).unwrap_or_default();
        let mut connect = |cfg: &crate::config::limit::RateLimit| {
            let store = cfg.store.as_ref()?;
            if let Some(conn) = connections.get(&store.url) {
                return Some(conn.clone());
            }
            match redis::Connection::new(&store.url, store.redacted(), cfg.store_timeout.0) {
                Ok(conn) => Some(connections.entry(store.url.clone()).or_insert(Arc::new(conn)).clone()),
                Err(e) => {
                    tracing::warn!(store = %store.redacted(), error = %e, "rate-limit store unusable; using local buckets");
                    None
                }
            }
        };
        let (mut kept, mut fresh) = (Vec::new(), Vec::new());
        let rules: Vec<Arc<Rule>> = config
            .rate_limits
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let print = rule::fingerprint(i, r);
                match previous.and_then(|p| p.rules.iter().find(|old| old.fingerprint() == print)) {
                    Some(old) => {
                        kept.push(old.name.clone());
                        old.clone()
                    }
                    None => {
                        let rule = Arc::new(Rule::build(i, r, &mut connect));
                        fresh.push(rule.name.clone());
                        rule
                    }
                }
            })
            .collect();
        let admission = config
            .backends
            .iter()
            .filter_map(|b| {
                let name = b.name.get_ref();
                let deadline = b.timeouts.values().map(|t| t.0).fold(b.timeout.0, Duration::max);
                let cap = b.max_in_flight?.get();
                let old = previous.and_then(|p| p.admission.get(name)).filter(|a| a.settings() == (cap, deadline));
                Some((name.clone(), old.cloned().unwrap_or_else(|| Admission::new(name, cap, deadline))))
            })
            .collect();
        // Only the connections some rule still uses are kept for the next reload.
        let in_use = |url: &String| config.rate_limits.iter().any(|r| r.store.as_ref().is_some_and(|s| s.url == *url));
        connections.retain(|url, _| in_use(url));
        if previous.is_some() && !config.rate_limits.is_empty() {
            tracing::info!(kept = ?kept, fresh = ?fresh, "reload: rate-limit rules kept with their buckets, and built fresh");
        }
        Self { rules, admission, connections }
    }

    /// What applies to the route at `path`, whose backend is `backend`.
    pub fn for_route(&self, path: &str, backend: &str) -> RouteLimit {
        RouteLimit {
            rules: self.rules.iter().filter(|r| r.covers(path, backend)).cloned().collect(),
            admission: self.admission.get(backend).cloned(),
        }
    }

    /// Every rule, in config order.
    pub fn rules(&self) -> &[Arc<Rule>] {
        &self.rules
    }
}

// === impl RouteLimit ===

impl RouteLimit {
    /// Whether nothing applies here: no rule and no admission cap.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty() && self.admission.is_none()
    }

    /// Checks a POSTed message against the route's rate limits, then takes
    /// an admission slot. The permit, when there is one, must live as long
    /// as the response body.
    pub async fn admit(
        &self,
        message: &Message,
        client: &Client,
        headers: &HeaderMap,
    ) -> Result<Option<Permit>, GatewayError> {
        if !self.rules.is_empty() {
            self.rate_limit(message, client, headers).await?;
        }
        match &self.admission {
            Some(admission) if takes_slot(message) => admission.try_acquire().map(Some),
            _ => Ok(None),
        }
    }

    async fn rate_limit(&self, message: &Message, client: &Client, headers: &HeaderMap) -> Result<(), GatewayError> {
        let mut keys = Keys::default();
        // The tokens taken so far, given back if a later check refuses. Only
        // kept when a second check can follow, so that the common case (one
        // rule, one request) never allocates.
        let refundable = self.rules.len() > 1 || matches!(message, Message::Batch(_));
        let mut taken: Vec<(&Rule, Taken)> = Vec::new();
        for env in requests(message) {
            let method = env.method();
            for rule in self.rules.iter().filter(|r| r.matches(method, env.name.as_deref())) {
                match rule.check(keys.of(rule.key, client, headers)).await {
                    Ok(t) if refundable => taken.push((rule, t)),
                    Ok(_) => {}
                    Err(wait) => {
                        for (rule, t) in taken {
                            rule.refund(keys.of(rule.key, client, headers), t).await;
                        }
                        return Err(GatewayError::RateLimited { rule: rule.name.clone(), retry_after: wait });
                    }
                }
            }
        }
        Ok(())
    }
}

/// A request's bucket keys, worked out once each and only when a rule asks.
#[derive(Default)]
struct Keys {
    principal: Option<String>,
    ip: Option<String>,
}

impl Keys {
    fn of(&mut self, kind: LimitKey, client: &Client, headers: &HeaderMap) -> &str {
        match kind {
            LimitKey::Client => self.principal.get_or_insert_with(|| client.principal(headers).key()),
            LimitKey::Ip => self.ip.get_or_insert_with(|| format!("ip:{}", client.connection.addr.ip())),
            LimitKey::Global => "global",
        }
    }
}

/// The requests in a message: notifications and responses are not counted.
fn requests(message: &Message) -> impl Iterator<Item = &Envelope> {
    let all: &[Envelope] = match message {
        Message::Single(env) => std::slice::from_ref(env),
        Message::Batch(envs) => envs,
    };
    all.iter().filter(|e| e.kind == Kind::Request)
}

/// Whether a message holds an admission slot: one with a request in it,
/// other than a `subscriptions/listen`, whose stream lasts as long as the
/// client wants it. A notification or the client's answer to a server
/// request is never shed: the work it finishes is already in flight.
fn takes_slot(message: &Message) -> bool {
    let listen = matches!(message, Message::Single(env) if env.method() == "subscriptions/listen");
    !listen && requests(message).next().is_some()
}

#[cfg(test)]
mod tests;
