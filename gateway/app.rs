//! The gateway as one value: built from a [`Config`], it answers every request
//! the listener hands it.
//!
//! It sends the operations paths to [`Ops`], everything else to the route's
//! front door, and ends each exchange with one log line and one set of metric
//! updates.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use http::{HeaderValue, Request, Response};
use hyper::body::Incoming;
use tokio::time::Instant;

use crate::admin::Admin;
use crate::backend::BuildError;
use crate::client::{Client, Connection};
use crate::config::Config;
use crate::error::GatewayError;
use crate::front::Info;
use crate::mcp::headers::REQUEST_ID;
use crate::ops::Ops;
use crate::runtime::reload::Live;
use crate::stack::ProxyBody;
use crate::telemetry::metrics::{self, Outcome};

/// The gateway's request handler.
pub struct App {
    /// The runtime tables in force, and how they change (reload, splits).
    pub live: Arc<Live>,
    /// Health, readiness and counters.
    pub ops: Ops,
    /// The admin API, when it is served under `/admin` on this listener.
    admin: Option<Admin>,
    request_ids: RequestIds,
}

impl App {
    /// Builds the runtime tables from a validated config read from
    /// `source`, which reloads read again.
    pub fn build_from(config: Config, source: Option<PathBuf>) -> Result<App, BuildError> {
        let _ = metrics::handle();
        let gw = config.gateway.clone();
        let live = Arc::new(Live::new(config, source)?);
        let has_token = gw.admin_token.is_some() || !gw.admin_tokens.is_empty();
        let admin = (gw.admin_listen.is_none() && has_token).then(|| {
            Admin::new(live.table.clone(), gw.admin_token.clone(), gw.listen.ip().is_loopback())
                .with_named_tokens(&gw.admin_tokens)
                .with_live(&live)
        });
        Ok(App { ops: Ops::new(live.table.clone()), live, admin, request_ids: RequestIds::new() })
    }

    /// Answers one request.
    pub async fn handle(self: Arc<Self>, req: Request<Incoming>, peer: Arc<Connection>) -> Response<ProxyBody> {
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
        let runtime = self.live.runtime();
        let front = &runtime.front;
        if path.starts_with(crate::auth::metadata::WELL_KNOWN) {
            return resource_metadata(front.resource_metadata(path, req.headers()), request_id);
        }
        let Some(route) = front.route(path).cloned() else {
            let mut resp = GatewayError::NoRoute.into_response(None).map(ProxyBody::full);
            resp.headers_mut().insert(REQUEST_ID, request_id);
            return resp;
        };
        let guard = metrics::in_flight();
        let client = Client { connection: peer, request_id, identity: None };
        let mut info = Info::default();
        let result = front.serve(&route, req, &client, &mut info).await;
        let (resp, error) = match result {
            Ok(resp) => (resp.map(|b| b.with_guard(Box::new((guard, info.permit.take())))), None),
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
        let side_metrics = info.side.as_ref().map_or(&route.unrouted, |s| &*s.metrics);
        side_metrics.record(&Outcome {
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
            backend = info.side.as_ref().map_or("", |s| &*s.backend),
            method = info.method.as_deref().unwrap_or(""),
            name = info.name.as_deref().unwrap_or(""),
            principal = info.principal.as_deref().unwrap_or(""),
            status,
            duration_us = elapsed.as_micros() as u64,
            error = error.as_ref().map(|e| e.to_string()),
        );
        resp
    }
}

/// The protected resource metadata document, public by nature: any origin
/// may read it, as a browser-based client must to find where to log in.
fn resource_metadata(document: Option<bytes::Bytes>, request_id: HeaderValue) -> Response<ProxyBody> {
    let mut resp = match document {
        Some(doc) => {
            let mut resp = Response::new(ProxyBody::full(doc));
            let h = resp.headers_mut();
            h.insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            h.insert(http::header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
            h.insert(http::header::CACHE_CONTROL, HeaderValue::from_static("max-age=300"));
            resp
        }
        None => GatewayError::NoRoute.into_response(None).map(ProxyBody::full),
    };
    resp.headers_mut().insert(REQUEST_ID, request_id);
    resp
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
