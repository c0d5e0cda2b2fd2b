//! Active health checks: a probe task per instance, writing the live table.
//!
//! Each instance's task sends its backend's probe (MCP `ping` or
//! `tools/list` in a session of its own, `server/discover`, or a plain
//! `GET`), bounded by the probe `timeout`, and feeds the outcome to
//! [`observe`]:
//!
//! - `unknown` → `up` or `down` on the first outcome: with nothing known,
//!   the first answer is the best evidence there is (Envoy's startup rule),
//!   and waiting for `rise` answers would keep a fresh gateway blind.
//! - `up` → `down` after `fall` failures in a row; `down` → `up` after
//!   `rise` successes in a row. One lost packet does not empty the pool,
//!   and one lucky answer does not refill it.
//! - An instance that goes `down` and comes back `up` was restarted: its
//!   outlier ejection, if any, ends with it (see [`crate::outlier`]).
//! - A failed probe of an ejected instance that is not yet `down` holds the
//!   ejection until the next probe's verdict: otherwise an ejection shorter
//!   than `interval × fall` would lapse while the instance is still dead and
//!   not yet marked so, and real requests would find it again.
//!
//! Probes start `interval` apart, start to start, so a dead instance is
//! marked down within `interval × fall` plus one probe `timeout`, and a
//! restarted one is back within `interval × rise`. The jitter only ever
//! shortens a wait, so those bounds hold. An ejection brings a probe at
//! once, and a healthy instance of a backend with no traffic is probed every
//! `idle_interval` instead ([`schedule`] says when, and why the decision is
//! re-read while waiting).
//!
//! [`era`] learns which protocol eras an instance speaks, with the same
//! requests of the gateway's own as the probes.
//!
//! The tasks hold the backend weakly and stop when the gateway that built it
//! is gone; [`Checker`] also aborts them when dropped.

pub mod era;
mod own;
mod probe;
pub mod schedule;

use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::Instant;

pub use probe::Prober;
pub use schedule::Schedule;

use crate::backend::Backend;

use crate::config::{self, Probe};
use crate::table::Health;
use crate::table::Record;

/// The running probe tasks; dropping it stops them.
#[derive(Default)]
pub struct Checker {
    tasks: Vec<JoinHandle<()>>,
}

/// Successes and failures in a row.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Streak {
    /// Successes in a row.
    pub ok: u32,
    /// Failures in a row.
    pub failed: u32,
}

impl Checker {
    /// Starts a probe task for every instance of every backend whose probe
    /// is not `none`. Must run inside a tokio runtime.
    pub fn start(backends: &[Arc<Backend>]) -> Self {
        let mut tasks = Vec::new();
        for backend in backends {
            if backend.health.probe == Probe::None {
                continue;
            }
            for index in 0..backend.instances.len() {
                tasks.push(tokio::spawn(run(Arc::downgrade(backend), index)));
            }
        }
        Self { tasks }
    }
}

