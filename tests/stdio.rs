//! stdio backends: real child processes (`switchyard mock --stdio`, and a
//! misbehaving Python server) behind the gateway.

// These measure real elapsed time, which tokio's paused clock cannot.
#![allow(clippy::disallowed_types)]

mod common;

use std::time::Duration;

use common::*;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_switchyard");

fn misbehaving() -> String {
    format!("{}/tests/fixtures/misbehaving_server.py", env!("CARGO_MANIFEST_DIR"))
}

fn pid_of(health: &Value) -> Option<u64> {
    health["backends"][0]["processes"][0]["pid"].as_u64()
}

async fn up(gw: &Running) -> u64 {
    let h = wait_health(gw, |h| h["backends"][0]["processes"][0]["status"] == "up").await;
    pid_of(&h).unwrap()
}

fn echo(id: &str, text: &str) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":"{id}","method":"tools/call","params":{{"name":"echo","arguments":{{"text":"{text}"}}}}}}"#
    )
}

#[tokio::test]
async fn both_eras_through_one_process() {
    let gw = gateway(parse(&stdio_config(BIN, &["mock", "--stdio"], ""))).await;
    up(&gw).await;
    let url = gw.url("/mcp");
    // The mock speaks both eras; the gateway initializes it (session era)
    // and serves stateless clients from that session.
    let h = wait_health(&gw, |_| true).await;
    assert_eq!(h["backends"][0]["protocolVersion"], "2025-11-25");
    // Session era: the gateway answers initialize and mints a token.
    let resp = post(&url, &initialize_body("2025-06-18"), &[]).await;
    assert_eq!(resp.status(), 200);
    let sid = resp.headers()["mcp-session-id"].to_str().unwrap().to_string();
    let init: Value = resp.json().await.unwrap();
    assert_eq!(init["result"]["protocolVersion"], "2025-06-18");
    assert_eq!(init["result"]["serverInfo"]["name"], "switchyard-mock");
    let (status, msgs) = call(&url, &echo("a", "hello"), &[("mcp-session-id", &sid)]).await;
    assert_eq!(status, 200);
    assert_eq!(msgs[0]["id"], "a");
    assert_eq!(msgs[0]["result"]["content"][0]["text"], "hello");
    // A forged token is refused as for HTTP backends.
    let (status, _) = call(&url, &echo("a", "x"), &[("mcp-session-id", "forged")]).await;
    assert_eq!(status, 404);
    // Stateless era: discover comes from the child's handshake.
    let discover = r#"{"jsonrpc":"2.0","id":1,"method":"server/discover","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}"#;
    let (status, msgs) = call(&url, discover, &stateless_headers("server/discover", None)).await;
    assert_eq!(status, 200);
    assert_eq!(msgs[0]["result"]["resultType"], "complete");
    assert!(msgs[0]["result"]["supportedVersions"].as_array().unwrap().iter().any(|v| v == "2026-07-28"));
    let list = r#"{"jsonrpc":"2.0","id":2,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}"#;
    let (status, msgs) = call(&url, list, &stateless_headers("tools/list", None)).await;
    assert_eq!(status, 200);
    assert_eq!(msgs[0]["result"]["tools"].as_array().unwrap().len(), 6);
    // DELETE ends the session from the client's point of view.
    let resp = http().delete(&url).header("mcp-session-id", &sid).send().await.unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn two_hundred_clients_share_one_process_without_crosstalk() {
    let gw = gateway(parse(&stdio_config(BIN, &["mock", "--stdio"], ""))).await;
    let pid = up(&gw).await;
    let url = gw.url("/mcp");
    let client = http();
    let mut tasks = Vec::new();
    for c in 0..200 {
        let (client, url) = (client.clone(), url.clone());
        tasks.push(tokio::spawn(async move {
            for r in 0..50 {
                // Every client uses the same ids; only the gateway's rewriting keeps them apart.
                let body = echo(&format!("req-{r}"), &format!("client-{c}-req-{r}"));
                let resp = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .header("accept", ACCEPT_BOTH)
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                let ct = resp.headers()["content-type"].to_str().unwrap().to_string();
                let msgs = messages(&ct, &resp.text().await.unwrap());
                assert_eq!(msgs.len(), 1, "{msgs:?}");
                let v = &msgs[0];
                assert_eq!(v["id"], format!("req-{r}"));
                assert_eq!(v["result"]["content"][0]["text"], format!("client-{c}-req-{r}"));
            }
        }));
    }
    tokio::time::timeout(Duration::from_secs(120), async {
        for t in tasks {
            t.await.unwrap();
        }
    })
    .await
    .expect("10,000 requests did not finish");
    let h = wait_health(&gw, |_| true).await;
    assert_eq!(pid_of(&h), Some(pid), "the process was restarted");
    assert_eq!(h["backends"][0]["processes"][0]["restarts"], 0);
    assert_eq!(h["metrics"]["requests"]["errors"], 0);
}

async fn progress_events(url: String, token: &str, steps: u32) -> Vec<Value> {
    let body = format!(
        r#"{{"jsonrpc":"2.0","id":"same-id","method":"tools/call","params":{{"name":"progress","arguments":{{"steps":{steps},"interval_ms":20}},"_meta":{{"progressToken":"{token}"}}}}}}"#
    );
    let (status, msgs) = call(&url, &body, &[]).await;
    assert_eq!(status, 200);
    msgs
}

#[tokio::test]
async fn progress_reaches_the_client_that_owns_the_token() {
    let gw = gateway(parse(&stdio_config(BIN, &["mock", "--stdio"], ""))).await;
    up(&gw).await;
    // Two clients pick the same token and the same id.
    let (a, b) = tokio::join!(progress_events(gw.url("/mcp"), "p", 3), progress_events(gw.url("/mcp"), "p", 6));
    for (msgs, steps) in [(a, 3), (b, 6)] {
        let progress: Vec<_> = msgs.iter().filter(|m| m["method"] == "notifications/progress").collect();
        assert_eq!(progress.len(), steps, "{msgs:?}");
        assert!(progress.iter().all(|p| p["params"]["progressToken"] == "p" && p["params"]["total"] == steps));
        assert_eq!(msgs.last().unwrap()["result"]["content"][0]["text"], format!("completed {steps} steps"));
    }
}

#[tokio::test]
async fn a_killed_child_fails_its_requests_at_once_and_restarts() {
    let gw = gateway(parse(&stdio_config(BIN, &["mock", "--stdio"], "restart = { initial = \"50ms\", max = \"1s\" }")))
        .await;
    let pid = up(&gw).await;
    let url = gw.url("/mcp");
    let slow =
        r#"{"jsonrpc":"2.0","id":"slow","method":"tools/call","params":{"name":"sleep","arguments":{"ms":8000}}}"#;
    let pending = tokio::spawn({
        let url = url.clone();
        async move {
            let (status, msgs) = call(&url, slow, &[]).await;
            (status, msgs, tokio::time::Instant::now())
        }
    });
    // Wait until the request is in flight on the child.
    wait_health(&gw, |h| h["backends"][0]["processes"][0]["inFlight"] == 1).await;
    let killed_at = tokio::time::Instant::now();
    assert!(std::process::Command::new("kill").args(["-9", &pid.to_string()]).status().unwrap().success());
    let (status, msgs, answered_at) = tokio::time::timeout(DEADLINE, pending).await.unwrap().unwrap();
    let took = answered_at - killed_at;
    assert!(took < Duration::from_secs(2), "error took {took:?}");
    assert_eq!(status, 200, "{msgs:?}");
    assert_eq!(msgs[0]["id"], "slow");
    assert_eq!(msgs[0]["error"]["code"], -32603);
    // A new child comes up and serves.
    let h =
        wait_health(&gw, |h| h["backends"][0]["processes"][0]["status"] == "up" && pid_of(h).is_some_and(|p| p != pid))
            .await;
    assert_eq!(h["backends"][0]["processes"][0]["restarts"], 1);
    let (status, msgs) = call(&url, &echo("after", "back"), &[]).await;
    assert_eq!((status, msgs[0]["result"]["content"][0]["text"].as_str()), (200, Some("back")));
}

#[tokio::test]
async fn junk_lines_and_a_20_mib_line_do_not_break_the_process() {
    let gw = gateway(parse(&stdio_config("python3", &[&misbehaving()], ""))).await;
    let pid = up(&gw).await;
    let url = gw.url("/mcp");
    // A session-era server, initialized by the gateway.
    let h = wait_health(&gw, |_| true).await;
    assert_eq!(h["backends"][0]["protocolVersion"], "2025-06-18");
    let call_tool =
        |name: &str| format!(r#"{{"jsonrpc":"2.0","id":"{name}","method":"tools/call","params":{{"name":"{name}"}}}}"#);
    let (status, msgs) = call(&url, &call_tool("junk"), &[]).await;
    assert_eq!((status, msgs[0]["result"]["content"][0]["text"].as_str()), (200, Some("junk")));
    let (status, msgs) = call(&url, &call_tool("huge"), &[]).await;
    assert_eq!(status, 200);
    assert_eq!(msgs[0]["id"], "huge");
    assert!(msgs[0]["error"]["message"].as_str().unwrap().contains("max_line_bytes"), "{msgs:?}");
    let (status, msgs) = call(&url, &echo("after", "still here"), &[]).await;
    assert_eq!((status, msgs[0]["result"]["content"][0]["text"].as_str()), (200, Some("still here")));
    let h = wait_health(&gw, |_| true).await;
    assert_eq!(pid_of(&h), Some(pid));
    assert_eq!(h["backends"][0]["processes"][0]["restarts"], 0);
}

fn alive(pid: u64) -> bool {
    // A zombie still has a /proc entry, so absence also proves it was reaped.
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

#[tokio::test]
async fn a_child_that_ignores_eof_and_sigterm_is_killed_and_reaped() {
    let gw = gateway(parse(&stdio_config("python3", &[&misbehaving(), "--ignore-eof"], ""))).await;
    let pid = up(&gw).await;
    assert!(alive(pid));
    // Stopping the gateway stops its children: stdin EOF, SIGTERM, SIGKILL.
    gw.stop().await;
    assert!(!alive(pid), "child {pid} outlived the gateway");
}

/// The spec's shutdown starts by closing stdin: a child that exits on EOF
/// does so, and is never sent SIGTERM (the fixture writes down which ended
/// it), well within the wait before SIGTERM.
#[tokio::test]
async fn stopping_closes_stdin_first_and_a_child_that_exits_on_eof_gets_no_sigterm() {
    let path = std::env::temp_dir().join(format!("switchyard-exit-{}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let gw =
        gateway(parse(&stdio_config("python3", &[&misbehaving(), "--exit-file", path.to_str().unwrap()], ""))).await;
    let pid = up(&gw).await;
    let started = std::time::Instant::now();
    gw.stop().await;
    assert!(!alive(pid), "child {pid} outlived the gateway");
    let how = std::fs::read_to_string(&path).unwrap_or_default();
    let _ = std::fs::remove_file(&path);
    assert_eq!(how, "eof", "the child was not ended by stdin EOF");
    assert!(started.elapsed() < Duration::from_secs(2), "stopping took {:?}", started.elapsed());
}

#[tokio::test]
async fn spawn_failures_are_reported_in_health_and_the_error_body() {
    let gw = gateway(parse(&stdio_config("/nonexistent/mcp-server", &[], ""))).await;
    let h = wait_health(&gw, |h| h["backends"][0]["processes"][0]["lastError"].is_string()).await;
    assert!(h["backends"][0]["processes"][0]["lastError"].as_str().unwrap().contains("cannot start"));
    assert_eq!(h["status"], "unhealthy");
    let (status, msgs) = call(&gw.url("/mcp"), &echo("x", "y"), &[]).await;
    assert_eq!(status, 502);
    assert!(msgs[0]["error"]["message"].as_str().unwrap().contains("/nonexistent/mcp-server"), "{msgs:?}");
}

#[tokio::test]
async fn sigkill_of_the_gateway_leaves_no_child() {
    use tokio::io::AsyncBufReadExt;
    let path =
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("stdio-kill-{}.toml", std::process::id()));
    std::fs::write(&path, stdio_config(BIN, &["mock", "--stdio"], "")).unwrap();
    let mut gateway = tokio::process::Command::new(BIN)
        .args(["run", "--config"])
        .arg(&path)
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(gateway.stderr.take().unwrap()).lines();
    let pid = tokio::time::timeout(DEADLINE, async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.contains("started stdio process") {
                let at = line.find("pid=").unwrap() + 4;
                return line[at..].split_whitespace().next().unwrap().parse::<u64>().unwrap();
            }
        }
        panic!("gateway exited before starting its child");
    })
    .await
    .unwrap();
    assert!(alive(pid));
    gateway.start_kill().unwrap();
    gateway.wait().await.unwrap();
    tokio::time::timeout(DEADLINE, async {
        while alive(pid) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("child {pid} outlived a SIGKILLed gateway"));
    let _ = std::fs::remove_file(&path);
}

/// Initializes a session-era client declaring `capabilities` (a JSON
/// object) and returns its session id.
async fn initialize_declaring(url: &str, capabilities: &str) -> String {
    let body = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"initialize","params":{{"protocolVersion":"2025-11-25","capabilities":{capabilities},"clientInfo":{{"name":"test","version":"1"}}}}}}"#
    );
    let resp = post(url, &body, &[]).await;
    assert_eq!(resp.status(), 200);
    resp.headers()["mcp-session-id"].to_str().unwrap().to_string()
}

