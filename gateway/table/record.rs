//! One row of the live table: an instance's health, ejection, operator
//! settings and load, all readable without a lock.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::telemetry::backend::InstanceMetrics;

/// What the active health checks concluded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Health {
    /// No probe has answered yet (or probes are off). Treated as healthy:
    /// the gateway serves from the first second rather than waiting a probe
    /// interval, and passive detection covers an instance that is dead.
    Unknown,
    /// Probes succeed.
    Up,
    /// Probes fail.
    Down,
}

impl Health {
    /// The name used in `/health` and the admin API.
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Unknown => "unknown",
            Health::Up => "up",
            Health::Down => "down",
        }
    }

    fn from_u8(v: u8) -> Self {
        match v {
            1 => Health::Up,
            2 => Health::Down,
            _ => Health::Unknown,
        }
    }
}

/// The outcome of the last probe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbeResult {
    /// Whether it succeeded.
    pub ok: bool,
    /// How long it took.
    pub latency: Duration,
    /// Milliseconds after the record's epoch when it finished.
    pub at_ms: u64,
    /// Why it failed.
    pub error: Option<Arc<str>>,
}

/// One instance's live state.
pub struct Record {
    /// Zero of every `*_ms` field; tokio's clock, so tests can pause it.
    epoch: Instant,
    /// [`Health`] as a byte.
    health: AtomicU8,
    /// Why the health is what it is ("3 probes failed: connection refused").
    reason: ArcSwapOption<String>,
    /// The last probe's outcome; written once per probe interval.
    probe: ArcSwapOption<ProbeResult>,
    /// Ejected until this time (ms after `epoch`); 0 when never ejected.
    ejected_until_ms: AtomicU64,
    /// Ejections so far; the next one lasts this many times the base.
    ejections: AtomicU32,
    /// Wakes the instance's prober when it is ejected: real requests failing
    /// is the best reason there is to probe now (see `crate::health`).
    ejection: Notify,
    /// Failures in a row seen by passive detection; any success resets it.
    consecutive_failures: AtomicU32,
    /// The weight in the config.
    weight: u32,
    /// The weight the balancer uses: the config's, until the admin API sets
    /// another.
    effective_weight: AtomicU32,
    /// Set by the admin API: no new sessions or requests; pinned sessions
    /// finish.
    drained: AtomicBool,
    /// Requests sent and not yet finished (head and body).
    in_flight: AtomicU32,
    /// EWMA of the time to the response head, in microseconds, as f64 bits.
    ewma_us: AtomicU64,
    /// Requests sent.
    requests: AtomicU64,
    /// Requests that failed (connect error, 5xx, timeout).
    failures: AtomicU64,
    /// For stdio instances: the process id (0 when none).
    pid: AtomicU32,
    /// For stdio instances: restarts so far.
    restarts: AtomicU32,
    /// This instance's metric handles.
    metrics: InstanceMetrics,
}

/// Weight of the newest sample in the latency EWMA. 0.1 remembers roughly
/// the last ten requests: quick enough to steer away from an instance that
/// slows down, slow enough that one slow tool call does not.
const EWMA_ALPHA: f64 = 0.1;

impl Record {
    /// A record for an instance of unknown health. The records of one pool
    /// share an `epoch`, so one reading of the clock serves them all.
    pub fn new(weight: u32, epoch: Instant, metrics: InstanceMetrics) -> Self {
        Self {
            epoch,
            health: AtomicU8::new(0),
            reason: ArcSwapOption::empty(),
            probe: ArcSwapOption::empty(),
            ejected_until_ms: AtomicU64::new(0),
            ejections: AtomicU32::new(0),
            ejection: Notify::new(),
            consecutive_failures: AtomicU32::new(0),
            weight,
            effective_weight: AtomicU32::new(weight),
            drained: AtomicBool::new(false),
            in_flight: AtomicU32::new(0),
            ewma_us: AtomicU64::new(0f64.to_bits()),
            requests: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            pid: AtomicU32::new(0),
            restarts: AtomicU32::new(0),
            metrics,
        }
    }

