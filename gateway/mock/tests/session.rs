//! Session era over HTTP: sessions, request checks, tools, SSE.

use super::*;

#[tokio::test]
async fn initialize_issues_a_session_and_negotiates() {
    let mock = Mock::start(MockOptions::default()).await;
    let response =
        mock.post(&request(1, "initialize", json!({ "protocolVersion": "2025-06-18" }))).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(content_type(&response).starts_with("text/event-stream"));
    let id = response.headers()["mcp-session-id"].to_str().unwrap().to_owned();
    assert!(id.len() >= 16 && id.bytes().all(|b| (0x21..=0x7e).contains(&b)));
    let init = messages(response).await.remove(0);
    assert_eq!(init["id"], 1);
    assert_eq!(init["result"]["protocolVersion"], "2025-06-18");
    assert_eq!(init["result"]["serverInfo"]["name"], "switchyard-mock");
    assert_eq!(init["result"]["capabilities"]["tools"]["listChanged"], false);

    // An unknown version gets the newest; every session id is fresh.
    let other = mock.session("1999-01-01").await;
    assert_ne!(other, id);
    let init = mock.post(&request(2, "initialize", json!({ "protocolVersion": "1999-01-01" })));
    let init = messages(init.send().await.unwrap()).await.remove(0);
    assert_eq!(init["result"]["protocolVersion"], "2025-11-25");
    mock.stop().await;
}

#[tokio::test]
async fn sessions_are_required_known_and_deletable() {
    let mock = Mock::start(MockOptions::default()).await;
    let ping = request(5, "ping", json!({}));

    let missing = mock.post(&ping).send().await.unwrap();
    assert_eq!(missing.status(), 400);
    assert_eq!(messages(missing).await[0]["error"]["code"], -32600);

    let unknown = mock.post(&ping).header("mcp-session-id", "nope").send().await.unwrap();
    assert_eq!(unknown.status(), 404);
    assert!(messages(unknown).await[0]["error"].is_object());

    let session = mock.session("2025-11-25").await;
    let pong = mock.call(&session, "ping", json!({})).await;
    assert_eq!(pong["result"], json!({}));

    let note = json!({ "jsonrpc": "2.0", "method": "notifications/initialized" });
    let accepted = mock.post(&note).header("mcp-session-id", &session).send().await.unwrap();
    assert_eq!(accepted.status(), 202);
    assert!(accepted.text().await.unwrap().is_empty());

    let delete = mock.client.delete(&mock.url).header("mcp-session-id", &session);
    assert_eq!(delete.send().await.unwrap().status(), 200);
    let gone = mock.post(&ping).header("mcp-session-id", &session).send().await.unwrap();
    assert_eq!(gone.status(), 404);
    let delete = mock.client.delete(&mock.url).header("mcp-session-id", &session);
    assert_eq!(delete.send().await.unwrap().status(), 404);
    mock.stop().await;
}

#[tokio::test]
async fn strict_request_checks() {
    let mock = Mock::start(MockOptions::default()).await;
    let session = mock.session("2025-06-18").await;
    let ping = request(1, "ping", json!({})).to_string();
    let send = |accept: &'static str, content_type: &'static str, body: String| {
        mock.client
            .post(&mock.url)
            .header(ACCEPT, accept)
            .header(CONTENT_TYPE, content_type)
            .header("mcp-session-id", &session)
            .body(body)
            .send()
    };

    let only_json = send("application/json", "application/json", ping.clone());
    assert_eq!(only_json.await.unwrap().status(), 406);
    let wildcard = send("*/*", "application/json", ping.clone());
    assert_eq!(wildcard.await.unwrap().status(), 200);
    let text = send("application/json, text/event-stream", "text/plain", ping.clone());
    assert_eq!(text.await.unwrap().status(), 415);

    let both = "application/json, text/event-stream";
    for (body, code) in [
        ("{\"jsonrpc\":", -32700),
        ("42", -32600),
        ("{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"ping\"}", -32600),
        ("{\"jsonrpc\":\"2.0\",\"id\":null,\"method\":\"ping\"}", -32600),
    ] {
        let response = send(both, "application/json", body.into()).await.unwrap();
        assert_eq!(response.status(), 400, "{body}");
        assert_eq!(messages(response).await[0]["error"]["code"], code, "{body}");
    }

    let unknown = mock.call(&session, "no/such", json!({})).await;
    assert_eq!(unknown["error"]["code"], -32601);
    let bad_version = mock
        .post(&request(1, "ping", json!({})))
        .header("mcp-session-id", &session)
        .header("mcp-protocol-version", "1999-01-01");
    assert_eq!(bad_version.send().await.unwrap().status(), 400);
    assert_eq!(mock.client.put(&mock.url).send().await.unwrap().status(), 405);
    let elsewhere = mock.client.get(mock.url.replace("/mcp", "/other"));
    assert_eq!(elsewhere.send().await.unwrap().status(), 404);
    mock.stop().await;
}

