//! Stateless era (2026-07-28) over HTTP: mirrored headers, discovery.

use super::*;

#[tokio::test]
async fn discover_and_call_without_a_session() {
    let mock = Mock::start(MockOptions::default()).await;
    let response = mock.post_modern(&modern(1, "server/discover", json!({}))).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(!response.headers().contains_key("mcp-session-id"));
    let discover = messages(response).await.remove(0);
    let result = &discover["result"];
    assert_eq!(result["resultType"], "complete");
    assert_eq!(result["supportedVersions"], json!(["2025-03-26", "2025-06-18", "2025-11-25", V]));
    assert_eq!(result["ttlMs"], 0);
    assert_eq!(result["cacheScope"], "private");
    assert_eq!(result["_meta"]["io.modelcontextprotocol/serverInfo"]["name"], "switchyard-mock");
    assert!(result["capabilities"]["tools"].is_object());

    let echo = modern(2, "tools/call", tool("echo", json!({ "text": "hé" })));
    let response = mock.post_modern(&echo).header("mcp-name", "echo").send().await.unwrap();
    assert_eq!(response.status(), 200);
    let reply = messages(response).await.remove(0);
    assert_eq!(text(&reply), "hé");
    assert_eq!(reply["result"]["resultType"], "complete");

    // A session id is ignored, not checked.
    let list = mock.post_modern(&modern(3, "tools/list", json!({}))).header("mcp-session-id", "stale");
    let list = messages(list.send().await.unwrap()).await.remove(0);
    assert_eq!(list["result"]["resultType"], "complete");
    assert_eq!(list["result"]["tools"].as_array().unwrap().len(), 6);
    mock.stop().await;
}

#[tokio::test]
async fn mirrored_headers_must_match() {
    let mock = Mock::start(MockOptions::default()).await;
    let echo = modern(1, "tools/call", tool("echo", json!({ "text": "x" })));
    let send = |r: reqwest::RequestBuilder| async move {
        let response = r.send().await.unwrap();
        let status = response.status().as_u16();
        (status, messages(response).await.remove(0))
    };

    // Wrong name, missing name, wrong method, missing or wrong version.
    let cases = [
        mock.post_modern(&echo).header("mcp-name", "add"),
        mock.post_modern(&echo),
        mock.post(&echo)
            .header("mcp-protocol-version", V)
            .header("mcp-method", "tools/list")
            .header("mcp-name", "echo"),
        mock.post(&echo).header("mcp-method", "tools/call").header("mcp-name", "echo"),
        mock.post(&echo)
            .header("mcp-protocol-version", "2025-11-25")
            .header("mcp-method", "tools/call")
            .header("mcp-name", "echo"),
        mock.post_modern(&echo).header("mcp-name", "echo").header("mcp-name", "echo"),
    ];
    for (i, case) in cases.into_iter().enumerate() {
        let (status, reply) = send(case).await;
        assert_eq!(status, 400, "case {i}");
        assert_eq!(reply["error"]["code"], -32020, "case {i}: {reply}");
        assert_eq!(reply["id"], 1);
    }

    // The header claims 2026-07-28 but the body has no `_meta` version: a
    // malformed request, invalid params.
    let plain = request(1, "tools/list", json!({}));
    let (status, reply) = send(mock.post_modern(&plain)).await;
    assert_eq!((status, reply["error"]["code"].as_i64()), (400, Some(-32602)));
    mock.stop().await;
}

#[tokio::test]
async fn base64_mirrored_values_are_decoded() {
    let mock = Mock::start(MockOptions::default()).await;
    let read = modern(1, "resources/read", json!({ "uri": "mock://readme" }));
    // "mock://readme" in standard base64.
    let response = mock.post_modern(&read).header("mcp-name", "=?base64?bW9jazovL3JlYWRtZQ==?=").send().await.unwrap();
    assert_eq!(response.status(), 200);
    let reply = messages(response).await.remove(0);
    assert_eq!(reply["result"]["contents"][0]["uri"], "mock://readme");

    let greet = modern(2, "prompts/get", json!({ "name": "greet", "arguments": { "name": "Zoë" } }));
    let wrong = mock.post_modern(&greet).header("mcp-name", "=?base64?Z3JlZXQy?=");
    assert_eq!(wrong.send().await.unwrap().status(), 400);
    let right = mock.post_modern(&greet).header("mcp-name", "=?base64?Z3JlZXQ=?=");
    let reply = messages(right.send().await.unwrap()).await.remove(0);
    assert_eq!(reply["result"]["messages"][0]["content"]["text"], "Hello, Zoë!");
    mock.stop().await;
}

