//! The real rmcp SDK (client and server) talking through Switchyard, in both
//! protocol eras, plus session-token behaviour across gateway restarts.
//!
//! Everything runs on real sockets bound to `127.0.0.1:0`; every wait is
//! bounded by [`common::DEADLINE`].

// These measure real elapsed time, which tokio's paused clock cannot.
#![allow(clippy::disallowed_types)]

mod common;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use common::rmcp_client::{args, connect};
use common::{
    DEADLINE, Running, call, config_for, gateway, gateway_on, http, initialize, mock, parse, post, stateless_body,
};
use futures::StreamExt;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{
    CallToolRequestParams, CallToolResult, Implementation, ProgressNotificationParam, ProtocolVersion,
    ServerCapabilities, ServerConfig,
};
use rmcp::service::{NotificationContext, RunningService};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ClientHandler, ClientLifecycleMode, RoleClient, ServerHandler, tool, tool_handler, tool_router};
use serde_json::{Value, json};
use switchyard::mock::MockOptions;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::{Instant, timeout};

const STATELESS: &str = "2026-07-28";

// === an rmcp upstream server ===

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
struct EchoArgs {
    /// Text to return.
    text: String,
}

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
struct AddArgs {
    a: i64,
    b: i64,
}

/// A small rmcp server with `echo` and `add`.
#[derive(Debug, Clone)]
struct Calc {
    tool_router: ToolRouter<Self>,
}

impl Calc {
    fn new() -> Self {
        Self { tool_router: Self::tool_router() }
    }
}

#[tool_router]
impl Calc {
    #[tool(description = "Returns `text` unchanged")]
    fn echo(&self, Parameters(EchoArgs { text }): Parameters<EchoArgs>) -> String {
        text
    }

    #[tool(description = "Returns a + b")]
    fn add(&self, Parameters(AddArgs { a, b }): Parameters<AddArgs>) -> String {
        (a + b).to_string()
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for Calc {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("rmcp-upstream", "1.0.0"))
    }
}

