//! Operations endpoints: `/health`, `/health/live`, `/health/ready`, `/metrics`.
//!
//! `/health` follows the JSON shape our users' MCP servers already report
//! (status, uptime, sessions, request counts), plus a summary per backend.
//! Health and readiness probe every instance with a TCP connect (1 s
//! deadline), so that they report what is reachable now, not what the last
//! request happened to see.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use serde_json::json;
use tokio::time::Instant;

use crate::backend::{Backend, Health, Instance};
use crate::stdio::StdioBackend;
use crate::telemetry;

/// How long an instance probe may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// Process-wide state the operations endpoints report.
pub struct Ops {
    started: Instant,
    /// Set when shutdown begins; readiness turns 503.
    pub draining: AtomicBool,
    /// Requests answered.
    pub requests: AtomicU64,
    /// Requests answered with a 5xx or a gateway error.
    pub errors: AtomicU64,
    /// Sessions opened minus sessions closed.
    pub sessions: AtomicI64,
    backends: Vec<Arc<Backend>>,
    stdio: Vec<Arc<StdioBackend>>,
}

impl Ops {
    /// Builds the state for these backends.
    pub fn new(backends: Vec<Arc<Backend>>, stdio: Vec<Arc<StdioBackend>>) -> Self {
        Self {
            started: Instant::now(),
            draining: AtomicBool::new(false),
            requests: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            sessions: AtomicI64::new(0),
            backends,
            stdio,
        }
    }

    /// Whether `path` is an operations endpoint.
    pub fn owns(path: &str) -> bool {
        matches!(path, "/health" | "/health/live" | "/health/ready" | "/metrics")
    }

    /// Serves an operations endpoint.
    pub async fn serve(&self, path: &str) -> Response<Bytes> {
        match path {
            "/health/live" => json_response(StatusCode::OK, &json!({ "status": "alive" })),
            "/health/ready" => {
                let reachable = self.probe_all().await.iter().any(|b| b.reachable);
                let draining = self.draining.load(Ordering::Relaxed);
                let (status, word) = match (draining, reachable) {
                    (true, _) => (StatusCode::SERVICE_UNAVAILABLE, "draining"),
                    (false, false) => (StatusCode::SERVICE_UNAVAILABLE, "no backend reachable"),
                    (false, true) => (StatusCode::OK, "ready"),
                };
                json_response(status, &json!({ "status": word }))
            }
            "/metrics" => {
                let mut resp = Response::new(Bytes::from(telemetry::metrics::handle().render()));
                resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4"));
                resp
            }
            _ => self.health().await,
        }
    }

    async fn health(&self) -> Response<Bytes> {
        let backends = self.probe_all().await;
        let up = backends.iter().filter(|b| b.reachable).count();
        let draining = self.draining.load(Ordering::Relaxed);
        let status = if draining {
            "draining"
        } else if up == backends.len() {
            "healthy"
        } else if up > 0 {
            "degraded"
        } else {
            "unhealthy"
        };
        let code = if draining || up == 0 { StatusCode::SERVICE_UNAVAILABLE } else { StatusCode::OK };
        let requests = self.requests.load(Ordering::Relaxed);
        let errors = self.errors.load(Ordering::Relaxed);
        let uptime = self.started.elapsed().as_secs();
        let body = json!({
            "status": status,
            "server": "switchyard",
            "version": env!("CARGO_PKG_VERSION"),
            "uptime": { "seconds": uptime, "formatted": format_uptime(uptime) },
            "activeSessions": self.sessions.load(Ordering::Relaxed).max(0),
            "metrics": { "requests": {
                "total": requests,
                "errors": errors,
                "errorRate": format!("{:.2}%", if requests == 0 { 0.0 } else { errors as f64 * 100.0 / requests as f64 }),
            }},
            "backends": backends.iter().map(|b| b.json.clone()).collect::<Vec<_>>(),
        });
        json_response(code, &body)
    }

