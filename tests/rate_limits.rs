//! Rate limits and admission through the real gateway: real sockets, the
//! built-in mock behind it, a real `redis-server` for the shared store.

mod common;

use std::time::Duration;

use common::redis::Redis;
use common::*;
use switchyard::mock::MockOptions;
use tokio::time::Instant;

const TOKEN: &str = "rate-limits-admin-token";

/// The cheap request these tests count. 2026-07-28 has no `ping` (a strict
/// server answers it 404), so it is that era's `tools/list`.
const PING: &str = r#"{"jsonrpc":"2.0","id":7,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}"#;

fn ping_headers() -> Vec<(&'static str, &'static str)> {
    stateless_headers("tools/list", None)
}

fn echo_call() -> String {
    r#"{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"echo","arguments":{"text":"x"},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}"#.into()
}

/// One backend `b` at `url` behind `/mcp`, with `backend_extra` in its table
/// and `rules` after the routes; the admin API is on.
fn config(url: &str, backend_extra: &str, rules: &str) -> String {
    format!(
        "[gateway]\nlisten = \"127.0.0.1:0\"\nsession_key = \"test-key\"\nshutdown_grace = \"2s\"\nadmin_token = \"{TOKEN}\"\n\n\
         [[backends]]\nname = \"b\"\ninstances = [{{ url = \"{url}\" }}]\ntimeout = \"5s\"\nhealth = {{ probe = \"none\" }}\n{backend_extra}\n\n\
         [[routes]]\npath = \"/mcp\"\nbackend = \"b\"\n\n{rules}"
    )
}

async fn metrics(gw: &Running) -> String {
    http().get(gw.url("/metrics")).send().await.unwrap().text().await.unwrap()
}

/// The backend table's request and failure totals for instance 0.
async fn totals(gw: &Running) -> (u64, u64) {
    let resp = http().get(gw.url("/admin/backends")).bearer_auth(TOKEN).send().await.unwrap();
    let t: serde_json::Value = resp.json().await.unwrap();
    let i = &t["backends"][0]["instances"][0];
    (i["requests"].as_u64().unwrap(), i["failures"].as_u64().unwrap())
}

/// Counts of answers by status.
#[derive(Debug, Default)]
struct Tally {
    ok: u32,
    limited: u32,
    other: Vec<u16>,
}

/// Offers `per_sec` pings a second for `length`, spread over `urls` in turn,
/// and counts the answers. At most 32 are in flight: on a busy machine the
/// offered rate then drops instead of requests queueing up in the test, so
/// that the gateway decides each one close to when it was sent. Returns the
/// tally and the time from the first request to the last answer, the window
/// in which the gateway decided.
async fn offer(urls: &[String], per_sec: u32, length: Duration) -> (Tally, Duration) {
    // One HTTP/2 connection per replica, as a real client would keep:
    // hundreds of fresh HTTP/1.1 connections a second measure the kernel's
    // accept queue, not the limiter.
    let client = reqwest::Client::builder().no_proxy().http2_prior_knowledge().build().unwrap();
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(32));
    let mut tick = tokio::time::interval(Duration::from_secs(1) / per_sec);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let total = (f64::from(per_sec) * length.as_secs_f64()) as usize;
    let mut tasks = Vec::with_capacity(total);
    let started = Instant::now();
    for n in 0..total {
        tick.tick().await;
        let slot = slots.clone().acquire_owned().await.unwrap();
        let req = client
            .post(&urls[n % urls.len()])
            .header("content-type", "application/json")
            .header("accept", ACCEPT_BOTH)
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", "tools/list")
            .body(PING);
        tasks.push(tokio::spawn(async move {
            let resp = req.send().await.unwrap();
            let status = resp.status().as_u16();
            let _ = resp.bytes().await;
            drop(slot);
            status
        }));
    }
    let mut tally = Tally::default();
    for task in tasks {
        match tokio::time::timeout(DEADLINE, task).await.unwrap().unwrap() {
            200 => tally.ok += 1,
            429 => tally.limited += 1,
            other => tally.other.push(other),
        }
    }
    (tally, started.elapsed())
}