/// An rmcp `StreamableHttpService` on a plain hyper-util server; aborted on drop.
struct Upstream {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Upstream {
    fn url(&self) -> String {
        format!("http://{}/mcp", self.addr)
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn rmcp_upstream() -> Upstream {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let service: StreamableHttpService<Calc, LocalSessionManager> = StreamableHttpService::new(
        || Ok(Calc::new()),
        Default::default(),
        StreamableHttpServerConfig::default().with_sse_keep_alive(None),
    );
    let task = tokio::spawn(async move {
        let mut connections = tokio::task::JoinSet::new();
        loop {
            let Ok((stream, _)) = listener.accept().await else { continue };
            let service = service.clone();
            connections.spawn(async move {
                let svc = hyper::service::service_fn(move |req: http::Request<Incoming>| {
                    let service = service.clone();
                    async move { Ok::<_, Infallible>(service.handle(req).await) }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    Upstream { addr, task }
}

// === rmcp client helpers ===

fn session_era() -> ClientLifecycleMode {
    ClientLifecycleMode::Initialize
}

fn discover() -> ClientLifecycleMode {
    ClientLifecycleMode::Discover { preferred_versions: vec![ProtocolVersion::V_2026_07_28] }
}

fn auto() -> ClientLifecycleMode {
    ClientLifecycleMode::Auto {
        preferred_versions: vec![ProtocolVersion::V_2026_07_28],
        legacy_version: Some(ProtocolVersion::V_2025_11_25),
    }
}

async fn call_tool<H: ClientHandler>(
    client: &RunningService<RoleClient, H>,
    name: &'static str,
    a: Value,
) -> CallToolResult {
    timeout(DEADLINE, client.call_tool(CallToolRequestParams::new(name).with_arguments(args(a))))
        .await
        .unwrap_or_else(|_| panic!("tools/call {name} timed out"))
        .unwrap_or_else(|e| panic!("tools/call {name} failed: {e}"))
}

/// The text of the result's only content block.
fn text_of(result: &CallToolResult) -> String {
    let v = serde_json::to_value(result).unwrap();
    assert_ne!(v["isError"], json!(true), "tool reported an error: {v}");
    let content = v["content"].as_array().unwrap_or_else(|| panic!("no content in {v}"));
    assert_eq!(content.len(), 1, "expected one content block: {v}");
    content[0]["text"].as_str().unwrap_or_else(|| panic!("no text in {v}")).to_string()
}

/// The gateway's own count of sessions it minted and saw not closed.
async fn active_sessions(gw: &Running) -> i64 {
    let resp = timeout(DEADLINE, http().get(gw.url("/health")).send()).await.unwrap().unwrap();
    let body: Value = timeout(DEADLINE, resp.json()).await.unwrap().unwrap();
    body["activeSessions"].as_i64().unwrap_or_else(|| panic!("no activeSessions in {body}"))
}

/// Connects, checks the negotiated version, lists tools, calls `echo` and
/// `add`, and hands the still-open client back.
async fn exercise(
    url: &str,
    mode: ClientLifecycleMode,
    want_version: &str,
    want_tools: &[&str],
) -> RunningService<RoleClient, ()> {
    let client = connect((), url, mode.clone()).await;
    let info = client.peer_info().expect("no server info after startup");
    assert_eq!(info.protocol_version.as_str(), want_version, "{mode:?}: negotiated version");

    let tools = timeout(DEADLINE, client.list_all_tools()).await.unwrap().unwrap();
    let mut names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    names.sort_unstable();
    let mut want = want_tools.to_vec();
    want.sort_unstable();
    assert_eq!(names, want, "{mode:?}: tools/list through the gateway");

    let text = "héllo through switchyard ✓";
    let echoed = call_tool(&client, "echo", json!({ "text": text })).await;
    assert_eq!(text_of(&echoed), text, "{mode:?}: echo");
    let sum = call_tool(&client, "add", json!({ "a": 2, "b": 40 })).await;
    assert_eq!(text_of(&sum), "42", "{mode:?}: add");
    client
}

/// Closes a session-era client, which sends DELETE with its token; the
/// gateway must pass it upstream and count the session as ended.
async fn ended_by_delete<H: ClientHandler>(client: RunningService<RoleClient, H>, gw: &Running) {
    // `cancel` waits for the transport's cleanup, DELETE included.
    timeout(DEADLINE, client.cancel()).await.expect("client close timed out").expect("client task panicked");
    assert_eq!(active_sessions(gw).await, 0, "DELETE through the gateway should have ended the session");
}

const MOCK_TOOLS: &[&str] = &["add", "big", "echo", "fail", "progress", "sleep"];
const RMCP_TOOLS: &[&str] = &["add", "echo"];

async fn through_gateway_to(upstream_url: &str) -> Running {
    gateway(parse(&config_for(&[("/mcp", upstream_url)], ""))).await
}

// === 1–3: both eras, both upstreams ===

#[tokio::test]
async fn rmcp_client_to_rmcp_server_session_era() {
    let up = rmcp_upstream().await;
    let gw = through_gateway_to(&up.url()).await;
    let client = exercise(&gw.url("/mcp"), session_era(), "2025-11-25", RMCP_TOOLS).await;
    assert_eq!(active_sessions(&gw).await, 1, "initialize should have minted one gateway session");
    ended_by_delete(client, &gw).await;
}

#[tokio::test]
async fn rmcp_client_to_rmcp_server_stateless_discover() {
    let up = rmcp_upstream().await;
    let gw = through_gateway_to(&up.url()).await;
    let client = exercise(&gw.url("/mcp"), discover(), STATELESS, RMCP_TOOLS).await;
    assert_eq!(active_sessions(&gw).await, 0, "a stateless exchange must not mint a session");
    let _ = client.cancel().await;
}

#[tokio::test]
async fn rmcp_client_to_rmcp_server_auto() {
    let up = rmcp_upstream().await;
    let gw = through_gateway_to(&up.url()).await;
    let client = exercise(&gw.url("/mcp"), auto(), STATELESS, RMCP_TOOLS).await;
    assert_eq!(active_sessions(&gw).await, 0, "auto picked the stateless era; no session expected");
    let _ = client.cancel().await;
}

#[tokio::test]
async fn rmcp_client_to_mock_session_era() {
    let m = mock(MockOptions::default()).await;
    let gw = through_gateway_to(&m.url("/mcp")).await;
    let client = exercise(&gw.url("/mcp"), session_era(), "2025-11-25", MOCK_TOOLS).await;
    assert_eq!(active_sessions(&gw).await, 1, "initialize should have minted one gateway session");
    ended_by_delete(client, &gw).await;
}

#[tokio::test]
async fn rmcp_client_to_mock_stateless_discover() {
    let m = mock(MockOptions::default()).await;
    let gw = through_gateway_to(&m.url("/mcp")).await;
    let client = exercise(&gw.url("/mcp"), discover(), STATELESS, MOCK_TOOLS).await;
    assert_eq!(active_sessions(&gw).await, 0, "a stateless exchange must not mint a session");
    let _ = client.cancel().await;
}

#[tokio::test]
async fn rmcp_client_to_mock_auto() {
    let m = mock(MockOptions::default()).await;
    let gw = through_gateway_to(&m.url("/mcp")).await;
    let client = exercise(&gw.url("/mcp"), auto(), STATELESS, MOCK_TOOLS).await;
    assert_eq!(active_sessions(&gw).await, 0, "auto picked the stateless era; no session expected");
    let _ = client.cancel().await;
}

/// What the wire shows of a stateless exchange: no `Mcp-Session-Id` on either
/// answer, and a session id the client sends anyway is ignored, not checked.
async fn stateless_on_the_wire(url: &str) {
    let discover = stateless_body(1, "server/discover", json!({}));
    let headers = [("mcp-protocol-version", STATELESS), ("mcp-method", "server/discover")];
    let resp = post(url, &discover, &headers).await;
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().get("mcp-session-id").is_none(), "discover answer carries a session id");
    let _ = resp.bytes().await;

    let body = stateless_body(2, "tools/call", json!({ "name": "echo", "arguments": { "text": "no session" } }));
    let headers = [
        ("mcp-protocol-version", STATELESS),
        ("mcp-method", "tools/call"),
        ("mcp-name", "echo"),
        // Not a token the gateway ever minted; the stateless era ignores it.
        ("mcp-session-id", "not-a-real-session"),
    ];
    let resp = post(url, &body, &headers).await;
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().get("mcp-session-id").is_none(), "tools/call answer carries a session id");
    let ct = resp.headers().get("content-type").unwrap().to_str().unwrap().to_string();
    let text = timeout(DEADLINE, resp.text()).await.unwrap().unwrap();
    let msgs = common::messages(&ct, &text);
    let result = msgs.iter().find(|m| m["id"] == json!(2)).unwrap_or_else(|| panic!("no response in {text}"));
    assert_eq!(result["result"]["content"][0]["text"], "no session", "{text}");
}

#[tokio::test]
async fn stateless_exchange_mints_no_session_on_the_wire() {
    let m = mock(MockOptions::default()).await;
    let up = rmcp_upstream().await;
    let gw_mock = through_gateway_to(&m.url("/mcp")).await;
    let gw_rmcp = through_gateway_to(&up.url()).await;
    stateless_on_the_wire(&gw_mock.url("/mcp")).await;
    stateless_on_the_wire(&gw_rmcp.url("/mcp")).await;
    assert_eq!(active_sessions(&gw_mock).await, 0);
    assert_eq!(active_sessions(&gw_rmcp).await, 0);
}

// === 4: progress streams event by event ===

/// An rmcp client handler that timestamps every progress notification.
struct ProgressRecorder {
    tx: mpsc::UnboundedSender<(Instant, ProgressNotificationParam)>,
}

impl ClientHandler for ProgressRecorder {
    async fn on_progress(&self, params: ProgressNotificationParam, _cx: NotificationContext<RoleClient>) {
        let _ = self.tx.send((Instant::now(), params));
    }
}

const STEPS: u64 = 5;
const INTERVAL: Duration = Duration::from_millis(200);

async fn progress_reaches_rmcp_client_as_it_happens(mode: ClientLifecycleMode) {
    let m = mock(MockOptions::default()).await;
    let gw = through_gateway_to(&m.url("/mcp")).await;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let client = connect(ProgressRecorder { tx }, &gw.url("/mcp"), mode.clone()).await;

    let peer = client.peer().clone();
    let params = CallToolRequestParams::new("progress")
        .with_arguments(args(json!({ "steps": STEPS, "interval_ms": INTERVAL.as_millis() as u64 })));
    let started = Instant::now();
    let call = tokio::spawn(async move { peer.call_tool(params).await });

    let (first_at, first) = timeout(DEADLINE, rx.recv()).await.expect("no progress notification arrived").unwrap();
    // Four more steps, 200 ms apart, are still to come: the call must still be open.
    assert!(!call.is_finished(), "{mode:?}: the tool finished before the first progress notification was seen");
    assert_eq!(first.progress, 1.0, "{mode:?}: first progress value");
    assert_eq!(first.total, Some(STEPS as f64));

    let result = timeout(DEADLINE, call).await.expect("tools/call progress timed out").unwrap().unwrap();
    let done_at = Instant::now();
    assert_eq!(text_of(&result), format!("completed {STEPS} steps"));

    let mut seen = vec![(first_at, first.progress)];
    while seen.len() < STEPS as usize {
        let (at, p) = timeout(DEADLINE, rx.recv()).await.expect("missing progress notifications").unwrap();
        seen.push((at, p.progress));
    }
    let values: Vec<f64> = seen.iter().map(|(_, p)| *p).collect();
    assert_eq!(values, vec![1.0, 2.0, 3.0, 4.0, 5.0], "{mode:?}: progress values in order");

    // Buffered-then-flushed delivery would put every event at the end.
    let spread = seen[STEPS as usize - 1].0 - first_at;
    assert!(spread >= INTERVAL * 2, "{mode:?}: progress events arrived bunched up: {spread:?} between first and last");
    assert!(
        done_at - first_at >= INTERVAL * 2,
        "{mode:?}: first progress only {:?} before the result (call took {:?})",
        done_at - first_at,
        done_at - started
    );
    let _ = client.cancel().await;
}

#[tokio::test]
async fn progress_streams_to_rmcp_client_session_era() {
    progress_reaches_rmcp_client_as_it_happens(session_era()).await;
}

#[tokio::test]
async fn progress_streams_to_rmcp_client_stateless() {
    progress_reaches_rmcp_client_as_it_happens(discover()).await;
}

/// Reads an SSE body chunk by chunk, timestamping each JSON-RPC message as
/// soon as its event is complete.
async fn timed_sse_messages(resp: reqwest::Response) -> Vec<(Instant, Value)> {
    let mut stream = resp.bytes_stream();
    let mut buf = String::new();
    let mut out = Vec::new();
    while let Some(chunk) = timeout(DEADLINE, stream.next()).await.expect("SSE stream stalled") {
        let now = Instant::now();
        buf.push_str(&String::from_utf8_lossy(&chunk.expect("SSE stream failed")).replace("\r\n", "\n"));
        while let Some(end) = buf.find("\n\n") {
            let event: String = buf.drain(..end + 2).collect();
            let data: Vec<&str> = event.lines().filter_map(|l| l.strip_prefix("data:")).map(str::trim_start).collect();
            if let Ok(v) = serde_json::from_str::<Value>(&data.join("\n")) {
                out.push((now, v));
            }
        }
    }
    out
}

fn assert_streamed(label: &str, events: &[(Instant, Value)]) {
    let progress: Vec<&(Instant, Value)> =
        events.iter().filter(|(_, v)| v["method"] == "notifications/progress").collect();
    let result = events.iter().find(|(_, v)| v.get("result").is_some()).unwrap_or_else(|| panic!("{label}: no result"));
    assert_eq!(progress.len(), STEPS as usize, "{label}: {events:?}");
    let values: Vec<Option<u64>> = progress.iter().map(|(_, v)| v["params"]["progress"].as_u64()).collect();
    assert_eq!(values, (1..=STEPS).map(Some).collect::<Vec<_>>(), "{label}: progress values in order");
    assert_eq!(result.1["result"]["content"][0]["text"], format!("completed {STEPS} steps"));
    let first = progress[0].0;
    assert!(
        result.0 - first >= INTERVAL * 2,
        "{label}: first progress event reached the client only {:?} before the result",
        result.0 - first
    );
    // Buffered-then-flushed delivery would put every event at the end; allow
    // for a loaded machine by asking for half the 800 ms the steps span.
    let spread = progress[STEPS as usize - 1].0 - first;
    assert!(spread >= INTERVAL * 2, "{label}: progress events arrived bunched up: {spread:?} from first to last");
}

#[tokio::test]
async fn progress_streams_event_by_event_raw_sse_stateless() {
    let m = mock(MockOptions::default()).await;
    let gw = through_gateway_to(&m.url("/mcp")).await;
    let mut body: Value = serde_json::from_str(&stateless_body(
        7,
        "tools/call",
        json!({ "name": "progress", "arguments": { "steps": STEPS, "interval_ms": INTERVAL.as_millis() as u64 } }),
    ))
    .unwrap();
    body["params"]["_meta"]["progressToken"] = json!("tok-7");
    let headers = [("mcp-protocol-version", STATELESS), ("mcp-method", "tools/call"), ("mcp-name", "progress")];
    let resp = post(&gw.url("/mcp"), &body.to_string(), &headers).await;
    assert_eq!(resp.status(), 200);
    let ct = resp.headers().get("content-type").unwrap().to_str().unwrap().to_string();
    assert!(ct.starts_with("text/event-stream"), "progress should stream as SSE, got {ct}");
    let events = timed_sse_messages(resp).await;
    assert!(
        events.iter().all(|(_, v)| v["method"] != "notifications/progress" || v["params"]["progressToken"] == "tok-7")
    );
    assert_streamed("stateless", &events);
}

#[tokio::test]
async fn progress_streams_event_by_event_raw_sse_session_era() {
    let m = mock(MockOptions::default()).await;
    let gw = through_gateway_to(&m.url("/mcp")).await;
    let url = gw.url("/mcp");
    let sid = initialize(&url, "2025-06-18").await;
    let session = [("mcp-session-id", sid.as_str()), ("mcp-protocol-version", "2025-06-18")];
    let (status, _) = call(&url, r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#, &session).await;
    assert_eq!(status, 202);
    let body = json!({ "jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {
        "name": "progress", "arguments": { "steps": STEPS, "interval_ms": INTERVAL.as_millis() as u64 },
        "_meta": { "progressToken": 99 } } });
    let resp = post(&url, &body.to_string(), &session).await;
    assert_eq!(resp.status(), 200);
    let ct = resp.headers().get("content-type").unwrap().to_str().unwrap().to_string();
    assert!(ct.starts_with("text/event-stream"), "progress should stream as SSE, got {ct}");
    let events = timed_sse_messages(resp).await;
    assert_streamed("session era", &events);
}

// === 5: sessions across gateway restarts ===

const V: &str = "2025-06-18";

fn echo_body(id: u32, text: &str) -> String {
    json!({ "jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": { "name": "echo", "arguments": { "text": text } } })
    .to_string()
}

/// A `tools/call echo` (id 5) with `sid`; returns the status and the echoed
/// text, or the whole JSON-RPC error message.
async fn echo_with(url: &str, sid: &str, text: &str) -> (u16, Value) {
    let resp = post(url, &echo_body(5, text), &[("mcp-session-id", sid), ("mcp-protocol-version", V)]).await;
    let status = resp.status().as_u16();
    let ct = resp.headers().get("content-type").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    let body = timeout(DEADLINE, resp.text()).await.unwrap().unwrap();
    let msgs = common::messages(&ct, &body);
    assert_eq!(msgs.len(), 1, "expected one JSON-RPC message, got {status} {ct:?} {body:?}");
    let m = &msgs[0];
    if m.get("error").is_some() {
        assert!(ct.starts_with("application/json"), "error body should be JSON, not {ct:?}");
        return (status, m.clone());
    }
    (status, m["result"]["content"][0]["text"].clone())
}

fn assert_session_not_found(label: &str, (status, msg): (u16, Value)) {
    assert_eq!(status, 404, "{label}: {msg}");
    assert_eq!(msg["jsonrpc"], "2.0", "{label}: {msg}");
    assert_eq!(msg["id"], json!(5), "{label}: the error should echo the request id: {msg}");
    assert_eq!(msg["error"]["code"], json!(-32001), "{label}: {msg}");
}

#[tokio::test]
async fn session_survives_gateway_restart_with_same_key() {
    let m = mock(MockOptions::default()).await;
    let text = config_for(&[("/mcp", &m.url("/mcp"))], "");
    let a = gateway(parse(&text)).await;
    let sid = initialize(&a.url("/mcp"), V).await;
    assert_eq!(echo_with(&a.url("/mcp"), &sid, "before").await, (200, json!("before")));
    a.stop().await;

    let b = gateway(parse(&text)).await;
    assert_eq!(echo_with(&b.url("/mcp"), &sid, "after restart").await, (200, json!("after restart")));
    b.stop().await;

    let other = text.replace("session_key = \"test-key\"", "session_key = \"another-key\"");
    assert_ne!(other, text);
    let c = gateway(parse(&other)).await;
    assert_session_not_found("other session_key", echo_with(&c.url("/mcp"), &sid, "x").await);
}

/// The same, with an rmcp client that keeps its connection state across the
/// restart: the gateway comes back on the same address, and with transparent
/// re-initialization off the call can only succeed if the old token opens.
#[tokio::test]
async fn rmcp_session_survives_gateway_restart_on_same_address() {
    let m = mock(MockOptions::default()).await;
    let text =
        config_for(&[("/mcp", &m.url("/mcp"))], "").replace("shutdown_grace = \"5s\"", "shutdown_grace = \"200ms\"");
    let a = gateway(parse(&text)).await;
    let addr = a.addr;
    let url = a.url("/mcp");
    let client = connect((), &url, session_era()).await;
    assert_eq!(text_of(&call_tool(&client, "echo", json!({ "text": "one" })).await), "one");
    a.stop().await;

    let b = gateway_on(parse(&text), TcpListener::bind(addr).await.unwrap()).await;
    assert_eq!(text_of(&call_tool(&client, "echo", json!({ "text": "two" })).await), "two");
    b.stop().await;

    // Control: under another key the very same client's session is gone.
    let other = text.replace("session_key = \"test-key\"", "session_key = \"another-key\"");
    let _c = gateway_on(parse(&other), TcpListener::bind(addr).await.unwrap()).await;
    let refused = timeout(
        DEADLINE,
        client.call_tool(CallToolRequestParams::new("echo").with_arguments(args(json!({ "text": "three" })))),
    )
    .await
    .expect("tools/call under another key timed out");
    let refused = refused.expect_err("a token sealed under another key was accepted");
    assert!(format!("{refused:?}").contains("SessionExpired"), "expected a 404 / session expired, got {refused:?}");
    let _ = client.cancel().await;
}

// === 6: tampered and cross-route tokens ===

/// `token` with one character in the middle replaced by another base64url one.
fn tamper(token: &str) -> String {
    let mut chars: Vec<char> = token.chars().collect();
    let i = chars.len() / 2;
    chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
    let out: String = chars.into_iter().collect();
    assert_ne!(out, token);
    out
}

#[tokio::test]
async fn tampered_token_gets_404() {
    let m = mock(MockOptions::default()).await;
    let gw = through_gateway_to(&m.url("/mcp")).await;
    let url = gw.url("/mcp");
    let sid = initialize(&url, V).await;
    assert_eq!(echo_with(&url, &sid, "ok").await, (200, json!("ok")));
    assert_session_not_found("tampered", echo_with(&url, &tamper(&sid), "x").await);
    assert_session_not_found("truncated", echo_with(&url, &sid[..sid.len() - 4], "x").await);
    assert_session_not_found("garbage", echo_with(&url, "definitely-not-a-token", "x").await);
}

#[tokio::test]
async fn token_from_another_route_gets_404() {
    let m = mock(MockOptions::default()).await;
    let mock_url = m.url("/mcp");
    let gw = gateway(parse(&config_for(&[("/a", &mock_url), ("/b", &mock_url)], ""))).await;
    let sid_a = initialize(&gw.url("/a"), V).await;
    let sid_b = initialize(&gw.url("/b"), V).await;
    assert_eq!(echo_with(&gw.url("/a"), &sid_a, "a").await, (200, json!("a")));
    assert_eq!(echo_with(&gw.url("/b"), &sid_b, "b").await, (200, json!("b")));
    assert_session_not_found("/a token on /b", echo_with(&gw.url("/b"), &sid_a, "x").await);
    assert_session_not_found("/b token on /a", echo_with(&gw.url("/a"), &sid_b, "x").await);
}

// === the token records what rmcp's SSE initialize answer negotiated ===

/// rmcp answers `initialize` as SSE with a priming event first; the gateway
/// must still read the negotiated version out of it into the token, which is
/// what later refuses a batch in a 2025-06-18 session (and allows one in a
/// 2025-03-26 session).
#[tokio::test]
async fn token_carries_version_negotiated_by_rmcp_server() {
    let up = rmcp_upstream().await;
    let gw = through_gateway_to(&up.url()).await;
    let url = gw.url("/mcp");

    let resp = post(&url, &common::initialize_body(V), &[]).await;
    assert_eq!(resp.status(), 200);
    let ct = resp.headers().get("content-type").unwrap().to_str().unwrap().to_string();
    let sid = resp.headers().get("mcp-session-id").expect("no session id").to_str().unwrap().to_string();
    let body = resp.text().await.unwrap();
    let init = common::messages(&ct, &body);
    assert_eq!(init.len(), 1, "{body:?}");
    assert_eq!(init[0]["result"]["protocolVersion"], V, "{body:?}");

    let batch = format!("[{},{}]", echo_body(11, "x"), echo_body(12, "y"));
    // No MCP-Protocol-Version header: only the token can tell the gateway the version.
    let (status, msgs) = call(&url, &batch, &[("mcp-session-id", &sid)]).await;
    assert_eq!(status, 400, "{msgs:?}");
    assert_eq!(msgs[0]["error"]["code"], json!(-32600), "{msgs:?}");
    let message = msgs[0]["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains(V), "the refusal should name the session's version {V}: {message}");
}

// === a stopped gateway leaves nothing running ===

/// `shutdown_grace` is "how long in-flight requests and SSE streams get to
/// finish on shutdown", and the listener logs "shutdown grace elapsed;
/// dropping remaining connections". So once `run` has returned, a response
/// stream that outlived the grace must be cut, not keep flowing from a
/// gateway that has stopped.
#[tokio::test]
async fn streams_outliving_shutdown_grace_are_cut_when_run_returns() {
    let m = mock(MockOptions::default()).await;
    let text =
        config_for(&[("/mcp", &m.url("/mcp"))], "").replace("shutdown_grace = \"5s\"", "shutdown_grace = \"200ms\"");
    let gw = gateway(parse(&text)).await;
    let steps = 10;
    let mut body: Value = serde_json::from_str(&stateless_body(
        1,
        "tools/call",
        json!({ "name": "progress", "arguments": { "steps": steps, "interval_ms": INTERVAL.as_millis() as u64 } }),
    ))
    .unwrap();
    body["params"]["_meta"]["progressToken"] = json!("t");
    let headers = [("mcp-protocol-version", STATELESS), ("mcp-method", "tools/call"), ("mcp-name", "progress")];
    let resp = post(&gw.url("/mcp"), &body.to_string(), &headers).await;
    assert_eq!(resp.status(), 200);
    let mut stream = resp.bytes_stream();
    let first = timeout(DEADLINE, stream.next()).await.expect("no first event").expect("stream ended").unwrap();
    assert!(String::from_utf8_lossy(&first).contains("notifications/progress"), "{first:?}");

    let stopping = Instant::now();
    gw.stop().await;
    let stopped_after = stopping.elapsed();
    assert!(stopped_after < INTERVAL * 5, "stop took {stopped_after:?}, beyond the 200 ms grace");

    // The tool needs about 1.8 s more; the stream must end well before that.
    let mut rest = String::new();
    while let Some(Ok(chunk)) = timeout(DEADLINE, stream.next()).await.expect("stream neither ended nor progressed") {
        rest.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(
        !rest.contains("\"result\""),
        "the tool's result arrived through a gateway whose run() had returned {stopped_after:?} after stop: \
         {} more bytes, {} progress events",
        rest.len(),
        rest.matches("notifications/progress").count()
    );
}
