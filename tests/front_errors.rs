//! Bad requests, through a real gateway in front of the mock: each gets the
//! exact HTTP status and JSON-RPC error code in the table.

mod common;

use common::*;
use switchyard::mock::MockOptions;

const PING: &str = r#"{"jsonrpc":"2.0","id":7,"method":"ping"}"#;

fn stateless_call(name: &str) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{{"name":"{name}","arguments":{{"text":"x"}},"_meta":{{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{{}}}}}}}}"#
    )
}

struct Case {
    what: &'static str,
    method: &'static str,
    headers: Vec<(&'static str, String)>,
    body: String,
    status: u16,
    code: Option<i64>,
}

fn case(what: &'static str, headers: &[(&'static str, &str)], body: &str, status: u16, code: Option<i64>) -> Case {
    let mut h = vec![("content-type", "application/json".to_string()), ("accept", ACCEPT_BOTH.to_string())];
    for (k, v) in headers {
        h.retain(|(name, _)| name != k);
        if !v.is_empty() {
            h.push((k, v.to_string()));
        }
    }
    Case { what, method: "POST", headers: h, body: body.to_string(), status, code }
}

#[tokio::test]
async fn bad_inputs_get_exact_status_and_code() {
    let backend = mock(MockOptions::default()).await;
    let cfg = config_for(&[("/mcp", &backend.url("/mcp")), ("/other", &backend.url("/mcp"))], "max_body_bytes = 2048");
    let gw = gateway(parse(&cfg)).await;
    let url = gw.url("/mcp");
    let other_route_token = initialize(&gw.url("/other"), "2025-06-18").await;
    let token_0326 = initialize(&url, "2025-03-26").await;
    let token_0618 = initialize(&url, "2025-06-18").await;

    let mut cases = vec![
        case("wildcard Accept", &[("accept", "*/*")], PING, 406, Some(-32600)),
        case("Accept json only", &[("accept", "application/json")], PING, 406, Some(-32600)),
        case("Accept sse only", &[("accept", "text/event-stream")], PING, 406, Some(-32600)),
        case("wrong Content-Type", &[("content-type", "text/plain")], PING, 415, Some(-32600)),
        case("no Content-Type", &[("content-type", "")], PING, 415, Some(-32600)),
        case("malformed JSON", &[], "{\"jsonrpc\":", 400, Some(-32700)),
        case("not JSON", &[], "hello", 400, Some(-32700)),
        case("wrong jsonrpc", &[], r#"{"jsonrpc":"1.0","id":1,"method":"ping"}"#, 400, Some(-32600)),
        case("null id", &[], r#"{"jsonrpc":"2.0","id":null,"method":"ping"}"#, 400, Some(-32600)),
        case("scalar body", &[], "42", 400, Some(-32600)),
        case("empty batch", &[], "[]", 400, Some(-32600)),
        case("params not object", &[], r#"{"jsonrpc":"2.0","id":1,"method":"ping","params":1}"#, 400, Some(-32600)),
        case(
            "batch in a 2025-06-18 session",
            &[("mcp-session-id", &token_0618), ("mcp-protocol-version", "2025-06-18")],
            &format!("[{PING}]"),
            400,
            Some(-32600),
        ),
        case(
            "batch with 2025-06-18 header",
            &[("mcp-protocol-version", "2025-06-18")],
            &format!("[{PING}]"),
            400,
            Some(-32600),
        ),
        case(
            "batch with initialize",
            &[("mcp-session-id", &token_0326)],
            &format!("[{}]", initialize_body("2025-03-26")),
            400,
            Some(-32600),
        ),
        case("stateless without headers", &[], &stateless_call("echo"), 400, Some(-32020)),
        case(
            "stateless without Mcp-Method",
            &[("mcp-protocol-version", "2026-07-28"), ("mcp-name", "echo")],
            &stateless_call("echo"),
            400,
            Some(-32020),
        ),
        case(
            "stateless Mcp-Name mismatch",
            &[("mcp-protocol-version", "2026-07-28"), ("mcp-method", "tools/call"), ("mcp-name", "add")],
            &stateless_call("echo"),
            400,
            Some(-32020),
        ),
        case(
            "stateless Mcp-Method mismatch",
            &[("mcp-protocol-version", "2026-07-28"), ("mcp-method", "tools/list"), ("mcp-name", "echo")],
            &stateless_call("echo"),
            400,
            Some(-32020),
        ),
        case(
            "stateless version mismatch",
            &[("mcp-protocol-version", "2025-11-25"), ("mcp-method", "tools/call"), ("mcp-name", "echo")],
            &stateless_call("echo"),
            400,
            Some(-32020),
        ),
        // 2026-07-28 makes `_meta`'s protocol version required: a request
        // without it is malformed (-32602), not a header mismatch.
        case(
            "stateless header without _meta",
            &[("mcp-protocol-version", "2026-07-28"), ("mcp-method", "ping")],
            PING,
            400,
            Some(-32602),
        ),
        case(
            "stateless _meta without its protocol version",
            &[("mcp-protocol-version", "2026-07-28"), ("mcp-method", "tools/list")],
            r#"{"jsonrpc":"2.0","id":3,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/clientCapabilities":{}}}}"#,
            400,
            Some(-32602),
        ),
        case("foreign Origin", &[("origin", "http://evil.example")], PING, 403, Some(-32000)),
        case("rebinding Host", &[("host", "evil.example")], PING, 403, Some(-32000)),
        case(
            "oversized body",
            &[],
            &format!(r#"{{"jsonrpc":"2.0","id":1,"method":"ping","params":{{"pad":"{}"}}}}"#, "x".repeat(4096)),
            413,
            Some(-32600),
        ),
        case("tampered session", &[("mcp-session-id", &format!("{token_0618}x"))], PING, 404, Some(-32001)),
        case("garbage session", &[("mcp-session-id", "not-a-token")], PING, 404, Some(-32001)),
        case("other route's session", &[("mcp-session-id", &other_route_token)], PING, 404, Some(-32001)),
    ];
    let mut put = case("PUT", &[], PING, 405, Some(-32600));
    put.method = "PUT";
    cases.push(put);
    let mut get_stateless = case(
        "GET in the stateless era",
        &[("mcp-protocol-version", "2026-07-28"), ("accept", "text/event-stream")],
        "",
        405,
        Some(-32600),
    );
    get_stateless.method = "GET";
    cases.push(get_stateless);
    let mut get_no_sse = case(
        "GET without text/event-stream",
        &[("accept", "application/json"), ("mcp-session-id", &token_0618)],
        "",
        406,
        Some(-32600),
    );
    get_no_sse.method = "GET";
    cases.push(get_no_sse);
    let mut delete_bad = case("DELETE with a foreign token", &[("mcp-session-id", "zzz")], "", 404, Some(-32001));
    delete_bad.method = "DELETE";
    cases.push(delete_bad);

    let client = http();
    let mut failures = Vec::new();
    for c in &cases {
        let mut req = client.request(c.method.parse().unwrap(), &url).body(c.body.clone());
        for (k, v) in &c.headers {
            req = req.header(*k, v);
        }
        let resp = tokio::time::timeout(DEADLINE, req.send()).await.unwrap().unwrap();
        let status = resp.status().as_u16();
        let body: serde_json::Value = resp.json().await.unwrap_or(serde_json::Value::Null);
        let code = body["error"]["code"].as_i64();
        if status != c.status || code != c.code {
            failures.push(format!("{}: got {status} {code:?}, want {} {:?} ({body})", c.what, c.status, c.code));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn error_bodies_echo_the_request_id() {
    let backend = mock(MockOptions::default()).await;
    let gw = gateway(parse(&config_for(&[("/mcp", &backend.url("/mcp"))], ""))).await;
    let (status, msgs) = call(&gw.url("/mcp"), PING, &[("mcp-session-id", "bogus")]).await;
    assert_eq!(status, 404);
    assert_eq!(msgs[0]["id"], 7);
    let (status, msgs) = call(&gw.url("/mcp"), &stateless_call("echo"), &[]).await;
    assert_eq!(status, 400);
    assert_eq!(msgs[0]["id"], 9);
}

#[tokio::test]
async fn unknown_path_is_404_and_batch_in_0326_session_is_forwarded() {
    let backend = mock(MockOptions::default()).await;
    let gw = gateway(parse(&config_for(&[("/mcp", &backend.url("/mcp"))], ""))).await;
    let (status, msgs) = call(&gw.url("/nope"), PING, &[]).await;
    assert_eq!((status, msgs[0]["error"]["code"].as_i64()), (404, Some(-32601)));

    let token = initialize(&gw.url("/mcp"), "2025-03-26").await;
    let batch = r#"[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"text":"b"}}}]"#;
    let (status, msgs) = call(&gw.url("/mcp"), batch, &[("mcp-session-id", &token)]).await;
    assert_eq!(status, 200, "{msgs:?}");
    let all: Vec<serde_json::Value> =
        msgs.into_iter().flat_map(|m| if let serde_json::Value::Array(a) = m { a } else { vec![m] }).collect();
    assert!(all.iter().any(|m| m["result"]["content"][0]["text"] == "b"), "{all:?}");
}

#[tokio::test]
async fn valid_stateless_request_passes_with_base64_name() {
    let backend = mock(MockOptions::default()).await;
    let gw = gateway(parse(&config_for(&[("/mcp", &backend.url("/mcp"))], ""))).await;
    // "echo" base64-encoded, as a client would send a non-ASCII name.
    let (status, msgs) = call(
        &gw.url("/mcp"),
        &stateless_call("echo"),
        &[("mcp-protocol-version", "2026-07-28"), ("mcp-method", "tools/call"), ("mcp-name", "=?base64?ZWNobw==?=")],
    )
    .await;
    assert_eq!(status, 200, "{msgs:?}");
    assert_eq!(msgs.last().unwrap()["result"]["content"][0]["text"], "x");
}

/// A stateless request with its mirrored headers set as the spec says.
fn stateless_request(method: &str, params: &str) -> String {
    let meta = r#""_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}"#;
    let sep = if params.is_empty() { "" } else { "," };
    format!(r#"{{"jsonrpc":"2.0","id":11,"method":"{method}","params":{{{params}{sep}{meta}}}}}"#)
}

/// What the gateway does not refuse, the upstream answers: the client gets
/// the same status and JSON-RPC code through the gateway as directly.
#[tokio::test]
async fn what_the_spec_does_not_refuse_gets_the_upstreams_answer() {
    let backend = mock(MockOptions::default()).await;
    let gw = gateway(parse(&config_for(&[("/mcp", &backend.url("/mcp"))], ""))).await;
    let cases: [(&str, &str, &str, u16, i64); 6] = [
        // Removed in 2026-07-28: no `Mcp-Name` rule applies, with or without a uri.
        ("subscribe without a uri", "resources/subscribe", "", 404, -32601),
        ("unsubscribe with a uri", "resources/unsubscribe", r#""uri":"mock://readme""#, 404, -32601),
        ("an unknown method", "vendor/frobnicate", r#""name":"x""#, 404, -32601),
        // The upstream judges a missing or mistyped tool name.
        ("tools/call without a name", "tools/call", r#""arguments":{}"#, 200, -32602),
        ("tools/call with a number for a name", "tools/call", r#""name":5"#, 400, -32602),
        ("prompts/get without a name", "prompts/get", "", 200, -32602),
    ];
    let mut failures = Vec::new();
    for (what, method, params, status, code) in cases {
        let body = stateless_request(method, params);
        let headers = [("mcp-protocol-version", "2026-07-28"), ("mcp-method", method)];
        let (direct_status, direct) = call(&backend.url("/mcp"), &body, &headers).await;
        let (via_status, via) = call(&gw.url("/mcp"), &body, &headers).await;
        let code_of = |msgs: &[serde_json::Value]| msgs.last().and_then(|m| m["error"]["code"].as_i64());
        let got = (via_status, code_of(&via));
        if got != (direct_status, code_of(&direct)) || got != (status, Some(code)) {
            failures.push(format!(
                "{what}: through the gateway {got:?} ({via:?}), directly {direct_status} {:?}, want {status} {code}",
                code_of(&direct)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