#[tokio::test]
async fn era_specific_refusals() {
    let mock = Mock::start(MockOptions::default()).await;

    let mut future = modern(1, "tools/list", json!({}));
    future["params"]["_meta"]["io.modelcontextprotocol/protocolVersion"] = json!("2099-01-01");
    let response = mock
        .post(&future)
        .header("mcp-protocol-version", "2099-01-01")
        .header("mcp-method", "tools/list")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let reply = messages(response).await.remove(0);
    assert_eq!(reply["error"]["code"], -32022);
    assert_eq!(reply["error"]["data"]["supported"], json!([V]));
    assert_eq!(reply["error"]["data"]["requested"], "2099-01-01", "the error echoes the version asked for");

    let unknown = mock.post_modern(&modern(2, "no/such", json!({}))).send().await.unwrap();
    assert_eq!(unknown.status(), 404);
    assert_eq!(messages(unknown).await[0]["error"]["code"], -32601);

    let get = mock.client.get(&mock.url).header(ACCEPT, "text/event-stream");
    assert_eq!(get.header("mcp-protocol-version", V).send().await.unwrap().status(), 405);
    let delete = mock.client.delete(&mock.url).header("mcp-protocol-version", V);
    assert_eq!(delete.send().await.unwrap().status(), 405);

    // A legacy-style probe (no `_meta`) is refused as a legacy server would.
    let probe = mock.post(&request(3, "server/discover", json!({}))).send().await.unwrap();
    assert_eq!(probe.status(), 400);
    assert_eq!(messages(probe).await[0]["error"]["code"], -32601);

    let note = json!({ "jsonrpc": "2.0", "method": "notifications/cancelled", "params": { "requestId": 1 } });
    let accepted = mock.post(&note).header("mcp-protocol-version", V).send().await.unwrap();
    assert_eq!(accepted.status(), 202);
    mock.stop().await;
}

#[tokio::test]
async fn stateless_progress_streams_too() {
    let mock = Mock::start(MockOptions::default()).await;
    let mut call = modern(7, "tools/call", tool("progress", json!({ "steps": 2, "interval_ms": 1 })));
    call["params"]["_meta"]["progressToken"] = json!(42);
    let response = mock.post_modern(&call).header("mcp-name", "progress").send().await.unwrap();
    let events = messages(response).await;
    assert_eq!(events.len(), 3);
    assert_eq!(events[1]["params"]["progress"], 2);
    assert_eq!(events[2]["result"]["resultType"], "complete");
    mock.stop().await;
}

#[tokio::test]
async fn what_2026_07_28_removed_or_requires() {
    let mock = Mock::start(MockOptions::default()).await;
    let send = |r: reqwest::RequestBuilder| async move {
        let response = r.send().await.unwrap();
        let status = response.status().as_u16();
        (status, messages(response).await.remove(0))
    };

    // `ping` is not in 2026-07-28: an unknown method there.
    let (status, reply) = send(mock.post_modern(&modern(1, "ping", json!({})))).await;
    assert_eq!((status, reply["error"]["code"].as_i64()), (404, Some(-32601)), "{reply}");

    // The client's capabilities are required on every request; its info is not.
    let mut bare = modern(2, "tools/list", json!({}));
    bare["params"]["_meta"].as_object_mut().unwrap().remove("io.modelcontextprotocol/clientCapabilities");
    let (status, reply) = send(mock.post_modern(&bare)).await;
    assert_eq!((status, reply["error"]["code"].as_i64()), (400, Some(-32602)), "{reply}");
    assert_eq!(reply["id"], 2);
    let mut anonymous = modern(3, "tools/list", json!({}));
    anonymous["params"]["_meta"].as_object_mut().unwrap().remove("io.modelcontextprotocol/clientInfo");
    let (status, reply) = send(mock.post_modern(&anonymous)).await;
    assert_eq!(status, 200, "{reply}");

    // "Not found" is invalid params now, and names the uri.
    let read = modern(4, "resources/read", json!({ "uri": "mock://nope" }));
    let (status, reply) = send(mock.post_modern(&read).header("mcp-name", "mock://nope")).await;
    assert_eq!((status, reply["error"]["code"].as_i64()), (200, Some(-32602)), "{reply}");
    assert_eq!(reply["error"]["data"]["uri"], "mock://nope");

    // Resource templates are listed (none without the fixture), cacheable.
    let (status, reply) = send(mock.post_modern(&modern(5, "resources/templates/list", json!({})))).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["result"]["resourceTemplates"], json!([]));
    assert_eq!(reply["result"]["cacheScope"], "public");
    mock.stop().await;
}

