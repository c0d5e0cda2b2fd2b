//! Which instances of a pool a request may go to: the rules both algorithms
//! share (drain, weight 0, health, ejection, retries, panic mode), decided
//! once per pick so that P2C and round robin cannot drift apart on them.
//!
//! A scan counts the candidates and picks the narrowest class that is not
//! empty; the algorithm then walks the pool again and asks [`Eligible::admits`]
//! of each instance. The table's atomics may change between the two walks
//! (a probe lands, an operator drains); the algorithms treat the second walk
//! as the truth and the counts as a hint, so a race costs a slightly uneven
//! random draw, never a wrong instance.

use std::sync::Arc;

use crate::backend::Tried;
use crate::table::Instance;

/// The instances one request may go to.
#[derive(Clone, Copy, Debug)]
pub(super) struct Eligible {
    /// Which candidates are admitted.
    class: Class,
    /// How many instances the class held during the scan.
    pub(super) count: usize,
    /// Whether health is being ignored (fewer than half healthy).
    pub(super) panic: bool,
    /// The pool's clock at the scan, for ejection times.
    now_ms: u64,
}

/// The candidates (not drained, weight above 0) a request may go to, in the
/// order they are tried: the first class that is not empty wins.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Class {
    /// Healthy and not yet tried by this request: the normal case.
    HealthyUntried,
    /// Healthy, even if tried: every healthy one was, so a retry goes back
    /// to one rather than to a sick one.
    Healthy,
    /// Panic mode: any candidate not yet tried.
    Untried,
    /// Panic mode, and every candidate tried: any candidate.
    Any,
}

/// Scans `pool` for a request whose earlier attempts are `tried`; `None`
/// when no instance is a candidate (all drained or weighted 0).
pub(super) fn scan(pool: &[Arc<Instance>], tried: Option<&Tried>) -> Option<Eligible> {
    let now_ms = pool.first()?.record.now_ms();
    // Counts of [candidates, healthy, healthy & untried, untried].
    let mut counts = [0usize; 4];
    for (i, inst) in pool.iter().enumerate() {
        let r = &inst.record;
        if r.effective_weight() == 0 || r.drained() {
            continue;
        }
        let healthy = r.healthy(now_ms);
        let untried = !tried.is_some_and(|t| t.contains(i));
        counts[0] += 1;
        counts[1] += usize::from(healthy);
        counts[2] += usize::from(healthy && untried);
        counts[3] += usize::from(untried);
    }
    let [candidates, healthy, healthy_untried, untried] = counts;
    if candidates == 0 {
        return None;
    }
    let panic = healthy * 2 < candidates;
    let (class, count) = match (panic, healthy_untried, untried) {
        (false, 0, _) => (Class::Healthy, healthy),
        (false, n, _) => (Class::HealthyUntried, n),
        (true, _, 0) => (Class::Any, candidates),
        (true, _, n) => (Class::Untried, n),
    };
    Some(Eligible { class, count, panic, now_ms })
}

// === impl Eligible ===

impl Eligible {
    /// The weight instance `i` of the pool takes part with, or `None` when it
    /// may not take this request.
    pub(super) fn admits(&self, i: usize, inst: &Instance, tried: Option<&Tried>) -> Option<u32> {
        let r = &inst.record;
        let weight = r.effective_weight();
        if weight == 0 || r.drained() {
            return None;
        }
        let untried = || !tried.is_some_and(|t| t.contains(i));
        let ok = match self.class {
            Class::HealthyUntried => r.healthy(self.now_ms) && untried(),
            Class::Healthy => r.healthy(self.now_ms),
            Class::Untried => untried(),
            Class::Any => true,
        };
        ok.then_some(weight)
    }
}
