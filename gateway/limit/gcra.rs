//! GCRA, the generic cell rate algorithm, and the buckets of this process.
//!
//! A bucket is one number, its theoretical arrival time (TAT): when the
//! bucket would be empty again if every admitted request had arrived exactly
//! on schedule. A request at `now` is admitted when pushing the TAT one
//! emission interval later leaves it at most `burst` intervals ahead of
//! `now`. That is a token bucket with no refill task and no timer, and a
//! single compare-and-swap per request, which is why governor uses it too;
//! it is written out here because the same arithmetic must also run as a
//! Lua script inside Redis (see [`super::redis`]), and the two must agree.
//!
//! Over any window of length `T`, at most `rate·T + burst` requests pass,
//! however hard clients push: at three times the rate, the admitted rate
//! converges on the configured one.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use dashmap::DashMap;
use tokio::time::Instant;

/// Buckets kept before a sweep drops the ones that are full again.
const SWEEP_AT: usize = 4096;

/// A rule's rate as GCRA's two numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gcra {
    /// Time between requests at the sustained rate, in nanoseconds.
    pub interval_ns: u64,
    /// How far the TAT may run ahead of now: `burst` intervals.
    pub tolerance_ns: u64,
}

/// What a bucket said.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Admitted.
    Allow,
    /// Refused; the next request could pass after this long.
    Deny(Duration),
}

/// The buckets of one rule in this process: one per key.
pub struct LocalBuckets {
    gcra: Gcra,
    /// Zero of the nanosecond clock the TATs are kept on.
    epoch: Instant,
    /// TAT per key, in nanoseconds since `epoch`. A key absent here is a
    /// full bucket, so a bucket whose TAT has passed can be dropped freely.
    tats: DashMap<Box<str>, AtomicU64>,
    /// Size at which the next sweep runs: doubled past what a sweep left, so
    /// that many active clients do not make every new one pay for a sweep.
    sweep_at: AtomicUsize,
}

// === impl Gcra ===

impl Gcra {
    /// `count` requests per `period`, `burst` of them at once.
    pub fn new(count: u32, period: Duration, burst: u32) -> Self {
        let interval_ns = (period.as_nanos() / u128::from(count.max(1))).max(1);
        let interval_ns = u64::try_from(interval_ns).unwrap_or(u64::MAX);
        Self { interval_ns, tolerance_ns: interval_ns.saturating_mul(u64::from(burst.max(1))) }
    }

    /// Decides one request at `now_ns` on a bucket whose TAT is `tat_ns`;
    /// on admission, the bucket's new TAT comes back too.
    pub fn decide(&self, tat_ns: u64, now_ns: u64) -> (Decision, u64) {
        let new_tat = tat_ns.max(now_ns).saturating_add(self.interval_ns);
        let ahead = new_tat - now_ns;
        if ahead > self.tolerance_ns {
            (Decision::Deny(Duration::from_nanos(ahead - self.tolerance_ns)), tat_ns)
        } else {
            (Decision::Allow, new_tat)
        }
    }

    /// The TAT of a bucket at `tat_ns` after one admitted request's token is
    /// given back at `now_ns`: one interval earlier, but not before now. A
    /// TAT at or before now already means a full bucket, so a refund can
    /// never leave one fuller than full, whatever ran in between.
    pub fn refund(&self, tat_ns: u64, now_ns: u64) -> u64 {
        tat_ns.saturating_sub(self.interval_ns).max(now_ns)
    }
}

// === impl LocalBuckets ===

impl LocalBuckets {
    /// Empty buckets for `gcra`.
    pub fn new(gcra: Gcra) -> Self {
        Self { gcra, epoch: Instant::now(), tats: DashMap::new(), sweep_at: AtomicUsize::new(SWEEP_AT) }
    }

    /// Takes one request from `key`'s bucket, if it has room.
    pub fn check(&self, key: &str) -> Decision {
        let now = self.now();
        if let Some(tat) = self.tats.get(key) {
            return self.update(&tat, now);
        }
        if self.tats.len() >= self.sweep_at.load(Ordering::Relaxed) {
            self.sweep(now);
        }
        let entry = self.tats.entry(key.into()).or_insert_with(|| AtomicU64::new(0));
        self.update(&entry, now)
    }

    /// Gives back the token a request took from `key`'s bucket, when a later
    /// rule refused that request. A bucket no longer held was full again
    /// (and swept): nothing to give back.
    pub fn refund(&self, key: &str) {
        let Some(tat) = self.tats.get(key) else { return };
        let now = self.now();
        let _ = tat.fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| Some(self.gcra.refund(t, now)));
    }

    /// Buckets held (tests and sweeping).
    pub fn len(&self) -> usize {
        self.tats.len()
    }

    /// Whether no bucket is held.
    pub fn is_empty(&self) -> bool {
        self.tats.is_empty()
    }

    /// Nanoseconds since `epoch`, on tokio's clock.
    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    fn update(&self, tat: &AtomicU64, now: u64) -> Decision {
        let mut current = tat.load(Ordering::Acquire);
        loop {
            let (decision, new_tat) = self.gcra.decide(current, now);
            if decision != Decision::Allow {
                return decision;
            }
            match tat.compare_exchange_weak(current, new_tat, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return decision,
                Err(seen) => current = seen,
            }
        }
    }

    /// Drops the buckets that are full again: they hold nothing a fresh one
    /// would not, so per-client state stays bounded by the active clients.
    fn sweep(&self, now: u64) {
        self.tats.retain(|_, tat| tat.load(Ordering::Relaxed) > now);
        self.sweep_at.store((self.tats.len() * 2).max(SWEEP_AT), Ordering::Relaxed);
    }
}
