//! The listener: accepts connections, speaks HTTP/1.1 and h2 (h2c in clear,
//! h2 by ALPN over TLS), enforces connection and header limits, and drains
//! gracefully.
//!
//! Shutdown, in order: readiness turns 503, the listener stops accepting,
//! open connections are told to finish (HTTP/1.1 closes after the response in
//! progress, h2 sends GOAWAY), and in-flight requests and SSE streams get up
//! to `shutdown_grace` before the rest are dropped.

mod tls;

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

pub use tls::{TlsError, acceptor};

use crate::app::App;
use crate::client::Connection;

/// Listener limits, from `[gateway]`.
pub struct ConnectionLimits {
    /// Most open connections.
    pub max_connections: usize,
    /// Deadline for a client's request headers (and the TLS handshake).
    pub header_read_timeout: Duration,
    /// Most HTTP/1.1 request headers.
    pub max_headers: usize,
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
        // Reap finished connections so the set stays the size of what is open.
        while connections.try_join_next().is_some() {}
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let builder = builder.clone();
        let watcher = graceful.watcher();
        let tls = tls.clone();
        let handshake_deadline = limits.header_read_timeout;
        connections.spawn(async move {
            let _permit = permit;
            connection(stream, peer, app, builder, watcher, tls, handshake_deadline).await;
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
        .max_header_list_size(64 * 1024)
        .keep_alive_interval(Some(Duration::from_secs(30)));
    builder
}

/// Serves one accepted connection (after its TLS handshake, when there is
/// one) until it closes or the graceful shutdown ends it.
async fn connection(
    stream: tokio::net::TcpStream,
    peer: std::net::SocketAddr,
    app: Arc<App>,
    builder: Arc<auto::Builder<TokioExecutor>>,
    watcher: hyper_util::server::graceful::Watcher,
    tls: Option<tokio_rustls::TlsAcceptor>,
    handshake_deadline: Duration,
) {
    let client = Arc::new(Connection::new(peer));
    let service = service_fn(move |req| {
        let (app, client) = (app.clone(), client.clone());
        async move { Ok::<_, Infallible>(app.handle(req, client).await) }
    });
    let result = match tls {
        None => watcher.watch(builder.serve_connection(TokioIo::new(stream), service).into_owned()).await,
        Some(acceptor) => {
            let stream = match tokio::time::timeout(handshake_deadline, acceptor.accept(stream)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => return tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                Err(_) => return tracing::debug!(%peer, "TLS handshake timed out"),
            };
            watcher.watch(builder.serve_connection(TokioIo::new(stream), service).into_owned()).await
        }
    };
    if let Err(e) = result {
        tracing::debug!(%peer, error = %e, "connection ended with an error");
    }
}
