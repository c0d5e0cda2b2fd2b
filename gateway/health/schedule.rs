//! When an instance's next probe is due.
//!
//! Probes start `interval` apart, start to start. They slow to
//! `idle_interval` only while nothing gives a reason to look ([`may_idle`]):
//! the instance is `up`, its last probe succeeded, it is not ejected, and
//! its whole backend has had no traffic since that probe. An instance that
//! failed a probe, or that outlier detection ejected, is never left for an
//! idle interval: those are the instances whose verdict is about to change.
//!
//! The rule is applied to the instance as it is *now*, not as it was when the
//! wait began: an idle wait looks again every `interval`, so traffic that
//! comes back brings the next probe within one interval, and an ejection
//! ends the wait at once (requests failing is the best reason there is to
//! probe). Deciding once, before a 60 s sleep, is how a killed instance
//! stayed `up` in the table for a minute while it was ejected.
//!
//! Why the pool's traffic and not the instance's own: an ejected, drained or
//! weight-0 instance gets no traffic *because* of its state, and slowing its
//! probes for that would leave it judged on old news when it comes back.

use tokio::time::Instant;

use super::jittered;
use crate::config;
use crate::table::{Health, Record};

/// One instance's probe schedule: when the last probe ran and what it saw.
pub struct Schedule {
    /// The normal time between probes.
    interval: std::time::Duration,
    /// The time between probes of an idle instance.
    idle_interval: std::time::Duration,
    /// The share of a wait that jitter may take off.
    jitter: f64,
    /// When the very first probe is due; taken by the first wait.
    first: Option<Instant>,
    /// When the last probe started.
    last: Instant,
    /// Whether the last probe succeeded.
    last_ok: bool,
    /// The backend's request count when the last probe started.
    pool_requests: Option<u64>,
}

/// What the schedule looks at when it decides whether an instance may idle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seen {
    /// The probes' verdict now.
    pub health: Health,
    /// Whether the last probe succeeded.
    pub last_ok: bool,
    /// Whether outlier detection has it ejected now.
    pub ejected: bool,
    /// Whether the backend has had traffic since the last probe.
    pub pool_busy: bool,
}

/// Whether an instance in state `seen` may be probed every `idle_interval`
/// instead of every `interval`: only a healthy instance that nothing
/// contradicts, in a pool that nobody uses.
pub fn may_idle(seen: Seen) -> bool {
    seen.health == Health::Up && seen.last_ok && !seen.ejected && !seen.pool_busy
}

// === impl Schedule ===

impl Schedule {
    /// The schedule of `cfg`. The first probe comes soon, spread over the
    /// jitter so that the instances of a big config are not all probed in
    /// the same millisecond.
    pub fn new(cfg: &config::HealthCheck) -> Self {
        let now = Instant::now();
        Self {
            interval: cfg.interval.0,
            idle_interval: cfg.idle_interval.0,
            jitter: cfg.jitter.0,
            first: Some(now + cfg.interval.0.mul_f64(cfg.jitter.0 * rand::random::<f64>())),
            last: now,
            last_ok: false,
            pool_requests: None,
        }
    }

    /// Records a probe that started at `started`, when the backend's request
    /// count was `pool_requests`; `ok` when it succeeded (`false` too when
    /// there was nothing to probe).
    pub fn probed(&mut self, started: Instant, ok: bool, pool_requests: u64) {
        self.last = started;
        self.last_ok = ok;
        self.pool_requests = Some(pool_requests);
    }

    /// Waits until the next probe of `record` is due. `pool_requests` reads
    /// the backend's request count, or `None` once the backend is gone, which
    /// ends the wait (the caller then finds it gone and stops).
    pub async fn until_due(&mut self, record: &Record, pool_requests: impl Fn() -> Option<u64>) {
        if let Some(first) = self.first.take() {
            tokio::select! {
                () = tokio::time::sleep_until(first) => {}
                () = record.ejection() => {}
            }
            return;
        }
        let idle_due = self.last + jittered(self.idle_interval, self.jitter, rand::random());
        let mut tick = self.last;
        loop {
            tick += jittered(self.interval, self.jitter, rand::random());
            tokio::select! {
                () = tokio::time::sleep_until(tick.min(idle_due)) => {}
                () = record.ejection() => return,
            }
            let Some(requests) = pool_requests() else { return };
            let seen = Seen {
                health: record.health(),
                last_ok: self.last_ok,
                ejected: record.is_ejected(record.now_ms()),
                pool_busy: self.pool_requests != Some(requests),
            };
            if Instant::now() >= idle_due || !may_idle(seen) {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests;
