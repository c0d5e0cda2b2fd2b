//! Prometheus metrics through the `metrics` facade.
//!
//! | metric | labels |
//! |---|---|
//! | `switchyard_requests_total` | route, backend, method, outcome |
//! | `switchyard_request_duration_seconds` (histogram) | route, backend |
//! | `switchyard_requests_in_flight` (gauge) | |
//! | `switchyard_sessions_active` (gauge) | |
//! | `switchyard_upstream_errors_total` | backend, kind |
//!
//! `method` is the JSON-RPC method when it is one MCP defines, `other` when it
//! is not (so a client cannot blow up the label set), or `GET` / `DELETE`.
//! `switchyard_sessions_active` counts sessions this process opened minus
//! those it saw closed; tokens are stateless, so sessions that clients simply
//! abandon are not subtracted.

use std::sync::OnceLock;
use std::time::Duration;

use metrics::{counter, gauge, histogram};
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
];

/// The label for a method.
pub fn method_label(method: Option<&str>) -> &'static str {
    match method {
        None => "none",
        Some(m) => KNOWN_METHODS.iter().find(|k| **k == m).copied().unwrap_or("other"),
    }
}

/// Counts a request that is now in flight; the returned guard un-counts it.
pub fn in_flight() -> InFlight {
    gauge!("switchyard_requests_in_flight").increment(1.0);
    InFlight
}

/// Decrements the in-flight gauge when dropped.
pub struct InFlight;

impl Drop for InFlight {
    fn drop(&mut self) {
        gauge!("switchyard_requests_in_flight").decrement(1.0);
    }
}

/// Everything known about a finished exchange.
pub struct Outcome<'a> {
    /// Route path.
    pub route: &'a str,
    /// Backend name.
    pub backend: &'a str,
    /// Method label.
    pub method: &'static str,
    /// HTTP status sent.
    pub status: u16,
    /// The gateway error, when there was one.
    pub error: Option<&'a GatewayError>,
    /// Time to the response head.
    pub elapsed: Duration,
    /// Session opened (+1) or closed (-1).
    pub session_delta: i8,
}

/// Records the metrics of one exchange.
pub fn record(o: &Outcome<'_>) {
    let outcome = match o.error.map(GatewayError::origin) {
        None if o.status < 400 => "ok",
        None if o.status < 500 => "upstream_4xx",
        None => "upstream_5xx",
        Some(Origin::Client) => "rejected",
        Some(Origin::Upstream) => "upstream_error",
        Some(Origin::Gateway) => "unavailable",
    };
    let (route, backend) = (o.route.to_string(), o.backend.to_string());
    counter!("switchyard_requests_total", "route" => route.clone(), "backend" => backend.clone(), "method" => o.method, "outcome" => outcome)
        .increment(1);
    histogram!("switchyard_request_duration_seconds", "route" => route, "backend" => backend.clone())
        .record(o.elapsed.as_secs_f64());
    if let Some(e) = o.error.filter(|e| e.origin() == Origin::Upstream) {
        counter!("switchyard_upstream_errors_total", "backend" => backend, "kind" => e.kind()).increment(1);
    }
    if o.session_delta != 0 {
        gauge!("switchyard_sessions_active").increment(f64::from(o.session_delta));
    }
}
