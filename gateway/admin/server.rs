//! The admin API's own listener (`[gateway] admin_listen`).
//!
//! A plain HTTP/1.1 and h2c server: admin calls are rare and short, so no
//! connection limits or graceful drain; at shutdown the listener closes and
//! the connections in progress are dropped.

use std::convert::Infallible;
use std::sync::Arc;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use super::Admin;
use crate::stack::ProxyBody;

/// Serves `admin` on `listener` until `shutdown` resolves.
pub async fn serve(listener: TcpListener, admin: Arc<Admin>, shutdown: impl Future<Output = ()>) {
    let builder = Arc::new(auto::Builder::new(TokioExecutor::new()));
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    if let Ok(addr) = listener.local_addr() {
        tracing::info!("admin API at http://{addr}/admin/backends");
    }
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    tracing::warn!(error = %e, "admin: accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        while connections.try_join_next().is_some() {}
        let (admin, builder) = (admin.clone(), builder.clone());
        connections.spawn(async move {
            let service = service_fn(move |req| {
                let admin = admin.clone();
                async move {
                    let resp = match Admin::owns(req.uri().path()) {
                        true => admin.serve(req).await,
                        false => crate::error::GatewayError::NotFound("the admin API lives under /admin".into())
                            .into_response(None),
                    };
                    Ok::<_, Infallible>(resp.map(ProxyBody::full))
                }
            });
            if let Err(e) = builder.serve_connection(TokioIo::new(stream), service).await {
                tracing::debug!(%peer, error = %e, "admin connection ended with an error");
            }
        });
    }
    connections.shutdown().await;
}
