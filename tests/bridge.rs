//! Clients of one protocol era through the gateway to HTTP servers of the
//! other: rmcp clients of each era against `switchyard mock --era`, and raw
//! requests where the wire itself is the point (ids, tokens, sessions per
//! caller, a server that forgets a session).

mod common;

use common::rmcp_client::{args, connect};
use common::{DEADLINE, call, gateway, http, mock, mock_on, parse, post, stateless_body, stateless_headers};
use rmcp::model::{CallToolRequestParams, ProtocolVersion};
use rmcp::service::ClientLifecycleMode;
use serde_json::{Value, json};
use switchyard::mock::{Calls, MockEra, MockOptions};

const TOKEN: &str = "bridge-admin-token-0123";
const STATELESS: &str = "2026-07-28";

/// A gateway in front of one mock of `era`, its backend's `era` set to
/// `backend_era`. Probes off: they would open sessions of their own, and
/// the tests count the mock's `initialize`s.
async fn setup(era: MockEra, backend_era: &str) -> (common::Running, common::Running, Calls) {
    setup_with(MockOptions { era, ..Default::default() }, backend_era).await
}

async fn setup_with(opts: MockOptions, backend_era: &str) -> (common::Running, common::Running, Calls) {
    let calls = opts.calls.clone();
    let m = mock(opts).await;
    let text = format!(
        "[gateway]\nlisten = \"127.0.0.1:0\"\nsession_key = \"test-key\"\nshutdown_grace = \"2s\"\nadmin_token = \"{TOKEN}\"\n\n\
         [[backends]]\nname = \"tools\"\nera = \"{backend_era}\"\ninstances = [{{ url = \"{}\" }}]\ntimeout = \"5s\"\nhealth = {{ probe = \"none\" }}\n\n\
         [[routes]]\npath = \"/mcp\"\nbackend = \"tools\"\n",
        m.url("/mcp")
    );
    (gateway(parse(&text)).await, m, calls)
}

async fn instance_row(gw: &common::Running) -> Value {
    let resp = http().get(gw.url("/admin/backends")).bearer_auth(TOKEN).send().await.unwrap();
    let table: Value = resp.json().await.unwrap();
    table["backends"][0]["instances"][0].clone()
}

fn text(result: &rmcp::model::CallToolResult) -> String {
    result.content[0].as_text().map(|t| t.text.clone()).unwrap_or_default()
}

#[tokio::test]
async fn a_stateless_rmcp_client_reaches_a_session_era_server() {
    let (gw, _m, calls) = setup(MockEra::Session, "auto").await;
    let mode = ClientLifecycleMode::Discover { preferred_versions: vec![ProtocolVersion::V_2026_07_28] };
    let client = connect((), &gw.url("/mcp"), mode).await;
    let tools = tokio::time::timeout(DEADLINE, client.list_all_tools()).await.unwrap().unwrap();
    assert_eq!(tools.len(), 6, "the session-era server's tools");
    for word in ["one", "two"] {
        let call = CallToolRequestParams::new("echo").with_arguments(args(json!({ "text": word })));
        let result = tokio::time::timeout(DEADLINE, client.call_tool(call)).await.unwrap().unwrap();
        assert_eq!(text(&result), word);
    }
    // Two `initialize`s: one to learn the era (its session ended at once),
    // and the upstream session the gateway opened and kept for the caller.
    assert_eq!(calls.get("initialize"), 2);
    assert_eq!(calls.get("tools/call"), 2);
    let row = instance_row(&gw).await;
    assert_eq!(row["eras"], json!(["session"]), "{row}");
    assert_eq!(row["versions"], json!(["2025-11-25"]));
    assert_eq!(row["bridgedSessions"], 1);
    let _ = client.cancel().await;
}