#[tokio::test]
async fn every_tool_resource_and_prompt() {
    let mock = Mock::start(MockOptions::default()).await;
    let s = mock.session("2025-11-25").await;

    let list = mock.call(&s, "tools/list", json!({})).await;
    let tools = list["result"]["tools"].as_array().unwrap();
    let names: Vec<_> = tools.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["echo", "add", "sleep", "fail", "big", "progress"]);
    assert!(tools.iter().all(|t| t["inputSchema"]["type"] == "object"));
    assert!(list["result"].get("resultType").is_none());

    let call = |name: &str, args: Value| mock.call(&s, "tools/call", tool(name, args));
    assert_eq!(text(&call("echo", json!({ "text": "hi \"there\"" })).await), "hi \"there\"");
    assert_eq!(text(&call("add", json!({ "a": 2, "b": 40 })).await), "42");
    assert_eq!(text(&call("add", json!({ "a": 1.5, "b": 1 })).await), "2.5");
    assert_eq!(text(&call("sleep", json!({ "ms": 5 })).await), "slept 5 ms");
    assert_eq!(text(&call("big", json!({ "n": 100_000 })).await).len(), 100_000);
    assert_eq!(text(&call("big", json!({ "n": 0 })).await), "");
    let fail = call("fail", json!({ "code": -32042, "message": "boom" })).await;
    assert_eq!(fail["error"], json!({ "code": -32042, "message": "boom" }));
    assert_eq!(call("echo", json!({})).await["error"]["code"], -32602);
    assert_eq!(call("nope", json!({})).await["error"]["code"], -32602);
    // Without a progress token, progress sends no notifications.
    let done = call("progress", json!({ "steps": 2, "interval_ms": 1 })).await;
    assert_eq!(text(&done), "completed 2 steps");

    let resources = mock.call(&s, "resources/list", json!({})).await;
    assert_eq!(resources["result"]["resources"][0]["uri"], "mock://readme");
    let readme = mock.call(&s, "resources/read", json!({ "uri": "mock://readme" })).await;
    assert!(readme["result"]["contents"][0]["text"].as_str().unwrap().contains("mock"));
    let missing = mock.call(&s, "resources/read", json!({ "uri": "mock://nope" })).await;
    assert_eq!(missing["error"]["code"], -32002);

    let prompts = mock.call(&s, "prompts/list", json!({})).await;
    assert_eq!(prompts["result"]["prompts"][0]["name"], "greet");
    let greet = json!({ "name": "greet", "arguments": { "name": "Ada" } });
    let greet = mock.call(&s, "prompts/get", greet).await;
    assert_eq!(greet["result"]["messages"][0]["content"]["text"], "Hello, Ada!");
    mock.stop().await;
}

