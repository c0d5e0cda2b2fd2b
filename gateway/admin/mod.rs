//! The admin API: the live backend table, and the operator's two levers on
//! it, drain and weight.
//!
//! | request | what |
//! |---|---|
//! | `GET /admin/backends` | the table as JSON |
//! | `POST /admin/backends/{backend}/instances/{instance}/drain` | no new sessions or requests; pinned sessions finish |
//! | `POST /admin/backends/{backend}/instances/{instance}/undrain` | back in rotation |
//! | `PUT /admin/backends/{backend}/instances/{instance}/weight` | body `{"weight": N}`; 0 sends no new work |
//! | `DELETE /admin/cache` | empties every backend's response cache |
//! | `DELETE /admin/cache/{backend}` | empties one backend's response cache |
//!
//! `{instance}` is the instance's index in the config (`0`, `1`, …) or its
//! `host:port` when that is unique in the pool. Changes live in memory: a
//! restart goes back to the config; a reload keeps them for the instances
//! it carries over. Routes, splits and reload are in `routes.rs`.
//!
//! Where it is served, and who may use it:
//!
//! - With `[gateway] admin_listen`, on that listener only. A token is then
//!   required unless the address is loopback; when one is set it is always
//!   checked.
//! - Without `admin_listen` but with `admin_token`, under `/admin` on the
//!   main listener, always behind the token: that listener faces clients.
//! - With neither, nowhere.
//!
//! The token travels as `Authorization: Bearer …` and is compared in
//! constant time. Because a loopback listener without a token is reachable
//! from any web page the operator's browser opens, requests carrying an
//! `Origin` header (every cross-site `fetch`) are refused, and so is a
//! non-loopback `Host` (DNS rebinding).

mod pins;
mod routes;
mod server;

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode, header};
use http_body::Body;
use http_body_util::{BodyExt, Limited};
use serde::Deserialize;
use serde_json::json;

pub use server::serve;

use crate::cache::Caches;
use crate::error::GatewayError;
use crate::front::checks;
use crate::runtime::reload::Live;
use crate::table::Table;
use crate::table::view::instance_view;

/// Largest admin request body read.
const MAX_BODY: usize = 4096;

/// The admin API over the live table.
pub struct Admin {
    table: Table,
    /// The bearer tokens and their holders' names, which the log records
    /// with every change; with `live`, the config in force decides instead,
    /// so that a reload rotates or revokes a token.
    tokens: Vec<(String, String)>,
    /// Whether no token at all is needed: only on a loopback admin listener
    /// started without one. Anywhere else an empty token list refuses all.
    open: bool,
    /// Routes, splits and reload; absent in tests of the table alone.
    live: Option<Arc<Live>>,
    /// Whether requests must name a loopback `Host`.
    loopback: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Weight {
    weight: u32,
}

impl Admin {
    /// The admin API over `table`.
    pub fn new(table: Table, token: Option<String>, loopback: bool) -> Self {
        let tokens: Vec<_> = token.map(|t| ("admin".to_string(), t)).into_iter().collect();
        Self { table, open: tokens.is_empty(), tokens, live: None, loopback }
    }

    /// Adds the routes, splits and reload endpoints over `live`.
    pub fn with_live(mut self, live: &Arc<Live>) -> Self {
        self.live = Some(live.clone());
        self
    }

    /// The response caches of the backends in force.
    fn caches(&self) -> Caches {
        self.live.as_ref().map(|l| l.runtime().caches()).unwrap_or_default()
    }

    /// Adds named tokens (`[gateway] admin_tokens`), so that the log says
    /// who made each change.
    pub fn with_named_tokens(mut self, tokens: &std::collections::BTreeMap<String, String>) -> Self {
        self.tokens.extend(tokens.iter().map(|(n, t)| (n.clone(), t.clone())));
        self.open = self.tokens.is_empty();
        self
    }

    /// The tokens in force: the running config's, when there is one.
    fn tokens(&self) -> Vec<(String, String)> {
        let Some(live) = &self.live else { return self.tokens.clone() };
        let runtime = live.runtime();
        let gw = &runtime.config.gateway;
        let single = gw.admin_token.iter().map(|t| ("admin".to_string(), t.clone()));
        single.chain(gw.admin_tokens.iter().map(|(n, t)| (n.clone(), t.clone()))).collect()
    }

    /// Whether `path` belongs to the admin API.
    pub fn owns(path: &str) -> bool {
        path == "/admin" || path.starts_with("/admin/")
    }

    /// Answers one admin request.
    pub async fn serve<B>(&self, req: Request<B>) -> Response<Bytes>
    where
        B: Body<Data = Bytes>,
        B::Error: Into<tower::BoxError>,
    {
        match self.answer(req).await {
            Ok((status, body)) => json(status, &body),
            Err(e) => e.into_response(None),
        }
    }

