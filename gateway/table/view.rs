//! The table as JSON, for `GET /admin/backends` and `/health`.
//!
//! A view is a copy taken field by field; fields of one record may be a few
//! nanoseconds apart, which no reader can tell.

use std::time::{Duration, SystemTime};

use serde::Serialize;

use super::{Instance, Pool, Table};

/// One backend's pool.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BackendView {
    /// The backend's name.
    pub name: String,
    /// `http`, or `stdio` (whose instances are its processes).
    pub transport: &'static str,
    /// Instances that may take new work now.
    pub serving: usize,
    /// Whether fewer than half of the candidates are healthy, so that the
    /// balancer ignores health.
    pub panic: bool,
    /// The instances, in config order.
    pub instances: Vec<InstanceView>,
}

/// One instance's row.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceView {
    /// Position in the config; the admin API accepts it as the instance's name.
    pub index: usize,
    /// The URL, without credentials.
    pub url: String,
    /// `up`, `down` or `unknown`, from the active probes.
    pub health: &'static str,
    /// Why the health is what it is.
    pub reason: Option<String>,
    /// Whether the balancer may send it new work now.
    pub serving: bool,
    /// The last probe, if any ran.
    pub last_probe: Option<ProbeView>,
    /// Whether outlier detection has it ejected now.
    pub ejected: bool,
    /// When the current ejection ends (RFC 3339), if ejected.
    pub ejected_until: Option<String>,
    /// Ejections so far.
    pub ejections: u32,
    /// Failures in a row seen on real requests.
    pub consecutive_failures: u32,
    /// Drained by the admin API.
    pub drained: bool,
    /// The weight in the config.
    pub weight: u32,
    /// The weight the balancer uses.
    pub effective_weight: u32,
    /// Requests in flight (until their last byte).
    pub in_flight: u32,
    /// EWMA of the time to the response head, in milliseconds.
    pub ewma_ms: f64,
    /// Requests sent.
    pub requests: u64,
    /// Requests that failed.
    pub failures: u64,
    /// The protocol eras it speaks (`session`, `stateless`), once learned;
    /// `null` before (or when its backend's `era` says so instead).
    pub eras: Option<Vec<&'static str>>,
    /// The protocol versions it named, once learned.
    pub versions: Option<Vec<String>>,
    /// Upstream sessions the gateway holds there for 2026-07-28 clients.
    pub bridged_sessions: u64,
    /// For stdio instances: the process id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// For stdio instances: restarts so far.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restarts: Option<u32>,
}

/// The last probe.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProbeView {
    /// Whether it succeeded.
    pub ok: bool,
    /// How long it took, in milliseconds.
    pub latency_ms: f64,
    /// How long ago it finished, in milliseconds.
    pub age_ms: u64,
    /// Why it failed.
    pub error: Option<String>,
}

impl Table {
    /// Every backend's view.
    pub fn view(&self) -> Vec<BackendView> {
        self.pools().iter().map(|p| pool_view(&**p)).collect()
    }
}

/// One pool's view.
pub fn pool_view(pool: &dyn Pool) -> BackendView {
    let (name, transport) = (pool.name(), pool.transport());
    let instances: Vec<InstanceView> = pool.instances().iter().map(|i| instance_view(i)).collect();
    let candidates = instances.iter().filter(|i| !i.drained && i.effective_weight > 0).count();
    let healthy =
        instances.iter().filter(|i| !i.drained && i.effective_weight > 0 && i.health != "down" && !i.ejected).count();
    BackendView {
        name: name.to_string(),
        transport,
        serving: instances.iter().filter(|i| i.serving).count(),
        panic: candidates > 0 && healthy * 2 < candidates,
        instances,
    }
}

/// One instance's view.
pub fn instance_view(instance: &Instance) -> InstanceView {
    let r = &instance.record;
    let now = r.now_ms();
    let ejected = r.is_ejected(now);
    let (requests, failures) = r.totals();
    let process = r.process();
    let speaks = instance.era.speaks();
    InstanceView {
        index: instance.index,
        url: instance.display_url(),
        health: r.health().as_str(),
        reason: r.reason().map(|s| s.to_string()),
        serving: r.serving(now),
        last_probe: r.probe().map(|p| ProbeView {
            ok: p.ok,
            latency_ms: p.latency.as_secs_f64() * 1e3,
            age_ms: now.saturating_sub(p.at_ms),
            error: p.error.as_ref().map(|e| e.to_string()),
        }),
        ejected,
        ejected_until: ejected.then(|| {
            let left = Duration::from_millis(r.ejected_until_ms().saturating_sub(now));
            humantime::format_rfc3339_millis(SystemTime::now() + left).to_string()
        }),
        ejections: r.ejections(),
        consecutive_failures: r.consecutive_failures(),
        drained: r.drained(),
        weight: r.weight(),
        effective_weight: r.effective_weight(),
        in_flight: r.in_flight(),
        ewma_ms: r.ewma().as_secs_f64() * 1e3,
        requests,
        failures,
        eras: speaks.as_ref().map(|s| {
            [(s.session, "session"), (s.stateless, "stateless")]
                .into_iter()
                .filter(|(on, _)| *on)
                .map(|(_, e)| e)
                .collect()
        }),
        versions: speaks.as_ref().map(|s| s.versions.clone()),
        bridged_sessions: instance.era.sessions_held(),
        pid: process.map(|p| p.0),
        restarts: process.map(|p| p.1),
    }
}
