//! A route's sides and weights, and the draw that picks one.
//!
//! A side that a new split leaves out is retired: kept at weight 0, with the
//! time it was retired, for the sessions already on it. It takes no new
//! session, so every session on it holds a token issued before that time,
//! and once `session_ttl` has passed since, none of those tokens opens any
//! more: [`Split::without_expired`] then drops the side. Sides the config
//! file names for the route are never dropped that way: the file says they
//! belong to it (a reload puts them back anyway).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::Target;
use crate::config::MAX_WEIGHT;
use crate::limit::{Limits, RouteLimit};
use crate::telemetry::RouteMetrics;

/// Every backend a route may name, built once per config.
pub type Targets = HashMap<Arc<str>, Arc<Target>>;

/// One side of a split.
pub struct Side {
    /// The backend's name.
    pub backend: Arc<str>,
    /// Its share of new sessions and stateless requests.
    pub weight: u32,
    /// Where its requests go.
    pub target: Arc<Target>,
    /// Metrics of the route's requests on this side. Shared between the
    /// splits that replace each other, so counters carry on.
    pub metrics: Arc<RouteMetrics>,
    /// The rate limits and admission cap for this route on this backend.
    pub limit: Arc<RouteLimit>,
    /// When it was retired: since then it is kept at weight 0 only for the
    /// sessions already on it, because the split that replaced its own no
    /// longer names it. The override header cannot reach it. `None` for a
    /// side the split names.
    pub retired_since: Option<Instant>,
}

/// The sides of a route, in order, and their total weight.
pub struct Split {
    sides: Vec<Arc<Side>>,
    total: u64,
}

/// A side as the admin API and the config write it.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Weight {
    /// The backend's name.
    pub backend: String,
    /// Its weight.
    pub weight: u32,
}

/// Why a new split was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SplitError {
    /// A side names a backend the gateway does not have.
    #[error("no backend is named `{0}`")]
    UnknownBackend(String),
    /// A backend is listed twice.
    #[error("`{0}` is listed twice")]
    Duplicate(String),
    /// Every weight is 0, so new sessions would have nowhere to go.
    #[error("at least one side needs a weight above 0")]
    AllZero,
    /// A weight above [`MAX_WEIGHT`].
    #[error("weight {0} is above the maximum of {MAX_WEIGHT}")]
    TooHeavy(u32),
    /// No sides at all.
    #[error("a split needs at least one side")]
    Empty,
    /// The route aggregates members; its split only lists them.
    #[error("an aggregated route has no split to set: canary a member with a `split` of its own in the config")]
    Aggregated,
}

// === impl Split ===

impl Split {
    /// A split of `weights` over `targets`, for the route at `path`. Sides of
    /// `previous` that `weights` leaves out stay on with weight 0, so their
    /// sessions keep working; their metric handles carry over.
    pub fn build(
        path: &str,
        weights: &[Weight],
        targets: &Targets,
        limits: &Limits,
        previous: Option<&Split>,
    ) -> Result<Split, SplitError> {
        if weights.is_empty() {
            return Err(SplitError::Empty);
        }
        let mut sides: Vec<Arc<Side>> = Vec::with_capacity(weights.len());
        for w in weights {
            if w.weight > MAX_WEIGHT {
                return Err(SplitError::TooHeavy(w.weight));
            }
            if sides.iter().any(|s| *s.backend == *w.backend) {
                return Err(SplitError::Duplicate(w.backend.clone()));
            }
            let (name, target) = targets
                .get_key_value(w.backend.as_str())
                .ok_or_else(|| SplitError::UnknownBackend(w.backend.clone()))?;
            let metrics = previous
                .and_then(|p| p.named(&w.backend))
                .map(|s| s.metrics.clone())
                .unwrap_or_else(|| Arc::new(RouteMetrics::new(path, name)));
            let limit = Arc::new(limits.for_route(path, name));
            sides.push(Arc::new(Side {
                backend: name.clone(),
                weight: w.weight,
                target: target.clone(),
                metrics,
                limit,
                retired_since: None,
            }));
        }
        if sides.iter().all(|s| s.weight == 0) {
            return Err(SplitError::AllZero);
        }
        let now = Instant::now();
        for old in previous.map(|p| p.sides.as_slice()).unwrap_or_default() {
            let still_served = targets.get(&old.backend).is_some_and(|t| Arc::ptr_eq(t, &old.target));
            if still_served && !sides.iter().any(|s| s.backend == old.backend) {
                let limit = Arc::new(limits.for_route(path, &old.backend));
                // A side retired before stays retired since then: its
                // sessions are no younger for the new split.
                let retired_since = Some(old.retired_since.unwrap_or(now));
                sides.push(Arc::new(Side { weight: 0, limit, retired_since, ..Side::clone_of(old) }));
            }
        }
        let total = sides.iter().map(|s| u64::from(s.weight)).sum();
        Ok(Split { sides, total })
    }

