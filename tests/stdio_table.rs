//! stdio processes in the live table: listed with pid and restart count by
//! the admin API and `/metrics`, probed over their pipe, steered by drain
//! and weight. Real child processes (`switchyard mock --stdio`).

mod common;

use std::time::Duration;

use common::*;
use serde_json::Value;
use tokio::time::Instant;

const BIN: &str = env!("CARGO_BIN_EXE_switchyard");
const TOKEN: &str = "stdio-table-admin-token";

/// A gateway over `mock --stdio` with the admin API under `/admin`.
async fn start(extra_backend: &str) -> Running {
    start_named("kids", BIN, &["mock", "--stdio"], extra_backend).await
}

/// A gateway over `command` as backend `name` (the tests of this binary
/// share one metrics registry, so a test that reads metrics has a name of
/// its own).
async fn start_named(name: &str, command: &str, args: &[&str], extra_backend: &str) -> Running {
    let text = stdio_config(command, args, extra_backend)
        .replacen("[gateway]\n", &format!("[gateway]\nadmin_token = \"{TOKEN}\"\n"), 1)
        .replace("\"kids\"", &format!("\"{name}\""));
    gateway(parse(&text)).await
}

/// The one backend's row of `GET /admin/backends`.
async fn kids(gw: &Running) -> Value {
    let resp = http().get(gw.url("/admin/backends")).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let table: Value = resp.json().await.unwrap();
    let backends = table["backends"].as_array().unwrap();
    assert_eq!(backends.len(), 1, "{table}");
    backends[0].clone()
}