    async fn answer<B>(&self, req: Request<B>) -> Result<(StatusCode, serde_json::Value), GatewayError>
    where
        B: Body<Data = Bytes>,
        B::Error: Into<tower::BoxError>,
    {
        let who = self.authorize(req.headers())?;
        if req.headers().contains_key(header::ORIGIN) {
            return Err(GatewayError::Forbidden("the admin API does not answer browsers (Origin header present)"));
        }
        if self.loopback {
            checks::loopback_host(req.headers().get(header::HOST).and_then(|h| h.to_str().ok()))?;
        }
        let path: Vec<String> = req.uri().path().trim_end_matches('/').split('/').map(str::to_string).collect();
        let segments: Vec<&str> = path.iter().map(String::as_str).skip(1).collect();
        match (req.method().clone(), segments.as_slice()) {
            (Method::GET, ["admin", "backends"]) => Ok((StatusCode::OK, json!({ "backends": self.table.view() }))),
            (_, ["admin", "backends"]) => Err(GatewayError::MethodNotAllowed("GET")),
            (Method::DELETE, ["admin", "cache"]) => Ok((StatusCode::OK, self.caches().clear(None)?)),
            (Method::DELETE, ["admin", "cache", backend]) => Ok((StatusCode::OK, self.caches().clear(Some(backend))?)),
            (_, ["admin", "cache", ..]) => Err(GatewayError::MethodNotAllowed("DELETE")),
            (method, ["admin", "backends", backend, "instances", instance, action]) => {
                let target = self.table.instance(backend, instance).ok_or_else(|| {
                    GatewayError::NotFound(format!("backend `{backend}` has no instance `{instance}`"))
                })?;
                let record = &target.record;
                match (method, *action) {
                    (Method::POST, "drain") => record.set_drained(true),
                    (Method::POST, "undrain") => record.set_drained(false),
                    (Method::PUT, "weight") => record.set_weight(read_weight(req.into_body()).await?),
                    (_, "drain" | "undrain") => return Err(GatewayError::MethodNotAllowed("POST")),
                    (_, "weight") => return Err(GatewayError::MethodNotAllowed("PUT")),
                    _ => return Err(GatewayError::NotFound(format!("no admin action `{action}`"))),
                }
                tracing::info!(by = %who, backend = %backend, instance = %target.display_url(), action = %action,
                    drained = record.drained(), weight = record.effective_weight(), "admin change");
                Ok((StatusCode::OK, json!({ "backend": backend, "instance": instance_view(&target) })))
            }
            (_, ["admin", "routes", ..] | ["admin", "reload"]) => match &self.live {
                Some(live) => routes::answer(live, req, &segments, &who).await,
                None => Err(GatewayError::NotFound("routes are not served here".into())),
            },
            _ => Err(GatewayError::NotFound("no such admin endpoint; try GET /admin/backends".into())),
        }
    }

    /// The name of the token's holder; `loopback` when no token is needed.
    fn authorize(&self, headers: &HeaderMap) -> Result<String, GatewayError> {
        let tokens = self.tokens();
        if tokens.is_empty() && self.open {
            return Ok("loopback".to_string());
        }
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or(GatewayError::Unauthorized)?;
        // Every token is compared, so the time taken does not say which matched.
        let mut holder = None;
        for (name, token) in &tokens {
            if constant_time_eq(given.trim().as_bytes(), token.as_bytes()) {
                holder = Some(name.clone());
            }
        }
        holder.ok_or(GatewayError::Unauthorized)
    }
}

async fn read_weight<B>(body: B) -> Result<u32, GatewayError>
where
    B: Body<Data = Bytes>,
    B::Error: Into<tower::BoxError>,
{
    Ok(read_json::<Weight, B>(body, "{\"weight\": N}").await?.weight)
}

/// Reads a small JSON body; `expected` shows its shape in the error.
async fn read_json<T, B>(body: B, expected: &str) -> Result<T, GatewayError>
where
    T: serde::de::DeserializeOwned,
    B: Body<Data = Bytes>,
    B::Error: Into<tower::BoxError>,
{
    let bytes = Limited::new(body, MAX_BODY)
        .collect()
        .await
        .map_err(|e| GatewayError::InvalidRequest(format!("could not read the body: {e}")))?
        .to_bytes();
    serde_json::from_slice(&bytes).map_err(|e| GatewayError::InvalidRequest(format!("expected {expected}: {e}")))
}

/// Compares without stopping at the first difference, so the time taken
/// says nothing about how much of a guess was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for (i, x) in a.iter().enumerate() {
        diff |= usize::from(x ^ b.get(i).copied().unwrap_or(0));
    }
    diff == 0
}

fn json(status: StatusCode, body: &serde_json::Value) -> Response<Bytes> {
    let mut resp = Response::new(Bytes::from(body.to_string()));
    *resp.status_mut() = status;
    resp.headers_mut().insert(header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    resp.headers_mut().insert(header::CACHE_CONTROL, http::HeaderValue::from_static("no-store"));
    resp
}

#[cfg(test)]
mod tests;
