//! Passive outlier detection: ejecting an instance that real requests see
//! failing.
//!
//! Active probes ask "are you alive?" every few seconds; requests ask the
//! real question many times a second. An instance whose last
//! `consecutive_failures` requests all failed (connection refused, 5xx,
//! timeout) is ejected: the balancer sends it no new work until the ejection
//! ends. Sessions pinned to it still reach it, because they have nowhere
//! else to go.
//!
//! - **Growing ejections.** The n-th ejection lasts `n × base_ejection`,
//!   capped at `max_ejection` (Envoy's rule), so an instance that keeps
//!   failing spends longer and longer out. An instance that stays clear of
//!   ejection for `max_ejection` after its last one ends starts over at the
//!   base.
//! - **A cap on the pool.** No ejection may take more than
//!   `max_ejected_percent` of the pool out. Ejecting is a bet that the other
//!   instances are better; when too many look bad, the fault is more likely
//!   shared (a database behind them all), and ejecting would only pile the
//!   load onto the survivors. A pool of one is never ejected from.
//! - **Probes do not end an ejection, with one exception.** A probe's
//!   `ping` succeeding says little about why real calls failed: a server
//!   whose tool backend is broken still answers pings. So a probe success
//!   does not un-eject (unlike Envoy's default). The exception is an
//!   instance the probes themselves saw go down and come back up: that is a
//!   restart, the failures were most likely that outage, and keeping the
//!   fresh process out for the rest of a long ejection helps no one. The
//!   health checker calls [`Record::uneject`] on that transition.
//! - **Probes can hold an ejection.** The other way round, a failed probe of
//!   an ejected instance that is not yet `down` keeps it out until the next
//!   probe answers ([`Record::hold_ejection`]): probes and requests agree it
//!   is failing, and letting the ejection lapse before the probes reach
//!   `fall` would only send it more requests to fail. An ejection also wakes
//!   the instance's prober at once (see [`crate::health::schedule`]).
//!
//! [`Record::uneject`]: crate::table::Record::uneject
//! [`Record::hold_ejection`]: crate::table::Record::hold_ejection

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::config;
use crate::table::Instance;

/// Passive detection for one pool.
pub struct Detector {
    /// Failures in a row that eject.
    consecutive: u32,
    /// The first ejection's length.
    base: Duration,
    /// The longest ejection.
    max: Duration,
    /// Most of the pool, in percent, ejected at once.
    max_percent: u32,
    /// Held while deciding an ejection, so that two instances crossing their
    /// threshold together cannot both pass the cap. Taken only when an
    /// instance crosses its threshold, never on the ordinary request path.
    deciding: Mutex<()>,
}

impl Detector {
    /// A detector with these settings.
    pub fn new(cfg: &config::Outlier) -> Self {
        Self {
            consecutive: cfg.consecutive_failures.max(1),
            base: cfg.base_ejection.0,
            max: cfg.max_ejection.0,
            max_percent: cfg.max_ejected_percent,
            deciding: Mutex::new(()),
        }
    }

    /// A request to `instance` succeeded.
    pub fn success(&self, instance: &Instance) {
        instance.record.succeed();
    }

    /// A request to `instance`, one of `pool`, failed; ejects it when this
    /// was one failure too many. Returns whether it was ejected.
    pub fn failure(&self, pool: &[Arc<Instance>], instance: &Instance, why: &str) -> bool {
        let record = &instance.record;
        if record.fail() < self.consecutive {
            return false;
        }
        let now = record.now_ms();
        if record.is_ejected(now) {
            // Failures of pinned sessions while it is out change nothing.
            return false;
        }
        let Ok(_deciding) = self.deciding.lock() else { return false };
        let ejected = pool.iter().filter(|i| i.record.is_ejected(i.record.now_ms())).count();
        let allowed = (ejected + 1) * 100 <= self.max_percent as usize * pool.len();
        if !allowed {
            tracing::debug!(
                instance = %instance.display_url(), ejected, pool = pool.len(),
                "not ejecting: max_ejected_percent reached"
            );
            return false;
        }
        let last_end = record.ejected_until_ms();
        if last_end != 0 && now.saturating_sub(last_end) >= millis(self.max) {
            record.reset_ejections();
        }
        let length = self.ejection_length(record.ejections() + 1);
        record.eject(now + millis(length));
        // The next ejection needs a fresh run of failures.
        record.succeed();
        tracing::warn!(
            instance = %instance.display_url(), failures = self.consecutive, ?length, %why,
            "instance ejected by outlier detection"
        );
        true
    }

    /// How long the `n`-th ejection lasts: `n × base`, capped.
    pub fn ejection_length(&self, n: u32) -> Duration {
        self.base.saturating_mul(n.max(1)).min(self.max)
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests;