#[tokio::test]
async fn a_session_only_mock_refuses_the_stateless_era() {
    let mock = Mock::start(MockOptions { era: crate::mock::MockEra::Session, ..Default::default() }).await;
    let response = mock.post_modern(&modern(1, "server/discover", json!({}))).send().await.unwrap();
    assert_eq!(response.status(), 400);
    let refusal: Value = response.json().await.unwrap();
    assert_eq!(refusal["error"]["code"], -32600);
    assert!(refusal["error"]["message"].as_str().unwrap().contains("2025-11-25"), "{refusal}");
    let list = mock.post_modern(&modern(2, "tools/list", json!({}))).send().await.unwrap();
    assert_eq!(list.status(), 400);
    // Its own era works as before.
    let session = mock.session("2025-11-25").await;
    let list = mock.post(&request(3, "tools/list", json!({}))).header("mcp-session-id", &session);
    let list = messages(list.header("mcp-protocol-version", "2025-11-25").send().await.unwrap()).await.remove(0);
    assert_eq!(list["result"]["tools"].as_array().unwrap().len(), 6);
    mock.stop().await;
}

#[tokio::test]
async fn a_stateless_only_mock_refuses_the_session_era() {
    let mock = Mock::start(MockOptions { era: crate::mock::MockEra::Stateless, ..Default::default() }).await;
    let init = request(
        0,
        "initialize",
        json!({ "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": { "name": "t", "version": "1" } }),
    );
    let response = mock.post(&init).send().await.unwrap();
    assert_eq!(response.status(), 400);
    assert!(!response.headers().contains_key("mcp-session-id"));
    let refusal: Value = response.json().await.unwrap();
    assert_eq!(refusal["error"]["code"], -32022);
    assert_eq!(refusal["error"]["data"]["supported"], json!([V]));
    let get = mock.client.get(&mock.url).header("accept", "text/event-stream").send().await.unwrap();
    assert_eq!(get.status(), 405);
    // Its own era works, and says it is the only one.
    let response = mock.post_modern(&modern(1, "server/discover", json!({}))).send().await.unwrap();
    let discover = messages(response).await.remove(0);
    assert_eq!(discover["result"]["supportedVersions"], json!([V]));
    let list = messages(mock.post_modern(&modern(2, "tools/list", json!({}))).send().await.unwrap()).await.remove(0);
    assert_eq!(list["result"]["tools"].as_array().unwrap().len(), 6);
    mock.stop().await;
}

#[tokio::test]
async fn a_listen_is_acknowledged_and_stays_open() {
    use futures::StreamExt;
    let mock = Mock::start(MockOptions::default()).await;
    let listen = modern(9, "subscriptions/listen", json!({ "notifications": { "toolsListChanged": true } }));
    let response = mock.post_modern(&listen).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let mut body = response.bytes_stream();
    let first = tokio::time::timeout(DEADLINE, body.next()).await.unwrap().unwrap().unwrap();
    let text = String::from_utf8(first.to_vec()).unwrap();
    let data = text.lines().find_map(|l| l.strip_prefix("data: ")).unwrap();
    let ack: Value = serde_json::from_str(data).unwrap();
    assert_eq!(ack["method"], "notifications/subscriptions/acknowledged");
    assert_eq!(ack["params"]["notifications"], json!({}), "the mock announces no changes");
    assert_eq!(ack["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"], 9);
    mock.stop().await;
}
