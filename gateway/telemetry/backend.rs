//! Metrics of the resilience machinery: health, ejections, retries, panic.
//!
//! | metric | labels |
//! |---|---|
//! | `switchyard_backend_up` (gauge: 1 up, 0 down or unknown) | backend, instance |
//! | `switchyard_ejections_total` | backend, instance |
//! | `switchyard_health_probe_duration_seconds` (histogram) | backend, instance |
//! | `switchyard_upstream_requests_total` | backend, instance |
//! | `switchyard_retries_total` | backend, outcome (`ok`, `failed`) |
//! | `switchyard_retry_budget_exhausted_total` | backend |
//! | `switchyard_panic_mode` (gauge: 1 while the pool is in panic) | backend |
//! | `switchyard_panic_requests_total` | backend |
//!
//! The handles are made once, when the backend is built, so the request
//! path only bumps an atomic. `instance` is the instance's URL without
//! credentials.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use metrics::{Counter, Gauge, Histogram, counter, gauge, histogram};

/// Metric handles of one instance.
pub struct InstanceMetrics {
    up: Gauge,
    ejections: Counter,
    probe: Histogram,
    requests: Counter,
}

impl InstanceMetrics {
    /// Handles for `instance` of `backend`.
    pub fn new(backend: &str, instance: &str) -> Self {
        let _ = super::metrics::handle();
        let (b, i) = (backend.to_string(), instance.to_string());
        let up = gauge!("switchyard_backend_up", "backend" => b.clone(), "instance" => i.clone());
        up.set(0.0);
        Self {
            up,
            ejections: counter!("switchyard_ejections_total", "backend" => b.clone(), "instance" => i.clone()),
            requests: counter!("switchyard_upstream_requests_total", "backend" => b.clone(), "instance" => i.clone()),
            probe: histogram!("switchyard_health_probe_duration_seconds", "backend" => b, "instance" => i),
        }
    }

    /// Records the health verdict.
    pub fn set_up(&self, up: bool) {
        self.up.set(if up { 1.0 } else { 0.0 });
    }

    /// Counts an ejection.
    pub fn ejected(&self) {
        self.ejections.increment(1);
    }

    /// Counts a request sent to the instance (each attempt of a retried
    /// request; probes apart).
    pub fn request(&self) {
        self.requests.increment(1);
    }

    /// Records how long a probe took.
    pub fn probe_duration(&self, d: Duration) {
        self.probe.record(d.as_secs_f64());
    }
}

/// Metric handles of one backend.
pub struct BackendMetrics {
    retry_ok: Counter,
    retry_failed: Counter,
    budget_exhausted: Counter,
    panic: Gauge,
    panic_requests: Counter,
    /// Whether the gauge says "panic", so that it is written only on a change.
    in_panic: AtomicBool,
}

impl BackendMetrics {
    /// Handles for `backend`.
    pub fn new(backend: &str) -> Self {
        let _ = super::metrics::handle();
        let b = backend.to_string();
        let panic = gauge!("switchyard_panic_mode", "backend" => b.clone());
        panic.set(0.0);
        Self {
            retry_ok: counter!("switchyard_retries_total", "backend" => b.clone(), "outcome" => "ok"),
            retry_failed: counter!("switchyard_retries_total", "backend" => b.clone(), "outcome" => "failed"),
            budget_exhausted: counter!("switchyard_retry_budget_exhausted_total", "backend" => b.clone()),
            panic_requests: counter!("switchyard_panic_requests_total", "backend" => b),
            panic,
            in_panic: AtomicBool::new(false),
        }
    }

    /// Counts a retry, by whether that attempt succeeded.
    pub fn retried(&self, ok: bool) {
        if ok { self.retry_ok.increment(1) } else { self.retry_failed.increment(1) }
    }

    /// Counts a retry refused by the budget.
    pub fn budget_exhausted(&self) {
        self.budget_exhausted.increment(1);
    }

    /// Records whether a balancing decision was made in panic mode.
    pub fn panic(&self, panic: bool) {
        if panic {
            self.panic_requests.increment(1);
        }
        // Load first: the flag rarely changes, and a plain load keeps the
        // cache line shared between cores.
        if self.in_panic.load(Ordering::Relaxed) != panic && self.in_panic.swap(panic, Ordering::Relaxed) != panic {
            self.panic.set(if panic { 1.0 } else { 0.0 });
            if panic {
                tracing::warn!("fewer than half of the pool is healthy: panic mode, balancing over every instance");
            } else {
                tracing::info!("pool healthy again: panic mode over");
            }
        }
    }
}
