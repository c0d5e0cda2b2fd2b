//! Connecting a real rmcp client through the gateway.

use rmcp::service::{ClientLifecycleMode, RoleClient, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{ClientHandler, ClientServiceExt};
use serde_json::Value;

use super::DEADLINE;

/// Connects an rmcp client to `url`. Transparent re-initialization is off, so
/// a lost session is an error the test sees rather than something papered over.
pub async fn connect<H: ClientHandler>(
    handler: H,
    url: &str,
    mode: ClientLifecycleMode,
) -> RunningService<RoleClient, H> {
    start(handler, url, mode, false).await
}

/// [`connect`], with rmcp's transparent re-initialization on: a 404 for a
/// lost session makes the client start a new one and retry, as the spec
/// asks of clients.
pub async fn connect_recovering<H: ClientHandler>(handler: H, url: &str) -> RunningService<RoleClient, H> {
    start(handler, url, ClientLifecycleMode::Initialize, true).await
}

async fn start<H: ClientHandler>(
    handler: H,
    url: &str,
    mode: ClientLifecycleMode,
    reinit: bool,
) -> RunningService<RoleClient, H> {
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(url.to_string()).reinit_on_expired_session(reinit),
    );
    match tokio::time::timeout(DEADLINE, handler.serve_with_lifecycle(transport, mode.clone())).await {
        Ok(Ok(client)) => client,
        Ok(Err(e)) => panic!("{mode:?} startup through {url} failed: {e}"),
        Err(_) => panic!("{mode:?} startup through {url} timed out"),
    }
}

/// Tool arguments from a JSON object.
pub fn args(v: Value) -> serde_json::Map<String, Value> {
    match v {
        Value::Object(m) => m,
        other => panic!("arguments must be an object, not {other}"),
    }
}