#[tokio::test]
async fn progress_arrives_as_separate_events_before_the_result() {
    let mock = Mock::start(MockOptions::default()).await;
    let s = mock.session("2025-11-25").await;
    let mut params = tool("progress", json!({ "steps": 3, "interval_ms": 150 }));
    params["_meta"] = json!({ "progressToken": "tok" });
    let mut response = mock.post(&request(9, "tools/call", params)).header("mcp-session-id", &s).send().await.unwrap();
    assert!(content_type(&response).starts_with("text/event-stream"));

    // Read chunk by chunk: each progress event must be complete, and alone,
    // before the next interval has passed.
    let mut seen = String::new();
    for step in 1..=3 {
        while sse_data(&seen).len() < step {
            let chunk = tokio::time::timeout(DEADLINE, response.chunk()).await.unwrap().unwrap();
            seen.push_str(std::str::from_utf8(&chunk.expect("stream still open")).unwrap());
        }
        let events = sse_data(&seen);
        assert_eq!(events.len(), step, "one event per step: {seen}");
        let last = &events[step - 1];
        assert_eq!(last["method"], "notifications/progress");
        assert_eq!(last["params"], json!({ "progressToken": "tok", "progress": step, "total": 3 }));
    }
    let rest = tokio::time::timeout(DEADLINE, response.text()).await.unwrap().unwrap();
    seen.push_str(&rest);
    let events = sse_data(&seen);
    assert_eq!(events.len(), 4);
    assert_eq!(events[3]["id"], 9);
    assert_eq!(text(&events[3]), "completed 3 steps");
    // Every event carries an id, and no two are equal.
    let ids: std::collections::HashSet<_> = seen.lines().filter(|l| l.starts_with("id: ")).collect();
    assert_eq!(ids.len(), 4);
    mock.stop().await;
}

#[tokio::test]
async fn get_opens_a_primed_stream_that_shutdown_ends() {
    let mock = Mock::start(MockOptions::default()).await;
    let s = mock.session("2025-11-25").await;
    let get = || mock.client.get(&mock.url).header(ACCEPT, "text/event-stream");
    assert_eq!(get().send().await.unwrap().status(), 400);
    assert_eq!(get().header("mcp-session-id", "x").send().await.unwrap().status(), 404);
    let json_only = mock.client.get(&mock.url).header("mcp-session-id", &s);
    assert_eq!(json_only.header(ACCEPT, "application/json").send().await.unwrap().status(), 406);

    let mut stream = get().header("mcp-session-id", &s).send().await.unwrap();
    assert_eq!(stream.status(), 200);
    assert!(content_type(&stream).starts_with("text/event-stream"));
    let first = tokio::time::timeout(DEADLINE, stream.chunk()).await.unwrap().unwrap().unwrap();
    let first = std::str::from_utf8(&first).unwrap();
    assert!(first.starts_with("id: ") && first.ends_with("\ndata: \n\n"), "{first:?}");

    // Shutdown ends the open stream instead of waiting on it.
    let rest = tokio::spawn(async move { stream.chunk().await });
    mock.stop().await;
    let end = tokio::time::timeout(DEADLINE, rest).await.unwrap().unwrap();
    assert!(matches!(end, Ok(None) | Err(_)), "{end:?}");
}

#[tokio::test]
async fn batches_only_for_2025_03_26() {
    let mock = Mock::start(MockOptions::default()).await;
    let batch = json!([
        request(1, "ping", json!({})),
        { "jsonrpc": "2.0", "method": "notifications/initialized" },
        request(2, "tools/call", tool("echo", json!({ "text": "b" }))),
    ]);
    let old = mock.session("2025-03-26").await;
    let response = mock.post(&batch).header("mcp-session-id", &old).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let replies = messages(response).await;
    assert_eq!(replies.len(), 2);
    assert_eq!(replies[0]["id"], 1);
    assert_eq!(text(&replies[1]), "b");

    let new = mock.session("2025-06-18").await;
    let response = mock.post(&batch).header("mcp-session-id", &new).send().await.unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(messages(response).await[0]["error"]["code"], -32600);
    mock.stop().await;
}

