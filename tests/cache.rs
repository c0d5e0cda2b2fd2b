//! The response cache end to end: the gateway on a real socket in front of
//! the built-in mock (HTTP, and a real stdio child), upstream calls counted
//! at the mock.

mod common;

use std::time::Duration;

use common::rmcp_client::connect;
use common::*;
use rmcp::service::ClientLifecycleMode;
use serde_json::Value;
use switchyard::mock::{Calls, MockOptions};

const BIN: &str = env!("CARGO_BIN_EXE_switchyard");
const TOKEN: &str = "cache-admin-token-0123456789";

/// A gateway with one cached HTTP backend `b0` at `/mcp` (the admin API under
/// `/admin`), and the mock behind it, whose calls `calls` counts.
async fn cached(cache: &str, opts: MockOptions) -> (Running, Running, Calls) {
    let calls = opts.calls.clone();
    let mock = mock(opts).await;
    let mut text = config_for(&[("/mcp", &mock.url("/mcp"))], &format!("admin_token = \"{TOKEN}\""));
    text = text.replace("timeout = \"5s\"\n", &format!("timeout = \"5s\"\ncache = {cache}\n"));
    (gateway(parse(&text)).await, mock, calls)
}

fn list(id: u32, method: &str) -> String {
    format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"{method}","params":{{}}}}"#)
}

/// POSTs and returns the cache verdict, the content type and the messages.
async fn ask(url: &str, body: &str, extra: &[(&str, &str)]) -> (String, String, Vec<Value>) {
    let resp = post(url, body, extra).await;
    assert_eq!(resp.status(), 200, "{body}");
    let header = |name: &str| resp.headers().get(name).map_or("", |v| v.to_str().unwrap()).to_string();
    let (verdict, ct) = (header("x-switchyard-cache"), header("content-type"));
    let text = resp.text().await.unwrap();
    let msgs = messages(&ct, &text);
    (verdict, ct, msgs)
}

fn session<'a>(sid: &'a str, who: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![("mcp-session-id", sid), ("authorization", who)]
}

#[tokio::test]
async fn concurrent_identical_misses_make_exactly_one_upstream_call() {
    let opts = MockOptions { latency: Duration::from_millis(200), ..Default::default() };
    let (gw, _mock, calls) = cached("{}", opts).await;
    let url = gw.url("/mcp");
    let sid = initialize(&url, "2025-06-18").await;
    let asks = (0..16).map(|id| {
        let (url, sid) = (url.clone(), sid.clone());
        async move { ask(&url, &list(id, "tools/list"), &[("mcp-session-id", &sid)]).await }
    });
    let answers = futures::future::join_all(asks).await;
    assert_eq!(calls.get("tools/list"), 1, "one upstream call for 16 concurrent misses");
    for (id, (verdict, _, msgs)) in answers.iter().enumerate() {
        assert_eq!(msgs[0]["id"], id, "each waiter gets its own id");
        assert_eq!(msgs[0]["result"]["tools"].as_array().unwrap().len(), 6);
        assert!(verdict == "miss" || verdict == "hit", "{verdict}");
    }
    assert_eq!(answers.iter().filter(|a| a.0 == "miss").count(), 1);
}

#[tokio::test]
async fn a_principal_never_gets_another_principals_cached_answer() {
    let (gw, _mock, calls) = cached("{}", MockOptions::default()).await;
    let url = gw.url("/mcp");
    let sid = initialize(&url, "2025-06-18").await;
    let (v, _, _) = ask(&url, &list(1, "tools/list"), &session(&sid, "Bearer alice")).await;
    assert_eq!(v, "miss");
    let (v, _, _) = ask(&url, &list(2, "tools/list"), &session(&sid, "Bearer alice")).await;
    assert_eq!(v, "hit");
    // Same session token, same address, another credential: its own entry.
    let (v, _, _) = ask(&url, &list(3, "tools/list"), &session(&sid, "Bearer mallory")).await;
    assert_eq!(v, "miss");
    let (v, _, _) = ask(&url, &list(4, "tools/list"), &[("mcp-session-id", &sid)]).await;
    assert_eq!(v, "miss", "no credential is the address, another principal again");
    assert_eq!(calls.get("tools/list"), 3);
    // The mock marks its stateless lists `cacheScope: public`: shared.
    let stateless = r#"{"jsonrpc":"2.0","id":9,"method":"prompts/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}"#;
    let mut alice = stateless_headers("prompts/list", None);
    alice.push(("authorization", "Bearer alice"));
    assert_eq!(ask(&url, stateless, &alice).await.0, "miss");
    let mut bob = stateless_headers("prompts/list", None);
    bob.push(("authorization", "Bearer bob"));
    assert_eq!(ask(&url, stateless, &bob).await.0, "hit");
    assert_eq!(calls.get("prompts/list"), 1);
}

