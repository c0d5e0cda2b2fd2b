//! Aggregated routes end to end: an rmcp client through one URL to three
//! real members (two `switchyard mock` HTTP servers and a `switchyard mock
//! --stdio` child), in both eras.
//!
//! Real sockets on port 0 and real child processes; every wait is bounded
//! by [`common::DEADLINE`].

mod common;

use common::rmcp_client::{args, connect};
use common::{Running, call, gateway, http, initialize, mock, mock_on, parse, stateless_headers, wait_health};
use rmcp::model::{CallToolRequestParams, ProtocolVersion};
use rmcp::service::ClientLifecycleMode;
use serde_json::{Value, json};
use switchyard::mock::{Calls, MockOptions};

const TOKEN: &str = "aggregate-admin-token";

/// Two HTTP mocks and a stdio mock, and the gateway's config text around
/// them with `route` (the aggregated route's keys after `path`).
struct Members {
    a: Running,
    a_calls: Calls,
    b: Running,
    b_calls: Calls,
}

async fn members() -> Members {
    let (a_calls, b_calls) = (Calls::default(), Calls::default());
    let a = mock(MockOptions { calls: a_calls.clone(), ..Default::default() }).await;
    let b = mock(MockOptions { calls: b_calls.clone(), ..Default::default() }).await;
    Members { a, a_calls, b, b_calls }
}

fn config(m: &Members, route: &str) -> String {
    let bin = env!("CARGO_BIN_EXE_switchyard");
    format!(
        r#"[gateway]
listen = "127.0.0.1:0"
session_key = "test-key"
shutdown_grace = "1s"
admin_token = "{TOKEN}"

[[backends]]
name = "docs"
instances = [{{ url = "{a}" }}]
timeout = "5s"
retry = {{ attempts = 1 }}
health = {{ probe = "none" }}

[[backends]]
name = "confluence"
instances = [{{ url = "{b}" }}]
timeout = "5s"
retry = {{ attempts = 1 }}
health = {{ probe = "none" }}

[[backends]]
name = "standards"
transport = "stdio"
command = "{bin}"
args = ["mock", "--stdio"]
timeout = "5s"

[[routes]]
path = "/mcp"
{route}
"#,
        a = m.a.url("/mcp"),
        b = m.b.url("/mcp"),
    )
}

const THREE: &str = r#"members = [
  { backend = "docs" },
  { backend = "confluence", prefix = "wiki", tools = { deny = ["big", "fail"] } },
  { backend = "standards", prefix = "" },
]
member_timeout = "2s""#;

async fn started(text: &str) -> Running {
    let gw = gateway(parse(text)).await;
    wait_health(&gw, |h| {
        h["backends"]
            .as_array()
            .is_some_and(|b| b.iter().any(|b| b["name"] == "standards" && b["processes"][0]["status"] == "up"))
    })
    .await;
    gw
}

