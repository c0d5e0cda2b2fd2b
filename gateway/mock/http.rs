//! The HTTP transport: accept loop, routing, `GET` and `DELETE`.
//!
//! `POST`, where all the protocol lives, is in `post`. This file keeps what
//! every request shares: [`Shared`] state, SSE framing and error responses,
//! and the DNS-rebinding guard: bound to a loopback address, the mock refuses
//! a request whose `Origin` is not localhost, as the spec asks of a local
//! server (a web page the user opened cannot reach it by pointing its own
//! domain at 127.0.0.1).

use std::convert::Infallible;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::header::{ALLOW, CACHE_CONTROL, CONTENT_TYPE, HeaderValue, ORIGIN};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use serde_json::value::RawValue;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

use super::MockOptions;
use super::asks::Asks;
use super::body::MockBody;
use super::checks::{self, PROTOCOL_VERSION};
use super::post;
use super::sessions::Sessions;
use super::tools::STATELESS_VERSION;
use crate::mcp::jsonrpc::{INVALID_REQUEST, error_body, error_body_with_data};

/// How long shutdown waits for requests in flight (a long `sleep`, say).
const GRACE: Duration = Duration::from_secs(5);
/// Comment lines on an idle `GET` stream, so proxies don't time it out.
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// The common "session not found" code (TypeScript SDK, rmcp).
pub(crate) const SESSION_NOT_FOUND: i32 = -32001;
/// What a refused `Host` or `Origin` gets, as the gateway answers it.
const FORBIDDEN: i32 = -32000;

/// State every request of one server sees.
#[derive(Debug)]
pub(crate) struct Shared {
    pub opts: MockOptions,
    pub sessions: Sessions,
    /// Requests sent to clients mid-call, waiting for their answers.
    pub asks: Asks,
    /// Bound to a loopback address: `Host` and `Origin` must be localhost.
    loopback: bool,
    /// SSE event ids: one counter for the server, so ids are unique across
    /// every session's streams, as resumption needs.
    next_event: AtomicU64,
    /// Flips to `true` on shutdown, ending the long-lived `GET` streams that
    /// would otherwise hold graceful shutdown open.
    stopping: watch::Receiver<bool>,
}

pub(crate) async fn serve(
    listener: TcpListener,
    opts: MockOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (stop, stopping) = watch::channel(false);
    let loopback = listener.local_addr()?.ip().is_loopback();
    let shared = Arc::new(Shared {
        opts,
        sessions: Sessions::default(),
        asks: Asks::default(),
        loopback,
        next_event: AtomicU64::new(1),
        stopping,
    });
    let builder = auto::Builder::new(TokioExecutor::new());
    let graceful = GracefulShutdown::new();
    let mut shutdown = pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Usually out of file descriptors: back off instead of
                    // spinning, and keep serving the connections we have.
                    tracing::warn!(error = %e, "mock: accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        // Small JSON-RPC messages: don't let Nagle hold them back.
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        let service = service_fn(move |req| route(shared.clone(), req));
        let conn = builder.serve_connection(TokioIo::new(stream), service).into_owned();
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "mock: connection ended with an error");
            }
        });
    }
    drop(listener);
    let _ = stop.send(true);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(GRACE) => tracing::debug!("mock: gave up waiting for requests in flight"),
    }
    Ok(())
}

async fn route(shared: Arc<Shared>, req: Request<Incoming>) -> Result<Response<MockBody>, Infallible> {
    if req.uri().path() != "/mcp" {
        return Ok(status_only(StatusCode::NOT_FOUND));
    }
    if shared.loopback
        && let Err(why) = local_only(&req)
    {
        return Ok(rpc_error(StatusCode::FORBIDDEN, None, FORBIDDEN, why));
    }
    // So that tests through a gateway can tell whether a client's
    // credential reached the server: counted under `mock/calls`.
    for credential in ["authorization", "x-api-key"] {
        if req.headers().contains_key(credential) {
            shared.opts.calls.record(&format!("header:{credential}"));
        }
    }
    Ok(match *req.method() {
        Method::POST => post::handle(&shared, req).await,
        // A 2026-07-28-only server has no server stream and no session.
        Method::GET | Method::DELETE if shared.opts.era == super::MockEra::Stateless => method_not_allowed(),
        Method::GET => get(&shared, &req).await,
        Method::DELETE => delete(&shared, &req).await,
        _ => method_not_allowed(),
    })
}

