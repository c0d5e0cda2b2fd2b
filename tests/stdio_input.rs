//! Input rounds on the wire: a 2026-07-28 client of a session-era stdio
//! child (`examples/rmcp_stdio_server.rs --session-era`), spoken by hand.
//!
//! The child asks for sampling with a request of its own; the gateway ends
//! the client's round with an `input_required` result that carries it, keeps
//! the child's call pending, and resumes it when the client retries with
//! `inputResponses` and the `requestState` it was given. These tests show
//! the round on the wire: a retry that lacks the answer, one that brings it,
//! a client that never comes back, and one that did not declare sampling.
//! (tests/stdio_rmcp.rs drives the same rounds with rmcp's own client.)
//!
//! Real processes and sockets (`127.0.0.1:0`); every wait is bounded by
//! [`common::DEADLINE`].

mod common;

use common::{Running, call, example_bin, gateway, parse, stateless_headers, stdio_config, wait_health};
use serde_json::{Value, json};

const STATELESS: &str = "2026-07-28";

/// A gateway with the session-era example server as its stdio backend, on
/// `/mcp`, with the backend `timeout` given, once the child is up.
async fn gateway_with_timeout(timeout: &str) -> Running {
    let config = stdio_config(&example_bin("rmcp_stdio_server"), &["--session-era"], "")
        .replace("timeout = \"10s\"", &format!("timeout = \"{timeout}\""));
    let gw = gateway(parse(&config)).await;
    wait_health(&gw, |h| h["backends"][0]["processes"][0]["status"] == "up").await;
    gw
}

/// A stateless `tools/call sample` body; `extra` adds params (a retry's
/// `inputResponses` and `requestState`).
fn stateless_sample(id: u32, prompt: &str, extra: Value) -> String {
    let mut params = json!({ "name": "sample", "arguments": { "prompt": prompt }, "_meta": {
        "io.modelcontextprotocol/protocolVersion": STATELESS,
        "io.modelcontextprotocol/clientInfo": { "name": "raw", "version": "1" },
        "io.modelcontextprotocol/clientCapabilities": { "sampling": {} },
    } });
    if let (Some(p), Some(e)) = (params.as_object_mut(), extra.as_object()) {
        p.extend(e.clone());
    }
    json!({ "jsonrpc": "2.0", "id": id, "method": "tools/call", "params": params }).to_string()
}

/// POSTs a stateless `tools/call` and returns status and the last message.
async fn stateless_call(url: &str, body: &str) -> (u16, Value) {
    let (status, msgs) = call(url, body, &stateless_headers("tools/call", Some("sample"))).await;
    (status, msgs.last().cloned().unwrap_or_else(|| panic!("no message in the answer")))
}

/// The question key and `requestState` of an `input_required` answer.
fn round_of(answer: &Value) -> (String, String) {
    let result = &answer["result"];
    assert_eq!(result["resultType"], "input_required", "{answer}");
    let requests = result["inputRequests"].as_object().unwrap_or_else(|| panic!("no inputRequests: {answer}"));
    assert_eq!(requests.len(), 1, "{answer}");
    let (key, request) = requests.iter().next().unwrap();
    assert_eq!(request["method"], "sampling/createMessage", "{answer}");
    let state = result["requestState"].as_str().unwrap_or_else(|| panic!("no requestState: {answer}"));
    (key.clone(), state.to_string())
}

async fn awaiting_input(gw: &Running, n: u64) -> Value {
    wait_health(gw, |h| h["backends"][0]["awaitingInput"] == n && h["backends"][0]["processes"][0]["inFlight"] == n)
        .await
}

#[tokio::test]
async fn a_stateless_client_answers_the_child_through_input_rounds() {
    let gw = gateway_with_timeout("10s").await;
    let url = gw.url("/mcp");
    let (status, first) = stateless_call(&url, &stateless_sample(1, "by hand", json!({}))).await;
    assert_eq!((status, &first["id"]), (200, &json!(1)), "{first}");
    let (key, state) = round_of(&first);
    // The child's call is still pending, parked until the retry.
    awaiting_input(&gw, 1).await;

    // A question asked in a round is answered in a retry, never by a POSTed
    // response: the child does not get this one.
    let posted = json!({ "jsonrpc": "2.0", "id": key, "result": { "role": "assistant",
        "content": { "type": "text", "text": "posted" }, "model": "m" } });
    let (status, msgs) = call(&url, &posted.to_string(), &[("mcp-protocol-version", STATELESS)]).await;
    assert_eq!((status, msgs[0]["error"]["code"].as_i64()), (400, Some(-32600)), "{msgs:?}");
    assert!(msgs[0]["error"]["message"].as_str().unwrap_or_default().contains("inputResponses"), "{msgs:?}");

    // A retry without the answer is asked again, under a new state.
    let (_, again) = stateless_call(&url, &stateless_sample(2, "by hand", json!({ "requestState": state }))).await;
    assert_eq!(again["id"], 2);
    let (key2, state2) = round_of(&again);
    assert_eq!(key2, key);
    assert_ne!(state2, state);
    // The old state was used up.
    let (status, stale) = stateless_call(&url, &stateless_sample(3, "by hand", json!({ "requestState": state }))).await;
    assert_eq!(status, 400, "{stale}");

    let answer =
        json!({ "role": "assistant", "content": { "type": "text", "text": "answered by hand" }, "model": "m" });
    let retry = json!({ "requestState": state2, "inputResponses": { key2: answer } });
    let (status, done) = stateless_call(&url, &stateless_sample(4, "by hand", retry)).await;
    assert_eq!((status, &done["id"]), (200, &json!(4)), "{done}");
    assert_eq!(done["result"]["content"][0]["text"], "m: answered by hand", "{done}");
    assert_eq!(done["result"]["resultType"], "complete", "{done}");
    awaiting_input(&gw, 0).await;
}