    async fn probe_all(&self) -> Vec<BackendReport> {
        let mut reports = Vec::with_capacity(self.backends.len());
        for backend in &self.backends {
            let probes = backend.instances.iter().map(|i| probe(i.clone()));
            let states = futures_join_all(probes).await;
            let instances: Vec<_> = backend
                .instances
                .iter()
                .map(|i| {
                    json!({
                        "url": i.display_url(),
                        "status": i.health().as_str(),
                        "weight": i.weight,
                        "lastError": i.last_error(),
                    })
                })
                .collect();
            let reachable = states.contains(&Health::Up);
            reports.push(BackendReport {
                reachable,
                json: json!({
                    "name": &*backend.name,
                    "status": if reachable { "up" } else { "down" },
                    "instances": instances,
                }),
            });
        }
        for backend in &self.stdio {
            let (reachable, json) = backend.health();
            reports.push(BackendReport { reachable, json });
        }
        reports
    }

    /// Stops the stdio processes in the spec's order (on shutdown).
    pub async fn stop_processes(&self) {
        for backend in &self.stdio {
            backend.shutdown().await;
        }
    }
}

struct BackendReport {
    reachable: bool,
    json: serde_json::Value,
}

/// Runs futures concurrently and collects their outputs in order.
async fn futures_join_all<F: Future<Output = Health> + Send + 'static>(futs: impl Iterator<Item = F>) -> Vec<Health> {
    let handles: Vec<_> = futs.map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.await.unwrap_or(Health::Unknown));
    }
    out
}

/// Connects to the instance's host and port and records the result.
async fn probe(instance: Arc<Instance>) -> Health {
    let uri = instance.url();
    let host = uri.host().unwrap_or("").trim_start_matches('[').trim_end_matches(']').to_string();
    let port = uri.port_u16().unwrap_or(if uri.scheme_str() == Some("https") { 443 } else { 80 });
    match tokio::time::timeout(PROBE_TIMEOUT, tokio::net::TcpStream::connect((host.as_str(), port))).await {
        Ok(Ok(_)) => instance.mark_up(),
        Ok(Err(e)) => instance.mark_down(&format!("probe: {e}")),
        Err(_) => instance.mark_down("probe: connect timed out"),
    }
    instance.health()
}

fn format_uptime(secs: u64) -> String {
    format!("{}d {}h {}m {}s", secs / 86_400, secs / 3_600 % 24, secs / 60 % 60, secs % 60)
}

fn json_response(status: StatusCode, body: &serde_json::Value) -> Response<Bytes> {
    let mut resp = Response::new(Bytes::from(body.to_string()));
    *resp.status_mut() = status;
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn readiness_follows_draining_and_reachability() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url: http::Uri = format!("http://{}/mcp", listener.local_addr().unwrap()).parse().unwrap();
        let cfg = crate::config::Backend {
            instances: vec![crate::config::Instance { url: crate::config::InstanceUrl(url), weight: 1 }],
            ..Default::default()
        };
        let ops = Ops::new(vec![Arc::new(Backend::build(&cfg).unwrap())], Vec::new());
        assert_eq!(ops.serve("/health/ready").await.status(), StatusCode::OK);
        ops.draining.store(true, Ordering::Relaxed);
        assert_eq!(ops.serve("/health/ready").await.status(), StatusCode::SERVICE_UNAVAILABLE);
        let health: serde_json::Value = serde_json::from_slice(ops.serve("/health").await.body()).unwrap();
        assert_eq!(health["status"], "draining");
        ops.draining.store(false, Ordering::Relaxed);
        drop(listener);
        assert_eq!(ops.serve("/health/ready").await.status(), StatusCode::SERVICE_UNAVAILABLE);
        let health: serde_json::Value = serde_json::from_slice(ops.serve("/health").await.body()).unwrap();
        assert_eq!(health["backends"][0]["status"], "down");
        assert_eq!(ops.serve("/health/live").await.status(), StatusCode::OK);
    }
}