/// Held by the tests that offer load, so that they do not run at once: on
/// a two-core machine each would starve the other's offered load into gaps,
/// and a gap longer than the burst is capacity no limiter can give back.
static LOAD: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Checks that the load really was an overload of `rate`.
fn assert_overloaded(tally: &Tally, rate: f64, window: Duration) {
    let offered = f64::from(tally.ok + tally.limited) / window.as_secs_f64();
    assert!(offered >= 2.0 * rate, "the machine offered only {offered:.0}/s against {rate}/s; not an overload");
}

/// How far `admitted` is from `rate` over `length` plus one `burst`, as a
/// fraction of the rate's share.
fn error(admitted: u32, rate: f64, burst: f64, length: Duration) -> f64 {
    let expected = rate * length.as_secs_f64() + burst;
    (f64::from(admitted) - expected) / (rate * length.as_secs_f64())
}

#[tokio::test]
async fn over_the_limit_gets_429_with_retry_after_and_a_json_rpc_error_and_no_backend_sees_it() {
    let mock = mock(MockOptions::default()).await;
    let rules = "[[rate_limits]]\nname = \"per-client\"\nkey = \"client\"\nrate = \"1/m\"\nburst = 2\n";
    let gw = gateway(parse(&config(&mock.url("/mcp"), "", rules))).await;
    let url = gw.url("/mcp");
    let alice = [ping_headers(), vec![("authorization", "Bearer alice")]].concat();
    for _ in 0..2 {
        assert_eq!(call(&url, PING, &alice).await.0, 200);
    }
    let before = totals(&gw).await;
    assert_eq!(before, (2, 0));

    let resp = post(&url, PING, &alice).await;
    assert_eq!(resp.status(), 429);
    let retry_after: u64 = resp.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["id"], 7);
    assert_eq!(body["error"]["code"], -32005);
    assert_eq!(body["error"]["data"]["rule"], "per-client");
    let ms = body["error"]["data"]["retryAfterMs"].as_u64().unwrap();
    assert!((1..=60_000).contains(&ms) && retry_after == ms.div_ceil(1000), "{ms} ms vs {retry_after} s");

    // Another credential is another client; the same one from anywhere is not.
    let bob = [ping_headers(), vec![("authorization", "Bearer bob")]].concat();
    assert_eq!(call(&url, PING, &bob).await.0, 200);
    assert_eq!(call(&url, PING, &alice).await.0, 429);
    // Notifications are not counted.
    let note = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;
    assert_ne!(post(&url, note, &[("authorization", "Bearer alice")]).await.status(), 429);

    // The refusals never reached the backend, so the table did not move for them.
    let after = totals(&gw).await;
    assert_eq!(after.1, 0, "a 429 counted as a backend failure");
    assert_eq!(after.0, before.0 + 2, "only bob's ping and the notification reached the backend");
    let m = metrics(&gw).await;
    assert!(m.contains("switchyard_ratelimited_total{rule=\"per-client\"} 2"), "{m}");
}

#[tokio::test]
async fn a_rule_counts_only_what_its_match_names() {
    let mock = mock(MockOptions::default()).await;
    let rules = "[[rate_limits]]\nkey = \"global\"\nrate = \"1/h\"\nburst = 1\nmatch = { route = \"/mcp\", method = \"tools/call\", tool = \"echo\" }\n";
    let gw = gateway(parse(&config(&mock.url("/mcp"), "", rules))).await;
    let url = gw.url("/mcp");
    let echo = stateless_headers("tools/call", Some("echo"));
    assert_eq!(call(&url, &echo_call(), &echo).await.0, 200);
    let (status, messages) = call(&url, &echo_call(), &echo).await;
    assert_eq!(status, 429);
    assert_eq!(messages[0]["error"]["data"]["rule"], "rate_limits.0");
    // Pings are not tools/call of echo.
    for _ in 0..3 {
        assert_eq!(call(&url, PING, &ping_headers()).await.0, 200);
    }
}