#[tokio::test]
async fn errors_are_not_cached_and_uncached_methods_bypass() {
    let (gw, _mock, calls) = cached(r#"{ tools = ["fail", "echo"] }"#, MockOptions::default()).await;
    let url = gw.url("/mcp");
    let sid = initialize(&url, "2025-06-18").await;
    let fail = |id: u32| {
        format!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"fail","arguments":{{"code":-32000}}}}}}"#
        )
    };
    for id in [1, 2] {
        let (v, _, msgs) = ask(&url, &fail(id), &[("mcp-session-id", &sid)]).await;
        assert_eq!(v, "miss");
        assert_eq!(msgs[0]["id"], id);
        assert_eq!(msgs[0]["error"]["code"], -32000);
    }
    assert_eq!(calls.get("tools/call"), 2);
    let echo = r#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"arguments":{"text":"hi"},"name":"echo"}}"#;
    let echo_reordered =
        r#"{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"}}}"#;
    assert_eq!(ask(&url, echo, &[("mcp-session-id", &sid)]).await.0, "miss");
    let (v, _, msgs) = ask(&url, echo_reordered, &[("mcp-session-id", &sid)]).await;
    assert_eq!((v.as_str(), &msgs[0]["id"]), ("hit", &Value::from(6)));
    let add = r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"add","arguments":{"a":1,"b":2}}}"#;
    assert_eq!(ask(&url, add, &[("mcp-session-id", &sid)]).await.0, "bypass");
    let ping = r#"{"jsonrpc":"2.0","id":8,"method":"ping"}"#;
    assert_eq!(ask(&url, ping, &[("mcp-session-id", &sid)]).await.0, "bypass");
}

#[tokio::test]
async fn a_backend_without_a_cache_has_no_cache_header() {
    let mock = mock(MockOptions::default()).await;
    let gw = gateway(parse(&config_for(&[("/mcp", &mock.url("/mcp"))], ""))).await;
    let sid = initialize(&gw.url("/mcp"), "2025-06-18").await;
    let resp = post(&gw.url("/mcp"), &list(1, "tools/list"), &[("mcp-session-id", &sid)]).await;
    assert!(resp.headers().get("x-switchyard-cache").is_none());
}

#[tokio::test]
async fn notifications_passing_through_invalidate() {
    let cache = r#"{ methods = ["tools/list", "resources/read"] }"#;
    let (gw, _mock, calls) = cached(cache, MockOptions::default()).await;
    let url = gw.url("/mcp");
    let sid = initialize(&url, "2025-06-18").await;
    let h = [("mcp-session-id", sid.as_str())];
    let read = r#"{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"mock://readme"}}"#;
    for body in [&list(1, "tools/list"), read] {
        assert_eq!(ask(&url, body, &h).await.0, "miss");
        assert_eq!(ask(&url, body, &h).await.0, "hit");
    }
    // The mock announces the change on the answer's SSE stream.
    let changed = r#"{"jsonrpc":"2.0","id":2,"method":"mock/changed","params":{"name":"tools"}}"#;
    let (v, _, msgs) = ask(&url, changed, &h).await;
    assert_eq!(v, "bypass");
    assert_eq!(msgs[0]["method"], "notifications/tools/list_changed");
    assert_eq!(ask(&url, &list(3, "tools/list"), &h).await.0, "miss");
    assert_eq!(ask(&url, read, &h).await.0, "hit", "a tools change leaves reads alone");
    let updated = r#"{"jsonrpc":"2.0","id":4,"method":"mock/changed","params":{"uri":"mock://readme"}}"#;
    ask(&url, updated, &h).await;
    assert_eq!(ask(&url, read, &h).await.0, "miss");
    assert_eq!((calls.get("tools/list"), calls.get("resources/read")), (2, 2));
}

