//! Power of two choices: draw two distinct eligible instances at random and
//! send the request to the cheaper.
//!
//! The cost of an instance is
//!
//! ```text
//! cost = (in_flight + 1) × latency / weight
//! ```
//!
//! - `in_flight` is the requests it is serving now; the `+ 1` is the one
//!   being placed, so that an idle slow instance still costs more than an
//!   idle fast one.
//! - `latency` is its EWMA of the time to the response head (see
//!   [`Record::observe_latency`](crate::table::Record::observe_latency)).
//!   Together, `(in_flight + 1) × latency` estimates how long the request
//!   would wait there (linkerd's and Finagle's "peak EWMA" idea, without the
//!   peak).
//! - `weight` is the live weight (`effective_weight()`), so an instance of
//!   weight 3 is thought as cheap as one of weight 1 carrying a third of its
//!   load.
//! - **Cold start.** An instance with no latency sample yet takes the other
//!   candidate's latency; when neither has one, both count as 1. The
//!   comparison then falls back to in-flight per weight, so a fresh instance
//!   is neither flooded (as a latency of 0 would do until its first answer
//!   lands) nor starved (as an assumed-high latency would).
//! - Ties go to the first drawn, which is itself random.
//!
//! Why two random choices and not the cheapest of all: every gateway
//! replica, and every request racing through one, would otherwise see the
//! same cheapest instance and pile onto it before its in-flight count
//! rises (the herd effect). Two random draws spread those racing requests,
//! and still avoid the worst instance almost always (Mitzenmacher, "The
//! Power of Two Choices in Randomized Load Balancing").
//!
//! Known limit: an instance's EWMA moves only when it answers, so one that
//! was slow and recovered keeps its old cost until load on the others makes
//! it the cheaper of a pair again.

use std::sync::Arc;

use super::eligible::Eligible;
use crate::backend::Tried;
use crate::table::Instance;

/// The pool index P2C chooses, or `None` when nothing is eligible.
pub(super) fn pick(pool: &[Arc<Instance>], eligible: &Eligible, tried: Option<&Tried>) -> Option<usize> {
    let m = eligible.count;
    // Two distinct ranks among the eligible instances.
    let a = if m > 1 { rand::random_range(0..m) } else { 0 };
    let b = match m {
        0 | 1 => usize::MAX,
        _ => {
            let b = rand::random_range(0..m - 1);
            if b >= a { b + 1 } else { b }
        }
    };
    let (mut first, mut second, mut last) = (None, None, None);
    let mut rank = 0;
    for (i, inst) in pool.iter().enumerate() {
        let Some(weight) = eligible.admits(i, inst, tried) else { continue };
        let c = Candidate::of(i, inst, weight);
        if rank == a {
            first = Some(c);
        } else if rank == b {
            second = Some(c);
        }
        last = Some(c);
        rank += 1;
    }
    // The table may have changed since the scan; whatever the walk found
    // eligible is still a right answer.
    match (first, second) {
        (Some(x), Some(y)) => Some(if x.cost(&y) <= y.cost(&x) { x.index } else { y.index }),
        (Some(x), None) | (None, Some(x)) => Some(x.index),
        (None, None) => last.map(|c| c.index),
    }
}

/// What the cost of one drawn instance is computed from.
#[derive(Clone, Copy, Debug)]
pub(super) struct Candidate {
    /// Its index in the pool.
    pub(super) index: usize,
    /// Requests in flight.
    pub(super) in_flight: u32,
    /// Live weight, above 0.
    pub(super) weight: u32,
    /// EWMA latency in microseconds; 0 when no sample yet.
    pub(super) ewma_us: f64,
}

// === impl Candidate ===

impl Candidate {
    fn of(index: usize, inst: &Instance, weight: u32) -> Self {
        let r = &inst.record;
        Self { index, in_flight: r.in_flight(), weight, ewma_us: f64::from_bits(r.ewma_bits()) }
    }

    /// `(in_flight + 1) × latency / weight`, where an unknown latency is
    /// `other`'s (see the module doc).
    pub(super) fn cost(&self, other: &Candidate) -> f64 {
        let latency = [self.ewma_us, other.ewma_us, 1.0].into_iter().find(|l| *l > 0.0).unwrap_or(1.0);
        (f64::from(self.in_flight) + 1.0) * latency / f64::from(self.weight.max(1))
    }
}