    /// Milliseconds from the epoch to now.
    pub fn now_ms(&self) -> u64 {
        self.ms(Instant::now())
    }

    /// Milliseconds from the epoch to `t` (0 before it).
    pub fn ms(&self, t: Instant) -> u64 {
        u64::try_from(t.saturating_duration_since(self.epoch).as_millis()).unwrap_or(u64::MAX)
    }

    /// Whether the balancer may send it new work at `now_ms`: not down, not
    /// ejected, not drained, and with a weight.
    pub fn serving(&self, now_ms: u64) -> bool {
        self.healthy(now_ms) && !self.drained() && self.effective_weight() > 0
    }

    /// Not down and not ejected.
    pub fn healthy(&self, now_ms: u64) -> bool {
        self.health() != Health::Down && !self.is_ejected(now_ms)
    }

    // --- health (written by the health checker) ---

    /// The probes' verdict.
    pub fn health(&self) -> Health {
        Health::from_u8(self.health.load(Relaxed))
    }

    /// Why the health is what it is.
    pub fn reason(&self) -> Option<Arc<String>> {
        self.reason.load_full()
    }

    /// Sets the verdict; returns whether it changed.
    pub fn set_health(&self, health: Health, reason: &str) -> bool {
        let old = Health::from_u8(self.health.swap(health as u8, Relaxed));
        if old != health {
            self.reason.store(Some(Arc::new(reason.to_string())));
            self.metrics.set_up(health == Health::Up);
        }
        old != health
    }

    /// The last probe's outcome.
    pub fn probe(&self) -> Option<Arc<ProbeResult>> {
        self.probe.load_full()
    }

    /// Records a probe's outcome.
    pub fn set_probe(&self, ok: bool, latency: Duration, error: Option<&str>) {
        self.metrics.probe_duration(latency);
        let at_ms = self.now_ms();
        self.probe.store(Some(Arc::new(ProbeResult { ok, latency, at_ms, error: error.map(Arc::from) })));
    }

    // --- ejection (written by the outlier detector) ---

    /// Whether it is ejected at `now_ms`.
    pub fn is_ejected(&self, now_ms: u64) -> bool {
        self.ejected_until_ms.load(Relaxed) > now_ms
    }

    /// Ejected until (ms after the epoch); 0 when never ejected.
    pub fn ejected_until_ms(&self) -> u64 {
        self.ejected_until_ms.load(Relaxed)
    }

    /// Ejections so far.
    pub fn ejections(&self) -> u32 {
        self.ejections.load(Relaxed)
    }

    /// Ejects it until `until_ms`, counting the ejection, and wakes its
    /// prober.
    pub fn eject(&self, until_ms: u64) {
        self.ejections.fetch_add(1, Relaxed);
        self.ejected_until_ms.store(until_ms, Relaxed);
        self.metrics.ejected();
        // One permit is kept when no prober waits, so an ejection during a
        // probe still brings the next one at once.
        self.ejection.notify_one();
    }

    /// Completes when it is ejected (at once if it was since the last call).
    pub async fn ejection(&self) {
        self.ejection.notified().await;
    }

    /// Keeps a current ejection going until at least `until_ms`; an instance
    /// that is not ejected stays so.
    pub fn hold_ejection(&self, until_ms: u64) {
        let now = self.now_ms();
        let _ = self
            .ejected_until_ms
            .fetch_update(Relaxed, Relaxed, |end| (end > now && end < until_ms).then_some(until_ms));
    }

    /// Ends an ejection early (the instance was seen to restart).
    pub fn uneject(&self) {
        let now = self.now_ms();
        // Only shorten: an ejection that already ended keeps its record.
        let _ = self.ejected_until_ms.fetch_update(Relaxed, Relaxed, |until| (until > now).then_some(now));
    }

    /// Forgets past ejections, so the next one lasts the base time again.
    pub fn reset_ejections(&self) {
        self.ejections.store(0, Relaxed);
    }

