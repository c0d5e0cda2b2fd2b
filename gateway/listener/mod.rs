//! The listener: accepts connections, speaks HTTP/1.1 and h2 (h2c in clear,
//! h2 by ALPN over TLS), enforces connection and header limits, and drains
//! gracefully.
//!
//! The limits, in the order a connection meets them: `max_connections`
//! (further clients wait in the backlog), `max_connections_per_ip` (a
//! connection past it is closed at once, see [`per_ip`]), the first head's
//! deadline from accept (see [`head`]), then hyper's own: HTTP/1.1's
//! per-head deadline and header count, h2's stream, header-list and
//! reset-flood limits (see [`http_builder`]).
//!
//! Shutdown, in order: readiness turns 503, the listener stops accepting,
//! open connections are told to finish (HTTP/1.1 closes after the response in
//! progress, h2 sends GOAWAY), and in-flight requests and SSE streams get up
//! to `shutdown_grace` before the rest are dropped.

mod head;
mod per_ip;
mod tls;

use std::convert::Infallible;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::time::Instant;

pub use tls::{TlsError, acceptor};

use crate::app::App;
use crate::client::Connection;
use crate::telemetry::metrics;
use per_ip::{PerIp, RefusalLog};

/// Listener limits, from `[gateway]`.
pub struct ConnectionLimits {
    /// Most open connections.
    pub max_connections: usize,
    /// Most open connections from one address; `None`: no such cap.
    pub max_connections_per_ip: Option<NonZeroUsize>,
    /// Deadline for a request head, whole; the first one's counts from
    /// accept, so it covers the TLS handshake too.
    pub header_read_timeout: Duration,
    /// Most HTTP/1.1 request headers.
    pub max_headers: usize,
    /// Most concurrent streams on one h2 connection.
    pub h2_max_concurrent_streams: u32,
    /// How long in-flight work gets after shutdown begins.
    pub shutdown_grace: Duration,
}

/// Serves `app` on `listener` until `shutdown` resolves, then drains.
pub async fn serve(
    listener: TcpListener,
    app: Arc<App>,
    limits: ConnectionLimits,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shutdown: impl Future<Output = ()>,
) {
    let builder = Arc::new(http_builder(&limits));
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let per_ip = limits.max_connections_per_ip.map(PerIp::new);
    let mut refusals = RefusalLog::default();
    // Connection tasks live in a set, so that the ones still running when the
    // grace period ends are really dropped, not left proxying behind our back.
    let mut connections = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);

    loop {
        // Waiting for a free slot before accepting leaves further clients in
        // the kernel's backlog instead of accepting and dropping them.
        let permit = tokio::select! {
            _ = &mut shutdown => break,
            permit = slots.clone().acquire_owned() => match permit { Ok(p) => p, Err(_) => break },
        };
        let (stream, peer) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: back off briefly
                    // rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let head_deadline = Instant::now() + limits.header_read_timeout;
        let ip_slot = match per_ip.as_ref().map(|p| p.try_acquire(peer.ip())) {
            Some(None) => {
                // Dropping the stream closes it; the global permit frees too.
                refusals.refused(peer.ip());
                metrics::connection_dropped("per_ip_limit");
                continue;
            }
            Some(slot) => slot,
            None => None,
        };
        // Reap finished connections so the set stays the size of what is open.
        while connections.try_join_next().is_some() {}
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let builder = builder.clone();
        let watcher = graceful.watcher();
        let tls = tls.clone();
        connections.spawn(async move {
            let _held = (permit, ip_slot);
            connection(stream, peer, app, builder, watcher, tls, head_deadline).await;
        });
    }

    app.ops.draining.store(true, Ordering::Relaxed);
    drop(listener);
    tracing::info!(grace = ?limits.shutdown_grace, "shutting down: no longer accepting; draining connections");
    tokio::select! {
        _ = graceful.shutdown() => tracing::info!("all connections drained"),
        _ = tokio::time::sleep(limits.shutdown_grace) => {
            tracing::warn!(open = connections.len(), "shutdown grace elapsed; dropping remaining connections");
        }
    }
    connections.shutdown().await;
}

/// Most h2 streams a client may open and reset before the server accepted
/// them, before the connection gets GOAWAY: the "Rapid Reset" flood
/// (CVE-2023-44487). h2's own default, set here so that an upgrade cannot
/// change it unseen.
const H2_MAX_PENDING_ACCEPT_RESET_STREAMS: usize = 20;

/// Most h2 streams the server may reset for the client's protocol errors
/// before the connection gets GOAWAY (RUSTSEC-2024-0003). hyper's default,
/// pinned for the same reason.
const H2_MAX_LOCAL_ERROR_RESET_STREAMS: usize = 1024;

/// Largest h2 header list accepted: the same order as HTTP/1.1's
/// `max_headers` of ordinary headers, far under h2's 16 MiB default.
const H2_MAX_HEADER_LIST_SIZE: u32 = 64 * 1024;

/// The HTTP/1.1 and h2 settings every connection is served with.
fn http_builder(limits: &ConnectionLimits) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_headers(limits.max_headers);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(limits.h2_max_concurrent_streams)
        .max_pending_accept_reset_streams(H2_MAX_PENDING_ACCEPT_RESET_STREAMS)
        .max_local_error_reset_streams(H2_MAX_LOCAL_ERROR_RESET_STREAMS)
        .max_header_list_size(H2_MAX_HEADER_LIST_SIZE)
        .keep_alive_interval(Some(Duration::from_secs(30)));
    builder
}

/// Serves one accepted connection (after its TLS handshake, when there is
/// one) until it closes or the graceful shutdown ends it. The handshake and
/// the first request head must both be done by `head_deadline`.
async fn connection(
    stream: tokio::net::TcpStream,
    peer: std::net::SocketAddr,
    app: Arc<App>,
    builder: Arc<auto::Builder<TokioExecutor>>,
    watcher: hyper_util::server::graceful::Watcher,
    tls: Option<tokio_rustls::TlsAcceptor>,
    head_deadline: Instant,
) {
    let client = Arc::new(Connection::new(peer));
    let served = Arc::new(AtomicBool::new(false));
    let service = {
        let served = served.clone();
        service_fn(move |req| {
            served.store(true, Ordering::Relaxed);
            let (app, client) = (app.clone(), client.clone());
            async move { Ok::<_, Infallible>(app.handle(req, client).await) }
        })
    };
    let result = match tls {
        None => {
            let conn = watcher.watch(builder.serve_connection(TokioIo::new(stream), service).into_owned());
            head::until_first_request(conn, head_deadline, &served).await
        }
        Some(acceptor) => {
            let stream = match tokio::time::timeout_at(head_deadline, acceptor.accept(stream)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => return tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                Err(_) => {
                    metrics::connection_dropped("head_timeout");
                    return tracing::debug!(%peer, "TLS handshake timed out");
                }
            };
            let conn = watcher.watch(builder.serve_connection(TokioIo::new(stream), service).into_owned());
            head::until_first_request(conn, head_deadline, &served).await
        }
    };
    match result {
        None => {
            metrics::connection_dropped("head_timeout");
            tracing::debug!(%peer, "closed: no request head within header_read_timeout of accept");
        }
        Some(Err(e)) => {
            // hyper's own deadline on a later HTTP/1.1 head.
            if e.downcast_ref::<hyper::Error>().is_some_and(hyper::Error::is_timeout) {
                metrics::connection_dropped("head_timeout");
            }
            tracing::debug!(%peer, error = %e, "connection ended with an error");
        }
        Some(Ok(())) => {}
    }
}
