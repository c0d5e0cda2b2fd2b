//! The gateway as one value: built from a [`Config`], it answers every request
//! the listener hands it.
//!
//! It sends the operations paths to [`Ops`], everything else to the route's
//! front door, and ends each exchange with one log line and one set of metric
//! updates.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use http::{HeaderValue, Request, Response};
use hyper::body::Incoming;
use tokio::time::Instant;

use crate::admin::Admin;
use crate::backend::{Backend, BuildError};
use crate::cache::{Cache, Caches};
use crate::config::{Config, Transport};
use crate::error::GatewayError;
use crate::front::body::ProxyBody;
use crate::front::headers::{Peer, REQUEST_ID};
use crate::front::{Client, Front, Info, Route, Settings, Target};
use crate::ops::Ops;
use crate::session::SessionKey;
use crate::stack;
use crate::stdio::StdioBackend;
use crate::table::Table;
use crate::telemetry::RouteMetrics;
use crate::telemetry::metrics::{self, Outcome};

/// The gateway's request handler.
pub struct App {
    front: Front,
    /// Health, readiness and counters.
    pub ops: Ops,
    /// The live backend table.
    pub table: Table,
    /// Every backend's response cache, for the admin API.
    pub caches: Caches,
    /// The admin API, when it is served under `/admin` on this listener.
    admin: Option<Admin>,
    request_ids: RequestIds,
}

impl App {
    /// Builds the runtime tables from a validated config.
    pub fn build(config: &Config) -> Result<App, BuildError> {
        let mut backends = std::collections::HashMap::new();
        let mut stdio_backends = std::collections::HashMap::new();
        let mut caches = std::collections::HashMap::new();
        for b in &config.backends {
            if let Some(cache) = &b.cache {
                caches.insert(b.name.get_ref().clone(), Cache::new(b.name.get_ref(), cache));
            }
            match b.transport {
                Transport::Http => {
                    backends.insert(b.name.get_ref().clone(), Arc::new(Backend::build(b)?));
                }
                Transport::Stdio => {
                    let stdio = StdioBackend::start(b);
                    if let Some(cache) = caches.get(b.name.get_ref()) {
                        crate::cache::watch(cache.clone(), stdio.subscribe());
                    }
                    stdio_backends.insert(b.name.get_ref().clone(), stdio);
                }
            }
        }
        let routes = config
            .routes
            .iter()
            .filter_map(|r| {
                let name = r.backend.get_ref();
                let target = match (backends.get(name), stdio_backends.get(name)) {
                    (Some(backend), _) => {
                        Target::Http { backend: backend.clone(), service: stack::build(backend.clone()) }
                    }
                    (None, Some(stdio)) => Target::Stdio(stdio.clone()),
                    (None, None) => return None,
                };
                let path = r.path.get_ref().as_str();
                Some(Route {
                    path: path.into(),
                    backend_name: name.as_str().into(),
                    target,
                    metrics: RouteMetrics::new(path, name),
                    cache: caches.get(name).cloned(),
                })
            })
            .collect();
        let key = match &config.gateway.session_key {
            Some(secret) => SessionKey::from_secret(secret),
            None => {
                tracing::warn!(
                    "no gateway.session_key is set: using a random key, so every restart ends every session \
                     and replicas cannot serve each other's sessions"
                );
                SessionKey::random()
            }
        };
        let settings = Settings {
            max_body_bytes: config.gateway.max_body_bytes.0,
            allowed_origins: config.gateway.allowed_origins.clone(),
            loopback: config.gateway.listen.ip().is_loopback(),
            tls: config.gateway.tls.is_some(),
        };
        let _ = metrics::handle();
        let caches = Caches::new(caches);
        let table = Table::new(backends.into_values().collect());
        let gw = &config.gateway;
        let admin = match (&gw.admin_listen, &gw.admin_token) {
            (None, Some(token)) => Some(
                Admin::new(table.clone(), Some(token.clone()), gw.listen.ip().is_loopback())
                    .with_caches(caches.clone()),
            ),
            _ => None,
        };
        Ok(App {
            front: Front::new(routes, key, settings),
            ops: Ops::new(table.clone(), stdio_backends.into_values().collect()),
            table,
            caches,
            admin,
            request_ids: RequestIds::new(),
        })
    }