#[tokio::test]
async fn admin_delete_clears_by_hand() {
    let (gw, _mock, calls) = cached("{}", MockOptions::default()).await;
    let url = gw.url("/mcp");
    let sid = initialize(&url, "2025-06-18").await;
    let h = [("mcp-session-id", sid.as_str())];
    let bearer = format!("Bearer {TOKEN}");
    let admin = |path: &str, method: reqwest::Method| {
        http().request(method, gw.url(path)).header("authorization", bearer.clone()).send()
    };
    ask(&url, &list(1, "tools/list"), &h).await;
    assert_eq!(ask(&url, &list(1, "tools/list"), &h).await.0, "hit");
    let resp = admin("/admin/cache/b0", reqwest::Method::DELETE).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.json::<Value>().await.unwrap()["cleared"][0], "b0");
    assert_eq!(ask(&url, &list(1, "tools/list"), &h).await.0, "miss");
    assert_eq!(admin("/admin/cache", reqwest::Method::DELETE).await.unwrap().status(), 200);
    assert_eq!(ask(&url, &list(1, "tools/list"), &h).await.0, "miss");
    assert_eq!(calls.get("tools/list"), 3);
    assert_eq!(admin("/admin/cache/nope", reqwest::Method::DELETE).await.unwrap().status(), 404);
    assert_eq!(admin("/admin/cache", reqwest::Method::GET).await.unwrap().status(), 405);
    let unauthorized = http().delete(gw.url("/admin/cache")).send().await.unwrap();
    assert_eq!(unauthorized.status(), 401);
    let metrics = http().get(gw.url("/metrics")).send().await.unwrap().text().await.unwrap();
    for name in ["hits", "misses", "coalesced", "evictions"] {
        let line = format!("switchyard_cache_{name}_total{{backend=\"b0\"}}");
        assert!(metrics.contains(&line), "no {line} in /metrics");
    }
    assert!(metrics.contains("switchyard_cache_bytes{backend=\"b0\"}"), "no cache bytes gauge");
}

