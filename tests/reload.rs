//! Hot reload (admin API, SIGHUP) and sessions across two replicas, against
//! real upstreams, with a real rmcp client for the recovery case.

mod common;
mod fleet;

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::*;
use fleet::{Upstream, fleet};
use futures::StreamExt;

const TOKEN: &str = "reload-ops-token-0123";
const VERSION: &str = "2025-06-18";

fn backend(name: &str, url: &str) -> String {
    format!(
        "[[backends]]\nname = \"{name}\"\ninstances = [{{ url = \"{url}\" }}]\ntimeout = \"5s\"\n\
         health = {{ interval = \"200ms\", timeout = \"150ms\", rise = 1, fall = 2 }}\n\n"
    )
}

fn gateway_section() -> String {
    format!(
        "[gateway]\nlisten = \"127.0.0.1:0\"\nsession_key = \"reload-test-key\"\nshutdown_grace = \"2s\"\n\
         admin_tokens = {{ ops = \"{TOKEN}\" }}\n\n"
    )
}

fn temp_file(name: &str) -> PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    dir.join(format!("{name}-{}.toml", std::process::id()))
}

async fn admin(gw: &Running, method: reqwest::Method, path: &str) -> (u16, serde_json::Value) {
    let resp = http().request(method, gw.url(path)).bearer_auth(TOKEN).send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or_default())
}

async fn list(url: &str, sid: Option<&str>) -> (u16, Vec<serde_json::Value>) {
    match sid {
        Some(sid) => {
            let body = r#"{"jsonrpc":"2.0","id":7,"method":"tools/list"}"#;
            call(url, body, &[("mcp-session-id", sid), ("mcp-protocol-version", VERSION)]).await
        }
        None => {
            let body = r#"{"jsonrpc":"2.0","id":7,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}"#;
            call(url, body, &stateless_headers("tools/list", None)).await
        }
    }
}

