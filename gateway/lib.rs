//! Switchyard: an MCP gateway and reverse proxy.
//!
//! The modules follow the request path (see `ARCHITECTURE.md`):
//!
//! ```text
//! listener → app → front (checks, envelope, era, session)
//!          → stack (deadline → retry → balance → forward) → backend
//! ```
//!
//! Beside the request path, `health` probes every instance and `outlier`
//! ejects the ones real requests see failing; both write the live `table`,
//! which the balancer reads without a lock. `session` seals the gateway's own
//! session tokens, `ops` serves health and metrics, `telemetry` writes the
//! log line and metrics of every request, and `error` is the one table from
//! failure to response. `stdio` runs supervised pools of child processes
//! for stdio backends.
#![deny(unsafe_code)]
// No `unwrap` outside tests: a panic on the request path would drop every
// connection of the worker; errors go through `GatewayError` instead.
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod admin;
pub mod app;
pub mod auth;
pub mod backend;
pub mod balance;
pub mod bench;
pub mod cache;
pub mod catalog;
pub mod client;
pub mod config;
pub mod deadline;
pub mod error;
pub mod front;
pub mod health;
pub mod limit;
pub mod listener;
pub mod mcp;
pub mod mock;
pub mod ops;
pub mod outlier;
pub mod retry;
pub mod route;
pub mod runtime;
pub mod session;
pub mod stack;
pub mod stdio;
pub mod table;
pub mod telemetry;

use std::sync::Arc;

use tokio::net::TcpListener;

pub use app::App;
pub use config::Config;

/// Starting the gateway failed.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A backend could not be built.
    #[error(transparent)]
    Backend(#[from] backend::BuildError),
    /// The TLS files could not be used.
    #[error(transparent)]
    Tls(#[from] listener::TlsError),
    /// The admin listener could not be bound.
    #[error("cannot listen on {0} for the admin API: {1}")]
    AdminListen(std::net::SocketAddr, std::io::Error),
}

/// Runs the gateway on an already-bound listener until `shutdown` resolves,
/// then drains within `shutdown_grace` and returns.
///
/// Tests bind `127.0.0.1:0`, spawn this, and talk to the bound address.
/// With `[gateway] admin_listen`, the admin listener is bound here too.
pub async fn run(config: &Config, listener: TcpListener, shutdown: impl Future<Output = ()>) -> Result<(), StartError> {
    run_from(config.clone(), None, listener, shutdown).await
}

/// [`run`], for a config read from `source`: SIGHUP, `POST /admin/reload`
/// and (with `watch_config`) a change of the file reload it.
pub async fn run_from(
    config: Config,
    source: Option<std::path::PathBuf>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> Result<(), StartError> {
    let admin = match config.gateway.admin_listen {
        Some(addr) => Some(TcpListener::bind(addr).await.map_err(|e| StartError::AdminListen(addr, e))?),
        None => None,
    };
    serve(config, source, listener, admin, shutdown).await
}

/// Serves until `shutdown`: the main listener, the admin listener if any,
/// and the reload triggers.
pub async fn serve(
    config: Config,
    source: Option<std::path::PathBuf>,
    listener: TcpListener,
    admin: Option<TcpListener>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), StartError> {
    let g = config.gateway.clone();
    let tls = match &g.tls {
        Some(t) => Some(listener::acceptor(&t.cert, &t.key)?),
        None => None,
    };
    let app = Arc::new(App::build_from(config, source)?);
    let _reloads = runtime::reload::triggers(&app.live, g.watch_config);
    let limits = listener::ConnectionLimits {
        max_connections: g.max_connections,
        max_connections_per_ip: std::num::NonZeroUsize::new(g.max_connections_per_ip),
        header_read_timeout: g.header_read_timeout.0,
        max_headers: g.max_headers,
        h2_max_concurrent_streams: g.h2_max_concurrent_streams,
        shutdown_grace: g.shutdown_grace.0,
    };
    let admin_api = admin.map(|l| {
        let loopback = l.local_addr().is_ok_and(|a| a.ip().is_loopback());
        let api = admin::Admin::new(app.live.table.clone(), g.admin_token.clone(), loopback)
            .with_named_tokens(&g.admin_tokens)
            .with_live(&app.live);
        (l, Arc::new(api))
    });
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let main = listener::serve(listener, app.clone(), limits, tls, async {
        shutdown.await;
        let _ = stop.send(true);
    });
    let admin_served = async move {
        if let Some((l, api)) = admin_api {
            let mut stopped = stopped;
            admin::serve(l, api, async move { drop(stopped.wait_for(|s| *s).await) }).await;
        }
    };
    tokio::join!(main, admin_served);
    app.live.stop_processes().await;
    Ok(())
}