#[tokio::test]
async fn answers_are_replayed_in_the_format_the_client_prefers() {
    // SSE from the upstream, JSON to a client that lists JSON first.
    let (gw, _mock, _) = cached("{}", MockOptions::default()).await;
    let url = gw.url("/mcp");
    let sid = initialize(&url, "2025-06-18").await;
    let (v, ct, _) = ask(&url, &list(1, "tools/list"), &[("mcp-session-id", &sid)]).await;
    assert_eq!((v.as_str(), ct.as_str()), ("miss", "application/json"));
    let (v, ct, msgs) = ask(&url, &list(2, "tools/list"), &[("mcp-session-id", &sid)]).await;
    assert_eq!((v.as_str(), ct.as_str(), &msgs[0]["id"]), ("hit", "application/json", &Value::from(2)));
    // JSON from the upstream, SSE to a client that prefers it.
    let (gw, _mock, _) = cached("{}", MockOptions { json_only: true, ..Default::default() }).await;
    let url = gw.url("/mcp");
    let sid = initialize(&url, "2025-06-18").await;
    for (id, want) in [(3, "miss"), (4, "hit")] {
        let resp = http()
            .post(&url)
            .header("content-type", "application/json")
            .header("accept", "text/event-stream, application/json")
            .header("mcp-session-id", &sid)
            .body(list(id, "tools/list"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.headers()["x-switchyard-cache"], want);
        assert_eq!(resp.headers()["content-type"], "text/event-stream");
        let text = resp.text().await.unwrap();
        assert_eq!(messages("text/event-stream", &text)[0]["id"], id);
    }
}

#[tokio::test]
async fn a_stdio_backend_is_cached_and_invalidated_by_its_notifications() {
    let text = stdio_config(BIN, &["mock", "--stdio"], "cache = {}");
    let gw = gateway(parse(&text)).await;
    wait_health(&gw, |h| h["backends"][0]["processes"][0]["status"] == "up").await;
    let url = gw.url("/mcp");
    let sid = initialize(&url, "2025-06-18").await;
    let h = [("mcp-session-id", sid.as_str())];
    assert_eq!(ask(&url, &list(1, "tools/list"), &h).await.0, "miss");
    let (v, _, msgs) = ask(&url, &list(2, "tools/list"), &h).await;
    assert_eq!((v.as_str(), &msgs[0]["id"]), ("hit", &Value::from(2)));
    let counts = |msgs: &[Value]| msgs[0]["result"]["tools/list"].as_u64();
    let (_, _, msgs) = ask(&url, &list(3, "mock/calls"), &h).await;
    assert_eq!(counts(&msgs), Some(1));
    // The child announces a change; the process pool's feed drops the entry.
    let changed = r#"{"jsonrpc":"2.0","id":4,"method":"mock/changed","params":{"name":"tools"}}"#;
    ask(&url, changed, &h).await;
    let dropped = async {
        loop {
            let (v, _, _) = ask(&url, &list(5, "tools/list"), &h).await;
            if v == "miss" {
                return;
            }
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(DEADLINE, dropped).await.expect("the stdio notification never dropped the entry");
}

#[tokio::test]
async fn an_rmcp_client_lists_through_a_cached_route() {
    let (gw, _mock, calls) = cached("{}", MockOptions::default()).await;
    let url = gw.url("/mcp");
    for _ in 0..3 {
        let client = connect((), &url, ClientLifecycleMode::Initialize).await;
        let tools = tokio::time::timeout(DEADLINE, client.list_all_tools()).await.unwrap().unwrap();
        assert_eq!(tools.len(), 6);
        let _ = client.cancel().await;
    }
    assert_eq!(calls.get("tools/list"), 1, "three clients, one upstream list");
}

#[tokio::test]
async fn a_hit_for_a_session_whose_instance_is_down_gets_404_like_a_forward() {
    let calls = Calls::default();
    let mock = mock(MockOptions { calls: calls.clone(), ..Default::default() }).await;
    let text = config_for(&[("/mcp", &mock.url("/mcp"))], "").replace(
        "timeout = \"5s\"\n",
        // Hits never reach the backend, so without traffic its probes would
        // slow to `idle_interval` (60 s): this test wants the death seen now.
        "timeout = \"5s\"\ncache = {}\nhealth = { interval = \"100ms\", timeout = \"80ms\", idle_interval = \"100ms\", rise = 1, fall = 1 }\n",
    );
    let gw = gateway(parse(&text)).await;
    let url = gw.url("/mcp");
    let sid = initialize(&url, "2025-06-18").await;
    let h = [("mcp-session-id", sid.as_str())];
    assert_eq!(ask(&url, &list(1, "tools/list"), &h).await.0, "miss");
    assert_eq!(ask(&url, &list(2, "tools/list"), &h).await.0, "hit");
    mock.stop().await;
    wait_health(&gw, |h| h["backends"][0]["instances"][0]["status"] == "down").await;
    // The answer is still in the cache, but the session is over: its client
    // must re-initialize, as it would have to at its next uncached request.
    let (status, msgs) = call(&url, &list(3, "tools/list"), &h).await;
    assert_eq!(status, 404);
    assert_eq!((msgs[0]["id"].as_u64(), msgs[0]["error"]["code"].as_i64()), (Some(3), Some(-32001)));
    assert_eq!(calls.get("tools/list"), 1);
}

/// In `per_session` mode each session has a process of its own, and with it
/// state of its own: two sessions of one principal (same address, no
/// credential) must each get their own process's answer, cached per session.
#[tokio::test]
async fn sessions_of_one_principal_never_see_each_others_per_session_answers() {
    let fixture = format!("{}/tests/fixtures/misbehaving_server.py", env!("CARGO_MANIFEST_DIR"));
    let extra = "mode = \"per_session\"\ncache = { methods = [\"resources/read\"] }";
    let gw = gateway(parse(&stdio_config("python3", &[&fixture], extra))).await;
    let url = gw.url("/mcp");
    let (a, b) = (initialize(&url, "2025-06-18").await, initialize(&url, "2025-06-18").await);
    let remember = |text: &str| {
        format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"remember","arguments":{{"text":"{text}"}}}}}}"#
        )
    };
    let read = r#"{"jsonrpc":"2.0","id":2,"method":"resources/read","params":{"uri":"note://"}}"#;
    let note = |msgs: &[Value]| msgs[0]["result"]["contents"][0]["text"].as_str().map(String::from);
    for (sid, text) in [(&a, "alpha"), (&b, "beta")] {
        assert_eq!(ask(&url, &remember(text), &[("mcp-session-id", sid)]).await.0, "bypass");
    }
    for (sid, text) in [(&a, "alpha"), (&b, "beta")] {
        let (v, _, msgs) = ask(&url, read, &[("mcp-session-id", sid)]).await;
        assert_eq!((v.as_str(), note(&msgs).as_deref()), ("miss", Some(text)), "session {text}'s first read");
        let (v, _, msgs) = ask(&url, read, &[("mcp-session-id", sid)]).await;
        assert_eq!((v.as_str(), note(&msgs).as_deref()), ("hit", Some(text)), "session {text}'s second read");
    }
}