#[tokio::test]
async fn a_session_era_rmcp_client_reaches_a_stateless_server() {
    let (gw, _m, calls) = setup(MockEra::Stateless, "auto").await;
    let client = connect((), &gw.url("/mcp"), ClientLifecycleMode::Initialize).await;
    let info = client.peer_info().expect("the initialize result");
    assert_eq!(
        info.server_info.as_ref().map(|s| s.name.as_str()),
        Some("switchyard-mock"),
        "answered from the server's server/discover"
    );
    let tools = tokio::time::timeout(DEADLINE, client.list_all_tools()).await.unwrap().unwrap();
    assert_eq!(tools.len(), 6);
    let call = CallToolRequestParams::new("add").with_arguments(args(json!({ "a": 2, "b": 3 })));
    let result = tokio::time::timeout(DEADLINE, client.call_tool(call)).await.unwrap().unwrap();
    assert_eq!(text(&result), "5");
    assert_eq!(calls.get("initialize"), 0, "a stateless server never sees initialize");
    assert_eq!(calls.get("tools/call"), 1);
    assert_eq!(instance_row(&gw).await["eras"], json!(["stateless"]));
    let _ = client.cancel().await;
}

#[tokio::test]
async fn a_bridged_session_era_session_is_the_gateways() {
    let (gw, _m, calls) = setup(MockEra::Stateless, "stateless").await;
    let url = gw.url("/mcp");
    let resp = post(&url, &common::initialize_body("2025-06-18"), &[]).await;
    assert_eq!(resp.status(), 200);
    let sid = resp.headers()["mcp-session-id"].to_str().unwrap().to_string();
    let init: Value = resp.json().await.unwrap();
    assert_eq!(init["result"]["protocolVersion"], "2025-06-18", "the client's version");
    let session = [("mcp-session-id", sid.as_str()), ("mcp-protocol-version", "2025-06-18")];
    let (status, _) = call(&url, r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#, &session).await;
    assert_eq!(status, 202);
    let (status, ping) = call(&url, r#"{"jsonrpc":"2.0","id":"p","method":"ping"}"#, &session).await;
    assert_eq!((status, ping[0]["id"].clone(), ping[0]["result"].clone()), (200, json!("p"), json!({})));
    // An unknown method: the stateless server's 404 would read as "session
    // gone" to this client; it gets the error as a 200.
    let (status, unknown) = call(&url, r#"{"jsonrpc":"2.0","id":7,"method":"no/such"}"#, &session).await;
    assert_eq!((status, unknown[0]["error"]["code"].clone(), unknown[0]["id"].clone()), (200, json!(-32601), json!(7)));
    let tok = r#"{"jsonrpc":"2.0","id":"c","method":"tools/call","params":{"name":"progress","arguments":{"steps":2,"interval_ms":1},"_meta":{"progressToken":"mine"}}}"#;
    let (status, events) = call(&url, tok, &session).await;
    assert_eq!(status, 200);
    let progress: Vec<&Value> = events.iter().filter(|e| e["method"] == "notifications/progress").collect();
    assert_eq!(progress.len(), 2, "{events:?}");
    assert!(progress.iter().all(|p| p["params"]["progressToken"] == "mine"));
    assert_eq!(events.last().unwrap()["id"], "c");
    // The session's stream is the server's `subscriptions/listen`.
    let get =
        http().get(&url).header("accept", "text/event-stream").header("mcp-session-id", &sid).send().await.unwrap();
    assert_eq!(get.status(), 200);
    assert!(get.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    assert_eq!(calls.get("subscriptions/listen"), 1);
    drop(get);
    let (status, level) =
        call(&url, r#"{"jsonrpc":"2.0","id":"l","method":"logging/setLevel","params":{"level":"info"}}"#, &session)
            .await;
    assert_eq!((status, level[0]["result"].clone()), (200, json!({})), "acknowledged by the gateway");
    let delete = http().delete(&url).header("mcp-session-id", &sid).send().await.unwrap();
    assert_eq!(delete.status(), 200);
    // An ended session is over, as a server's would be.
    let (status, _) = call(&url, r#"{"jsonrpc":"2.0","id":"p","method":"ping"}"#, &session).await;
    assert_eq!(status, 404);
    assert_eq!(calls.get("ping"), 0);
    assert_eq!(calls.get("tools/call"), 1);
}

#[tokio::test]
async fn bridged_sessions_are_per_caller_and_survive_a_server_restart() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let opts = MockOptions { era: MockEra::Session, ..Default::default() };
    let calls = opts.calls.clone();
    let m = mock_on(listener, opts.clone()).await;
    let text = format!(
        "[gateway]\nlisten = \"127.0.0.1:0\"\nsession_key = \"test-key\"\nshutdown_grace = \"2s\"\n\n\
         [[backends]]\nname = \"tools\"\nera = \"session\"\ninstances = [{{ url = \"http://{addr}/mcp\" }}]\ntimeout = \"5s\"\nhealth = {{ probe = \"none\" }}\n\n\
         [[routes]]\npath = \"/mcp\"\nbackend = \"tools\"\n"
    );
    let gw = gateway(parse(&text)).await;
    let url = gw.url("/mcp");
    let echo = |id: u32, word: &str| {
        stateless_body(id, "tools/call", json!({ "name": "echo", "arguments": { "text": word } }))
    };
    let headers = |key: &'static str| {
        let mut h = stateless_headers("tools/call", Some("echo"));
        h.push(("x-api-key", key));
        h
    };
    for key in ["alice", "bob", "alice"] {
        let (status, reply) = call(&url, &echo(3, key), &headers(key)).await;
        assert_eq!(status, 200, "{reply:?}");
        assert_eq!(reply[0]["id"], 3, "the client's own id back");
        assert_eq!(reply[0]["result"]["content"][0]["text"], key);
        assert_eq!(reply[0]["result"]["resultType"], "complete");
    }
    assert_eq!(calls.get("initialize"), 2, "one upstream session per caller");

    // The server restarts and forgets every session: the next call opens a
    // new one and goes through.
    m.stop().await;
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let _m = mock_on(listener, opts).await;
    let (status, reply) = call(&url, &echo(4, "again"), &headers("alice")).await;
    assert_eq!(status, 200, "{reply:?}");
    assert_eq!(reply[0]["result"]["content"][0]["text"], "again");
    assert_eq!(calls.get("initialize"), 3);

    // `server/discover` is answered from the session's initialize result.
    let discover = stateless_body(5, "server/discover", json!({}));
    let (status, reply) = call(&url, &discover, &stateless_headers("server/discover", None)).await;
    assert_eq!(status, 200);
    assert_eq!(reply[0]["result"]["_meta"]["io.modelcontextprotocol/serverInfo"]["name"], "switchyard-mock");
    assert!(reply[0]["result"]["supportedVersions"].as_array().unwrap().contains(&json!(STATELESS)));
}

#[tokio::test]
async fn same_era_pairs_are_proxied_as_before() {
    let (gw, _m, calls) = setup(MockEra::Both, "auto").await;
    let url = gw.url("/mcp");
    let sid = common::initialize(&url, "2025-11-25").await;
    let list = r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#;
    let (status, _) = call(&url, list, &[("mcp-session-id", &sid), ("mcp-protocol-version", "2025-11-25")]).await;
    assert_eq!(status, 200);
    let (status, _) =
        call(&url, &stateless_body(3, "tools/list", json!({})), &stateless_headers("tools/list", None)).await;
    assert_eq!(status, 200);
    // Nothing learned, nothing bridged: no probe of the gateway's own.
    assert_eq!(calls.get("server/discover"), 0);
    assert_eq!(calls.get("initialize"), 1, "the client's own");
    assert_eq!(instance_row(&gw).await["eras"], Value::Null);
}

#[tokio::test]
async fn a_stateless_only_instance_is_probed_as_it_speaks() {
    // The default probe is a session-era `ping`, which this server refuses
    // with the session it needs: the prober learns the era and probes with
    // `server/discover` instead of marking the instance down.
    let m = mock(MockOptions { era: MockEra::Stateless, ..Default::default() }).await;
    let text = format!(
        "[gateway]\nlisten = \"127.0.0.1:0\"\nsession_key = \"test-key\"\nshutdown_grace = \"2s\"\nadmin_token = \"{TOKEN}\"\n\n\
         [[backends]]\nname = \"tools\"\ninstances = [{{ url = \"{}\" }}]\nhealth = {{ probe = \"ping\", interval = \"100ms\", timeout = \"50ms\" }}\n\n\
         [[routes]]\npath = \"/mcp\"\nbackend = \"tools\"\n",
        m.url("/mcp")
    );
    let gw = gateway(parse(&text)).await;
    common::wait_health(&gw, |h| h["backends"][0]["instances"][0]["status"] == "up").await;
    let row = instance_row(&gw).await;
    assert_eq!(row["eras"], json!(["stateless"]), "{row}");
    assert_eq!(row["health"], "up", "{row}");
}

#[tokio::test]
async fn an_aggregated_route_joins_members_of_both_eras_for_clients_of_both() {
    let session_only = mock(MockOptions { era: MockEra::Session, ..Default::default() }).await;
    let stateless_only = mock(MockOptions { era: MockEra::Stateless, ..Default::default() }).await;
    let config = format!(
        "[gateway]\nlisten = \"127.0.0.1:0\"\nsession_key = \"test-key\"\nshutdown_grace = \"2s\"\n\n\
         [[backends]]\nname = \"old\"\ninstances = [{{ url = \"{}\" }}]\ntimeout = \"5s\"\nhealth = {{ probe = \"none\" }}\n\n\
         [[backends]]\nname = \"new\"\ninstances = [{{ url = \"{}\" }}]\ntimeout = \"5s\"\nhealth = {{ probe = \"none\" }}\n\n\
         [[routes]]\npath = \"/mcp\"\nmembers = [{{ backend = \"old\" }}, {{ backend = \"new\" }}]\nmember_timeout = \"3s\"\n",
        session_only.url("/mcp"),
        stateless_only.url("/mcp"),
    );
    let gw = gateway(parse(&config)).await;
    let discover = ClientLifecycleMode::Discover { preferred_versions: vec![ProtocolVersion::V_2026_07_28] };
    for mode in [ClientLifecycleMode::Initialize, discover] {
        let client = connect((), &gw.url("/mcp"), mode.clone()).await;
        let tools = tokio::time::timeout(DEADLINE, client.list_all_tools()).await.unwrap().unwrap();
        let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
        assert!(names.contains(&"old__echo") && names.contains(&"new__echo"), "{mode:?}: {names:?}");
        for tool in ["old__echo", "new__echo"] {
            let call = CallToolRequestParams::new(tool).with_arguments(args(json!({ "text": tool })));
            let result = tokio::time::timeout(DEADLINE, client.call_tool(call)).await.unwrap().unwrap();
            assert_eq!(text(&result), tool, "{mode:?}");
        }
        let _ = client.cancel().await;
    }
}

/// A 2026-07-28 `tools/call test_sampling` body declaring sampling; `extra`
/// adds params (a retry's `inputResponses` and `requestState`).
fn sample(id: u32, extra: Value) -> String {
    let mut body: Value = serde_json::from_str(&stateless_body(
        id,
        "tools/call",
        json!({ "name": "test_sampling", "arguments": { "prompt": "hi" } }),
    ))
    .unwrap();
    body["params"]["_meta"]["io.modelcontextprotocol/clientCapabilities"] = json!({ "sampling": {} });
    if let (Some(p), Some(e)) = (body["params"].as_object_mut(), extra.as_object()) {
        p.extend(e.clone());
    }
    body.to_string()
}

#[tokio::test]
async fn a_session_era_servers_question_becomes_an_input_round() {
    let (gw, _m, calls) =
        setup_with(MockOptions { era: MockEra::Session, conformance: true, ..Default::default() }, "session").await;
    let url = gw.url("/mcp");
    let headers = stateless_headers("tools/call", Some("test_sampling"));
    let (status, first) = call(&url, &sample(1, json!({})), &headers).await;
    let first = first.last().cloned().unwrap();
    assert_eq!((status, &first["id"]), (200, &json!(1)), "{first}");
    assert_eq!(first["result"]["resultType"], "input_required", "{first}");
    let requests = first["result"]["inputRequests"].as_object().unwrap();
    let (key, asked) = requests.iter().next().unwrap();
    assert_eq!(asked["method"], "sampling/createMessage");
    let state = first["result"]["requestState"].as_str().unwrap().to_string();

    // A malformed answer is refused as a 2026-07-28 server would.
    let (status, bad) = call(&url, &sample(2, json!({ "requestState": state, "inputResponses": 7 })), &headers).await;
    assert_eq!((status, bad[0]["error"]["code"].clone()), (400, json!(-32602)), "{bad:?}");

    let answer = json!({ "role": "assistant", "content": { "type": "text", "text": "from the client" }, "model": "m" });
    let retry = json!({ "requestState": state, "inputResponses": { key.clone(): answer } });
    let (status, done) = call(&url, &sample(3, retry), &headers).await;
    let done = done.last().cloned().unwrap();
    assert_eq!((status, &done["id"]), (200, &json!(3)), "{done}");
    assert_eq!(done["result"]["resultType"], "complete", "{done}");
    assert!(done["result"]["content"][0]["text"].as_str().unwrap().contains("from the client"), "{done}");
    assert_eq!(calls.get("tools/call"), 1, "one call upstream, across both rounds");

    // The state is used up.
    let (status, _) = call(&url, &sample(4, json!({ "requestState": state, "inputResponses": {} })), &headers).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn the_bridge_refuses_what_a_stateless_server_must() {
    let (gw, _m, _) = setup(MockEra::Session, "session").await;
    let url = gw.url("/mcp");
    let mut body: Value = serde_json::from_str(&stateless_body(1, "tools/list", json!({}))).unwrap();
    body["params"]["_meta"].as_object_mut().unwrap().remove("io.modelcontextprotocol/clientCapabilities");
    let (status, reply) = call(&url, &body.to_string(), &stateless_headers("tools/list", None)).await;
    assert_eq!((status, reply[0]["error"]["code"].clone()), (400, json!(-32602)), "{reply:?}");
    let later = stateless_body(2, "tools/list", json!({})).replace("2026-07-28", "2027-01-01");
    let headers = [("mcp-protocol-version", "2027-01-01"), ("mcp-method", "tools/list")];
    let (status, reply) = call(&url, &later, &headers).await;
    assert_eq!((status, reply[0]["error"]["code"].clone()), (400, json!(-32022)), "{reply:?}");
    assert_eq!(reply[0]["error"]["data"]["supported"], json!([STATELESS]));
    // What 2026-07-28 removed, and what the server does not know, is 404.
    for method in ["ping", "logging/setLevel", "no/such"] {
        let (status, reply) = call(&url, &stateless_body(3, method, json!({})), &stateless_headers(method, None)).await;
        assert_eq!((status, reply[0]["error"]["code"].clone()), (404, json!(-32601)), "{method}: {reply:?}");
    }
    // The session era's "resource not found" in 2026-07-28's words.
    let read = stateless_body(4, "resources/read", json!({ "uri": "mock://nowhere" }));
    let (status, reply) = call(&url, &read, &stateless_headers("resources/read", Some("mock://nowhere"))).await;
    assert_eq!(status, 200, "{reply:?}");
    assert_eq!(reply[0]["error"]["code"], -32602, "{reply:?}");
    assert_eq!(reply[0]["error"]["data"]["uri"], "mock://nowhere");
}

#[tokio::test]
async fn a_stateless_servers_input_request_reaches_a_session_era_client_on_its_stream() {
    use futures::StreamExt;
    let (gw, _m, calls) =
        setup_with(MockOptions { era: MockEra::Stateless, conformance: true, ..Default::default() }, "stateless").await;
    let url = gw.url("/mcp");
    let init = r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{"sampling":{}},"clientInfo":{"name":"t","version":"1"}}}"#;
    let resp = post(&url, init, &[]).await;
    let sid = resp.headers()["mcp-session-id"].to_str().unwrap().to_string();
    let session = [("mcp-session-id", sid.as_str()), ("mcp-protocol-version", "2025-11-25")];
    let tool = r#"{"jsonrpc":"2.0","id":"t1","method":"tools/call","params":{"name":"test_input_required_result_sampling","arguments":{}}}"#;
    let resp = post(&url, tool, &session).await;
    assert_eq!(resp.status(), 200);
    let mut events = resp.bytes_stream();
    let mut seen = String::new();
    let next_message = async |events: &mut (dyn futures::Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin),
                              seen: &mut String|
           -> Value {
        loop {
            if let Some(end) = seen.find("\n\n") {
                let event: String = seen.drain(..end + 2).collect();
                let data: String = event.lines().filter_map(|l| l.strip_prefix("data:")).map(str::trim_start).collect();
                if let Ok(v) = serde_json::from_str(&data) {
                    return v;
                }
                continue;
            }
            let chunk = tokio::time::timeout(DEADLINE, events.next()).await.unwrap().unwrap().unwrap();
            seen.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    };
    // The server's question, as a request of the server's own.
    let question = next_message(&mut events, &mut seen).await;
    assert_eq!(question["method"], "sampling/createMessage", "{question}");
    let asked = question["id"].as_str().unwrap().to_string();
    let answer = json!({ "jsonrpc": "2.0", "id": asked, "result": { "role": "assistant",
        "content": { "type": "text", "text": "Paris" }, "model": "m" } });
    let (status, _) = call(&url, &answer.to_string(), &session).await;
    assert_eq!(status, 202);
    // The request went again with the answer; the client gets the result.
    let done = next_message(&mut events, &mut seen).await;
    assert_eq!(done["id"], "t1", "{done}");
    assert_eq!(done["result"]["content"][0]["text"], "Sampling result: Paris", "{done}");
    assert_eq!(calls.get("tools/call"), 2, "the first round and its retry");
    // An answer to nothing waiting is taken and forgotten.
    let (status, _) = call(&url, &answer.to_string(), &session).await;
    assert_eq!(status, 202);
}

#[tokio::test]
async fn a_listen_is_served_from_a_session_of_its_own_and_says_what_it_honours() {
    use futures::StreamExt;
    let opts = MockOptions { era: MockEra::Session, conformance: true, ..Default::default() };
    let (gw, _m, calls) = setup_with(opts, "session").await;
    let listen = stateless_body(
        41,
        "subscriptions/listen",
        json!({ "notifications": { "toolsListChanged": true, "resourceSubscriptions": ["test://static-text"] } }),
    );
    let resp = post(&gw.url("/mcp"), &listen, &stateless_headers("subscriptions/listen", None)).await;
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    let mut events = resp.bytes_stream();
    let mut seen = String::new();
    while !seen.contains("\n\n") {
        let chunk = tokio::time::timeout(DEADLINE, events.next()).await.unwrap().unwrap().unwrap();
        seen.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    let data: String = seen.lines().filter_map(|l| l.strip_prefix("data:")).map(str::trim_start).collect();
    let ack: Value = serde_json::from_str(&data).unwrap();
    assert_eq!(ack["method"], "notifications/subscriptions/acknowledged", "{ack}");
    // The mock offers subscriptions but no tools/list_changed.
    assert_eq!(ack["params"]["notifications"], json!({ "resourceSubscriptions": ["test://static-text"] }));
    assert_eq!(ack["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"], 41);
    assert_eq!(calls.get("resources/subscribe"), 1, "subscribed in the listen's own session");
    assert_eq!(calls.get("initialize"), 1, "one session, the listen's own");
}