/// A client that never retries: after the backend's `timeout` the child is
/// told to cancel the call, nothing stays parked, and the state is dead.
#[tokio::test]
async fn a_stateless_client_that_never_retries_leaves_nothing_behind() {
    let gw = gateway_with_timeout("400ms").await;
    let url = gw.url("/mcp");
    let (_, first) = stateless_call(&url, &stateless_sample(1, "abandoned", json!({}))).await;
    let (key, state) = round_of(&first);
    // Parked at once (the first test sees it); gone once the timeout passes.
    awaiting_input(&gw, 0).await;
    let answer = json!({ "role": "assistant", "content": { "type": "text", "text": "too late" }, "model": "m" });
    let retry = json!({ "requestState": state, "inputResponses": { key: answer } });
    let (status, late) = stateless_call(&url, &stateless_sample(2, "abandoned", retry)).await;
    assert_eq!(status, 400, "{late}");
    assert!(late["error"]["message"].as_str().unwrap_or_default().contains("expired"), "{late}");
    // An abandoned round is the client's doing: the child is not counted hung.
    let h = wait_health(&gw, |_| true).await;
    assert_eq!(h["backends"][0]["processes"][0]["restarts"], 0, "{h}");
    let add = json!({ "jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": { "name": "add", "arguments": { "a": 2, "b": 3 },
        "_meta": { "io.modelcontextprotocol/protocolVersion": STATELESS } } });
    let (status, sum) = call(&url, &add.to_string(), &stateless_headers("tools/call", Some("add"))).await;
    assert_eq!((status, sum[0]["result"]["content"][0]["text"].as_str()), (200, Some("5")), "{sum:?}");
}

/// A 2026-07-28 client that did not declare sampling is not asked: the
/// child's request is refused and the call fails at once.
#[tokio::test]
async fn a_stateless_client_without_sampling_gets_no_input_round() {
    let gw = gateway_with_timeout("10s").await;
    let url = gw.url("/mcp");
    let body = stateless_sample(1, "not mine", json!({})).replace(r#""sampling":{}"#, "");
    let (status, answer) = stateless_call(&url, &body).await;
    assert_eq!(status, 200);
    assert_ne!(answer["result"]["resultType"], "input_required", "{answer}");
    let text = answer.to_string();
    assert!(text.contains("declared the `sampling` capability"), "{answer}");
    awaiting_input(&gw, 0).await;
}

/// 2026-07-28 clients carry no session, so nothing tells them apart: one
/// client's `notifications/cancelled` for id 1 must not cancel another's
/// request that happens to use id 1 too. It cancels nothing.
#[tokio::test]
async fn a_stateless_cancellation_cancels_no_one_elses_request() {
    let gw = gateway_with_timeout("10s").await;
    let url = gw.url("/mcp");
    let slow = json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
        "name": "progress", "arguments": { "steps": 2, "interval_ms": 300 },
        "_meta": { "io.modelcontextprotocol/protocolVersion": STATELESS } } });
    let held = {
        let url = url.clone();
        tokio::spawn(
            async move { call(&url, &slow.to_string(), &stateless_headers("tools/call", Some("progress"))).await },
        )
    };
    wait_health(&gw, |h| h["backends"][0]["processes"][0]["inFlight"] == 1).await;
    let cancel = json!({ "jsonrpc": "2.0", "method": "notifications/cancelled", "params": {
        "requestId": 1, "reason": "my own id 1",
        "_meta": { "io.modelcontextprotocol/protocolVersion": STATELESS } } });
    let (status, msgs) = call(&url, &cancel.to_string(), &stateless_headers("notifications/cancelled", None)).await;
    assert_eq!(status, 202, "{msgs:?}");
    let (status, msgs) = tokio::time::timeout(common::DEADLINE, held).await.expect("the held call hung").unwrap();
    assert_eq!(status, 200);
    let last = msgs.last().unwrap_or_else(|| panic!("no answer"));
    assert_eq!(last["result"]["content"][0]["text"], "completed 2 steps", "{msgs:?}");
}
