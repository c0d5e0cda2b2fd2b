//! Operations endpoints: `/health`, `/health/live`, `/health/ready`, `/metrics`.
//!
//! `/health` follows the JSON shape our users' MCP servers already report
//! (status, uptime, sessions, request counts), plus a summary per backend.
//! Health and readiness read the live backend table, which the active
//! probes and passive outlier detection keep current; answering them costs
//! no upstream traffic, so a load balancer may poll them as often as it
//! likes.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use serde_json::json;
use tokio::time::Instant;

use crate::table::Table;
use crate::table::view::{BackendView, pool_view};
use crate::telemetry;

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
    table: Table,
}

impl Ops {
    /// Builds the state for the backends in `table`.
    pub fn new(table: Table) -> Self {
        Self {
            started: Instant::now(),
            draining: AtomicBool::new(false),
            requests: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            sessions: AtomicI64::new(0),
            table,
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
                let serving = self.summaries().iter().any(|(up, _)| *up);
                let draining = self.draining.load(Ordering::Relaxed);
                let (status, word) = match (draining, serving) {
                    (true, _) => (StatusCode::SERVICE_UNAVAILABLE, "draining"),
                    (false, false) => (StatusCode::SERVICE_UNAVAILABLE, "no backend instance is serving"),
                    (false, true) => (StatusCode::OK, "ready"),
                };
                json_response(status, &json!({ "status": word }))
            }
            "/metrics" => {
                let mut resp = Response::new(Bytes::from(telemetry::metrics::handle().render()));
                resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4"));
                resp
            }
            _ => self.health(),
        }
    }

    /// Each pool's `/health` summary, with whether it is up: the ones the
    /// table makes from a pool's view (HTTP) first, then the ones pools make
    /// themselves (stdio), each in name order.
    fn summaries(&self) -> Vec<(bool, serde_json::Value)> {
        let pools = self.table.pools();
        let (own, made): (Vec<_>, Vec<_>) = pools.iter().map(|p| (p.summary(), p)).partition(|(s, _)| s.is_some());
        let made = made.into_iter().map(|(_, p)| backend_summary(&pool_view(&**p)));
        made.chain(own.into_iter().filter_map(|(s, _)| s)).collect()
    }

    fn health(&self) -> Response<Bytes> {
        let summaries = self.summaries();
        let up = summaries.iter().filter(|(up, _)| *up).count();
        // Every instance of every HTTP pool serving (stdio pools say `up`
        // for themselves).
        let whole = summaries.iter().all(|(_, s)| s["status"] != "degraded");
        let total = summaries.len();
        let draining = self.draining.load(Ordering::Relaxed);
        let status = if draining {
            "draining"
        } else if up == total && whole {
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
            "backends": summaries.into_iter().map(|(_, json)| json).collect::<Vec<_>>(),
        });
        json_response(code, &body)
    }
}

/// A backend in `/health`: `up` when every instance serves, `degraded` when
/// some do, `down` when none does.
fn backend_summary(b: &BackendView) -> (bool, serde_json::Value) {
    let status = match b.serving {
        0 => "down",
        n if n == b.instances.len() => "up",
        _ => "degraded",
    };
    let instances: Vec<_> = b
        .instances
        .iter()
        .map(|i| {
            json!({
                "url": i.url,
                "status": i.health,
                "serving": i.serving,
                "ejected": i.ejected,
                "drained": i.drained,
                "weight": i.effective_weight,
                "lastError": i.reason.as_ref().filter(|_| i.health == "down"),
            })
        })
        .collect();
    (b.serving > 0, json!({ "name": b.name, "status": status, "panic": b.panic, "instances": instances }))
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
    use std::sync::Arc;

    use super::*;
    use crate::backend::Backend;
    use crate::table::Health;

    #[tokio::test]
    async fn readiness_follows_draining_and_the_table() {
        let url: http::Uri = "http://127.0.0.1:9/mcp".parse().unwrap();
        let cfg = crate::config::Backend {
            instances: vec![crate::config::Instance { url: crate::config::InstanceUrl(url), weight: 1 }],
            ..Default::default()
        };
        let backend = Arc::new(Backend::build(&cfg).unwrap());
        let ops = Ops::new(Table::new(vec![backend.clone()]));
        // Nothing known yet: an unknown instance serves.
        assert_eq!(ops.serve("/health/ready").await.status(), StatusCode::OK);
        ops.draining.store(true, Ordering::Relaxed);
        assert_eq!(ops.serve("/health/ready").await.status(), StatusCode::SERVICE_UNAVAILABLE);
        let health: serde_json::Value = serde_json::from_slice(ops.serve("/health").await.body()).unwrap();
        assert_eq!(health["status"], "draining");
        ops.draining.store(false, Ordering::Relaxed);
        backend.instances[0].record.set_health(Health::Down, "probe failed: connection refused");
        assert_eq!(ops.serve("/health/ready").await.status(), StatusCode::SERVICE_UNAVAILABLE);
        let health: serde_json::Value = serde_json::from_slice(ops.serve("/health").await.body()).unwrap();
        assert_eq!(health["status"], "unhealthy");
        assert_eq!(health["backends"][0]["status"], "down");
        assert_eq!(health["backends"][0]["instances"][0]["lastError"], "probe failed: connection refused");
        backend.instances[0].record.set_health(Health::Up, "ok");
        assert_eq!(ops.serve("/health/ready").await.status(), StatusCode::OK);
        assert_eq!(ops.serve("/health/live").await.status(), StatusCode::OK);
    }
}