/// Reads SSE from `stream` into `seen` until a message matches `want`.
async fn next_message(
    stream: &mut (impl futures::Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin),
    seen: &mut String,
    want: impl Fn(&Value) -> bool,
) -> Value {
    use futures::StreamExt;
    tokio::time::timeout(DEADLINE, async {
        loop {
            if let Some(m) = messages("text/event-stream", seen).into_iter().find(&want) {
                return m;
            }
            let chunk = stream.next().await.expect("the stream ended").unwrap();
            seen.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no such message; the stream so far: {seen}"))
}

/// A gateway before the misbehaving server (whose `ask` tool samples), its
/// URL, and a session that declared `capabilities`.
async fn asking_gateway(capabilities: &str) -> (Running, String, String) {
    let gw = gateway(parse(&stdio_config("python3", &[&misbehaving()], ""))).await;
    up(&gw).await;
    let url = gw.url("/mcp");
    let sid = initialize_declaring(&url, capabilities).await;
    (gw, url, sid)
}

#[tokio::test]
async fn a_server_request_reaches_the_client_and_its_answer_comes_back() {
    let (_gw, url, sid) = asking_gateway(r#"{"sampling":{}}"#).await;
    let ask = r#"{"jsonrpc":"2.0","id":"ask-1","method":"tools/call","params":{"name":"ask"}}"#;
    let resp = post(&url, ask, &[("mcp-session-id", &sid)]).await;
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let mut stream = resp.bytes_stream();
    let mut seen = String::new();
    // The server's sampling request arrives on the tool call's stream.
    let request = next_message(&mut stream, &mut seen, |m| m["method"] == "sampling/createMessage").await;
    assert_eq!(request["params"]["maxTokens"], 10);
    // The client answers with the id it was given; the gateway routes it back.
    let answer = format!(
        r#"{{"jsonrpc":"2.0","id":{},"result":{{"role":"assistant","content":{{"type":"text","text":"hi from the client"}},"model":"m"}}}}"#,
        request["id"]
    );
    assert_eq!(post(&url, &answer, &[("mcp-session-id", &sid)]).await.status(), 202);
    let reply = next_message(&mut stream, &mut seen, |m| m["id"] == "ask-1").await;
    assert_eq!(reply["result"]["content"][0]["text"], "hi from the client");
}

/// An answer to the child's question is taken only from the client that was
/// asked, and only once. Another session, a client with no session, or an
/// id without the question's random part is refused with 400 (-32600), and
/// the child never sees it: the fixture takes the first answer it is sent,
/// and the one it reports is the asked client's.
#[tokio::test]
async fn only_the_asked_client_can_answer_a_server_request() {
    let (_gw, url, alice) = asking_gateway(r#"{"sampling":{}}"#).await;
    let bob = initialize_declaring(&url, r#"{"sampling":{}}"#).await;
    let ask = r#"{"jsonrpc":"2.0","id":"ask-3","method":"tools/call","params":{"name":"ask"}}"#;
    let mut stream = post(&url, ask, &[("mcp-session-id", &alice)]).await.bytes_stream();
    let mut seen = String::new();
    let request = next_message(&mut stream, &mut seen, |m| m["method"] == "sampling/createMessage").await;
    let id = request["id"].as_str().unwrap().to_string();
    let answer = |id: &str, text: &str| {
        format!(
            r#"{{"jsonrpc":"2.0","id":{},"result":{{"role":"assistant","content":{{"type":"text","text":"{text}"}},"model":"m"}}}}"#,
            Value::from(id)
        )
    };
    let refused = |status: u16, body: &Value, who: &str| {
        assert_eq!((status, body["error"]["code"].as_i64()), (400, Some(-32600)), "{who}: {body}");
        assert!(body["error"]["message"].as_str().unwrap().contains("answers no question"), "{who}: {body}");
    };
    let (status, body) = call(&url, &answer(&id, "forged by bob"), &[("mcp-session-id", &bob)]).await;
    refused(status, &body[0], "another session");
    let (status, body) = call(&url, &answer(&id, "forged without a session"), &[]).await;
    refused(status, &body[0], "no session");
    // The slot and the child's id alone, as the previous id format had them.
    let guessed = format!("sy:0:{}", id.rsplit_once(':').unwrap().1);
    let (status, body) = call(&url, &answer(&guessed, "guessed"), &[("mcp-session-id", &alice)]).await;
    refused(status, &body[0], "an id without its nonce");

    let resp = post(&url, &answer(&id, "hi from alice"), &[("mcp-session-id", &alice)]).await;
    assert_eq!(resp.status(), 202);
    let reply = next_message(&mut stream, &mut seen, |m| m["id"] == "ask-3").await;
    assert_eq!(reply["result"]["content"][0]["text"], "hi from alice", "{reply}");
    // Once answered, the question is gone, even for the client asked.
    let (status, body) = call(&url, &answer(&id, "again"), &[("mcp-session-id", &alice)]).await;
    refused(status, &body[0], "a second answer");
}

/// The spec lets a server ask only a client that declared the capability:
/// a session that declared none, or a request with no session at all, is
/// never shown the question, and the child gets the gateway's refusal at
/// once (the fixture then answers "no answer").
#[tokio::test]
async fn a_client_that_did_not_declare_sampling_is_never_asked() {
    let (_gw, url, undeclared) = asking_gateway(r#"{"roots":{}}"#).await;
    let ask = r#"{"jsonrpc":"2.0","id":"ask-2","method":"tools/call","params":{"name":"ask"}}"#;
    for headers in [vec![("mcp-session-id", undeclared.as_str())], vec![]] {
        let (status, msgs) = call(&url, ask, &headers).await;
        assert_eq!(status, 200);
        assert!(msgs.iter().all(|m| m["method"].is_null()), "the client was sent a request: {msgs:?}");
        assert_eq!(msgs.last().unwrap()["result"]["content"][0]["text"], "no answer", "{msgs:?}");
    }
}

/// A token sealed under the same key for the same route, in the format
/// before client capabilities (version 2), still opens, so sessions live
/// through a rolling upgrade; it declares no capabilities, so the child's
/// requests are never passed to it. Made once with that format's layout:
/// issued_at, then backend `kids`, instance `stdio:kids`, no upstream
/// session and version 2025-11-25, sealed under `test-key` for `/mcp`.
#[tokio::test]
async fn a_token_of_the_previous_format_still_opens() {
    const V2_TOKEN: &str =
        "AgABAgMEBQYHCAkKC7a-zS3gDpAj68PKJXowPDNmyvSKm1mQd2OIVN4Ivg4FYcPB0fFbE1Fx8oIZuyGuJI4aaOwoY6UL";
    // Its issue time is fixed (1 800 000 000, January 2027): a long
    // session_ttl keeps it young whenever the test runs.
    let text =
        stdio_config(BIN, &["mock", "--stdio"], "").replace("[gateway]\n", "[gateway]\nsession_ttl = \"36500d\"\n");
    let gw = gateway(parse(&text)).await;
    up(&gw).await;
    let url = gw.url("/mcp");
    let (status, msgs) = call(&url, &echo("old", "x"), &[("mcp-session-id", V2_TOKEN)]).await;
    assert_eq!((status, msgs[0]["result"]["content"][0]["text"].as_str()), (200, Some("x")), "{msgs:?}");
    // The same token one byte off does not.
    let flipped = if &V2_TOKEN[20..21] == "A" { "B" } else { "A" };
    let bent = format!("{}{flipped}{}", &V2_TOKEN[..20], &V2_TOKEN[21..]);
    let (status, msgs) = call(&url, &echo("old", "x"), &[("mcp-session-id", &bent)]).await;
    assert_eq!((status, msgs[0]["error"]["code"].as_i64()), (404, Some(-32001)), "{msgs:?}");
    // A fresh session from the same gateway works.
    let sid = initialize(&url, "2025-11-25").await;
    let (status, msgs) = call(&url, &echo("new", "y"), &[("mcp-session-id", &sid)]).await;
    assert_eq!((status, msgs[0]["result"]["content"][0]["text"].as_str()), (200, Some("y")));
}

/// A cached answer does not outlive its per-session process: once the
/// session is DELETEd, a request the cache could answer gets 404 like any
/// other, so the client re-initializes.
#[tokio::test]
async fn a_cache_hit_for_a_session_whose_process_is_gone_gets_404() {
    let extra = "mode = \"per_session\"\ncache = {}";
    let gw = gateway(parse(&stdio_config(BIN, &["mock", "--stdio"], extra))).await;
    let url = gw.url("/mcp");
    let sid = initialize(&url, "2025-06-18").await;
    let list = r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#;
    let session = [("mcp-session-id", sid.as_str()), ("mcp-protocol-version", "2025-06-18")];
    for verdict in ["miss", "hit"] {
        let resp = post(&url, list, &session).await;
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["x-switchyard-cache"], verdict);
    }
    assert_eq!(http().delete(&url).header("mcp-session-id", &sid).send().await.unwrap().status(), 200);
    let (status, msgs) = call(&url, list, &session).await;
    assert_eq!((status, msgs[0]["error"]["code"].as_i64()), (404, Some(-32001)), "{msgs:?}");
}

#[tokio::test]
async fn per_session_mode_gives_each_session_its_own_process() {
    let extra = "mode = \"per_session\"\nmax_processes = 2\nidle_timeout = \"300ms\"";
    let gw = gateway(parse(&stdio_config(BIN, &["mock", "--stdio"], extra))).await;
    let url = gw.url("/mcp");
    let a = initialize(&url, "2025-06-18").await;
    let b = initialize(&url, "2025-06-18").await;
    let h = wait_health(&gw, |_| true).await;
    let pids: Vec<u64> =
        h["backends"][0]["sessionProcesses"].as_array().unwrap().iter().map(|p| p.as_u64().unwrap()).collect();
    assert_eq!(pids.len(), 2, "{h}");
    assert_ne!(pids[0], pids[1]);
    // Past max_processes: 503 with Retry-After.
    let resp = post(&url, &initialize_body("2025-06-18"), &[]).await;
    assert_eq!(resp.status(), 503);
    assert!(resp.headers().contains_key("retry-after"));
    assert_eq!(resp.json::<Value>().await.unwrap()["error"]["code"], -32003);
    // Each session is served by its own process.
    for sid in [&a, &b] {
        let (status, msgs) = call(&url, &echo("e", "mine"), &[("mcp-session-id", sid)]).await;
        assert_eq!((status, msgs[0]["result"]["content"][0]["text"].as_str()), (200, Some("mine")));
    }
    // A request without a session has no process to go to.
    let (status, _) = call(&url, &echo("e", "x"), &[]).await;
    assert_eq!(status, 400);
    // DELETE stops the session's process.
    assert_eq!(http().delete(&url).header("mcp-session-id", &a).send().await.unwrap().status(), 200);
    let (status, msgs) = call(&url, &echo("e", "gone"), &[("mcp-session-id", &a)]).await;
    assert_eq!((status, msgs[0]["error"]["code"].as_i64()), (404, Some(-32001)));
    // The idle session is reaped, and its process with it.
    wait_health(&gw, |h| h["backends"][0]["sessionProcesses"].as_array().is_some_and(Vec::is_empty)).await;
    tokio::time::timeout(DEADLINE, async {
        while pids.iter().any(|p| alive(*p)) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("a session's process outlived its session");
    let (status, _) = call(&url, &echo("e", "late"), &[("mcp-session-id", &b)]).await;
    assert_eq!(status, 404);
}

/// A session token names its process by a random id, not by a count: after
/// a restart (or on another replica) under the same `session_key`, an old
/// token names no session here and gets 404, so the client re-initializes;
/// it never reaches the process of whoever now holds "the same number", and
/// its DELETE does not stop that process.
#[tokio::test]
async fn a_token_from_before_a_restart_reaches_no_other_sessions_process() {
    let config = || parse(&stdio_config("python3", &[&misbehaving()], "mode = \"per_session\""));
    let a = gateway(config()).await;
    let t1 = initialize(&a.url("/mcp"), "2025-06-18").await;
    a.stop().await;

    let b = gateway(config()).await;
    let url = b.url("/mcp");
    let t2 = initialize(&url, "2025-06-18").await;
    let remember = |text: &str| {
        format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"remember","arguments":{{"text":"{text}"}}}}}}"#
        )
    };
    let read = r#"{"jsonrpc":"2.0","id":2,"method":"resources/read","params":{"uri":"note://"}}"#;
    let note = |msgs: &[Value]| msgs[0]["result"]["contents"][0]["text"].as_str().map(String::from);
    let (status, msgs) = call(&url, &remember("t2's"), &[("mcp-session-id", &t2)]).await;
    assert_eq!(status, 200, "{msgs:?}");

    let (status, msgs) = call(&url, &remember("t1's"), &[("mcp-session-id", &t1)]).await;
    assert_eq!((status, msgs[0]["error"]["code"].as_i64()), (404, Some(-32001)), "{msgs:?}");
    assert_eq!(http().delete(&url).header("mcp-session-id", &t1).send().await.unwrap().status(), 200);

    let (status, msgs) = call(&url, read, &[("mcp-session-id", &t2)]).await;
    assert_eq!((status, note(&msgs).as_deref()), (200, Some("t2's")), "t2's process saw t1: {msgs:?}");
}

/// In `per_session` mode the id of the child's question names the asking
/// session by its (random, 64-bit) id, and the client's answer finds its
/// way back to that session's process.
#[tokio::test]
async fn a_per_session_process_asks_its_client_and_gets_the_answer() {
    let gw = gateway(parse(&stdio_config("python3", &[&misbehaving()], "mode = \"per_session\""))).await;
    let url = gw.url("/mcp");
    let sid = initialize_declaring(&url, r#"{"sampling":{}}"#).await;
    let ask = r#"{"jsonrpc":"2.0","id":"ask-s","method":"tools/call","params":{"name":"ask"}}"#;
    let mut stream = post(&url, ask, &[("mcp-session-id", &sid)]).await.bytes_stream();
    let mut seen = String::new();
    let request = next_message(&mut stream, &mut seen, |m| m["method"] == "sampling/createMessage").await;
    let answer = format!(
        r#"{{"jsonrpc":"2.0","id":{},"result":{{"role":"assistant","content":{{"type":"text","text":"mine"}},"model":"m"}}}}"#,
        request["id"]
    );
    assert_eq!(post(&url, &answer, &[("mcp-session-id", &sid)]).await.status(), 202, "{request}");
    let reply = next_message(&mut stream, &mut seen, |m| m["id"] == "ask-s").await;
    assert_eq!(reply["result"]["content"][0]["text"], "mine", "{reply}");
}