    /// Counts a failure; returns how many in a row.
    pub fn fail(&self) -> u32 {
        self.failures.fetch_add(1, Relaxed);
        self.consecutive_failures.fetch_add(1, Relaxed).saturating_add(1)
    }

    /// Counts a success, ending a run of failures.
    pub fn succeed(&self) {
        // Read first: on the hot path the run is almost always 0 already,
        // and a load does not take the cache line away from other cores.
        if self.consecutive_failures.load(Relaxed) != 0 {
            self.consecutive_failures.store(0, Relaxed);
        }
    }

    /// Failures in a row.
    pub fn consecutive_failures(&self) -> u32 {
        self.consecutive_failures.load(Relaxed)
    }

    // --- operator settings (written by the admin API) ---

    /// The weight in the config.
    pub fn weight(&self) -> u32 {
        self.weight
    }

    /// The weight the balancer uses.
    pub fn effective_weight(&self) -> u32 {
        self.effective_weight.load(Relaxed)
    }

    /// Sets the weight the balancer uses; 0 sends no new work.
    pub fn set_weight(&self, weight: u32) {
        self.effective_weight.store(weight, Relaxed);
    }

    /// Whether it is drained.
    pub fn drained(&self) -> bool {
        self.drained.load(Relaxed)
    }

    /// Drains it (no new sessions or requests) or undrains it.
    pub fn set_drained(&self, drained: bool) {
        self.drained.store(drained, Relaxed);
    }

    // --- load (written on the request path) ---

    /// Counts a request as sent; the returned guard counts it finished.
    pub fn start(self: &Arc<Self>) -> Load {
        self.requests.fetch_add(1, Relaxed);
        self.metrics.request();
        self.in_flight.fetch_add(1, Relaxed);
        Load(Some(self.clone()))
    }

    /// Requests in flight.
    pub fn in_flight(&self) -> u32 {
        self.in_flight.load(Relaxed)
    }

    /// Folds a time to the response head into the EWMA.
    pub fn observe_latency(&self, latency: Duration) {
        let sample = latency.as_secs_f64() * 1e6;
        let old = f64::from_bits(self.ewma_us.load(Relaxed));
        // A lost update under a race only drops one sample; a CAS loop would
        // cost more than the sample is worth.
        let new = if old == 0.0 { sample } else { old + EWMA_ALPHA * (sample - old) };
        self.ewma_us.store(new.to_bits(), Relaxed);
    }

    /// The EWMA as the bits of a non-negative `f64` of microseconds: these
    /// order the same as the numbers, so the balancer compares them as they
    /// are, without converting.
    pub fn ewma_bits(&self) -> u64 {
        self.ewma_us.load(Relaxed)
    }

    /// EWMA of the time to the response head.
    pub fn ewma(&self) -> Duration {
        Duration::from_secs_f64(f64::from_bits(self.ewma_us.load(Relaxed)).max(0.0) / 1e6)
    }

    /// Requests sent, and those that failed.
    pub fn totals(&self) -> (u64, u64) {
        (self.requests.load(Relaxed), self.failures.load(Relaxed))
    }

    // --- stdio processes ---

    /// Records the process now serving a stdio instance.
    pub fn set_process(&self, pid: u32, restarts: u32) {
        self.pid.store(pid, Relaxed);
        self.restarts.store(restarts, Relaxed);
    }

    /// The process id and restart count, for stdio instances.
    pub fn process(&self) -> Option<(u32, u32)> {
        let pid = self.pid.load(Relaxed);
        (pid != 0).then(|| (pid, self.restarts.load(Relaxed)))
    }

    /// The instance's metric handles.
    pub fn metrics(&self) -> &InstanceMetrics {
        &self.metrics
    }
}

/// A request in flight on an instance; dropping it counts it finished.
///
/// It travels inside the response body, so a streamed answer counts as
/// load until its last byte.
pub struct Load(Option<Arc<Record>>);

impl Load {
    /// A guard that counts nothing.
    pub fn none() -> Self {
        Load(None)
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        if let Some(r) = self.0.take() {
            r.in_flight.fetch_sub(1, Relaxed);
        }
    }
}
