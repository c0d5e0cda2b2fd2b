//! `--conformance`: the suite's fixture, over real sockets.

use super::*;

fn conformance() -> MockOptions {
    MockOptions { conformance: true, ..Default::default() }
}

/// SSE events of a response still streaming, read as they arrive.
struct Events {
    response: reqwest::Response,
    buffer: String,
}

impl Events {
    fn new(response: reqwest::Response) -> Events {
        assert!(content_type(&response).starts_with("text/event-stream"));
        Events { response, buffer: String::new() }
    }

    async fn next(&mut self) -> Value {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let event: String = self.buffer.drain(..end + 2).collect();
                match event.lines().find_map(|l| l.strip_prefix("data: ")).filter(|d| !d.is_empty()) {
                    Some(data) => return serde_json::from_str(data).unwrap(),
                    None => continue,
                }
            }
            let chunk = tokio::time::timeout(DEADLINE, self.response.chunk()).await.expect("an event in time");
            self.buffer.push_str(std::str::from_utf8(&chunk.unwrap().expect("the stream is open")).unwrap());
        }
    }
}

#[tokio::test]
async fn the_catalog_grows_only_with_the_flag() {
    let mock = Mock::start(conformance()).await;
    let init = mock.post(&request(1, "initialize", json!({ "protocolVersion": "2025-11-25" })));
    let response = init.send().await.unwrap();
    let session = response.headers()["mcp-session-id"].to_str().unwrap().to_owned();
    let caps = messages(response).await.remove(0)["result"]["capabilities"].clone();
    assert!(caps["completions"].is_object() && caps["logging"].is_object(), "{caps}");
    assert_eq!(caps["resources"]["subscribe"], true);

    let tools = mock.call(&session, "tools/list", json!({})).await;
    let names: Vec<&str> =
        tools["result"]["tools"].as_array().unwrap().iter().filter_map(|t| t["name"].as_str()).collect();
    for name in ["echo", "progress", "test_simple_text", "test_sampling", "test_input_required_result_multi_round"] {
        assert!(names.contains(&name), "{name} in {names:?}");
    }
    let templates = mock.call(&session, "resources/templates/list", json!({})).await;
    assert_eq!(templates["result"]["resourceTemplates"][0]["uriTemplate"], "test://template/{id}/data");
    let read = mock.call(&session, "resources/read", json!({ "uri": "test://template/42/data" })).await;
    let data: Value = serde_json::from_str(read["result"]["contents"][0]["text"].as_str().unwrap()).unwrap();
    assert_eq!(data["id"], "42");
    let completion = mock.call(&session, "completion/complete", json!({})).await;
    assert_eq!(completion["result"]["completion"]["values"], json!([]));
    assert_eq!(mock.call(&session, "logging/setLevel", json!({ "level": "info" })).await["result"], json!({}));

    // The stateless era has no `resources/subscribe`, so does not claim it.
    let discover = messages(mock.post_modern(&modern(2, "server/discover", json!({}))).send().await.unwrap()).await;
    assert!(discover[0]["result"]["capabilities"]["resources"].get("subscribe").is_none(), "{discover:?}");
    mock.stop().await;

    let plain = Mock::start(MockOptions::default()).await;
    let session = plain.session("2025-11-25").await;
    assert_eq!(plain.call(&session, "tools/list", json!({})).await["result"]["tools"].as_array().unwrap().len(), 6);
    let unknown = plain.call(&session, "tools/call", tool("test_simple_text", json!({}))).await;
    assert_eq!(unknown["error"]["code"], -32602);
    assert_eq!(plain.call(&session, "completion/complete", json!({})).await["error"]["code"], -32601);
    plain.stop().await;
}

#[tokio::test]
async fn a_session_tool_asks_on_its_own_stream_and_hears_only_its_session() {
    let mock = Mock::start(conformance()).await;
    let asked = mock.session("2025-11-25").await;
    let other = mock.session("2025-11-25").await;
    let call = request(9, "tools/call", tool("test_sampling", json!({ "prompt": "The capital of France?" })));
    let response = mock.post(&call).header("mcp-session-id", &asked).send().await.unwrap();
    let mut events = Events::new(response);
    let ask = events.next().await;
    assert_eq!(ask["method"], "sampling/createMessage", "{ask}");
    assert_eq!(ask["params"]["messages"][0]["content"]["text"], "The capital of France?");

    let answer = |text: &str| {
        json!({ "jsonrpc": "2.0", "id": ask["id"],
                "result": { "role": "assistant", "content": { "type": "text", "text": text }, "model": "m" } })
    };
    // Another session's answer is accepted, and answers nothing.
    let wrong = mock.post(&answer("Lyon")).header("mcp-session-id", &other).send().await.unwrap();
    assert_eq!(wrong.status(), 202);
    let right = mock.post(&answer("Paris")).header("mcp-session-id", &asked).send().await.unwrap();
    assert_eq!(right.status(), 202);
    let done = events.next().await;
    assert_eq!(done["id"], 9);
    assert_eq!(text(&done), "LLM response: Paris");
    mock.stop().await;

    // A JSON-only answer has no stream to ask on: the tool says so.
    let json_only = Mock::start(MockOptions { json_only: true, conformance: true, ..Default::default() }).await;
    let session = json_only.session("2025-11-25").await;
    let reply = json_only.call(&session, "tools/call", tool("test_elicitation", json!({ "message": "hi" }))).await;
    assert_eq!(reply["result"]["isError"], true, "{reply}");
    json_only.stop().await;
}