fn sessionless(u: &Upstream) -> u64 {
    u.counters.sessionless.load(Ordering::SeqCst)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_under_load_adds_removes_and_reweighs_without_dropping_anything() {
    let (ups, _) = fleet(4);
    let (blue, green, old, canary) = (ups[0].url(), ups[1].url(), ups[2].url(), ups[3].url());
    let path = temp_file("reload-under-load");
    let v1 = format!(
        "{}{}{}{}[[routes]]\npath = \"/mcp\"\nsplit = [{{ backend = \"blue\", weight = 1 }}, {{ backend = \"green\", weight = 0 }}]\n\n\
         [[routes]]\npath = \"/old\"\nbackend = \"old\"\n",
        gateway_section(),
        backend("blue", &blue),
        backend("green", &green),
        backend("old", &old),
    );
    std::fs::write(&path, &v1).unwrap();
    let gw = gateway_from_file(&path).await;
    let url = gw.url("/mcp");

    // A session on blue with a long SSE answer in flight across the reload.
    let sid = initialize(&url, VERSION).await;
    let progress = r#"{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"progress","arguments":{"steps":10,"interval_ms":100},"_meta":{"progressToken":"p"}}}"#;
    let stream = post(&url, progress, &[("mcp-session-id", &sid), ("mcp-protocol-version", VERSION)]).await;
    assert_eq!(stream.status(), 200);
    let mut stream = stream.bytes_stream();
    let first = tokio::time::timeout(DEADLINE, stream.next()).await.unwrap().unwrap().unwrap();
    assert!(String::from_utf8_lossy(&first).contains("progress"), "the stream did not start");
    let (_, before) = admin(&gw, reqwest::Method::GET, "/admin/backends").await;
    let blue_requests = before["backends"][0]["instances"][0]["requests"].as_u64().unwrap();

    // Steady load, stateless and in the session, while the file changes.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let workers: Vec<_> = (0..4)
        .map(|i| {
            let (stop, url, sid) = (stop.clone(), url.clone(), sid.clone());
            tokio::spawn(async move {
                let mut failed = Vec::new();
                let mut ok = 0u32;
                while !stop.load(Ordering::Relaxed) {
                    let (status, msgs) = list(&url, (i % 2 == 0).then_some(sid.as_str())).await;
                    if status == 200 && msgs.iter().any(|m| m.get("result").is_some()) {
                        ok += 1;
                    } else {
                        failed.push(format!("{status} {msgs:?}"));
                    }
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                (ok, failed)
            })
        })
        .collect();

    let v2 = format!(
        "{}{}{}{}[[routes]]\npath = \"/mcp\"\nsplit = [{{ backend = \"blue\", weight = 0 }}, {{ backend = \"green\", weight = 1 }}]\n\n\
         [[routes]]\npath = \"/canary\"\nbackend = \"canary\"\n",
        gateway_section(),
        backend("blue", &blue),
        backend("green", &green),
        backend("canary", &canary),
    );
    std::fs::write(&path, &v2).unwrap();
    let (status, report) = admin(&gw, reqwest::Method::POST, "/admin/reload").await;
    assert_eq!(status, 200, "{report}");
    let names = |k: &str| {
        let mut v: Vec<String> =
            report[k].as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_string()).collect();
        v.sort();
        v
    };
    assert_eq!(names("kept"), ["blue", "green"]);
    assert_eq!(names("built"), ["canary"]);
    assert_eq!(names("dropped"), ["old"]);

    // New stateless work goes to green now; the session stays on blue.
    let g = sessionless(&ups[1]);
    tokio::time::timeout(DEADLINE, async {
        while sessionless(&ups[1]) < g + 20 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("green never took the reweighed traffic");
    assert_eq!(list(&gw.url("/canary"), None).await.0, 200, "the new route does not serve");
    assert_eq!(list(&gw.url("/old"), None).await.0, 404, "the removed route still serves");
    let metrics = http().get(gw.url("/metrics")).send().await.unwrap().text().await.unwrap();
    let old_up: Vec<&str> =
        metrics.lines().filter(|l| l.starts_with("switchyard_backend_up{backend=\"old\"")).collect();
    assert!(
        !old_up.is_empty() && old_up.iter().all(|l| l.ends_with(" 0")),
        "a removed instance still shows up: {old_up:?}"
    );

    // The SSE answer that was in flight runs to its result.
    let mut rest = String::new();
    tokio::time::timeout(DEADLINE, async {
        while let Some(chunk) = stream.next().await {
            rest.push_str(&String::from_utf8_lossy(&chunk.expect("the stream broke")));
            if rest.contains("\"result\"") {
                break;
            }
        }
    })
    .await
    .expect("the stream stalled");
    assert!(rest.contains("\"result\""), "the stream ended without its result: {rest}");

    stop.store(true, Ordering::Relaxed);
    let mut ok = 0;
    for w in workers {
        let (o, failed) = w.await.unwrap();
        assert!(failed.is_empty(), "requests failed across the reload: {:?}", &failed[..failed.len().min(3)]);
        ok += o;
    }
    assert!(ok > 20, "the load barely ran: {ok}");

    // The carried-over instance kept its record: counters went on, health stayed known.
    let (_, after) = admin(&gw, reqwest::Method::GET, "/admin/backends").await;
    let blue_view = after["backends"].as_array().unwrap().iter().find(|b| b["name"] == "blue").unwrap().clone();
    assert!(blue_view["instances"][0]["requests"].as_u64().unwrap() > blue_requests, "{blue_view}");
    assert_eq!(blue_view["instances"][0]["health"], "up", "{blue_view}");
    let _ = std::fs::remove_file(&path);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_reload_is_refused_and_the_old_config_keeps_serving() {
    let (ups, _) = fleet(1);
    let path = temp_file("reload-invalid");
    let good = format!(
        "{}{}[[routes]]\npath = \"/mcp\"\nbackend = \"blue\"\n",
        gateway_section(),
        backend("blue", &ups[0].url())
    );
    std::fs::write(&path, &good).unwrap();
    let gw = gateway_from_file(&path).await;
    assert_eq!(list(&gw.url("/mcp"), None).await.0, 200);

    let bad = good.replace("backend = \"blue\"\n", "backend = \"blue\"\nwieght = 3\n");
    std::fs::write(&path, &bad).unwrap();
    let (status, body) = admin(&gw, reqwest::Method::POST, "/admin/reload").await;
    assert_eq!(status, 422, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("wieght") && message.contains("line"), "{message}");
    assert_eq!(list(&gw.url("/mcp"), None).await.0, 200, "the old config stopped serving");
    let metrics = http().get(gw.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("switchyard_config_reloads_total{result=\"error\"}"), "no metric for the refusal");

    // A file that does not parse at all is refused the same way.
    std::fs::write(&path, "[[routes]\n").unwrap();
    assert_eq!(admin(&gw, reqwest::Method::POST, "/admin/reload").await.0, 422);
    assert_eq!(list(&gw.url("/mcp"), None).await.0, 200);
    let _ = std::fs::remove_file(&path);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_the_running_binary() {
    let (ups, _) = fleet(2);
    let path = temp_file("reload-sighup");
    let v1 = format!(
        "{}{}[[routes]]\npath = \"/mcp\"\nbackend = \"blue\"\n",
        gateway_section(),
        backend("blue", &ups[0].url())
    );
    std::fs::write(&path, &v1).unwrap();
    let (mut child, url, mut lines) = start_binary(&path, &[]).await;
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let second = url.replace("/mcp", "/second");
    assert_eq!(list(&second, None).await.0, 404);

    let v2 = format!("{v1}\n{}[[routes]]\npath = \"/second\"\nbackend = \"green\"\n", backend("green", &ups[1].url()));
    std::fs::write(&path, &v2).unwrap();
    let pid = child.id().unwrap().to_string();
    assert!(std::process::Command::new("kill").args(["-HUP", &pid]).status().unwrap().success());
    tokio::time::timeout(DEADLINE, async {
        while list(&second, None).await.0 != 200 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("SIGHUP did not reload the config");
    assert_eq!(list(&url, None).await.0, 200, "the first route stopped serving");
    assert!(child.try_wait().unwrap().is_none(), "SIGHUP killed the gateway");
    let _ = std::fs::remove_file(&path);
}

// === two replicas ===

fn pool_config(urls: &[String], health: &str) -> String {
    let instances: Vec<String> = urls.iter().map(|u| format!("{{ url = \"{u}\" }}")).collect();
    format!(
        "{}[[backends]]\nname = \"pool\"\ninstances = [{}]\ntimeout = \"5s\"\nhealth = {health}\n\n\
         [[routes]]\npath = \"/mcp\"\nbackend = \"pool\"\n",
        gateway_section(),
        instances.join(", ")
    )
}

/// The instance that has seen requests within a session.
fn pinned(ups: &[Upstream]) -> usize {
    let seen: Vec<usize> = (0..ups.len()).filter(|i| ups[*i].counters.in_session.load(Ordering::SeqCst) > 0).collect();
    assert_eq!(seen.len(), 1, "the session's requests went to several instances");
    seen[0]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_works_on_both_replicas_and_gets_404_where_its_instance_is_gone() {
    let (ups, _) = fleet(2);
    let health = "{ interval = \"200ms\", timeout = \"150ms\", rise = 1, fall = 2 }";
    let text = pool_config(&[ups[0].url(), ups[1].url()], health);
    let (a, b) = (gateway(parse(&text)).await, gateway(parse(&text)).await);
    let sid = initialize(&a.url("/mcp"), VERSION).await;
    for i in 0..20 {
        let replica = if i % 2 == 0 { &b } else { &a };
        let (status, msgs) = list(&replica.url("/mcp"), Some(&sid)).await;
        assert_eq!(status, 200, "request {i} on replica {}: {msgs:?}", i % 2);
    }
    // A replica whose config no longer has the session's instance answers
    // 404, so that the client starts a new session, as the spec asks.
    let other = 1 - pinned(&ups);
    let c = gateway(parse(&pool_config(&[ups[other].url()], health))).await;
    assert_eq!(list(&c.url("/mcp"), Some(&sid)).await.0, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_rmcp_client_recovers_when_its_pinned_instance_dies() {
    let (mut ups, _) = fleet(2);
    // Replica `b` gets no traffic, so it would probe only every
    // `idle_interval`; this test wants both replicas to see the death.
    let health = "{ interval = \"150ms\", timeout = \"100ms\", idle_interval = \"150ms\", rise = 1, fall = 1 }";
    let text = pool_config(&[ups[0].url(), ups[1].url()], health);
    let (a, b) = (gateway(parse(&text)).await, gateway(parse(&text)).await);
    let client = common::rmcp_client::connect_recovering((), &a.url("/mcp")).await;
    assert!(!client.list_all_tools().await.unwrap().is_empty());
    let dead = pinned(&ups);
    let other = 1 - dead;
    let fresh = ups[other].counters.initializes.load(Ordering::SeqCst);
    ups[dead].kill();
    // Both replicas see it down: each probes on its own.
    for gw in [&a, &b] {
        wait_health(gw, |h| h["backends"][0]["instances"][dead]["status"] == "down").await;
    }
    // The next call gets 404 from the gateway; rmcp re-initializes onto the
    // live instance and the call succeeds.
    let tools = tokio::time::timeout(DEADLINE, client.list_all_tools()).await.unwrap().unwrap();
    assert!(!tools.is_empty());
    assert!(ups[other].counters.initializes.load(Ordering::SeqCst) > fresh, "the client did not start a new session");
    client.cancel().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_splits_survive_a_reload_unless_the_file_changes_that_route() {
    let (ups, _) = fleet(2);
    let path = temp_file("reload-api-split");
    let route = |weights: (u32, u32)| {
        format!(
            "[[routes]]\npath = \"/mcp\"\nsplit = [{{ backend = \"blue\", weight = {} }}, {{ backend = \"green\", weight = {} }}]\n",
            weights.0, weights.1
        )
    };
    let file = |weights, timeout: &str| {
        format!(
            "{}{}{}{}",
            gateway_section(),
            backend("blue", &ups[0].url()),
            backend("green", &ups[1].url()),
            route(weights)
        )
        .replace("timeout = \"5s\"", &format!("timeout = \"{timeout}\""))
    };
    std::fs::write(&path, file((100, 0), "5s")).unwrap();
    let gw = gateway_from_file(&path).await;
    let put = http()
        .put(gw.url("/admin/routes/mcp/split"))
        .bearer_auth(TOKEN)
        .body(r#"[{"backend":"blue","weight":50},{"backend":"green","weight":50}]"#)
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200);
    let split = |gw: &Running| {
        let gw = gw.url("/admin/routes");
        async move {
            let v: serde_json::Value = http().get(gw).bearer_auth(TOKEN).send().await.unwrap().json().await.unwrap();
            v["routes"][0]["split"].clone()
        }
    };
    let fifty = serde_json::json!([{"backend":"blue","weight":50},{"backend":"green","weight":50}]);

    // The file changes elsewhere (a backend's timeout): the API's split
    // stays, and the rebuilt backends keep their unchanged instances' records.
    for _ in 0..6 {
        assert_eq!(list(&gw.url("/mcp"), None).await.0, 200);
    }
    let requests = |v: &serde_json::Value| -> u64 {
        v["backends"].as_array().unwrap().iter().map(|b| b["instances"][0]["requests"].as_u64().unwrap()).sum()
    };
    let before = requests(&admin(&gw, reqwest::Method::GET, "/admin/backends").await.1);
    assert!(before >= 6);
    std::fs::write(&path, file((100, 0), "6s")).unwrap();
    let (status, report) = admin(&gw, reqwest::Method::POST, "/admin/reload").await;
    assert_eq!(status, 200);
    assert_eq!(report["built"].as_array().unwrap().len(), 2, "{report}");
    assert_eq!(split(&gw).await, fifty);
    assert!(requests(&admin(&gw, reqwest::Method::GET, "/admin/backends").await.1) >= before, "the records were reset");

    // The file changes this route's split: the file wins.
    std::fs::write(&path, file((0, 100), "6s")).unwrap();
    assert_eq!(admin(&gw, reqwest::Method::POST, "/admin/reload").await.0, 200);
    assert_eq!(split(&gw).await, serde_json::json!([{"backend":"blue","weight":0},{"backend":"green","weight":100}]));
    let _ = std::fs::remove_file(&path);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_config_reloads_when_the_file_changes() {
    let (ups, _) = fleet(2);
    let path = temp_file("reload-watch");
    let v1 = format!(
        "{}{}[[routes]]\npath = \"/mcp\"\nbackend = \"blue\"\n",
        gateway_section().replace("[gateway]\n", "[gateway]\nwatch_config = true\n"),
        backend("blue", &ups[0].url())
    );
    std::fs::write(&path, &v1).unwrap();
    let gw = gateway_from_file(&path).await;
    let second = gw.url("/second");
    assert_eq!(list(&second, None).await.0, 404);
    let v2 = format!("{v1}\n{}[[routes]]\npath = \"/second\"\nbackend = \"green\"\n", backend("green", &ups[1].url()));
    std::fs::write(&path, &v2).unwrap();
    // The watch looks every two seconds.
    tokio::time::timeout(DEADLINE, async {
        while list(&second, None).await.0 != 200 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the file watch did not reload");
    let _ = std::fs::remove_file(&path);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_revokes_admin_tokens_and_never_revives_a_dropped_api_split() {
    let (ups, _) = fleet(2);
    let path = temp_file("reload-tokens");
    let ci = "ci-token-0123456789abc";
    let file = |with_green: bool, with_ci: bool| {
        let tokens = match with_ci {
            true => format!("admin_tokens = {{ ops = \"{TOKEN}\", ci = \"{ci}\" }}"),
            false => format!("admin_tokens = {{ ops = \"{TOKEN}\" }}"),
        };
        let green = if with_green { backend("green", &ups[1].url()) } else { String::new() };
        format!(
            "{}{}{green}[[routes]]\npath = \"/mcp\"\nbackend = \"blue\"\n",
            gateway_section().replace(&format!("admin_tokens = {{ ops = \"{TOKEN}\" }}"), &tokens),
            backend("blue", &ups[0].url()),
        )
    };
    std::fs::write(&path, file(true, true)).unwrap();
    let gw = gateway_from_file(&path).await;
    let put = |token: &'static str| {
        let url = gw.url("/admin/routes/mcp/split");
        async move {
            http()
                .put(url)
                .bearer_auth(token)
                .body(r#"[{"backend":"blue","weight":50},{"backend":"green","weight":50}]"#)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(put(ci).await, 200);
    let routes = || {
        let url = gw.url("/admin/routes");
        async move {
            let v: serde_json::Value = http().get(url).bearer_auth(TOKEN).send().await.unwrap().json().await.unwrap();
            v["routes"][0]["split"].clone()
        }
    };

    // The ci token leaves the file, and so does green (which the API split names).
    std::fs::write(&path, file(false, false)).unwrap();
    let (status, report) = admin(&gw, reqwest::Method::POST, "/admin/reload").await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(put(ci).await, 401, "a token removed from the file still works");
    assert_eq!(routes().await, serde_json::json!([{"backend":"blue","weight":1}]));

    // Green comes back: the API split that could not be kept stays dropped.
    std::fs::write(&path, file(true, false)).unwrap();
    assert_eq!(admin(&gw, reqwest::Method::POST, "/admin/reload").await.0, 200);
    assert_eq!(routes().await, serde_json::json!([{"backend":"blue","weight":1}]));
    let _ = std::fs::remove_file(&path);
}