fn tool_names(result: &Value) -> Vec<String> {
    result["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap().to_string()).collect()
}

/// The one JSON-RPC response among the messages of an answer.
fn response(messages: &[Value]) -> &Value {
    messages.iter().find(|m| m.get("result").is_some() || m.get("error").is_some()).expect("no response")
}

async fn session_call(url: &str, token: &str, body: Value) -> Value {
    let (status, messages) = call(url, &body.to_string(), &[("mcp-session-id", token)]).await;
    assert_eq!(status, 200, "{messages:?}");
    response(&messages).clone()
}

#[tokio::test]
async fn rmcp_sees_one_server_with_prefixed_lists_and_calls_reach_their_member() {
    let m = members().await;
    let gw = started(&config(&m, THREE)).await;
    let client = connect((), &gw.url("/mcp"), ClientLifecycleMode::Initialize).await;
    let info = client.peer_info().expect("no server info");
    assert_eq!(info.server_info.as_ref().map(|s| s.name.as_str()), Some("switchyard/mcp"));
    let tools = client.list_all_tools().await.unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    // Member order, then name; wiki's filter leaves out `big` and `fail`.
    for want in ["docs__echo", "docs__add", "wiki__echo", "echo", "add"] {
        assert!(names.contains(&want), "{want} missing from {names:?}");
    }
    assert!(!names.contains(&"wiki__big") && !names.contains(&"wiki__fail"), "{names:?}");
    let docs_at = names.iter().position(|n| n.starts_with("docs__")).unwrap();
    let wiki_at = names.iter().position(|n| n.starts_with("wiki__")).unwrap();
    let plain_at = names.iter().position(|n| !n.contains("__")).unwrap();
    assert!(docs_at < wiki_at && wiki_at < plain_at, "{names:?}");

    let before = (m.a_calls.get("tools/call"), m.b_calls.get("tools/call"));
    let params = CallToolRequestParams::new("wiki__echo").with_arguments(args(json!({ "text": "to the wiki" })));
    let result = client.call_tool(params).await.unwrap();
    assert!(format!("{result:?}").contains("to the wiki"), "{result:?}");
    assert_eq!((m.a_calls.get("tools/call"), m.b_calls.get("tools/call")), (before.0, before.1 + 1));
    // The unprefixed member's tool goes to the stdio child, not to an HTTP mock.
    let params = CallToolRequestParams::new("add").with_arguments(args(json!({ "a": 2, "b": 3 })));
    let result = client.call_tool(params).await.unwrap();
    assert!(format!("{result:?}").contains('5'), "{result:?}");
    assert_eq!((m.a_calls.get("tools/call"), m.b_calls.get("tools/call")), (before.0, before.1 + 1));
    // A filtered-out tool is unknown, with the error a server gives.
    let params = CallToolRequestParams::new("wiki__fail");
    let err = client.call_tool(params).await.unwrap_err().to_string();
    assert!(err.contains("-32602") || err.contains("Unknown tool"), "{err}");
    assert_eq!(m.b_calls.get("tools/call"), before.1 + 1, "a denied tool reached its member");
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn the_stateless_era_discovers_lists_and_calls_through_the_members() {
    let m = members().await;
    let gw = started(&config(&m, THREE)).await;
    let mode = ClientLifecycleMode::Discover { preferred_versions: vec![ProtocolVersion::V_2026_07_28] };
    let client = connect((), &gw.url("/mcp"), mode).await;
    let tools = client.list_all_tools().await.unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    assert!(names.contains(&"docs__echo") && names.contains(&"wiki__echo") && names.contains(&"echo"), "{names:?}");
    let before = m.a_calls.get("tools/call");
    let params = CallToolRequestParams::new("docs__echo").with_arguments(args(json!({ "text": "stateless" })));
    let result = client.call_tool(params).await.unwrap();
    assert!(format!("{result:?}").contains("stateless"), "{result:?}");
    assert_eq!(m.a_calls.get("tools/call"), before + 1);
    client.cancel().await.unwrap();

    // Mcp-Name is checked against the name the client sent, then rewritten.
    let body = json!({ "jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {
        "name": "docs__echo", "arguments": { "text": "hdr" },
        "_meta": { "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                   "io.modelcontextprotocol/clientCapabilities": {},
                   "io.modelcontextprotocol/clientInfo": { "name": "t", "version": "1" } } } });
    let (status, messages) =
        call(&gw.url("/mcp"), &body.to_string(), &stateless_headers("tools/call", Some("docs__echo"))).await;
    assert_eq!(status, 200, "{messages:?}");
    assert!(response(&messages)["result"].to_string().contains("hdr"), "{messages:?}");
    let (status, _) = call(&gw.url("/mcp"), &body.to_string(), &stateless_headers("tools/call", Some("echo"))).await;
    assert_eq!(status, 400, "a mismatched Mcp-Name must be refused before routing");
}

#[tokio::test]
async fn initialize_merges_capabilities_and_labels_instructions() {
    let m = members().await;
    let gw = started(&config(&m, THREE)).await;
    let (status, messages) = call(&gw.url("/mcp"), &common::initialize_body("2025-06-18"), &[]).await;
    assert_eq!(status, 200);
    let result = &response(&messages)["result"];
    assert_eq!(result["protocolVersion"], "2025-06-18");
    for cap in ["tools", "resources", "prompts"] {
        assert!(result["capabilities"].get(cap).is_some(), "{cap} missing: {result}");
    }
    assert!(result["_meta"].get("io.switchyard/degraded").is_none(), "{result}");
    let discover = json!({ "jsonrpc": "2.0", "id": 1, "method": "server/discover", "params": {
        "_meta": { "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                   "io.modelcontextprotocol/clientCapabilities": {},
                   "io.modelcontextprotocol/clientInfo": { "name": "t", "version": "1" } } } });
    let (status, messages) =
        call(&gw.url("/mcp"), &discover.to_string(), &stateless_headers("server/discover", None)).await;
    assert_eq!(status, 200, "{messages:?}");
    let result = &response(&messages)["result"];
    assert!(result["supportedVersions"].as_array().unwrap().contains(&json!("2026-07-28")), "{result}");
}

#[tokio::test]
async fn unknown_names_get_invalid_params_listing_the_prefixes() {
    let m = members().await;
    let gw = started(&config(&m, THREE)).await;
    let url = gw.url("/mcp");
    let token = initialize(&url, "2025-06-18").await;
    let reply = session_call(
        &url,
        &token,
        json!({ "jsonrpc": "2.0", "id": 3, "method": "tools/call",
        "params": { "name": "nobody__echo", "arguments": {} } }),
    )
    .await;
    // With one unprefixed member the name is its to refuse; the stdio mock
    // refuses it as a server does.
    assert!(reply.get("error").is_some(), "{reply}");
    let two_plain = THREE.replace("{ backend = \"docs\" }", "{ backend = \"docs\", prefix = \"\" }");
    let gw2 = started(&config(&m, &two_plain)).await;
    let url = gw2.url("/mcp");
    let token = initialize(&url, "2025-06-18").await;
    let reply = session_call(
        &url,
        &token,
        json!({ "jsonrpc": "2.0", "id": 3, "method": "tools/call",
        "params": { "name": "nobody__echo", "arguments": {} } }),
    )
    .await;
    assert_eq!(reply["error"]["code"], -32602, "{reply}");
    let message = reply["error"]["message"].as_str().unwrap();
    assert!(message.contains("wiki__") && message.contains("docs (unprefixed)"), "{message}");
    let _ = gw;
}

#[tokio::test]
async fn a_collision_is_left_out_reported_and_counted() {
    let m = members().await;
    // docs and the stdio child both unprefixed: every mock tool collides.
    let route = THREE.replace("{ backend = \"docs\" }", "{ backend = \"docs\", prefix = \"\" }");
    let gw = started(&config(&m, &route)).await;
    let url = gw.url("/mcp");
    let token = initialize(&url, "2025-06-18").await;
    let reply =
        session_call(&url, &token, json!({ "jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {} })).await;
    let names = tool_names(&reply["result"]);
    assert!(!names.contains(&"echo".to_string()), "a colliding name was answered: {names:?}");
    assert!(names.contains(&"wiki__echo".to_string()), "{names:?}");
    let routes: Value =
        http().get(gw.url("/admin/routes")).bearer_auth(TOKEN).send().await.unwrap().json().await.unwrap();
    let collisions = &routes["routes"][0]["collisions"];
    let echo = collisions.as_array().unwrap().iter().find(|c| c["name"] == "echo").expect("echo not reported");
    assert_eq!(echo["members"], json!(["docs", "standards"]));
    let metrics = http().get(gw.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(
        metrics.contains("switchyard_aggregate_collisions_total{route=\"mcp\",list=\"tools\"}"),
        "no collision metric"
    );
    // With "first", the earlier member keeps the name.
    let first = format!("{route}\ncollisions = \"first\"");
    let gw2 = started(&config(&m, &first)).await;
    let url = gw2.url("/mcp");
    let token = initialize(&url, "2025-06-18").await;
    let reply =
        session_call(&url, &token, json!({ "jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {} })).await;
    assert!(tool_names(&reply["result"]).contains(&"echo".to_string()));
    let before = m.a_calls.get("tools/call");
    session_call(
        &url,
        &token,
        json!({ "jsonrpc": "2.0", "id": 4, "method": "tools/call",
        "params": { "name": "echo", "arguments": { "text": "x" } } }),
    )
    .await;
    assert_eq!(m.a_calls.get("tools/call"), before + 1, "the first member did not get the call");
}

#[tokio::test]
async fn a_killed_member_is_left_out_and_recovers_transparently_when_it_returns() {
    let mut m = members().await;
    let gw = started(&config(&m, THREE)).await;
    let url = gw.url("/mcp");
    let token = initialize(&url, "2025-06-18").await;
    let list = json!({ "jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {} });
    let reply = session_call(&url, &token, list.clone()).await;
    assert!(tool_names(&reply["result"]).contains(&"wiki__echo".to_string()));

    // The wiki member dies mid-session: its tools leave, the rest stay.
    let addr = m.b.addr;
    m.b.stop().await;
    let reply = session_call(&url, &token, list.clone()).await;
    let names = tool_names(&reply["result"]);
    assert!(!names.iter().any(|n| n.starts_with("wiki__")), "{names:?}");
    assert!(names.contains(&"docs__echo".to_string()) && names.contains(&"echo".to_string()), "{names:?}");
    assert_eq!(reply["result"]["_meta"]["io.switchyard/degraded"], json!(["wiki"]), "{reply}");

    // It comes back on the same address with none of its old sessions: the
    // gateway opens a new member session, and the client never notices.
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let b_calls = Calls::default();
    m.b = mock_on(listener, MockOptions { calls: b_calls.clone(), ..Default::default() }).await;
    let reply = session_call(&url, &token, list).await;
    assert!(tool_names(&reply["result"]).contains(&"wiki__echo".to_string()), "{reply}");
    assert!(reply["result"].get("_meta").is_none(), "{reply}");
    assert_eq!(b_calls.get("initialize"), 1, "the member was not re-initialized once");
    let reply = session_call(
        &url,
        &token,
        json!({ "jsonrpc": "2.0", "id": 5, "method": "tools/call",
        "params": { "name": "wiki__echo", "arguments": { "text": "back" } } }),
    )
    .await;
    assert!(reply["result"].to_string().contains("back"), "{reply}");
    assert_eq!(b_calls.get("initialize"), 1);
    let _ = &m.a_calls;
    let _ = &m.b_calls;
}

#[tokio::test]
async fn closed_mode_fails_the_request_with_the_members_error() {
    let m = members().await;
    let route = format!("{THREE}\nfailure_mode = \"closed\"");
    let gw = started(&config(&m, &route)).await;
    let url = gw.url("/mcp");
    let token = initialize(&url, "2025-06-18").await;
    m.b.stop().await;
    let list = json!({ "jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {} });
    let (status, messages) = call(&url, &list.to_string(), &[("mcp-session-id", &token)]).await;
    assert_eq!(status, 502, "{messages:?}");
    assert_eq!(response(&messages)["error"]["code"], -32010, "{messages:?}");
}

#[tokio::test]
async fn a_changed_tool_is_withheld_under_pin_tools_until_approved() {
    let m = members().await;
    let pins = std::env::temp_dir().join(format!("switchyard-pins-{}.json", std::process::id()));
    // The file pins wiki's `echo` to another definition: as if the server
    // changed the tool after an operator approved it.
    let stale = json!({ "version": 1, "pins": { "wiki": { "echo": { "pinned": "00".repeat(32) } } } });
    std::fs::write(&pins, stale.to_string()).unwrap();
    let route = format!("{THREE}\npin_tools = true\npins = {:?}", pins.display().to_string());
    let gw = started(&config(&m, &route)).await;
    let url = gw.url("/mcp");
    let token = initialize(&url, "2025-06-18").await;
    let list = json!({ "jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {} });
    let names = tool_names(&session_call(&url, &token, list.clone()).await["result"]);
    assert!(!names.contains(&"wiki__echo".to_string()), "a changed tool was listed: {names:?}");
    assert!(names.contains(&"wiki__add".to_string()), "{names:?}");
    let call_echo = json!({ "jsonrpc": "2.0", "id": 3, "method": "tools/call",
        "params": { "name": "wiki__echo", "arguments": { "text": "x" } } });
    let reply = session_call(&url, &token, call_echo.clone()).await;
    assert_eq!(reply["error"]["code"], -32602, "{reply}");
    assert!(reply["error"]["message"].as_str().unwrap().contains("withheld"), "{reply}");

    let admin = |path: &str| format!("{}{path}", gw.url("/admin"));
    let tools: Value =
        http().get(admin("/routes/mcp/tools")).bearer_auth(TOKEN).send().await.unwrap().json().await.unwrap();
    let echo = tools["tools"].as_array().unwrap().iter().find(|t| t["name"] == "wiki__echo").unwrap().clone();
    assert_eq!(echo["withheld"], true, "{tools}");
    let metrics = http().get(gw.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("switchyard_tool_definition_changes_total{route=\"mcp\",member=\"wiki\"} 1"), "{metrics}");

    let resp = http().post(admin("/routes/mcp/tools/wiki__echo/approve")).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let names = tool_names(&session_call(&url, &token, list).await["result"]);
    assert!(names.contains(&"wiki__echo".to_string()), "{names:?}");
    let reply = session_call(&url, &token, call_echo).await;
    assert!(reply.get("result").is_some(), "{reply}");
    // The approval is in the file, for the next start.
    let saved: Value = serde_json::from_slice(&std::fs::read(&pins).unwrap()).unwrap();
    assert_ne!(saved["pins"]["wiki"]["echo"]["pinned"], "00".repeat(32));
    assert!(saved["pins"]["wiki"]["echo"].get("pending").is_none(), "{saved}");
    let resp = http().post(admin("/routes/mcp/tools/nope__x/approve")).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(resp.status(), 404);
    let _ = std::fs::remove_file(&pins);
}

#[tokio::test]
async fn pages_of_the_merged_list_walk_it_whole_and_a_bad_cursor_is_invalid_params() {
    let m = members().await;
    let route = format!("{THREE}\npage_size = 3");
    let gw = started(&config(&m, &route)).await;
    let url = gw.url("/mcp");
    let token = initialize(&url, "2025-06-18").await;
    let mut cursor: Option<String> = None;
    let mut all = Vec::new();
    for _ in 0..50 {
        let mut params = json!({});
        if let Some(c) = &cursor {
            params["cursor"] = json!(c);
        }
        let reply =
            session_call(&url, &token, json!({ "jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": params }))
                .await;
        let page = tool_names(&reply["result"]);
        assert!(page.len() <= 3);
        all.extend(page);
        match reply["result"]["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    let client = connect((), &url, ClientLifecycleMode::Initialize).await;
    let whole: Vec<String> = client.list_all_tools().await.unwrap().iter().map(|t| t.name.to_string()).collect();
    assert_eq!(all, whole);
    client.cancel().await.unwrap();
    let reply = session_call(
        &url,
        &token,
        json!({ "jsonrpc": "2.0", "id": 2, "method": "tools/list",
        "params": { "cursor": "not-ours" } }),
    )
    .await;
    assert_eq!(reply["error"]["code"], -32602, "{reply}");
}

#[tokio::test]
async fn ping_is_answered_and_notifications_reach_every_member() {
    let m = members().await;
    let gw = started(&config(&m, THREE)).await;
    let url = gw.url("/mcp");
    let token = initialize(&url, "2025-06-18").await;
    let reply = session_call(&url, &token, json!({ "jsonrpc": "2.0", "id": 9, "method": "ping" })).await;
    assert_eq!(reply["result"], json!({}));
    let note = json!({ "jsonrpc": "2.0", "method": "notifications/initialized" });
    let resp = common::post(&url, &note.to_string(), &[("mcp-session-id", &token)]).await;
    assert_eq!(resp.status(), 202);
    assert_eq!((m.a_calls.get("initialize"), m.b_calls.get("initialize")), (1, 1));
    let resp = common::post(&url, r#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#, &[("mcp-session-id", &token)]).await;
    assert_eq!(resp.status(), 400, "a batch on an aggregated route");
    // DELETE ends the session with every member, and the token with it.
    let resp = http().delete(&url).header("mcp-session-id", &token).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let (status, _) = call(
        &url,
        &json!({ "jsonrpc": "2.0", "id": 3, "method": "tools/list" }).to_string(),
        &[("mcp-session-id", &token)],
    )
    .await;
    assert_eq!(status, 404, "a deleted session was served");
}

#[tokio::test]
async fn a_members_resource_filter_holds_for_reads_too() {
    let m = members().await;
    let route = r#"members = [{ backend = "docs", prefix = "", resources = { deny = ["mock://*"] } }]"#;
    let gw = started(&config(&m, route)).await;
    let url = gw.url("/mcp");
    let token = initialize(&url, "2025-06-18").await;
    let list = session_call(&url, &token, json!({ "jsonrpc": "2.0", "id": 2, "method": "resources/list" })).await;
    assert_eq!(list["result"]["resources"], json!([]), "{list}");
    let read = session_call(
        &url,
        &token,
        json!({ "jsonrpc": "2.0", "id": 3, "method": "resources/read",
        "params": { "uri": "mock://readme" } }),
    )
    .await;
    assert_eq!(read["error"]["code"], -32602, "a denied resource was read: {read}");
    assert_eq!(m.a_calls.get("resources/read"), 0);
}

#[tokio::test]
async fn a_members_list_changed_reaches_the_sessions_get_stream() {
    use futures::StreamExt;
    let m = members().await;
    let route = format!("{THREE}\n\n[[routes]]\npath = \"/standards\"\nbackend = \"standards\"");
    let gw = started(&config(&m, &route)).await;
    let url = gw.url("/mcp");
    let token = initialize(&url, "2025-06-18").await;
    let stream =
        http().get(&url).header("accept", "text/event-stream").header("mcp-session-id", &token).send().await.unwrap();
    assert_eq!(stream.status(), 200);
    assert!(stream.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    let mut body = stream.bytes_stream();
    // The stdio child announces a change, asked through its own route.
    let plain = gw.url("/standards");
    let plain_token = initialize(&plain, "2025-06-18").await;
    let changed = json!({ "jsonrpc": "2.0", "id": 1, "method": "mock/changed", "params": { "name": "tools" } });
    session_call(&plain, &plain_token, changed).await;
    let seen = tokio::time::timeout(common::DEADLINE, async {
        let mut text = String::new();
        while let Some(chunk) = body.next().await {
            text.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
            if text.contains("notifications/tools/list_changed") {
                return text;
            }
        }
        panic!("the stream ended: {text}");
    })
    .await
    .expect("no list_changed on the aggregated route's stream");
    assert!(seen.contains("event: message"), "{seen}");
}

#[tokio::test]
async fn a_members_list_changed_reaches_a_stateless_listen_stream() {
    use futures::StreamExt;
    let m = members().await;
    let route = format!("{THREE}\n\n[[routes]]\npath = \"/standards\"\nbackend = \"standards\"");
    let gw = started(&config(&m, &route)).await;
    let url = gw.url("/mcp");
    let listen = json!({ "jsonrpc": "2.0", "id": 1, "method": "subscriptions/listen", "params": {
        "_meta": { "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                   "io.modelcontextprotocol/clientCapabilities": {},
                   "io.modelcontextprotocol/clientInfo": { "name": "t", "version": "1" } } } });
    let stream = common::post(&url, &listen.to_string(), &stateless_headers("subscriptions/listen", None)).await;
    assert_eq!(stream.status(), 200);
    assert!(stream.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    let mut body = stream.bytes_stream();
    let plain = gw.url("/standards");
    let plain_token = initialize(&plain, "2025-06-18").await;
    let changed = json!({ "jsonrpc": "2.0", "id": 1, "method": "mock/changed", "params": { "name": "prompts" } });
    session_call(&plain, &plain_token, changed).await;
    tokio::time::timeout(common::DEADLINE, async {
        let mut text = String::new();
        while let Some(chunk) = body.next().await {
            text.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
            if text.contains("notifications/prompts/list_changed") {
                return;
            }
        }
        panic!("the stream ended: {text}");
    })
    .await
    .expect("no list_changed on the listen stream");
}