#[tokio::test]
async fn input_rounds_carry_a_signed_state() {
    let mock = Mock::start(conformance()).await;
    let mut caps = json!({ "elicitation": {} });
    let round = |id: u64, extra: Value, caps: &Value| {
        let mut call = modern(id, "tools/call", tool("test_input_required_result_multi_round", json!({})));
        for (k, v) in extra.as_object().unwrap() {
            call["params"][k] = v.clone();
        }
        call["params"]["_meta"]["io.modelcontextprotocol/clientCapabilities"] = caps.clone();
        let post = mock.post_modern(&call).header("mcp-name", "test_input_required_result_multi_round");
        async move {
            let response = post.send().await.unwrap();
            (response.status().as_u16(), messages(response).await.remove(0))
        }
    };
    let accept = |field: &str, value: &str| json!({ "action": "accept", "content": { field: value } });

    let (_, first) = round(1, json!({}), &caps).await;
    assert_eq!(first["result"]["resultType"], "input_required", "{first}");
    assert_eq!(first["result"]["inputRequests"]["step1"]["method"], "elicitation/create");
    let state1 = first["result"]["requestState"].as_str().unwrap().to_owned();

    let tampered =
        json!({ "inputResponses": { "step1": accept("name", "Ada") }, "requestState": format!("{state1}x") });
    let (_, refused) = round(2, tampered, &caps).await;
    assert_eq!(refused["error"]["code"], -32602, "{refused}");

    let (_, second) =
        round(3, json!({ "inputResponses": { "step1": accept("name", "Ada") }, "requestState": state1 }), &caps).await;
    assert_eq!(second["result"]["inputRequests"]["step2"]["method"], "elicitation/create", "{second}");
    let state2 = second["result"]["requestState"].as_str().unwrap().to_owned();
    assert_ne!(state2, state1);

    let (_, done) =
        round(4, json!({ "inputResponses": { "step2": accept("color", "teal") }, "requestState": state2 }), &caps)
            .await;
    assert_eq!(done["result"]["resultType"], "complete", "{done}");
    assert_eq!(text(&done), "Multi-round complete for Ada who likes teal");

    // Without the elicitation capability the tool may not ask: -32021, 400.
    caps = json!({});
    let (status, missing) = round(5, json!({}), &caps).await;
    assert_eq!((status, missing["error"]["code"].as_i64()), (400, Some(-32021)), "{missing}");
    assert_eq!(missing["error"]["data"]["requiredCapabilities"]["elicitation"], json!({}));
    mock.stop().await;
}

#[tokio::test]
async fn param_headers_must_mirror_the_arguments() {
    let mock = Mock::start(conformance()).await;
    let call = |args: Value| modern(1, "tools/call", tool("test_param_headers", args));
    let eu = call(json!({ "region": "eu-west1" }));
    let send = |r: reqwest::RequestBuilder| async move {
        let response = r.send().await.unwrap();
        let status = response.status().as_u16();
        (status, messages(response).await.remove(0))
    };
    let post = |body: &Value, region: Option<&str>| {
        let r = mock.post_modern(body).header("mcp-name", "test_param_headers");
        match region {
            Some(v) => r.header("mcp-param-region", v),
            None => r,
        }
    };

    for good in ["eu-west1", "=?base64?ZXUtd2VzdDE=?="] {
        let (status, reply) = send(post(&eu, Some(good))).await;
        assert_eq!(status, 200, "{good}: {reply}");
        assert_eq!(text(&reply), "region=eu-west1");
    }
    // Missing, different, badly padded, and a header for a value the body lacks.
    let bad = [
        (post(&eu, None), "missing"),
        (post(&eu, Some("us-east1")), "different"),
        (post(&eu, Some("=?base64?ZXUtd2VzdDE?=")), "unpadded base64"),
        (post(&call(json!({})), Some("eu-west1")), "no value in the body"),
    ];
    for (request, what) in bad {
        let (status, reply) = send(request).await;
        assert_eq!((status, reply["error"]["code"].as_i64()), (400, Some(-32020)), "{what}: {reply}");
    }
    mock.stop().await;
}

#[tokio::test]
async fn a_stateless_request_gets_logs_only_when_it_sets_a_level() {
    let mock = Mock::start(conformance()).await;
    let mut call = modern(1, "tools/call", tool("test_tool_with_logging", json!({})));
    let post = |body: &Value| mock.post_modern(body).header("mcp-name", "test_tool_with_logging").send();
    let quiet = messages(post(&call).await.unwrap()).await;
    assert_eq!(quiet.len(), 1, "only the result: {quiet:?}");
    call["params"]["_meta"]["io.modelcontextprotocol/logLevel"] = json!("info");
    let chatty = messages(post(&call).await.unwrap()).await;
    let logs = chatty.iter().filter(|m| m["method"] == "notifications/message").count();
    assert_eq!((logs, chatty.len()), (3, 4), "{chatty:?}");
    assert_eq!(chatty[3]["result"]["resultType"], "complete");
    mock.stop().await;
}