/// Polls the table until `pred` holds for the backend, within [`DEADLINE`].
async fn wait_kids(gw: &Running, pred: impl Fn(&Value) -> bool) -> Value {
    tokio::time::timeout(DEADLINE, async {
        loop {
            let k = kids(gw).await;
            if pred(&k) {
                return k;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the table never reached the expected state")
}

fn pid(k: &Value, i: usize) -> Option<u64> {
    k["instances"][i]["pid"].as_u64()
}

fn requests(k: &Value, i: usize) -> u64 {
    k["instances"][i]["requests"].as_u64().unwrap()
}

/// An admin action on process `i`; returns the status and the body.
async fn act(gw: &Running, method: reqwest::Method, i: &str, action: &str, body: &str) -> (u16, Value) {
    let name = kids(gw).await["name"].as_str().unwrap().to_string();
    let url = gw.url(&format!("/admin/backends/{name}/instances/{i}/{action}"));
    let resp = http().request(method, url).bearer_auth(TOKEN).body(body.to_string()).send().await.unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

async fn echo_ok(gw: &Running, n: usize, session: Option<&str>) {
    let url = gw.url("/mcp");
    let headers: Vec<(&str, &str)> = session.map(|s| ("mcp-session-id", s)).into_iter().collect();
    for k in 0..n {
        let body = format!(
            r#"{{"jsonrpc":"2.0","id":{k},"method":"tools/call","params":{{"name":"echo","arguments":{{"text":"t{k}"}}}}}}"#
        );
        let (status, msgs) = call(&url, &body, &headers).await;
        assert_eq!((status, msgs[0]["result"]["content"][0]["text"].as_str()), (200, Some(&*format!("t{k}"))));
    }
}

/// Sends `sig` to `pid`; whether it was delivered.
fn signal(sig: &str, pid: u64) -> bool {
    let quiet = std::process::Stdio::null();
    std::process::Command::new("kill").args([sig, &pid.to_string()]).stderr(quiet).status().unwrap().success()
}

#[tokio::test]
async fn the_table_lists_each_process_with_its_pid_and_restarts() {
    let gw = start("processes = 2\nrestart = { initial = \"50ms\", max = \"1s\" }").await;
    let k = wait_kids(&gw, |k| pid(k, 0).is_some() && pid(k, 1).is_some()).await;
    assert_eq!(k["transport"], "stdio");
    assert_eq!(k["instances"][0]["url"], "stdio://process/0");
    assert_eq!(k["instances"][1]["url"], "stdio://process/1");
    assert_eq!(k["instances"][0]["restarts"], 0);
    let (first, other) = (pid(&k, 0).unwrap(), pid(&k, 1).unwrap());
    assert_ne!(first, other);
    let metrics = http().get(gw.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(
        metrics.lines().any(|l| l.starts_with("switchyard_backend_up{")
            && l.contains("backend=\"kids\"")
            && l.contains("instance=\"stdio://process/1\"")),
        "{metrics}"
    );

    assert!(signal("-9", first));
    let k = wait_kids(&gw, |k| pid(k, 0).is_some_and(|p| p != first)).await;
    assert_eq!(k["instances"][0]["restarts"], 1, "{k}");
    assert_eq!(pid(&k, 1), Some(other), "the other process is untouched");
    assert_eq!(k["instances"][1]["restarts"], 0);
    echo_ok(&gw, 2, None).await;
}

#[tokio::test]
async fn a_hung_process_is_marked_down_by_probes_and_gets_no_requests() {
    // fall = 1 and HANG_TIMEOUTS = 3: down on the first timed-out probe,
    // recycled on the third, which leaves two intervals to watch it skipped.
    let (interval, timeout) = (Duration::from_millis(500), Duration::from_millis(100));
    let health =
        "health = { interval = \"500ms\", timeout = \"100ms\", idle_interval = \"500ms\", fall = 1, rise = 1 }";
    let extra = format!("processes = 2\nrestart = {{ initial = \"50ms\", max = \"1s\" }}\n{health}");
    let gw = start_named("hung", BIN, &["mock", "--stdio"], &extra).await;
    let k = wait_kids(&gw, |k| k["instances"].as_array().unwrap().iter().all(|i| i["health"] == "up")).await;
    let hung = pid(&k, 0).unwrap();
    assert!(k["instances"][0]["lastProbe"]["ok"].as_bool().unwrap());

    assert!(signal("-STOP", hung));
    let stopped = Instant::now();
    let k = wait_kids(&gw, |k| k["instances"][0]["health"] == "down").await;
    let took = stopped.elapsed();
    eprintln!("marked down {took:?} after SIGSTOP (bound {:?})", interval + timeout);
    // The bound, plus polling and scheduling on a busy machine.
    assert!(took <= interval + timeout + Duration::from_millis(500), "marked down after {took:?}");
    assert!(k["instances"][0]["reason"].as_str().unwrap().contains("no answer to ping"), "{k}");
    assert!(!k["instances"][0]["serving"].as_bool().unwrap());
    let metrics = http().get(gw.url("/metrics")).send().await.unwrap().text().await.unwrap();
    let series = |name: &str, instance: &str| -> Vec<String> {
        let label = format!("instance=\"stdio://process/{instance}\"");
        metrics
            .lines()
            .filter(|l| l.starts_with(name) && l.contains("backend=\"hung\"") && l.contains(&label))
            .map(str::to_string)
            .collect()
    };
    let up = |i: &str, v: u8| {
        vec![format!("switchyard_backend_up{{backend=\"hung\",instance=\"stdio://process/{i}\"}} {v}")]
    };
    assert_eq!(series("switchyard_backend_up{", "0"), up("0", 0));
    assert_eq!(series("switchyard_backend_up{", "1"), up("1", 1));
    assert!(!series("switchyard_health_probe_duration_seconds", "0").is_empty(), "{metrics}");
    assert!(metrics.contains("switchyard_panic_mode{backend=\"hung\"} 0"), "{metrics}");

    let before = (requests(&k, 0), requests(&k, 1));
    echo_ok(&gw, 5, None).await;
    let k = kids(&gw).await;
    assert_eq!((requests(&k, 0), requests(&k, 1)), (before.0, before.1 + 5), "{k}");

    // Probe timeouts count as a hang: the child is replaced and serves again.
    let k = wait_kids(&gw, |k| pid(k, 0).is_some_and(|p| p != hung) && k["instances"][0]["health"] != "down").await;
    assert_eq!(k["instances"][0]["restarts"], 1);
    assert!(!signal("-0", hung), "the hung child was killed and reaped");
}

#[tokio::test]
async fn drain_undrain_and_weight_steer_the_shared_pool() {
    let gw = start("processes = 2").await;
    wait_kids(&gw, |k| pid(k, 0).is_some() && pid(k, 1).is_some()).await;

    let (status, body) = act(&gw, reqwest::Method::POST, "0", "drain", "").await;
    assert_eq!((status, &body["instance"]["drained"]), (200, &Value::Bool(true)), "{body}");
    let k = kids(&gw).await;
    let before = (requests(&k, 0), requests(&k, 1));
    echo_ok(&gw, 4, None).await;
    let k = kids(&gw).await;
    assert_eq!((requests(&k, 0), requests(&k, 1)), (before.0, before.1 + 4), "drained: {k}");

    // Undrained, and process 1 weighted 0: process 0 takes everything.
    assert_eq!(act(&gw, reqwest::Method::POST, "0", "undrain", "").await.0, 200);
    let (status, body) = act(&gw, reqwest::Method::PUT, "1", "weight", r#"{"weight": 0}"#).await;
    assert_eq!((status, &body["instance"]["effectiveWeight"]), (200, &Value::from(0)), "{body}");
    let before = (requests(&k, 0), requests(&k, 1));
    echo_ok(&gw, 4, None).await;
    let k = kids(&gw).await;
    assert_eq!((requests(&k, 0), requests(&k, 1)), (before.0 + 4, before.1), "weight 0: {k}");

    // Both out of rotation: no process may take the request.
    assert_eq!(act(&gw, reqwest::Method::POST, "0", "drain", "").await.0, 200);
    let (status, msgs) = call(&gw.url("/mcp"), r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#, &[]).await;
    assert_eq!((status, msgs[0]["error"]["code"].as_i64()), (503, Some(-32012)), "{msgs:?}");

    // Bad names and bodies get clear answers.
    assert_eq!(act(&gw, reqwest::Method::POST, "7", "drain", "").await.0, 404);
    assert_eq!(act(&gw, reqwest::Method::POST, "process", "drain", "").await.0, 404);
    assert_eq!(act(&gw, reqwest::Method::PUT, "1", "weight", r#"{"weight": -1}"#).await.0, 400);
}

#[tokio::test]
async fn per_session_processes_are_listed_by_place_and_can_be_drained() {
    let gw = start("mode = \"per_session\"\nmax_processes = 2").await;
    assert!(kids(&gw).await["instances"].as_array().unwrap().is_empty());
    let url = gw.url("/mcp");
    let a = initialize(&url, "2025-06-18").await;
    let b = initialize(&url, "2025-06-18").await;
    let k = wait_kids(&gw, |k| pid(k, 0).is_some() && pid(k, 1).is_some()).await;
    assert_eq!(k["instances"][0]["url"], "stdio://session/0");
    assert_eq!(k["instances"][1]["url"], "stdio://session/1");

    // Draining a session's process lets its session finish.
    let (status, body) = act(&gw, reqwest::Method::POST, "0", "drain", "").await;
    assert_eq!((status, &body["instance"]["drained"]), (200, &Value::Bool(true)), "{body}");
    echo_ok(&gw, 2, Some(&a)).await;
    let k = kids(&gw).await;
    assert_eq!(requests(&k, 0), 2, "{k}");

    // A closed session frees its place, and the next session takes it.
    assert_eq!(http().delete(&url).header("mcp-session-id", &a).send().await.unwrap().status(), 200);
    wait_kids(&gw, |k| k["instances"].as_array().unwrap().len() == 1).await;
    let _c = initialize(&url, "2025-06-18").await;
    let k = wait_kids(&gw, |k| k["instances"].as_array().unwrap().len() == 2).await;
    assert_eq!(k["instances"][0]["url"], "stdio://session/0");
    assert_eq!(k["instances"][0]["drained"], false, "a new process in the place starts afresh");
    echo_ok(&gw, 1, Some(&b)).await;
}

/// Counts probes as they finish (each resets the last probe's age) until
/// `n` more have, within [`DEADLINE`].
async fn probes(gw: &Running, n: usize) -> Value {
    tokio::time::timeout(DEADLINE, async {
        let (mut seen, mut last_age) = (0, u64::MAX);
        loop {
            let k = kids(gw).await;
            let age = k["instances"][0]["lastProbe"]["ageMs"].as_u64().unwrap_or(u64::MAX);
            seen += usize::from(age < last_age);
            last_age = age;
            if seen > n {
                return k;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("probes stopped")
}

fn probing(probe: &str) -> String {
    format!(
        "health = {{ probe = \"{probe}\", interval = \"200ms\", timeout = \"150ms\", idle_interval = \"200ms\", \
         fall = 1, rise = 1 }}"
    )
}

#[tokio::test]
async fn probes_speak_the_childs_era_and_an_error_answer_is_not_a_hang() {
    // The rmcp child that speaks 2026-07-28: `tools/list` in its era.
    let server = example_bin("rmcp_stdio_server");
    let gw = start_named("modern", &server, &[], &probing("tools/list")).await;
    let k = probes(&gw, 2).await;
    assert_eq!(k["instances"][0]["health"], "up", "{k}");
    assert_eq!(k["instances"][0]["lastProbe"]["ok"], true, "{k}");

    // A session-era child refuses `server/discover`: down, yet it answers,
    // so HANG_TIMEOUTS (3) refusals in a row do not recycle it.
    let gw = start_named("legacy", &server, &["--session-era"], &probing("discover")).await;
    let k = wait_kids(&gw, |k| k["instances"][0]["health"] == "down").await;
    assert!(k["instances"][0]["reason"].as_str().unwrap().contains("server/discover failed"), "{k}");
    let first = pid(&k, 0).unwrap();
    let k = probes(&gw, 4).await;
    assert_eq!((pid(&k, 0), &k["instances"][0]["restarts"]), (Some(first), &Value::from(0)), "{k}");
    assert_eq!(k["instances"][0]["health"], "down");
}
