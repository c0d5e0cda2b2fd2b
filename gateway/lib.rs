//! Switchyard: an MCP gateway and reverse proxy.
//!
//! The modules follow the request path (see `ARCHITECTURE.md`):
//!
//! ```text
//! listener → app → front (checks, envelope, era, session) → stack (deadline → forward) → backend
//! ```
//!
//! `session` seals the gateway's own session tokens, `ops` serves health and
//! metrics, `telemetry` writes the log line and metrics of every request, and
//! `error` is the one table from failure to response.
#![deny(unsafe_code)]

pub mod app;
pub mod backend;
pub mod bench;
pub mod config;
pub mod error;
pub mod front;
pub mod jsonrpc;
pub mod listener;
pub mod mock;
pub mod ops;
pub mod session;
pub mod stack;
pub mod stdio;
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
}

/// Runs the gateway on an already-bound listener until `shutdown` resolves,
/// then drains within `shutdown_grace` and returns.
///
/// Tests bind `127.0.0.1:0`, spawn this, and talk to the bound address.
pub async fn run(config: &Config, listener: TcpListener, shutdown: impl Future<Output = ()>) -> Result<(), StartError> {
    let app = Arc::new(App::build(config)?);
    let tls = match &config.gateway.tls {
        Some(t) => Some(listener::acceptor(&t.cert, &t.key)?),
        None => None,
    };
    let g = &config.gateway;
    let limits = listener::Limits {
        max_connections: g.max_connections,
        header_read_timeout: g.header_read_timeout.0,
        max_headers: g.max_headers,
        shutdown_grace: g.shutdown_grace.0,
    };
    listener::serve(listener, app.clone(), limits, tls, shutdown).await;
    app.ops.stop_processes().await;
    Ok(())
}