/// Opens the session's stream for server-initiated messages. The mock starts
/// none, so it only primes the stream and keeps it alive.
async fn get(shared: &Arc<Shared>, req: &Request<Incoming>) -> Response<MockBody> {
    let headers = req.headers();
    if is_stateless(headers) {
        return method_not_allowed();
    }
    if !checks::accepts(headers, false, true) {
        let message = "Not Acceptable: client must accept text/event-stream";
        return rpc_error(StatusCode::NOT_ACCEPTABLE, None, INVALID_REQUEST, message);
    }
    if let Err(refusal) = check_session(shared, headers) {
        return refusal.response();
    }
    shared.latency().await;
    let priming = format!("id: {}\ndata: \n\n", shared.event_id());
    long_lived_stream(shared, Bytes::from(priming))
}

/// A stream that starts with `first` and then only keeps itself alive,
/// until the client leaves or the mock stops: the session era's GET
/// stream, and 2026-07-28's `subscriptions/listen` (the mock announces no
/// changes on either).
pub(crate) fn long_lived_stream(shared: &Arc<Shared>, first: Bytes) -> Response<MockBody> {
    let (tx, rx) = mpsc::channel(4);
    tokio::spawn(standalone_stream(shared.clone(), tx, first));
    sse_response(MockBody::Stream(rx))
}

async fn standalone_stream(shared: Arc<Shared>, tx: mpsc::Sender<Bytes>, first: Bytes) {
    let mut stopping = shared.stopping.clone();
    if tx.send(first).await.is_err() {
        return;
    }
    let start = tokio::time::Instant::now() + KEEP_ALIVE;
    let mut keep_alive = tokio::time::interval_at(start, KEEP_ALIVE);
    loop {
        tokio::select! {
            _ = keep_alive.tick() => {
                if tx.send(Bytes::from_static(b": keep-alive\n\n")).await.is_err() {
                    return;
                }
            }
            () = tx.closed() => return,
            // The guard `wait_for` returns is not `Send`: drop it inside.
            () = async { drop(stopping.wait_for(|stop| *stop).await) } => return,
        }
    }
}

async fn delete(shared: &Arc<Shared>, req: &Request<Incoming>) -> Response<MockBody> {
    let headers = req.headers();
    if is_stateless(headers) {
        return method_not_allowed();
    }
    if let Err(refusal) = check_session(shared, headers) {
        return refusal.response();
    }
    shared.latency().await;
    // A concurrent DELETE may have won; either way the session is gone.
    if let Some(id) = checks::session_id(headers) {
        shared.sessions.close(id);
    }
    status_only(StatusCode::OK)
}

// === impl Shared ===

impl Shared {
    pub(crate) fn event_id(&self) -> u64 {
        self.next_event.fetch_add(1, Ordering::Relaxed)
    }

    /// Frames one JSON message as an SSE `message` event with a fresh id.
    pub(crate) fn sse_event(&self, json: &[u8]) -> Bytes {
        let head = format!("id: {}\nevent: message\ndata: ", self.event_id());
        let mut out = Vec::with_capacity(head.len() + json.len() + 2);
        out.extend_from_slice(head.as_bytes());
        out.extend_from_slice(json);
        out.extend_from_slice(b"\n\n");
        Bytes::from(out)
    }

    /// The configured delay, skipped entirely when zero.
    pub(crate) async fn latency(&self) {
        if !self.opts.latency.is_zero() {
            tokio::time::sleep(self.opts.latency).await;
        }
    }
}

/// Session-era rule: a request after `initialize` names a live session.
///
/// Returns the session's negotiated version.
pub(crate) fn check_session(shared: &Shared, headers: &hyper::HeaderMap) -> Result<&'static str, NoSession> {
    let id = checks::session_id(headers).ok_or(NoSession::Missing)?;
    shared.sessions.version(id).ok_or(NoSession::Unknown)
}

