//! Weighted splits, the admin API's split changes, hot reload and sessions
//! across replicas, each under load against real upstreams.
//!
//! The upstreams are the counting fleet of the resilience tests: one
//! instance per backend, so an instance's counters say which side of a
//! split a request went to.

mod common;
mod fleet;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use common::*;
use fleet::{Upstream, fleet};

const TOKEN: &str = "routing-ops-token-0123";
const VERSION: &str = "2025-06-18";

/// A gateway config with backends `blue` and `green` (one instance each),
/// route `/mcp` over `split`, and whatever `extra` adds.
fn config(ups: &[Upstream], split: &str, route_extra: &str, extra: &str) -> String {
    format!(
        r#"
[gateway]
listen = "127.0.0.1:0"
session_key = "routing-test-key"
shutdown_grace = "2s"
admin_tokens = {{ ops = "{TOKEN}" }}

[[backends]]
name = "blue"
instances = [{{ url = "{}" }}]
timeout = "5s"
health = {{ interval = "200ms", timeout = "150ms", rise = 1, fall = 2 }}

[[backends]]
name = "green"
instances = [{{ url = "{}" }}]
timeout = "5s"
health = {{ interval = "200ms", timeout = "150ms", rise = 1, fall = 2 }}

[[routes]]
path = "/mcp"
split = {split}
{route_extra}
{extra}
"#,
        ups[0].url(),
        ups[1].url()
    )
}

fn sessionless(u: &Upstream) -> u64 {
    u.counters.sessionless.load(Ordering::SeqCst)
}

fn in_session(u: &Upstream) -> u64 {
    u.counters.in_session.load(Ordering::SeqCst)
}

static NEXT_ID: AtomicU64 = AtomicU64::new(100);

/// A stateless `tools/list`; `Err` says what the client saw.
async fn stateless_list(client: &reqwest::Client, url: &str, extra: &[(&str, &str)]) -> Result<(), String> {
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let body = format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/list","params":{{"_meta":{{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{{}}}}}}}}"#
    );
    let mut req = client
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/list")
        .body(body);
    for (k, v) in extra {
        req = req.header(*k, *v);
    }
    answer(req, id).await
}