impl Drop for Checker {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Feeds one probe outcome to the thresholds; returns the new health when it
/// changes.
pub fn observe(current: Health, streak: &mut Streak, ok: bool, rise: u32, fall: u32) -> Option<Health> {
    if ok {
        *streak = Streak { ok: streak.ok.saturating_add(1), failed: 0 };
        match current {
            Health::Up => None,
            Health::Unknown => Some(Health::Up),
            Health::Down => (streak.ok >= rise).then_some(Health::Up),
        }
    } else {
        *streak = Streak { ok: 0, failed: streak.failed.saturating_add(1) };
        match current {
            Health::Down => None,
            Health::Unknown => Some(Health::Down),
            Health::Up => (streak.failed >= fall).then_some(Health::Down),
        }
    }
}

/// The wait before the next probe: `interval`, shortened by a random share
/// of up to `jitter` (a fraction). `unit` is a random number in `[0, 1)`.
pub fn jittered(interval: Duration, jitter: f64, unit: f64) -> Duration {
    interval.mul_f64(1.0 - jitter.clamp(0.0, 1.0) * unit.clamp(0.0, 1.0))
}

/// One instance's probe loop.
async fn run(backend: Weak<Backend>, index: usize) {
    let Some(cfg) = backend.upgrade().map(|b| b.health.clone()) else { return };
    let Some(record) = backend.upgrade().and_then(|b| b.instances.get(index).map(|i| i.record.clone())) else { return };
    let mut prober = Prober::new(cfg.probe.clone());
    let mut streak = Streak::default();
    let mut schedule = Schedule::new(&cfg);
    loop {
        // Only the weak handle is held while waiting, so a reload's retired
        // backend is freed without waiting out an idle interval.
        schedule.until_due(&record, || backend.upgrade().map(|b| pool_requests(&b))).await;
        let Some(backend) = backend.upgrade() else { return };
        let Some(instance) = backend.instances.get(index).cloned() else { return };
        let (started, requests) = (Instant::now(), pool_requests(&backend));
        let outcome = match tokio::time::timeout(cfg.timeout.0, prober.probe(&backend, &instance)).await {
            Ok(outcome) => outcome,
            Err(_) => Err(format!("probe timed out after {:?}", cfg.timeout.0)),
        };
        let before = instance.health();
        apply(&instance.record, &mut streak, &outcome, started.elapsed(), &cfg, &backend.name, &instance.display_url());
        if before == Health::Down && instance.health() == Health::Up {
            // Back from down: most likely restarted, perhaps as another
            // version. Its era is learned again at the next bridged need,
            // and the sessions the gateway held there are gone anyway.
            instance.era.forget();
        }
        schedule.probed(started, outcome.is_ok(), requests);
    }
}

/// Requests sent to any instance of `backend` so far.
fn pool_requests(backend: &Backend) -> u64 {
    backend.instances.iter().map(|i| i.record.totals().0).sum()
}

/// Records one probe's outcome on `record` and feeds it to [`observe`]:
/// sets the health (with its reason) when it changes, logs the change, ends
/// an ejection when the instance comes back, and holds one while a failing
/// instance is not yet down. Shared by the HTTP checker and the stdio
/// probes (`crate::stdio`).
pub fn apply(
    record: &Record,
    streak: &mut Streak,
    outcome: &Result<(), String>,
    latency: Duration,
    cfg: &config::HealthCheck,
    backend: &str,
    instance: &str,
) {
    record.set_probe(outcome.is_ok(), latency, outcome.as_ref().err().map(String::as_str));
    let before = record.health();
    if let Some(after) = observe(before, streak, outcome.is_ok(), cfg.rise, cfg.fall) {
        let reason = match (outcome, before) {
            (Ok(()), Health::Unknown) => "first probe succeeded".to_string(),
            (Err(e), Health::Unknown) => format!("first probe failed: {e}"),
            (Ok(()), _) => format!("{} probes in a row succeeded", streak.ok),
            (Err(e), _) => format!("{} probes in a row failed: {e}", streak.failed),
        };
        record.set_health(after, &reason);
        log_change(backend, instance, before, after, &reason);
        if before == Health::Down && after == Health::Up {
            record.uneject();
        }
    }
    if outcome.is_err() && record.health() != Health::Down {
        // Until the next probe has answered: it starts within `interval`
        // (jitter only shortens) and ends within `timeout`.
        record.hold_ejection(record.now_ms().saturating_add(millis(cfg.interval.0 + cfg.timeout.0)));
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn log_change(backend: &str, instance: &str, before: Health, after: Health, reason: &str) {
    let down = after == Health::Down;
    let (before, after) = (before.as_str(), after.as_str());
    match down {
        true => tracing::warn!(backend, instance, before, after, reason, "instance health changed"),
        false => tracing::info!(backend, instance, before, after, reason, "instance health changed"),
    }
}

#[cfg(test)]
mod tests;
