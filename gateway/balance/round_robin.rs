//! Smooth weighted round robin (nginx's): deterministic shares that follow
//! the weights exactly and interleave rather than burst.
//!
//! Each instance keeps a counter `current`. On every pick, each eligible
//! instance adds its weight to its counter; the one with the highest counter
//! wins and gives back the sum of the weights added. Weights 5:1:1 then give
//! `a a b a c a a`, not `a a a a a b c`, and any run of `Σw` picks lands
//! exactly on the weights.
//!
//! **Concurrency.** The counters are `AtomicI64`s, with no lock: a pick is
//! one `fetch_add` per eligible instance and one `fetch_sub` on the winner.
//! Two picks racing may read each other's half-done additions and both
//! choose the same instance; that instance's counter then falls by twice
//! the total and it sits out the next picks until it has caught up. What
//! keeps the shares right is that every pick adds exactly what it takes
//! away, so the counters always sum to 0, stay bounded, and each instance's
//! share converges to its weight whatever the interleaving. A lock would
//! buy exact sequences under contention, which nobody can observe through
//! the network anyway, at the price of a wait on every request.
//!
//! Weights are read from the live table on every pick, so a `PUT …/weight`
//! applies to the very next one. An instance that leaves the eligible set
//! (down, drained, already tried by this request) keeps its counter frozen
//! and rejoins with it.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering::Relaxed};

use super::eligible::Eligible;
use crate::backend::Tried;
use crate::table::Instance;

/// The counters of one pool.
pub(super) struct RoundRobin {
    /// `current` of instance `i`, indexed like the pool.
    current: Box<[AtomicI64]>,
}

// === impl RoundRobin ===

impl RoundRobin {
    /// Counters for a pool of `instances`.
    pub(super) fn new(instances: usize) -> Self {
        Self { current: (0..instances).map(|_| AtomicI64::new(0)).collect() }
    }

    /// The pool index chosen, or `None` when nothing is eligible. Instances
    /// past the counters' length (a pool other than the one it was built
    /// for) are never chosen.
    pub(super) fn pick(&self, pool: &[Arc<Instance>], eligible: &Eligible, tried: Option<&Tried>) -> Option<usize> {
        let mut total = 0i64;
        let mut best: Option<(i64, usize)> = None;
        for ((i, inst), current) in pool.iter().enumerate().zip(self.current.iter()) {
            let Some(weight) = eligible.admits(i, inst, tried) else { continue };
            let weight = i64::from(weight);
            let now = current.fetch_add(weight, Relaxed) + weight;
            total += weight;
            if best.is_none_or(|(b, _)| now > b) {
                best = Some((now, i));
            }
        }
        let (_, i) = best?;
        self.current.get(i)?.fetch_sub(total, Relaxed);
        Some(i)
    }
}
