//! The mock against a real MCP client: rmcp's Streamable HTTP client, in each
//! lifecycle it offers (legacy `initialize`, `server/discover`, and auto).
//!
//! If rmcp can talk to the mock in every mode, benchmarks and interop tests
//! that put the gateway between them start from a known-good pair.

use std::time::Duration;

use rmcp::model::{
    CallToolRequestParams, ClientConfig, GetPromptRequestParams, ProtocolVersion, ReadResourceRequestParams,
};
use rmcp::service::RunningService;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::{ClientLifecycleMode, ClientServiceExt, RoleClient};
use serde_json::json;
use switchyard::mock::{MockOptions, serve_http};
use tokio::sync::oneshot;

const DEADLINE: Duration = Duration::from_secs(20);

/// Starts a mock on port 0; dropping the sender stops it.
async fn start(opts: MockOptions) -> (String, oneshot::Sender<()>, tokio::task::JoinHandle<std::io::Result<()>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(serve_http(listener, opts, async {
        let _ = stopped.await;
    }));
    (url, stop, server)
}

async fn connect(url: &str, mode: ClientLifecycleMode) -> RunningService<RoleClient, ClientConfig> {
    let transport = StreamableHttpClientTransport::from_uri(url.to_owned());
    tokio::time::timeout(DEADLINE, ClientConfig::default().serve_with_lifecycle(transport, mode))
        .await
        .expect("client starts in time")
        .expect("client starts")
}

/// Calls `echo` and checks the text comes back.
async fn echo(client: &RunningService<RoleClient, ClientConfig>, text: &str) {
    let args = json!({ "text": text }).as_object().cloned().unwrap();
    let call = client.call_tool(CallToolRequestParams::new("echo").with_arguments(args));
    let result = tokio::time::timeout(DEADLINE, call).await.unwrap().expect("echo");
    let got = result.content[0].as_text().expect("text content").text.clone();
    assert_eq!(got, text);
}

async fn exercise(mode: ClientLifecycleMode, opts: MockOptions, expect_version: ProtocolVersion) {
    let (url, stop, server) = start(opts).await;
    let client = connect(&url, mode).await;
    let info = client.peer_info().expect("server info");
    assert_eq!(info.protocol_version, expect_version);
    assert_eq!(info.server_info.as_ref().map(|i| i.name.as_str()), Some("switchyard-mock"));

    echo(&client, "hello").await;
    echo(&client, "héllo \"world\"\n").await;
    let tools = client.list_tools(None).await.expect("tools/list");
    assert_eq!(tools.tools.len(), 6);
    let readme = client.read_resource(ReadResourceRequestParams::new("mock://readme")).await.expect("resources/read");
    assert_eq!(readme.contents.len(), 1);
    let args = json!({ "name": "Ada" }).as_object().cloned().unwrap();
    let prompt =
        client.get_prompt(GetPromptRequestParams::new("greet").with_arguments(args)).await.expect("prompts/get");
    assert_eq!(prompt.messages.len(), 1);
    // A non-ASCII uri travels base64-encoded in `Mcp-Name` (2026-07-28):
    // "not found" rather than "header mismatch" shows the mock decoded it.
    // 2026-07-28 made "not found" invalid params (-32602), with the uri.
    let missing =
        client.read_resource(ReadResourceRequestParams::new("mock://réadme")).await.expect_err("no such resource");
    let rmcp::ServiceError::McpError(error) = missing else { panic!("expected a JSON-RPC error, got {missing:?}") };
    let stateless = expect_version == ProtocolVersion::V_2026_07_28;
    assert_eq!(error.code.0, if stateless { -32602 } else { -32002 }, "{error:?}");
    if stateless {
        assert_eq!(error.data.as_ref().map(|d| d["uri"].clone()), Some(json!("mock://réadme")), "{error:?}");
    }

    tokio::time::timeout(DEADLINE, client.cancel()).await.unwrap().unwrap();
    drop(stop);
    tokio::time::timeout(DEADLINE, server).await.unwrap().unwrap().unwrap();
}

#[tokio::test]
async fn rmcp_initialize_mode() {
    let mode = ClientLifecycleMode::Initialize;
    // rmcp asks for 2026-07-28, which has no `initialize`: the mock offers
    // its newest session version instead.
    exercise(mode, MockOptions::default(), ProtocolVersion::V_2025_11_25).await;
}

#[tokio::test]
async fn rmcp_initialize_mode_json_only() {
    let opts = MockOptions { json_only: true, ..Default::default() };
    exercise(ClientLifecycleMode::Initialize, opts, ProtocolVersion::V_2025_11_25).await;
}

#[tokio::test]
async fn rmcp_discover_mode() {
    let mode = ClientLifecycleMode::Discover { preferred_versions: vec![ProtocolVersion::V_2026_07_28] };
    exercise(mode, MockOptions::default(), ProtocolVersion::V_2026_07_28).await;
}

#[tokio::test]
async fn rmcp_auto_mode_picks_the_stateless_era() {
    let mode = ClientLifecycleMode::Auto {
        preferred_versions: vec![ProtocolVersion::V_2026_07_28],
        legacy_version: Some(ProtocolVersion::V_2025_06_18),
    };
    exercise(mode, MockOptions::default(), ProtocolVersion::V_2026_07_28).await;
}