/// A session-era `tools/list` in session `sid`.
async fn session_list(client: &reqwest::Client, url: &str, sid: &str) -> Result<(), String> {
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let req = client
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", VERSION)
        .header("mcp-session-id", sid)
        .body(format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/list"}}"#));
    answer(req, id).await
}

async fn answer(req: reqwest::RequestBuilder, id: u64) -> Result<(), String> {
    let resp = tokio::time::timeout(DEADLINE, req.send())
        .await
        .map_err(|_| "timed out".to_string())?
        .map_err(|e| format!("transport: {e}"))?;
    let status = resp.status().as_u16();
    let ct = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let text = resp.text().await.map_err(|e| format!("body: {e}"))?;
    match messages(&ct, &text).into_iter().find(|m| m["id"] == id) {
        Some(m) if status == 200 && m.get("result").is_some() => Ok(()),
        _ => Err(format!("{status} {}", text.chars().take(200).collect::<String>())),
    }
}

/// Steady load on one route: stateless workers, and session workers that
/// each open a session first and then stay in it.
struct Load {
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<(u64, Vec<String>)>>,
}

impl Load {
    async fn start(url: String, stateless: usize, sessions: usize) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let mut tasks = Vec::new();
        for _ in 0..stateless {
            let (stop, url) = (stop.clone(), url.clone());
            tasks.push(tokio::spawn(async move {
                let client = http();
                let (mut ok, mut failed) = (0, Vec::new());
                while !stop.load(Ordering::Relaxed) {
                    match stateless_list(&client, &url, &[]).await {
                        Ok(()) => ok += 1,
                        Err(e) => failed.push(e),
                    }
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                (ok, failed)
            }));
        }
        for _ in 0..sessions {
            // Opened before the load starts, so the test knows where they are.
            let sid = initialize(&url, VERSION).await;
            let (stop, url) = (stop.clone(), url.clone());
            tasks.push(tokio::spawn(async move {
                let client = http();
                let (mut ok, mut failed) = (0, Vec::new());
                while !stop.load(Ordering::Relaxed) {
                    match session_list(&client, &url, &sid).await {
                        Ok(()) => ok += 1,
                        Err(e) => failed.push(e),
                    }
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                (ok, failed)
            }));
        }
        Load { stop, tasks }
    }

    /// Stops the load; returns the requests that succeeded and the failures.
    async fn finish(self) -> (u64, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        let (mut ok, mut failed) = (0, Vec::new());
        for t in self.tasks {
            let (o, f) = tokio::time::timeout(DEADLINE, t).await.expect("a load worker hung").unwrap();
            ok += o;
            failed.extend(f);
        }
        (ok, failed)
    }
}

/// Waits until `grown` holds, polling every few milliseconds, within the
/// deadline.
async fn until(what: &str, grown: impl Fn() -> bool) {
    tokio::time::timeout(DEADLINE, async {
        while !grown() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("never happened: {what}"));
}

async fn admin(gw: &Running, method: reqwest::Method, path: &str, body: Option<&str>) -> (u16, serde_json::Value) {
    let mut req = http().request(method, gw.url(path)).bearer_auth(TOKEN);
    if let Some(b) = body {
        req = req.header("content-type", "application/json").body(b.to_string());
    }
    let resp = tokio::time::timeout(DEADLINE, req.send()).await.unwrap().unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or_default())
}

async fn put_split(gw: &Running, blue: u32, green: u32) -> serde_json::Value {
    let body = format!(r#"[{{"backend":"blue","weight":{blue}}},{{"backend":"green","weight":{green}}}]"#);
    let (status, v) = admin(gw, reqwest::Method::PUT, "/admin/routes/mcp/split", Some(&body)).await;
    assert_eq!(status, 200, "{v}");
    v
}

// === splits ===

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_stay_on_their_side_and_stateless_requests_follow_the_weights() {
    let (ups, _) = fleet(2);
    let split = r#"[{ backend = "blue", weight = 50 }, { backend = "green", weight = 50 }]"#;
    let gw = gateway(parse(&config(&ups, split, "sticky_header = \"x-user-id\"", ""))).await;
    let url = gw.url("/mcp");
    let client = http();

    let mut sides = [0, 0];
    for _ in 0..30 {
        let sid = initialize(&url, VERSION).await;
        let before = [in_session(&ups[0]), in_session(&ups[1])];
        for _ in 0..4 {
            session_list(&client, &url, &sid).await.unwrap();
        }
        let delta = [in_session(&ups[0]) - before[0], in_session(&ups[1]) - before[1]];
        assert!(delta == [4, 0] || delta == [0, 4], "a session's requests split across sides: {delta:?}");
        sides[usize::from(delta[1] == 4)] += 1;
    }
    assert!(sides[0] > 0 && sides[1] > 0, "50/50 put every session on one side: {sides:?}");

    // One user, by the sticky header, stays on one side.
    for user in ["alice", "bob", "carol"] {
        let before = [sessionless(&ups[0]), sessionless(&ups[1])];
        for _ in 0..10 {
            stateless_list(&client, &url, &[("x-user-id", user)]).await.unwrap();
        }
        let delta = [sessionless(&ups[0]) - before[0], sessionless(&ups[1]) - before[1]];
        assert!(delta == [10, 0] || delta == [0, 10], "{user} moved between sides: {delta:?}");
    }

    // Without it, 90/10 lands about 10% on green.
    put_split(&gw, 90, 10).await;
    let before = [sessionless(&ups[0]), sessionless(&ups[1])];
    for _ in 0..400 {
        stateless_list(&client, &url, &[]).await.unwrap();
    }
    let green = sessionless(&ups[1]) - before[1];
    assert_eq!(sessionless(&ups[0]) - before[0] + green, 400);
    assert!((15..=80).contains(&green), "90/10 sent {green} of 400 to green");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_override_header_reaches_a_canary_only_where_the_route_allows_it() {
    let (ups, _) = fleet(2);
    let split = r#"[{ backend = "blue", weight = 1 }, { backend = "green", weight = 0 }]"#;
    let extra = "\n[[routes]]\npath = \"/strict\"\nbackend = \"blue\"\n\n[[routes]]\npath = \"/canary\"\n\
         split = [{ backend = \"blue\", weight = 1 }, { backend = \"green\", weight = 0 }]\nallow_override = true\n";
    let gw = gateway(parse(&config(&ups, split, "", extra))).await;
    let client = http();
    let before = sessionless(&ups[1]);
    stateless_list(&client, &gw.url("/canary"), &[("x-switchyard-backend", "green")]).await.unwrap();
    assert_eq!(sessionless(&ups[1]), before + 1, "the override did not reach green");
    // Not allowed on /mcp: the header is ignored and the weights decide.
    stateless_list(&client, &gw.url("/mcp"), &[("x-switchyard-backend", "green")]).await.unwrap();
    assert_eq!(sessionless(&ups[1]), before + 1);
    // A name that is not a side is a client error, not a silent fallback.
    let err = stateless_list(&client, &gw.url("/canary"), &[("x-switchyard-backend", "nope")]).await.unwrap_err();
    assert!(err.starts_with("400") && err.contains("nope"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_10_50_100_shift_and_a_rollback_under_load_lose_nothing() {
    let (ups, _) = fleet(2);
    let split = r#"[{ backend = "blue", weight = 100 }, { backend = "green", weight = 0 }]"#;
    let gw = gateway(parse(&config(&ups, split, "", ""))).await;
    let load = Load::start(gw.url("/mcp"), 3, 3).await;
    // The sessions were opened at 100/0: they live on blue.
    let blue_sessions = in_session(&ups[0]);
    until("the session workers run on blue", || in_session(&ups[0]) > blue_sessions + 10).await;

    for (blue, green) in [(90, 10), (50, 50), (0, 100)] {
        let change = put_split(&gw, blue, green).await;
        assert_eq!(change["new"][1]["weight"], green, "{change}");
        let g = sessionless(&ups[1]);
        until("green takes stateless traffic", || sessionless(&ups[1]) > g + 20).await;
    }
    // All new traffic is green's now, but the sessions on blue carry on.
    let (b, s) = (sessionless(&ups[0]), in_session(&ups[0]));
    let g = sessionless(&ups[1]);
    until("green takes more", || sessionless(&ups[1]) > g + 50).await;
    until("blue's sessions carry on", || in_session(&ups[0]) > s + 20).await;
    // At most the requests already past the draw when the split changed.
    assert!(sessionless(&ups[0]) <= b + 3, "blue still got new stateless work at 0/100");

    // The rollback is one call.
    put_split(&gw, 100, 0).await;
    let b = sessionless(&ups[0]);
    until("blue takes it back", || sessionless(&ups[0]) > b + 20).await;
    let g = sessionless(&ups[1]);
    let b = sessionless(&ups[0]);
    until("blue takes more", || sessionless(&ups[0]) > b + 50).await;
    assert!(sessionless(&ups[1]) <= g + 3, "green still got new work after the rollback");

    let (ok, failed) = load.finish().await;
    assert!(failed.is_empty(), "{} of {} requests failed: {:?}", failed.len(), ok, &failed[..failed.len().min(5)]);
    let (_, routes) = admin(&gw, reqwest::Method::GET, "/admin/routes", None).await;
    assert_eq!(
        routes["routes"][0]["split"],
        serde_json::json!([{"backend":"blue","weight":100},{"backend":"green","weight":0}])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_split_changes_are_refused_and_change_nothing() {
    let (ups, _) = fleet(2);
    let split = r#"[{ backend = "blue", weight = 1 }, { backend = "green", weight = 1 }]"#;
    let gw = gateway(parse(&config(&ups, split, "", ""))).await;
    let put = |path: &'static str, body: &'static str| {
        let gw = &gw;
        async move { admin(gw, reqwest::Method::PUT, path, Some(body)).await }
    };
    let cases: [(&str, &str, u16, &str); 6] = [
        ("/admin/routes/nope/split", r#"[{"backend":"blue","weight":1}]"#, 404, "no route is named `nope`"),
        ("/admin/routes/mcp/split", r#"{"backend":"blue"}"#, 400, "expected a list"),
        ("/admin/routes/mcp/split", r#"[{"backend":"blue","weight":-1}]"#, 400, "expected a list"),
        ("/admin/routes/mcp/split", r#"[{"backend":"blue","weight":0}]"#, 422, "at least one side"),
        ("/admin/routes/mcp/split", r#"[{"backend":"red","weight":1}]"#, 422, "no backend is named `red`"),
        ("/admin/routes/mcp/split", r#"[]"#, 422, "at least one side"),
    ];
    for (path, body, status, says) in cases {
        let (got, v) = put(path, body).await;
        assert_eq!(got, status, "{body}: {v}");
        assert!(v["error"]["message"].as_str().unwrap_or("").contains(says), "{body}: {v}");
    }
    let resp = http().put(gw.url("/admin/routes/mcp/split")).body("[]").send().await.unwrap();
    assert_eq!(resp.status(), 401, "no token, no change");
    let (_, routes) = admin(&gw, reqwest::Method::GET, "/admin/routes", None).await;
    assert_eq!(
        routes["routes"][0]["split"],
        serde_json::json!([{"backend":"blue","weight":1},{"backend":"green","weight":1}])
    );
    assert_eq!(routes["routes"][0]["name"], "mcp");
}

// === session_ttl ===

/// A session token older than `session_ttl` (a day by default) gets 404, so
/// its client initializes again; the same session in a younger token is
/// served. The old token is the gateway's own, re-sealed with an earlier
/// issue time under the test's key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_older_than_session_ttl_gets_404_and_the_client_starts_again() {
    use switchyard::session::{SessionKey, Ticket};
    let (ups, _) = fleet(2);
    let gw = gateway(parse(&config(&ups, r#"[{ backend = "blue", weight = 1 }]"#, "", ""))).await;
    let url = gw.url("/mcp");
    let client = http();
    let sid = initialize(&url, VERSION).await;
    session_list(&client, &url, &sid).await.unwrap();
    let key = SessionKey::from_secret("routing-test-key");
    let ticket = key.open("/mcp", &sid).unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let aged = |hours: u64| key.seal("/mcp", &Ticket { issued_at: now - hours * 3600, ..ticket.clone() });
    session_list(&client, &url, &aged(23)).await.expect("a token younger than a day is served");
    let (status, msgs) = call(
        &url,
        r#"{"jsonrpc":"2.0","id":3,"method":"tools/list"}"#,
        &[("mcp-session-id", &aged(25)), ("mcp-protocol-version", VERSION)],
    )
    .await;
    assert_eq!((status, msgs[0]["error"]["code"].as_i64()), (404, Some(-32001)), "{msgs:?}");
    let fresh = initialize(&url, VERSION).await;
    session_list(&client, &url, &fresh).await.unwrap();
}

/// A side that only the admin API named, once retired by it, leaves the
/// route `session_ttl` after (1 s here, on the real clock); the retired side
/// the file names stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_side_retired_through_the_admin_api_is_dropped_once_session_ttl_has_passed() {
    let (ups, _) = fleet(2);
    let canary =
        format!("[[backends]]\nname = \"canary\"\ninstances = [{{ url = \"{}\" }}]\ntimeout = \"5s\"\n", ups[1].url());
    let text = config(&ups, r#"[{ backend = "blue", weight = 1 }, { backend = "green", weight = 1 }]"#, "", &canary)
        .replace("shutdown_grace = \"2s\"", "shutdown_grace = \"2s\"\nsession_ttl = \"1s\"");
    let gw = gateway(parse(&text)).await;
    let split = |body: &'static str| admin(&gw, reqwest::Method::PUT, "/admin/routes/mcp/split", Some(body));
    assert_eq!(split(r#"[{"backend":"blue","weight":8},{"backend":"canary","weight":2}]"#).await.0, 200);
    assert_eq!(split(r#"[{"backend":"blue","weight":1}]"#).await.0, 200);
    let sides = || async {
        let (_, routes) = admin(&gw, reqwest::Method::GET, "/admin/routes", None).await;
        routes["routes"][0]["split"].clone()
    };
    let retired = serde_json::json!([
        {"backend":"blue","weight":1},{"backend":"canary","weight":0},{"backend":"green","weight":0}
    ]);
    assert_eq!(sides().await, retired);
    let kept = serde_json::json!([{"backend":"blue","weight":1},{"backend":"green","weight":0}]);
    tokio::time::timeout(DEADLINE, async {
        while sides().await != kept {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the retired canary never left the route");
}
