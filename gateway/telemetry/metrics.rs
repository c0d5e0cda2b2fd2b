//! Prometheus metrics through the `metrics` facade.
//!
//! | metric | labels |
//! |---|---|
//! | `switchyard_requests_total` | route, backend, method, outcome |
//! | `switchyard_request_duration_seconds` (histogram) | route, backend |
//! | `switchyard_requests_in_flight` (gauge) | |
//! | `switchyard_sessions_active` (gauge) | |
//! | `switchyard_upstream_errors_total` | backend, kind |
//! | `switchyard_ratelimited_total` | rule |
//! | `switchyard_shed_total` | backend |
//! | `switchyard_ratelimit_store_fallback` (gauge, 0 or 1) | rule |
//! | `switchyard_connections_dropped_total` | reason |
//!
//! The resilience metrics (health, ejections, retries, panic) are in
//! [`super::backend`].
//!
//! `method` is the JSON-RPC method when it is one MCP defines, `other` when it
//! is not (so a client cannot blow up the label set), or `GET` / `DELETE`.
//! `switchyard_sessions_active` counts sessions this process opened minus
//! those it saw closed; tokens are stateless, so sessions that clients simply
//! abandon are not subtracted.

use std::sync::OnceLock;
use std::time::Duration;

use metrics::{Counter, Gauge, Histogram, SharedString, counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::error::{GatewayError, Origin};

/// The process-wide recorder's handle, installed on first use.
pub fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Full("switchyard_request_duration_seconds".into()),
                &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0],
            )
            .and_then(|b| {
                b.set_buckets_for_metric(
                    Matcher::Full("switchyard_health_probe_duration_seconds".into()),
                    &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0],
                )
            })
            .map(|b| b.build_recorder());
        match recorder {
            Ok(recorder) => {
                let handle = recorder.handle();
                // Fails only if another recorder was installed first, in which
                // case that one receives the metrics and ours renders empty.
                let _ = metrics::set_global_recorder(recorder);
                describe();
                handle
            }
            Err(_) => PrometheusBuilder::new().build_recorder().handle(),
        }
    })
}

fn describe() {
    metrics::describe_counter!("switchyard_requests_total", "MCP requests served, by outcome");
    metrics::describe_histogram!("switchyard_request_duration_seconds", "Time to the response head");
    metrics::describe_gauge!("switchyard_requests_in_flight", "Requests whose response is not finished");
    metrics::describe_gauge!("switchyard_sessions_active", "Session-era sessions opened and not yet closed");
    metrics::describe_counter!("switchyard_upstream_errors_total", "Upstream failures, by kind");
    metrics::describe_gauge!("switchyard_backend_up", "1 when the instance's health probes succeed");
    metrics::describe_counter!("switchyard_ejections_total", "Instances ejected by passive outlier detection");
    metrics::describe_histogram!("switchyard_health_probe_duration_seconds", "Time an active health probe took");
    metrics::describe_counter!("switchyard_upstream_requests_total", "Requests sent to an instance, each attempt once");
    metrics::describe_counter!("switchyard_retries_total", "Retried attempts, by whether the retry succeeded");
    metrics::describe_counter!("switchyard_retry_budget_exhausted_total", "Retries refused by the retry budget");
    metrics::describe_gauge!("switchyard_panic_mode", "1 while fewer than half of the pool is healthy");
    metrics::describe_counter!("switchyard_panic_requests_total", "Requests balanced in panic mode");
    metrics::describe_counter!("switchyard_ratelimited_total", "Requests refused with 429 by a rate-limit rule");
    metrics::describe_counter!("switchyard_shed_total", "Requests refused with 503 by a backend's max_in_flight");
    metrics::describe_counter!(
        "switchyard_connections_dropped_total",
        "Client connections the listener closed: per_ip_limit or head_timeout"
    );
    metrics::describe_gauge!(
        "switchyard_ratelimit_store_fallback",
        "1 while a rule's shared store fails and it uses local buckets"
    );
}

/// Methods MCP defines; any other becomes `other` in labels.
const KNOWN_METHODS: &[&str] = &[
    "initialize",
    "ping",
    "server/discover",
    "tools/list",
    "tools/call",
    "resources/list",
    "resources/read",
    "resources/templates/list",
    "resources/subscribe",
    "resources/unsubscribe",
    "prompts/list",
    "prompts/get",
    "completion/complete",
    "logging/setLevel",
    "subscriptions/listen",
    "notifications/initialized",
    "notifications/cancelled",
    "notifications/progress",
    "notifications/roots/list_changed",
    "batch",
    "GET",
    "DELETE",
    "tasks/get",
    "tasks/list",
    "tasks/cancel",
    "tasks/result",
    "other",
    "none",
];
const OTHER: usize = KNOWN_METHODS.len() - 2;
const NONE: usize = KNOWN_METHODS.len() - 1;