    /// A split of some of this one's sides with other weights, sharing
    /// their targets, metrics and limits: a member of an aggregated route,
    /// whose sides are among the route's. `None` when a backend is not one
    /// of this split's or every weight is 0.
    pub fn subset(&self, weights: &[(&str, u32)]) -> Option<Split> {
        let mut sides = Vec::with_capacity(weights.len());
        for (backend, weight) in weights {
            let side = self.named(backend)?;
            sides.push(Arc::new(Side { weight: *weight, retired_since: None, ..Side::clone_of(side) }));
        }
        let total: u64 = sides.iter().map(|s| u64::from(s.weight)).sum();
        (total > 0).then_some(Split { sides, total })
    }

    /// The sides, in order.
    pub fn sides(&self) -> &[Arc<Side>] {
        &self.sides
    }

    /// The weights, as the admin API shows them.
    pub fn weights(&self) -> Vec<Weight> {
        self.sides.iter().map(|s| Weight { backend: s.backend.to_string(), weight: s.weight }).collect()
    }

    /// When the first retired side that `kept` does not name is due to go:
    /// `ttl` after it was retired.
    pub fn next_expiry(&self, ttl: Duration, kept: impl Fn(&str) -> bool) -> Option<Instant> {
        self.sides.iter().filter(|s| !kept(&s.backend)).filter_map(|s| Some(s.retired_since? + ttl)).min()
    }

    /// This split without its retired sides that were retired `ttl` or
    /// longer before `now`, except those `kept` names (the file's); with
    /// the backends dropped. `None` when no side is due.
    pub fn without_expired(
        &self,
        now: Instant,
        ttl: Duration,
        kept: impl Fn(&str) -> bool,
    ) -> Option<(Split, Vec<Arc<str>>)> {
        let expired = |s: &Side| !kept(&s.backend) && s.retired_since.is_some_and(|at| now >= at + ttl);
        let (gone, sides): (Vec<_>, Vec<_>) = self.sides.iter().cloned().partition(|s| expired(s));
        if gone.is_empty() {
            return None;
        }
        // Retired sides weigh 0, so the total stays.
        let split = Split { sides, total: self.total };
        Some((split, gone.iter().map(|s| s.backend.clone()).collect()))
    }

    /// The side of backend `name`, whatever its weight.
    pub fn named(&self, name: &str) -> Option<&Arc<Side>> {
        self.sides.iter().find(|s| &*s.backend == name)
    }

    /// The side that `point` (any `u64`: random, or a hash) lands on,
    /// by weight. `None` only when every weight is 0.
    pub fn choose(&self, point: u64) -> Option<&Arc<Side>> {
        if self.total == 0 {
            return None;
        }
        let mut at = point % self.total;
        for side in &self.sides {
            let w = u64::from(side.weight);
            if at < w {
                return Some(side);
            }
            at -= w;
        }
        None
    }
}

// === impl Side ===

impl Side {
    fn clone_of(s: &Side) -> Side {
        Side {
            backend: s.backend.clone(),
            weight: s.weight,
            target: s.target.clone(),
            metrics: s.metrics.clone(),
            limit: s.limit.clone(),
            retired_since: s.retired_since,
        }
    }
}

/// FNV-1a, 64-bit, then a final mix so that nearby values spread over the
/// whole range. Chosen because it is fixed by its definition: every replica
/// and every build hashes a user to the same side.
pub fn stable_hash(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    // The finaliser of SplitMix64.
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}
