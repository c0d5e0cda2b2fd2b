//! Weighted balancing end to end: three `switchyard mock` processes, one of
//! them slow, behind a real gateway. P2C should keep most traffic off the
//! slow one; round robin should follow the configured weights whatever the
//! latency, and follow a weight set through the admin API from the next
//! request on. Counts come from the admin table (`requests` per instance),
//! which health probes do not touch.

mod common;
mod fleet;

use common::*;
use fleet::process::Process;

const TOKEN: &str = "balance-admin-token-0123";
/// The slow instance's delay on every answer.
const SLOW: &str = "40ms";

/// Two fast mocks and, last, a slow one.
async fn mocks() -> Vec<Process> {
    let mut mocks = Vec::new();
    for latency in ["0ms", "0ms", SLOW] {
        mocks.push(Process::start(&["--latency", latency]).await);
    }
    mocks
}

/// One backend named `name` over `mocks` with `weights`, balanced by `balance`.
fn config(name: &str, mocks: &[Process], weights: &[u32], balance: &str) -> String {
    let instances: Vec<String> =
        mocks.iter().zip(weights).map(|(m, w)| format!("{{ url = \"{}\", weight = {w} }}", m.url)).collect();
    format!(
        "[gateway]\nlisten = \"127.0.0.1:0\"\nsession_key = \"test-key\"\nshutdown_grace = \"2s\"\nadmin_token = \"{TOKEN}\"\n\n\
         [[backends]]\nname = \"{name}\"\ninstances = [{}]\ntimeout = \"5s\"\nbalance = \"{balance}\"\n\n\
         [[routes]]\npath = \"/mcp\"\nbackend = \"{name}\"\n",
        instances.join(", ")
    )
}

/// Sends `total` stateless `tools/list` from `workers` concurrent clients;
/// every one must succeed.
async fn load(url: &str, workers: usize, total: usize) {
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}"#;
    let tasks: Vec<_> = (0..workers)
        .map(|w| {
            let url = url.to_string();
            tokio::spawn(async move {
                for _ in (w..total).step_by(workers) {
                    let (status, msgs) = call(&url, body, &stateless_headers("tools/list", None)).await;
                    assert_eq!(status, 200, "{msgs:?}");
                    assert!(msgs[0].get("result").is_some(), "{msgs:?}");
                }
            })
        })
        .collect();
    for t in tasks {
        tokio::time::timeout(DEADLINE * 3, t).await.expect("load took too long").unwrap();
    }
}

/// Requests each instance of the gateway's only backend was sent.
async fn requests(gw: &Running) -> Vec<u64> {
    let resp = http().get(gw.url("/admin/backends")).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let table: serde_json::Value = resp.json().await.unwrap();
    let instances = table["backends"][0]["instances"].as_array().expect("instances").clone();
    instances.iter().map(|i| i["requests"].as_u64().expect("requests")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p2c_keeps_most_traffic_off_the_slow_instance() {
    let mocks = mocks().await;
    let gw = gateway(parse(&config("p2c", &mocks, &[1, 1, 1], "p2c"))).await;
    load(&gw.url("/mcp"), 8, 300).await;
    let counts = requests(&gw).await;
    let total: u64 = counts.iter().sum();
    assert_eq!(total, 300, "{counts:?}");
    let slow = counts[2] as f64 / total as f64;
    eprintln!("p2c, one instance {SLOW} slower: requests {counts:?}, slow share {slow:.3}");
    assert!(slow < 0.2, "the slow instance got {slow:.3} of the traffic: {counts:?}");
    assert!(counts[0] > 0 && counts[1] > 0, "both fast instances share the work: {counts:?}");
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_robin_follows_the_weights_whatever_the_latency() {
    let mocks = mocks().await;
    let gw = gateway(parse(&config("rr", &mocks, &[1, 1, 2], "round_robin"))).await;
    load(&gw.url("/mcp"), 8, 400).await;
    let counts = requests(&gw).await;
    eprintln!("round robin 1:1:2, the weight-2 instance {SLOW} slower: requests {counts:?}");
    // Nothing failed, so nothing was retried: the split is exact.
    assert_eq!(counts, vec![100, 100, 200]);
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_weight_set_through_the_admin_api_applies_to_the_next_requests() {
    let mocks = mocks().await;
    let gw = gateway(parse(&config("rr-live", &mocks, &[1, 1, 1], "round_robin"))).await;
    load(&gw.url("/mcp"), 3, 30).await;
    assert_eq!(requests(&gw).await, vec![10, 10, 10]);
    for (instance, weight) in [(0, 3), (2, 0)] {
        let resp = http()
            .put(gw.url(&format!("/admin/backends/rr-live/instances/{instance}/weight")))
            .bearer_auth(TOKEN)
            .header("content-type", "application/json")
            .body(format!(r#"{{"weight": {weight}}}"#))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
    }
    load(&gw.url("/mcp"), 4, 40).await;
    // 3:1:0 over the next 40 requests: 30, 10 and none.
    assert_eq!(requests(&gw).await, vec![40, 20, 10]);
    gw.stop().await;
}