const OUTCOMES: &[&str] = &["ok", "upstream_4xx", "upstream_5xx", "rejected", "upstream_error", "unavailable"];

/// The index of a method's label.
pub fn method_index(method: Option<&str>) -> usize {
    match method {
        None => NONE,
        Some(m) => KNOWN_METHODS[..OTHER].iter().position(|k| *k == m).unwrap_or(OTHER),
    }
}

fn in_flight_gauge() -> &'static Gauge {
    static G: OnceLock<Gauge> = OnceLock::new();
    G.get_or_init(|| gauge!("switchyard_requests_in_flight"))
}

fn sessions_gauge() -> &'static Gauge {
    static G: OnceLock<Gauge> = OnceLock::new();
    G.get_or_init(|| gauge!("switchyard_sessions_active"))
}

/// Counts a client connection the listener closed for `reason`:
/// `per_ip_limit` (closed at accept) or `head_timeout` (no complete request
/// head, or TLS handshake, within `header_read_timeout`). Rare by design, so
/// the handle is looked up each time.
pub fn connection_dropped(reason: &'static str) {
    let _ = handle();
    counter!("switchyard_connections_dropped_total", "reason" => reason).increment(1);
}

/// Counts a request that is now in flight; the returned guard un-counts it.
pub fn in_flight() -> InFlight {
    in_flight_gauge().increment(1.0);
    InFlight
}

/// Decrements the in-flight gauge when dropped.
pub struct InFlight;

impl Drop for InFlight {
    fn drop(&mut self) {
        in_flight_gauge().decrement(1.0);
    }
}

/// Everything known about a finished exchange.
pub struct Outcome<'a> {
    /// Index of the method label ([`method_index`]).
    pub method: usize,
    /// HTTP status sent.
    pub status: u16,
    /// The gateway error, when there was one.
    pub error: Option<&'a GatewayError>,
    /// Time to the response head.
    pub elapsed: Duration,
    /// Session opened (+1) or closed (-1).
    pub session_delta: i8,
}

/// A route's metric handles, made once per label set and then reused.
///
/// Looking a metric up by name and labels hashes and compares every label on
/// each call; on the request path that cost more than the rest of the
/// bookkeeping together, so each handle is resolved the first time its label
/// set is seen and kept.
pub struct RouteMetrics {
    route: SharedString,
    backend: SharedString,
    requests: Box<[OnceLock<Counter>]>,
    duration: Histogram,
    upstream_errors: [OnceLock<Counter>; UPSTREAM_KINDS.len()],
}

const UPSTREAM_KINDS: &[&str] = &["connect", "upstream_failed", "timeout", "attempt_timeout"];

impl RouteMetrics {
    /// Handles for one route and its backend.
    pub fn new(route: &str, backend: &str) -> Self {
        let _ = handle();
        let (route, backend) = (SharedString::from(route.to_string()), SharedString::from(backend.to_string()));
        Self {
            duration: histogram!("switchyard_request_duration_seconds", "route" => route.clone(), "backend" => backend.clone()),
            requests: (0..KNOWN_METHODS.len() * OUTCOMES.len()).map(|_| OnceLock::new()).collect(),
            upstream_errors: Default::default(),
            route,
            backend,
        }
    }

    /// Records the metrics of one exchange.
    pub fn record(&self, o: &Outcome<'_>) {
        let outcome = match o.error.map(GatewayError::origin) {
            None if o.status < 400 => 0,
            None if o.status < 500 => 1,
            None => 2,
            Some(Origin::Client) => 3,
            Some(Origin::Upstream) => 4,
            Some(Origin::Gateway) => 5,
        };
        let method = o.method.min(NONE);
        self.requests[method * OUTCOMES.len() + outcome]
            .get_or_init(|| {
                counter!("switchyard_requests_total", "route" => self.route.clone(), "backend" => self.backend.clone(),
                    "method" => KNOWN_METHODS[method], "outcome" => OUTCOMES[outcome])
            })
            .increment(1);
        self.duration.record(o.elapsed.as_secs_f64());
        if let Some(e) = o.error.filter(|e| e.origin() == Origin::Upstream) {
            let kind = e.kind();
            if let Some(i) = UPSTREAM_KINDS.iter().position(|k| *k == kind) {
                self.upstream_errors[i]
                    .get_or_init(|| counter!("switchyard_upstream_errors_total", "backend" => self.backend.clone(), "kind" => kind))
                    .increment(1);
            }
        }
        if o.session_delta != 0 {
            sessions_gauge().increment(f64::from(o.session_delta));
        }
    }
}