#[tokio::test]
async fn each_request_of_a_batch_counts_and_one_refusal_refuses_the_batch() {
    let mock = mock(MockOptions::default()).await;
    let rules = "[[rate_limits]]\nkey = \"global\"\nrate = \"1/h\"\nburst = 3\n";
    let gw = gateway(parse(&config(&mock.url("/mcp"), "", rules))).await;
    let url = gw.url("/mcp");
    let batch = |ids: &[u32]| {
        let items: Vec<String> =
            ids.iter().map(|i| format!(r#"{{"jsonrpc":"2.0","id":{i},"method":"ping"}}"#)).collect();
        format!("[{}]", items.join(","))
    };
    // Two requests and a notification: two tokens of three.
    let with_note = batch(&[1, 2]).replace(']', r#",{"jsonrpc":"2.0","method":"notifications/initialized"}]"#);
    assert_ne!(post(&url, &with_note, &[]).await.status(), 429);
    assert_ne!(post(&url, &batch(&[3]), &[]).await.status(), 429);
    let resp = post(&url, &batch(&[4, 5]), &[]).await;
    assert_eq!(resp.status(), 429);
    assert_eq!(totals(&gw).await.0, 2, "the refused batch never reached the backend");
}

#[tokio::test]
async fn stdio_backends_are_limited_too() {
    let rules = "[[rate_limits]]\nkey = \"ip\"\nrate = \"1/h\"\nburst = 1\nmatch = { backend = \"kids\" }\n";
    let text = format!("{}\n{rules}", stdio_config(env!("CARGO_BIN_EXE_switchyard"), &["mock", "--stdio"], ""));
    let gw = gateway(parse(&text)).await;
    let url = gw.url("/mcp");
    wait_for_health(&gw, |h| h["status"] == "healthy").await;
    assert_eq!(call(&url, PING, &ping_headers()).await.0, 200);
    let (status, messages) = call(&url, PING, &ping_headers()).await;
    assert_eq!(status, 429);
    assert_eq!(messages[0]["error"]["code"], -32005);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_three_times_the_rate_the_gateway_admits_the_rate_within_five_percent() {
    let mock = mock(MockOptions::default()).await;
    let (rate, burst) = (100.0, 10.0);
    let rules = format!("[[rate_limits]]\nkey = \"global\"\nrate = \"{rate}/s\"\nburst = {burst}\n");
    let gw = gateway(parse(&config(&mock.url("/mcp"), "", &rules))).await;
    let _alone = LOAD.lock().await;
    let (tally, length) = offer(&[gw.url("/mcp")], 3 * rate as u32, Duration::from_secs(5)).await;
    assert!(tally.other.is_empty(), "{tally:?}");
    assert_overloaded(&tally, rate, length);
    let err = error(tally.ok, rate, burst, length);
    eprintln!(
        "local: offered {}/s, answered in {length:?}: admitted {} ({:+.2}% off {rate}/s)",
        3.0 * rate,
        tally.ok,
        err * 100.0
    );
    assert!(err.abs() <= 0.05, "admitted {} in {length:?}: {:+.2}%", tally.ok, err * 100.0);
    let (requests, failures) = totals(&gw).await;
    assert_eq!((requests, failures), (u64::from(tally.ok), 0), "only admitted requests reach the backend");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_sharing_redis_admit_the_rate_together_within_ten_percent() {
    let redis = Redis::start().await;
    let mock = mock(MockOptions::default()).await;
    let (rate, burst) = (100.0, 10.0);
    let rules = format!(
        "[[rate_limits]]\nname = \"shared\"\nkey = \"global\"\nrate = \"{rate}/s\"\nburst = {burst}\nstore = \"{}\"\n\
         # A debug build on a busy test machine can be slow to answer; a fallback\n\
         # here would be a flaky test, not a finding.\nstore_timeout = \"2s\"\n",
        redis.url()
    );
    let text = config(&mock.url("/mcp"), "", &rules);
    let (one, two) = (gateway(parse(&text)).await, gateway(parse(&text)).await);
    let _alone = LOAD.lock().await;
    let (tally, length) = offer(&[one.url("/mcp"), two.url("/mcp")], 3 * rate as u32, Duration::from_secs(5)).await;
    assert!(tally.other.is_empty(), "{tally:?}");
    assert_overloaded(&tally, rate, length);
    let err = error(tally.ok, rate, burst, length);
    eprintln!(
        "redis: 2 replicas offered {}/s, answered in {length:?}: admitted {} ({:+.2}% off {rate}/s)",
        3.0 * rate,
        tally.ok,
        err * 100.0
    );
    assert!(err.abs() <= 0.10, "admitted {} in {length:?}: {:+.2}%", tally.ok, err * 100.0);
    // Each replica alone would have admitted the whole rate: both did work.
    let (a, b) = (totals(&one).await.0, totals(&two).await.0);
    assert!(a > 0 && b > 0, "{a} + {b}");
    assert!(metrics(&one).await.contains("switchyard_ratelimit_store_fallback{rule=\"shared\"} 0"));
}

#[tokio::test]
async fn when_redis_is_unreachable_requests_flow_on_local_buckets_and_a_metric_says_so() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let mock = mock(MockOptions::default()).await;
    let rules = format!(
        "[[rate_limits]]\nname = \"fallback\"\nkey = \"global\"\nrate = \"1/h\"\nburst = 3\nstore = \"redis://127.0.0.1:{port}\"\n"
    );
    let gw = gateway(parse(&config(&mock.url("/mcp"), "", &rules))).await;
    let url = gw.url("/mcp");
    let started = Instant::now();
    for _ in 0..3 {
        assert_eq!(call(&url, PING, &ping_headers()).await.0, 200);
    }
    // The local bucket still limits.
    assert_eq!(call(&url, PING, &ping_headers()).await.0, 429);
    assert!(started.elapsed() < Duration::from_secs(2), "a dead store stalled requests: {:?}", started.elapsed());
    let m = metrics(&gw).await;
    assert!(m.contains("switchyard_ratelimit_store_fallback{rule=\"fallback\"} 1"), "{m}");
}

#[tokio::test]
async fn a_rule_falls_back_when_redis_dies_and_shares_again_when_it_returns() {
    let mut redis = Redis::start().await;
    let mock = mock(MockOptions::default()).await;
    let rules = format!(
        "[[rate_limits]]\nname = \"comeback\"\nkey = \"global\"\nrate = \"1/h\"\nburst = 2\nstore = \"{}\"\n",
        redis.url()
    );
    let gw = gateway(parse(&config(&mock.url("/mcp"), "", &rules))).await;
    let url = gw.url("/mcp");
    let fallback =
        |m: &str, v: u8| m.contains(&format!("switchyard_ratelimit_store_fallback{{rule=\"comeback\"}} {v}"));
    // Redis holds the bucket: two pass, the third is refused.
    assert_eq!(call(&url, PING, &ping_headers()).await.0, 200);
    assert_eq!(call(&url, PING, &ping_headers()).await.0, 200);
    assert_eq!(call(&url, PING, &ping_headers()).await.0, 429);
    assert!(fallback(&metrics(&gw).await, 0));

    // Redis gone: the local bucket (still full) takes over, and says so.
    redis.kill();
    assert_eq!(call(&url, PING, &ping_headers()).await.0, 200);
    assert!(fallback(&metrics(&gw).await, 1));

    // A fresh Redis (empty) is found again within the retry interval.
    redis.restart().await;
    let back = async {
        loop {
            let _ = call(&url, PING, &ping_headers()).await;
            if fallback(&metrics(&gw).await, 0) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(DEADLINE, back).await.expect("the rule never went back to Redis");
}

/// Sends `n` pings to the slow backend behind `gw` and waits until all `n`
/// hold their slot, as the table shows them in flight; their statuses come
/// back from the tasks.
async fn fill_slots(gw: &Running, n: u64) -> Vec<tokio::task::JoinHandle<u16>> {
    let slow = (0..n)
        .map(|_| {
            let url = gw.url("/mcp");
            tokio::spawn(async move { call(&url, PING, &ping_headers()).await.0 })
        })
        .collect();
    let poll = async {
        loop {
            let resp = http().get(gw.url("/admin/backends")).bearer_auth(TOKEN).send().await.unwrap();
            let t: serde_json::Value = resp.json().await.unwrap();
            if t["backends"][0]["instances"][0]["inFlight"] == n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    tokio::time::timeout(DEADLINE, poll).await.expect("the slow requests never went in flight");
    slow
}

#[tokio::test]
async fn past_max_in_flight_a_request_gets_a_fast_503_and_the_slot_comes_back() {
    let mock = mock(MockOptions { latency: Duration::from_millis(800), ..MockOptions::default() }).await;
    let gw = gateway(parse(&config(&mock.url("/mcp"), "max_in_flight = 2", ""))).await;
    let url = gw.url("/mcp");
    let slow = fill_slots(&gw, 2).await;
    let started = Instant::now();
    let resp = post(&url, PING, &ping_headers()).await;
    assert!(started.elapsed() < Duration::from_millis(400), "the refusal waited: {:?}", started.elapsed());
    assert_eq!(resp.status(), 503);
    assert_eq!(resp.headers()["retry-after"], "1");
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], -32003);
    assert_eq!(body["error"]["data"]["backend"], "b");
    // Nothing measured yet: the hint is the old one second.
    assert_eq!(body["error"]["data"]["retryAfterMs"], 1000);
    for task in slow {
        assert_eq!(task.await.unwrap(), 200);
    }
    assert_eq!(call(&url, PING, &ping_headers()).await.0, 200, "the slots came back");
    assert_eq!(totals(&gw).await, (3, 0), "the shed request never reached the backend");
    assert!(metrics(&gw).await.contains("switchyard_shed_total{backend=\"b\"} 1"));
}

#[tokio::test]
async fn a_shed_requests_retry_hint_comes_from_how_long_slots_are_held() {
    let mock = mock(MockOptions { latency: Duration::from_millis(400), ..MockOptions::default() }).await;
    // Its own backend name: the shed metric is shared by the tests of this process.
    let text = config(&mock.url("/mcp"), "max_in_flight = 2", "").replace("\"b\"", "\"slots\"");
    let gw = gateway(parse(&text)).await;
    let url = gw.url("/mcp");
    // Two requests that each hold a slot for the mock's 400 ms teach the
    // gateway how long slots are held.
    for _ in 0..2 {
        assert_eq!(call(&url, PING, &ping_headers()).await.0, 200);
    }
    let slow = fill_slots(&gw, 2).await;
    let resp = post(&url, PING, &ping_headers()).await;
    assert_eq!(resp.status(), 503);
    assert_eq!(resp.headers()["retry-after"], "1", "whole seconds, rounded up");
    let body: serde_json::Value = resp.json().await.unwrap();
    let ms = body["error"]["data"]["retryAfterMs"].as_u64().expect("no retryAfterMs");
    // About 400 ms held over 2 slots: one frees every ~200 ms. A busy
    // machine answers slower, never faster; the deadline (5 s) bounds it.
    assert!((200..=2_500).contains(&ms), "retryAfterMs {ms}");
    for task in slow {
        assert_eq!(task.await.unwrap(), 200);
    }
}

#[tokio::test]
async fn tokens_taken_by_earlier_rules_come_back_when_a_later_shared_rule_refuses() {
    let redis = Redis::start().await;
    let mock = mock(MockOptions::default()).await;
    // Both rules in Redis; `all` admits first, then `echo` refuses.
    let rules = format!(
        "[[rate_limits]]\nname = \"all\"\nkey = \"global\"\nrate = \"1/h\"\nburst = 2\nstore = \"{url}\"\nstore_timeout = \"2s\"\n\n\
         [[rate_limits]]\nname = \"echo\"\nkey = \"global\"\nrate = \"1/h\"\nburst = 1\nstore = \"{url}\"\nstore_timeout = \"2s\"\n\
         match = {{ method = \"tools/call\", tool = \"echo\" }}\n",
        url = redis.url()
    );
    let gw = gateway(parse(&config(&mock.url("/mcp"), "", &rules))).await;
    let url = gw.url("/mcp");
    let echo = stateless_headers("tools/call", Some("echo"));
    assert_eq!(call(&url, &echo_call(), &echo).await.0, 200);
    let (status, messages) = call(&url, &echo_call(), &echo).await;
    assert_eq!((status, &messages[0]["error"]["data"]["rule"]), (429, &serde_json::json!("echo")));
    // `all` had two; the admitted call took one, the refused one gave its back.
    assert_eq!(call(&url, PING, &ping_headers()).await.0, 200, "the refused call's token was not given back");
    let (status, messages) = call(&url, PING, &ping_headers()).await;
    assert_eq!((status, &messages[0]["error"]["data"]["rule"]), (429, &serde_json::json!("all")));
    let m = metrics(&gw).await;
    for rule in ["all", "echo"] {
        let shared = format!("switchyard_ratelimit_store_fallback{{rule=\"{rule}\"}} 0");
        assert!(m.contains(&shared), "rule {rule} fell back to local buckets: {m}");
    }
}

#[tokio::test]
async fn an_rmcp_client_sees_a_429_as_an_http_status_and_calls_on_once_the_bucket_refills() {
    use rmcp::model::CallToolRequestParams;
    use rmcp::service::{ClientLifecycleMode, ServiceError};

    let mock = mock(MockOptions::default()).await;
    // 20/s: one token every 50 ms, two at once.
    let interval = Duration::from_millis(50);
    let rules = "[[rate_limits]]\nname = \"calls\"\nrate = \"20/s\"\nburst = 2\nmatch = { method = \"tools/call\" }\n";
    let gw = gateway(parse(&config(&mock.url("/mcp"), "", rules))).await;
    let client = common::rmcp_client::connect((), &gw.url("/mcp"), ClientLifecycleMode::Initialize).await;
    let echo = || {
        CallToolRequestParams::new("echo").with_arguments(common::rmcp_client::args(serde_json::json!({ "text": "x" })))
    };
    let call_echo =
        async || tokio::time::timeout(DEADLINE, client.call_tool(echo())).await.expect("tools/call timed out");

    // Back to back, calls outrun 20/s within a few; the gateway refuses one.
    let mut refused = None;
    for _ in 0..100 {
        if let Err(e) = call_echo().await {
            refused = Some(e);
            break;
        }
    }
    let refused = refused.expect("100 calls back to back were never refused");
    // rmcp 3.11 returns a 429 before reading its body (reqwest
    // `post_message`, the `http_status_error` arm): the client sees the HTTP
    // status and `Retry-After`, not the JSON-RPC -32005 error in the body.
    // The error inside is a `StreamableHttpError<reqwest 0.13 Error>`, which
    // this crate (on reqwest 0.12) cannot name to downcast to, hence its
    // Debug form.
    assert!(matches!(refused, ServiceError::TransportSend(_)), "not a transport error: {refused:?}");
    let seen = format!("{refused:?}");
    assert!(seen.contains(r#"HttpStatus(HttpStatusError { status: 429, retry_after: Some("1") })"#), "{seen}");

    // The session survives the refusal. A refusal means the bucket was one
    // token short, so after one interval the next call passes; calls paced
    // at the rate all pass.
    for _ in 0..5 {
        tokio::time::sleep(interval).await;
        let result = call_echo().await.expect("a call at the rate was refused");
        assert_eq!(serde_json::to_value(&result).unwrap()["content"][0]["text"], "x");
    }
    let _ = client.cancel().await;
}

/// A config file for [`gateway_from_file`], written to a fresh path.
fn config_file(name: &str, text: &str) -> std::path::PathBuf {
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-{}.toml", std::process::id()));
    std::fs::write(&path, text).unwrap();
    path
}

async fn reload(gw: &Running) -> serde_json::Value {
    let resp = http().post(gw.url("/admin/reload")).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

/// A throttled client stays throttled through a reload that leaves its rule
/// alone, however much else in the file changes (another rule, a backend's
/// `max_in_flight`, lines above the rule); the rule that did change starts
/// with fresh buckets.
#[tokio::test]
async fn a_reload_keeps_the_buckets_of_unchanged_rules_and_a_changed_rule_starts_fresh() {
    let mock = mock(MockOptions::default()).await;
    let rule = |name: &str, method: &str, rate: &str| {
        format!(
            "[[rate_limits]]\nname = \"{name}\"\nkey = \"global\"\nrate = \"{rate}\"\nburst = 1\nmatch = {{ method = \"{method}\" }}\n\n"
        )
    };
    let v1 = config(&mock.url("/mcp"), "", &(rule("pings", "tools/list", "1/h") + &rule("calls", "tools/call", "1/h")));
    let path = config_file("reload-buckets", &v1);
    let gw = gateway_from_file(&path).await;
    let url = gw.url("/mcp");
    let echo = stateless_headers("tools/call", Some("echo"));
    for (body, headers) in [(PING.to_string(), ping_headers()), (echo_call(), echo.clone())] {
        assert_eq!(call(&url, &body, &headers).await.0, 200);
        assert_eq!(call(&url, &body, &headers).await.0, 429);
    }
    let v2 = config(
        &mock.url("/mcp"),
        "max_in_flight = 100",
        &format!("# the rules\n\n{}{}", rule("pings", "tools/list", "1/h"), rule("calls", "tools/call", "2/h")),
    );
    std::fs::write(&path, v2).unwrap();
    reload(&gw).await;
    let (status, msgs) = call(&url, PING, &ping_headers()).await;
    assert_eq!(status, 429, "the reload refilled an unchanged rule's bucket: {msgs:?}");
    assert_eq!(msgs[0]["error"]["data"]["rule"], "pings");
    assert_eq!(call(&url, &echo_call(), &echo).await.0, 200, "the changed rule kept its old bucket");
    assert_eq!(call(&url, &echo_call(), &echo).await.0, 429);
    let _ = std::fs::remove_file(&path);
}

/// Requests in flight keep their admission slots through a reload that
/// leaves the backend's `max_in_flight` alone: the cap still holds for the
/// requests that come after it.
#[tokio::test]
async fn a_reload_keeps_the_slots_in_flight_of_an_unchanged_cap() {
    let mock = mock(MockOptions { latency: Duration::from_millis(800), ..MockOptions::default() }).await;
    // Its own backend name: the shed counter is the process's, and another
    // test counts backend `b`'s.
    let file = |rules: &str| {
        config(&mock.url("/mcp"), "max_in_flight = 1", rules)
            .replace("name = \"b\"", "name = \"carried\"")
            .replace("backend = \"b\"", "backend = \"carried\"")
    };
    let path = config_file("reload-slots", &file(""));
    let gw = gateway_from_file(&path).await;
    let slow = fill_slots(&gw, 1).await;
    std::fs::write(&path, file("[[rate_limits]]\nkey = \"global\"\nrate = \"1000/s\"\n")).unwrap();
    reload(&gw).await;
    let resp = post(&gw.url("/mcp"), PING, &ping_headers()).await;
    assert_eq!(resp.status(), 503, "the reload forgot the slot in flight");
    for task in slow {
        assert_eq!(task.await.unwrap(), 200);
    }
    assert_eq!(call(&gw.url("/mcp"), PING, &ping_headers()).await.0, 200, "the slot came back");
    let _ = std::fs::remove_file(&path);
}