/// Why [`check_session`] refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NoSession {
    /// No `Mcp-Session-Id`: 400.
    Missing,
    /// An id never issued, or ended: 404, so the client re-initializes.
    Unknown,
}

impl NoSession {
    pub(crate) fn response(self) -> Response<MockBody> {
        match self {
            NoSession::Missing => {
                let message = "Bad Request: Mcp-Session-Id header is required";
                rpc_error(StatusCode::BAD_REQUEST, None, INVALID_REQUEST, message)
            }
            NoSession::Unknown => rpc_error(StatusCode::NOT_FOUND, None, SESSION_NOT_FOUND, "Session not found"),
        }
    }
}

/// Whether the request claims the stateless era in its version header.
pub(crate) fn is_stateless(headers: &hyper::HeaderMap) -> bool {
    headers.get(&PROTOCOL_VERSION).is_some_and(|v| v.as_bytes() == STATELESS_VERSION.as_bytes())
}

/// A JSON-RPC error as a whole `application/json` response.
pub(crate) fn rpc_error(status: StatusCode, id: Option<&RawValue>, code: i32, message: &str) -> Response<MockBody> {
    json_response(status, error_body(id, code, message))
}

/// Like [`rpc_error`], with `data`.
pub(crate) fn rpc_error_data(
    status: StatusCode,
    id: Option<&RawValue>,
    code: i32,
    message: &str,
    data: &serde_json::Value,
) -> Response<MockBody> {
    json_response(status, error_body_with_data(id, code, message, Some(data)))
}

pub(crate) fn json_response(status: StatusCode, body: Bytes) -> Response<MockBody> {
    let mut response = Response::new(MockBody::full(body));
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

pub(crate) fn sse_response(body: MockBody) -> Response<MockBody> {
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

pub(crate) fn status_only(status: StatusCode) -> Response<MockBody> {
    let mut response = Response::new(MockBody::empty());
    *response.status_mut() = status;
    response
}

/// The DNS-rebinding guard: an `Origin`, when present, must name localhost.
///
/// Why `Origin` and not `Host`: a browser sends `Origin` on every POST and
/// DELETE, same-origin or not, and every session and every stateless
/// request starts with a POST, so a rebound page is refused at its first
/// request. `Host`, on the other hand, is what a local reverse proxy in front
/// of the mock rewrites to its upstream's name (nginx sends `Host: mock` for
/// `proxy_pass http://mock`), so refusing it would refuse the proxies the
/// benchmarks compare. The spec asks for `Host` or `Origin`.
fn local_only(req: &Request<Incoming>) -> Result<(), &'static str> {
    if let Some(origin) = req.headers().get(ORIGIN) {
        let authority = origin.to_str().ok().and_then(|o| o.split_once("://")).map(|(_, rest)| rest);
        if !authority.is_some_and(|a| !a.contains('/') && is_localhost(a)) {
            return Err("Forbidden: Origin is not localhost");
        }
    }
    Ok(())
}

/// `localhost`, `127.0.0.1` or `[::1]`, with or without a port.
fn is_localhost(authority: &str) -> bool {
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split_once(']').map_or("", |(h, _)| h),
        None => authority.split_once(':').map_or(authority, |(h, _)| h),
    };
    host.eq_ignore_ascii_case("localhost") || host == "127.0.0.1" || host == "::1"
}

fn method_not_allowed() -> Response<MockBody> {
    let mut response = status_only(StatusCode::METHOD_NOT_ALLOWED);
    response.headers_mut().insert(ALLOW, HeaderValue::from_static("GET, POST, DELETE"));
    response
}

#[cfg(test)]
mod tests {
    use super::is_localhost;

    #[test]
    fn localhost_with_or_without_a_port() {
        for ok in ["localhost", "LOCALHOST:80", "127.0.0.1", "127.0.0.1:4321", "[::1]", "[::1]:8080"] {
            assert!(is_localhost(ok), "{ok}");
        }
        for bad in ["evil.example", "evil.example:80", "127.0.0.2", "localhost.evil.example", "[::2]:80", "", "[::1"] {
            assert!(!is_localhost(bad), "{bad}");
        }
    }
}