    /// Answers one request.
    pub async fn handle(self: Arc<Self>, req: Request<Incoming>, peer: Arc<Peer>) -> Response<ProxyBody> {
        let path = req.uri().path();
        if let Some(admin) = &self.admin
            && Admin::owns(path)
        {
            return admin.serve(req).await.map(ProxyBody::full);
        }
        if Ops::owns(path) {
            let path = path.to_string();
            return self.ops.serve(&path).await.map(ProxyBody::full);
        }
        let started = Instant::now();
        let request_id = self.request_ids.take_or_make(req.headers().get(REQUEST_ID));
        let Some(route) = self.front.route(path).cloned() else {
            let mut resp = GatewayError::NoRoute.into_response(None).map(ProxyBody::full);
            resp.headers_mut().insert(REQUEST_ID, request_id);
            return resp;
        };
        let guard = metrics::in_flight();
        let client = Client { peer, request_id };
        let mut info = Info::default();
        let result = self.front.serve(&route, req, &client, &mut info).await;
        let (resp, error) = match result {
            Ok(resp) => (resp.map(|b| b.with_guard(Box::new(guard))), None),
            Err(e) => {
                let mut resp = e.into_response(info.id.as_deref()).map(ProxyBody::full);
                resp.headers_mut().insert(REQUEST_ID, client.request_id.clone());
                (resp, Some(e))
            }
        };
        let status = resp.status().as_u16();
        let elapsed = started.elapsed();
        self.ops.requests.fetch_add(1, Ordering::Relaxed);
        if status >= 500 {
            self.ops.errors.fetch_add(1, Ordering::Relaxed);
        }
        if info.session_delta != 0 {
            self.ops.sessions.fetch_add(i64::from(info.session_delta), Ordering::Relaxed);
        }
        route.metrics.record(&Outcome {
            method: metrics::method_index(info.method.as_deref()),
            status,
            error: error.as_ref(),
            elapsed,
            session_delta: info.session_delta,
        });
        tracing::info!(
            target: "switchyard::access",
            request_id = client.request_id.to_str().unwrap_or(""),
            route = &*route.path,
            backend = &*route.backend_name,
            method = info.method.as_deref().unwrap_or(""),
            name = info.name.as_deref().unwrap_or(""),
            status,
            duration_us = elapsed.as_micros() as u64,
            error = error.as_ref().map(|e| e.to_string()),
        );
        resp
    }
}

/// Propagates a client's `x-request-id`, or makes a unique one cheaply: a
/// random per-process prefix and a counter.
struct RequestIds {
    prefix: u64,
    next: AtomicU64,
}

impl RequestIds {
    fn new() -> Self {
        Self { prefix: rand::random(), next: AtomicU64::new(0) }
    }

    fn take_or_make(&self, given: Option<&HeaderValue>) -> HeaderValue {
        if let Some(v) =
            given.filter(|v| !v.is_empty() && v.len() <= 128 && v.as_bytes().iter().all(|b| (0x21..=0x7e).contains(b)))
        {
            return v.clone();
        }
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        // Hex by hand: `format!` costs more than the rest of this function.
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut id = [0u8; 32];
        for (i, byte) in self.prefix.to_be_bytes().iter().chain(n.to_be_bytes().iter()).enumerate() {
            id[2 * i] = HEX[usize::from(byte >> 4)];
            id[2 * i + 1] = HEX[usize::from(byte & 0xf)];
        }
        HeaderValue::from_bytes(&id).unwrap_or_else(|_| HeaderValue::from_static("unknown"))
    }
}