#[tokio::test]
async fn json_only_never_streams() {
    let opts = MockOptions { json_only: true, ..Default::default() };
    let mock = Mock::start(opts).await;
    let s = mock.session("2025-03-26").await;
    let mut params = tool("progress", json!({ "steps": 2, "interval_ms": 1 }));
    params["_meta"] = json!({ "progressToken": 1 });
    let response = mock.post(&request(3, "tools/call", params)).header("mcp-session-id", &s).send().await.unwrap();
    assert_eq!(content_type(&response), "application/json");
    let all = messages(response).await;
    assert_eq!(all.len(), 1);
    assert_eq!(text(&all[0]), "completed 2 steps");

    let batch = json!([request(1, "ping", json!({})), request(2, "ping", json!({}))]);
    let response = mock.post(&batch).header("mcp-session-id", &s).send().await.unwrap();
    assert_eq!(content_type(&response), "application/json");
    assert_eq!(messages(response).await.len(), 2);
    mock.stop().await;
}

#[tokio::test]
async fn knobs_add_latency_and_inject_failures() {
    let opts = MockOptions { latency: Duration::from_millis(60), error_rate: 1.0, ..Default::default() };
    let mock = Mock::start(opts).await;
    let s = mock.session("2025-11-25").await;
    let start = tokio::time::Instant::now();
    let pong = mock.call(&s, "ping", json!({})).await;
    assert!(start.elapsed() >= Duration::from_millis(60));
    assert_eq!(pong["result"], json!({}));

    let response = mock
        .post(&request(1, "tools/call", tool("echo", json!({ "text": "x" }))))
        .header("mcp-session-id", &s)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 500);
    assert_eq!(messages(response).await[0]["error"]["code"], -32603);
    mock.stop().await;
}

#[tokio::test]
async fn speaks_h2c() {
    let mock = Mock::start(MockOptions::default()).await;
    let client = reqwest::Client::builder().http2_prior_knowledge().build().unwrap();
    let response = client
        .post(&mock.url)
        .header(ACCEPT, "application/json, text/event-stream")
        .header(CONTENT_TYPE, "application/json")
        .body(request(1, "initialize", json!({})).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.version(), reqwest::Version::HTTP_2);
    assert!(response.headers().contains_key("mcp-session-id"));
    mock.stop().await;
}

#[tokio::test]
async fn a_loopback_mock_answers_no_page_from_elsewhere() {
    let mock = Mock::start(MockOptions::default()).await;
    let init = request(1, "initialize", json!({ "protocolVersion": "2025-11-25" }));
    let status = |r: reqwest::RequestBuilder| async move {
        let response = r.send().await.unwrap();
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        (status, body["error"]["code"].as_i64())
    };
    // A page on evil.example whose name resolves to 127.0.0.1 (DNS rebinding):
    // its browser names the page's origin.
    for origin in ["http://evil.example", "http://evil.example:8080", "http://localhost.evil.example", "null"] {
        let post = mock.post(&init).header("origin", origin).header("host", "evil.example");
        assert_eq!(status(post).await, (403, Some(-32000)), "{origin}");
    }
    let session = mock.session("2025-11-25").await;
    let delete =
        mock.client.delete(&mock.url).header("mcp-session-id", &session).header("origin", "http://evil.example");
    assert_eq!(status(delete).await.0, 403, "every method, not just POST");

    let port = mock.url.rsplit(':').next().unwrap().trim_end_matches("/mcp").to_owned();
    for origin in [format!("http://localhost:{port}"), format!("http://[::1]:{port}"), "https://127.0.0.1".to_owned()] {
        assert_eq!(status(mock.post(&init).header("origin", origin.as_str())).await.0, 200, "{origin}");
    }
    // A local reverse proxy names its upstream in `Host` and sends no
    // `Origin` of its own: that is not a page, and is served.
    assert_eq!(status(mock.post(&init).header("host", "mock")).await.0, 200);
    mock.stop().await;
}
