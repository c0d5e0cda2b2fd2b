//! Failure scenarios under steady load, against three instances of the
//! built-in mock (see `fleet`): an instance killed and restarted, a real
//! `switchyard mock` process SIGKILLed after a quiet spell, one that
//! black-holes, a pool that answers 503 to everything, a drain through the
//! admin API, and deadlines that cancel upstream.
//!
//! Each test prints what it measured (detection and recovery times, error
//! counts, upstream load), so a CI log records the numbers.

mod common;
mod fleet;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use common::*;
use fleet::{Mode, Upstream};
use tokio::time::Instant;

const TOKEN: &str = "resilience-admin-token";
/// Probe settings of every test: the bounds below are computed from them.
const INTERVAL: Duration = Duration::from_millis(300);
const PROBE_TIMEOUT: Duration = Duration::from_millis(200);
const RISE: u32 = 2;
const FALL: u32 = 3;
/// Room for the 5 ms polling of the table and a busy two-core CI machine.
const SLACK: Duration = Duration::from_millis(150);

/// A gateway config over `urls`, as backend `name`, with the probe settings
/// above. Each test names its backend differently: the metrics registry is
/// shared by the whole test binary, and tests run side by side.
fn config(name: &str, urls: &[String], backend_extra: &str) -> String {
    let health = format!(
        "health = {{ interval = \"{}ms\", timeout = \"{}ms\", rise = {RISE}, fall = {FALL} }}",
        INTERVAL.as_millis(),
        PROBE_TIMEOUT.as_millis(),
    );
    config_with(name, urls, &health, backend_extra)
}

/// [`config`] with a `health` line of its own.
fn config_with(name: &str, urls: &[String], health: &str, backend_extra: &str) -> String {
    let instances: Vec<String> = urls.iter().map(|u| format!("{{ url = \"{u}\" }}")).collect();
    format!(
        r#"
[gateway]
listen = "127.0.0.1:0"
session_key = "test-key"
shutdown_grace = "2s"
admin_token = "{TOKEN}"

[[backends]]
name = "{name}"
instances = [{}]
timeout = "2s"
retry = {{ idempotent_tools = ["echo"] }}
{health}
{backend_extra}

[[routes]]
path = "/mcp"
backend = "{name}"
"#,
        instances.join(", "),
    )
}

/// The scenarios measure time, so they run one at a time: side by side on a
/// two-core CI machine they would mostly measure each other.
/// tokio's mutex works across the tests' runtimes and is not poisoned by a
/// failed scenario.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn urls(ups: &[Upstream]) -> Vec<String> {
    ups.iter().map(Upstream::url).collect()
}

// === load ===

/// The kinds of request the load sends, in turn.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Kind {
    List,
    Read,
    Call,
}

/// Outcomes of the load, by kind.
#[derive(Default)]
struct Stats {
    ok: HashMap<Kind, u64>,
    failed: HashMap<Kind, Vec<String>>,
    /// The longest a request of each kind took.
    slowest: HashMap<Kind, Duration>,
}

struct Load {
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<Stats>>,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

fn stateless(method: &str, params: &str) -> (String, u64) {
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let body = format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"{method}","params":{{{params}"_meta":{{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{{}}}}}}}}"#
    );
    (body, id)
}

/// One stateless request of `kind`; `Err` describes a failure the client saw.
async fn send(client: &reqwest::Client, url: &str, kind: Kind, call: &str) -> Result<(), String> {
    let (method, name, params) = match kind {
        Kind::List => ("tools/list", None, String::new()),
        Kind::Read => ("resources/read", Some("mock://readme"), r#""uri":"mock://readme","#.to_string()),
        Kind::Call => ("tools/call", Some(call.split(':').next().unwrap_or("")), call_params(call)),
    };
    let (body, id) = stateless(method, &params);
    let mut req = client
        .post(url)
        .header("content-type", "application/json")
        .header("accept", ACCEPT_BOTH)
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", method)
        .body(body);
    if let Some(name) = name {
        req = req.header("mcp-name", name);
    }
    let resp = req.send().await.map_err(|e| format!("transport: {e}"))?;
    let status = resp.status().as_u16();
    let ct = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let text = resp.text().await.map_err(|e| format!("body: {e}"))?;
    let answer = messages(&ct, &text).into_iter().find(|m| m["id"] == id);
    match answer {
        Some(m) if status == 200 && m.get("result").is_some() => Ok(()),
        _ => Err(format!("{status} {}", text.chars().take(200).collect::<String>())),
    }
}

/// `"sleep:30"` → `{"name":"sleep","arguments":{"ms":30}}` params; `"add"` → add 1+2.
fn call_params(call: &str) -> String {
    match call.split_once(':') {
        Some(("sleep", ms)) => format!(r#""name":"sleep","arguments":{{"ms":{ms}}},"#),
        _ => r#""name":"add","arguments":{"a":1,"b":2},"#.to_string(),
    }
}

impl Load {
    /// `workers` clients sending list, read and call in turn, `pause` apart.
    fn start(url: String, workers: usize, pause: Duration, kinds: &'static [Kind], call: &'static str) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let client = http();
        let tasks = (0..workers)
            .map(|w| {
                let (stop, client, url) = (stop.clone(), client.clone(), url.clone());
                tokio::spawn(async move {
                    let mut stats = Stats::default();
                    let mut n = w;
                    while !stop.load(Ordering::Relaxed) {
                        let kind = kinds[n % kinds.len()];
                        n += 1;
                        let started = Instant::now();
                        let outcome = tokio::time::timeout(DEADLINE, send(&client, &url, kind, call)).await;
                        let took = started.elapsed();
                        let slowest = stats.slowest.entry(kind).or_default();
                        *slowest = (*slowest).max(took);
                        match outcome {
                            Ok(Ok(())) => *stats.ok.entry(kind).or_default() += 1,
                            Ok(Err(e)) => stats.failed.entry(kind).or_default().push(e),
                            Err(_) => stats.failed.entry(kind).or_default().push("client timeout".into()),
                        }
                        tokio::time::sleep(pause).await;
                    }
                    stats
                })
            })
            .collect();
        Load { stop, tasks }
    }

    async fn finish(self) -> Stats {
        self.stop.store(true, Ordering::Relaxed);
        let mut all = Stats::default();
        for task in self.tasks {
            let s = tokio::time::timeout(DEADLINE, task).await.expect("load worker hung").unwrap();
            for (k, v) in s.ok {
                *all.ok.entry(k).or_default() += v;
            }
            for (k, v) in s.failed {
                all.failed.entry(k).or_default().extend(v);
            }
            for (k, v) in s.slowest {
                let e = all.slowest.entry(k).or_default();
                *e = (*e).max(v);
            }
        }
        all
    }
}

impl Stats {
    fn ok(&self, k: Kind) -> u64 {
        self.ok.get(&k).copied().unwrap_or(0)
    }

    fn failed(&self, k: Kind) -> &[String] {
        self.failed.get(&k).map_or(&[], Vec::as_slice)
    }
}

// === the table, through the admin API ===

async fn table(gw: &Running) -> serde_json::Value {
    let resp = http().get(gw.url("/admin/backends")).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

/// Polls the table until instance `i` satisfies `done`; returns when it did.
async fn wait_instance(gw: &Running, i: usize, done: impl Fn(&serde_json::Value) -> bool) -> Instant {
    let poll = async {
        loop {
            let t = table(gw).await;
            if done(&t["backends"][0]["instances"][i]) {
                return Instant::now();
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    tokio::time::timeout(DEADLINE, poll).await.expect("the table never reached the expected state")
}

async fn admin(gw: &Running, method: reqwest::Method, path: &str, body: Option<&str>) -> serde_json::Value {
    let mut req = http().request(method, gw.url(path)).bearer_auth(TOKEN);
    if let Some(b) = body {
        req = req.header("content-type", "application/json").body(b.to_string());
    }
    let resp = req.send().await.unwrap();
    assert_eq!(resp.status(), 200, "{path}");
    resp.json().await.unwrap()
}

async fn metrics(gw: &Running) -> String {
    http().get(gw.url("/metrics")).send().await.unwrap().text().await.unwrap()
}

/// The value of one series (`name{labels}`) in a `/metrics` text; 0 when
/// it is not there yet.
fn sample(metrics: &str, series: &str) -> f64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')))
        .map_or(0.0, |v| v.trim().parse().unwrap())
}

/// Polls `/metrics` until `done` holds.
async fn wait_metrics(gw: &Running, done: impl Fn(&str) -> bool) -> String {
    let poll = async {
        loop {
            let m = metrics(gw).await;
            if done(&m) {
                return m;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    match tokio::time::timeout(DEADLINE, poll).await {
        Ok(m) => m,
        Err(_) => panic!("/metrics never reached the expected state:\n{}", metrics(gw).await),
    }
}

// === scenarios ===

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_instance_costs_no_list_or_read_and_no_call_runs_twice() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let (mut ups, ledger) = fleet::fleet(3);
    let gw = gateway(parse(&config("kill", &urls(&ups), ""))).await;
    for i in 0..3 {
        wait_instance(&gw, i, |inst| inst["health"] == "up").await;
    }
    let load =
        Load::start(gw.url("/mcp"), 6, Duration::from_millis(2), &[Kind::List, Kind::Read, Kind::Call], "sleep:20");
    tokio::time::sleep(Duration::from_millis(500)).await;

    let killed = Instant::now();
    ups[1].kill();
    let down = wait_instance(&gw, 1, |inst| inst["health"] == "down").await;
    let detection = down - killed;
    tokio::time::sleep(Duration::from_millis(300)).await;

    let restarted = Instant::now();
    ups[1].restart();
    let up = wait_instance(&gw, 1, |inst| inst["health"] == "up" && inst["serving"] == true).await;
    let recovery = up - restarted;
    // Back in rotation: it takes new requests again.
    let before = ups[1].counters.requests.load(Ordering::SeqCst);
    let poll = async {
        while ups[1].counters.requests.load(Ordering::SeqCst) == before {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    tokio::time::timeout(DEADLINE, poll).await.expect("the restarted instance got no traffic");
    let stats = load.finish().await;
    let view = table(&gw).await;
    let m = metrics(&gw).await;
    let up = format!("switchyard_backend_up{{backend=\"kill\",instance=\"{}\"}} 1", ups[1].url());
    assert!(m.contains(&up), "{up} not in\n{m}");
    assert!(m.contains("switchyard_health_probe_duration_seconds_bucket{backend=\"kill\""), "{m}");

    let runs = ledger.executions.lock().unwrap().clone();
    let twice: Vec<_> = runs.iter().filter(|(_, n)| **n > 1).collect();
    println!(
        "kill: detection {detection:?} (bound {:?}), recovery {recovery:?} (bound {:?}); ok list/read/call {}/{}/{}; \
         failed list/read/call {}/{}/{}; calls executed {}; ejections of the killed instance {}",
        INTERVAL * FALL + PROBE_TIMEOUT,
        INTERVAL * RISE,
        stats.ok(Kind::List),
        stats.ok(Kind::Read),
        stats.ok(Kind::Call),
        stats.failed(Kind::List).len(),
        stats.failed(Kind::Read).len(),
        stats.failed(Kind::Call).len(),
        runs.len(),
        view["backends"][0]["instances"][1]["ejections"],
    );
    assert!(stats.failed(Kind::List).is_empty(), "tools/list failed: {:?}", stats.failed(Kind::List));
    assert!(stats.failed(Kind::Read).is_empty(), "resources/read failed: {:?}", stats.failed(Kind::Read));
    // Only calls in flight on the killed instance may fail: at most one per worker.
    assert!(stats.failed(Kind::Call).len() <= 6, "{:?}", stats.failed(Kind::Call));
    assert!(twice.is_empty(), "tools/call executed more than once: {twice:?}");
    assert!(stats.ok(Kind::List) > 50 && stats.ok(Kind::Call) > 50, "the load was not steady");
    assert!(detection <= INTERVAL * FALL + PROBE_TIMEOUT + SLACK, "detection took {detection:?}");
    assert!(recovery <= INTERVAL * RISE + SLACK, "recovery took {recovery:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn black_holed_instances_never_hold_a_request_past_its_deadline() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let (ups, _ledger) = fleet::fleet(3);
    let deadline = Duration::from_secs(1);
    let gw =
        gateway(parse(&config("blackhole", &urls(&ups), "attempt_timeout = \"300ms\"").replace("\"2s\"", "\"1s\"")))
            .await;
    for i in 0..3 {
        wait_instance(&gw, i, |inst| inst["health"] == "up").await;
    }
    // One instance black-holed: replay-safe calls move on after their
    // attempt timeout; nothing waits past the deadline.
    ups[2].set_mode(Mode::BlackHole);
    let load = Load::start(gw.url("/mcp"), 6, Duration::from_millis(2), &[Kind::List, Kind::Read, Kind::Call], "add");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let one = load.finish().await;
    // The whole pool black-holed: every request ends at its deadline.
    for up in &ups {
        up.set_mode(Mode::BlackHole);
    }
    let load = Load::start(gw.url("/mcp"), 6, Duration::from_millis(2), &[Kind::List, Kind::Read, Kind::Call], "add");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let all = load.finish().await;

    let slowest = |s: &Stats| s.slowest.values().copied().max().unwrap_or_default();
    println!(
        "black hole: one instance: slowest {:?}, failed list/read/call {}/{}/{} of ok {}/{}/{}; \
         whole pool: slowest {:?}, requests {}",
        slowest(&one),
        one.failed(Kind::List).len(),
        one.failed(Kind::Read).len(),
        one.failed(Kind::Call).len(),
        one.ok(Kind::List),
        one.ok(Kind::Read),
        one.ok(Kind::Call),
        slowest(&all),
        all.failed.values().map(Vec::len).sum::<usize>(),
    );
    assert!(one.failed(Kind::List).is_empty() && one.failed(Kind::Read).is_empty(), "{:?}", one.failed);
    assert!(slowest(&one) <= deadline + Duration::from_millis(100), "{:?}", one.slowest);
    assert!(slowest(&all) <= deadline + Duration::from_millis(100), "{:?}", all.slowest);
    let timeouts = all.failed.values().flatten().filter(|e| e.starts_with("504")).count();
    assert!(timeouts > 0 && all.ok.values().sum::<u64>() == 0, "{:?} {:?}", all.ok, all.failed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_answering_503_sees_no_retry_storm() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let (ups, _ledger) = fleet::fleet(3);
    for up in &ups {
        up.set_mode(Mode::Fail503);
    }
    let gw = gateway(parse(&config("fail503", &urls(&ups), ""))).await;
    let started = Instant::now();
    let load = Load::start(gw.url("/mcp"), 4, Duration::from_millis(2), &[Kind::List, Kind::Read], "add");
    tokio::time::sleep(Duration::from_millis(2000)).await;
    let stats = load.finish().await;
    // The budget allows `min_per_second` in any one-second window; a run of
    // T seconds touches this many windows of its 100 ms slots.
    let elapsed = started.elapsed().as_secs_f64();
    let seconds = (((elapsed * 10.0).ceil() + 1.0) / 10.0).ceil();
    let client: u64 = stats.failed.values().map(|v| v.len() as u64).sum::<u64>() + stats.ok.values().sum::<u64>();
    let upstream: u64 = ups.iter().map(|u| u.counters.requests.load(Ordering::SeqCst)).sum();
    let bound = 1.2 * client as f64 + 10.0 * seconds;
    let m = metrics(&gw).await;
    println!(
        "503 pool: client requests {client}, upstream requests {upstream} ({:.3}×), bound {bound:.0} \
         (1.2 × client + 10/s × {seconds} one-second windows in {elapsed:.2} s)",
        upstream as f64 / client as f64
    );
    assert!(client > 100, "the load was not steady");
    assert!((upstream as f64) <= bound, "upstream {upstream} > 1.2 × {client} + 10/s × {seconds} s");
    assert!(upstream > client, "no retries at all: the budget's floor should allow some");
    assert!(stats.failed.values().flatten().all(|e| e.starts_with("503")), "{:?}", stats.failed);
    assert!(m.contains("switchyard_retry_budget_exhausted_total{backend=\"fail503\"}"), "{m}");
    assert!(m.contains("switchyard_retries_total{backend=\"fail503\",outcome=\"failed\"}"), "{m}");
    // The probes see 503 too: the pool is down, so the balancer panics.
    for i in 0..3 {
        wait_instance(&gw, i, |inst| inst["health"] == "down").await;
    }
    assert!(table(&gw).await["backends"][0]["panic"] == true);
    assert!(m.contains("switchyard_panic_mode{backend=\"fail503\"} 1"), "{m}");
    assert!(m.contains("switchyard_panic_requests_total{backend=\"fail503\"}"), "{m}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn draining_under_load_costs_nothing_and_lets_sessions_finish() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let (ups, _ledger) = fleet::fleet(3);
    let gw = gateway(parse(&config("drain", &urls(&ups), ""))).await;
    let url = gw.url("/mcp");
    // A session-era session on instance 0, to see it finish after the drain.
    let mut session = None;
    for _ in 0..50 {
        let before = ups[0].counters.initializes.load(Ordering::SeqCst);
        let sid = initialize(&url, "2025-06-18").await;
        if ups[0].counters.initializes.load(Ordering::SeqCst) > before {
            session = Some(sid);
            break;
        }
    }
    let sid = session.expect("no session landed on instance 0 in 50 tries");
    let load = Load::start(url.clone(), 4, Duration::from_millis(2), &[Kind::List, Kind::Read, Kind::Call], "add");
    tokio::time::sleep(Duration::from_millis(300)).await;

    let drained = admin(&gw, reqwest::Method::POST, "/admin/backends/drain/instances/0/drain", None).await;
    assert_eq!(drained["instance"]["drained"], true);
    let at_drain = ups[0].counters.sessionless.load(Ordering::SeqCst);
    let in_session = ups[0].counters.in_session.load(Ordering::SeqCst);
    let list = r#"{"jsonrpc":"2.0","id":5,"method":"tools/list"}"#;
    for _ in 0..20 {
        let (status, msgs) =
            call(&url, list, &[("mcp-session-id", &sid), ("mcp-protocol-version", "2025-06-18")]).await;
        assert_eq!(status, 200, "{msgs:?}");
        assert!(msgs[0].get("result").is_some(), "{msgs:?}");
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after_drain = ups[0].counters.sessionless.load(Ordering::SeqCst);
    assert!(ups[0].counters.in_session.load(Ordering::SeqCst) >= in_session + 20, "the pinned session moved");
    // Weight through the admin API is visible in the table.
    let weighted =
        admin(&gw, reqwest::Method::PUT, "/admin/backends/drain/instances/1/weight", Some(r#"{"weight": 3}"#)).await;
    assert_eq!(weighted["instance"]["effectiveWeight"], 3);

    admin(&gw, reqwest::Method::POST, "/admin/backends/drain/instances/0/undrain", None).await;
    let poll = async {
        while ups[0].counters.sessionless.load(Ordering::SeqCst) == after_drain {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    tokio::time::timeout(DEADLINE, poll).await.expect("undrained instance got no new requests");
    let stats = load.finish().await;
    println!(
        "drain: ok list/read/call {}/{}/{}, errors {}; instance 0 took {} new requests after the drain (in flight at \
         the time)",
        stats.ok(Kind::List),
        stats.ok(Kind::Read),
        stats.ok(Kind::Call),
        stats.failed.values().map(Vec::len).sum::<usize>(),
        after_drain - at_drain,
    );
    assert!(stats.failed.values().all(Vec::is_empty), "{:?}", stats.failed);
    assert!(after_drain - at_drain <= 4, "a drained instance took {} new requests", after_drain - at_drain);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deadline_cancels_upstream_and_ends_the_stream() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let (ups, ledger) = fleet::fleet(1);
    let deadline = Duration::from_millis(500);
    let gw =
        gateway(parse(&config("deadline", &urls(&ups), "").replace("timeout = \"2s\"", "timeout = \"500ms\""))).await;
    let url = gw.url("/mcp");
    let sid = initialize(&url, "2025-06-18").await;
    let session = [("mcp-session-id", sid.as_str()), ("mcp-protocol-version", "2025-06-18")];

    // No byte before the deadline: 504, and the instance is told to stop.
    let sleep =
        r#"{"jsonrpc":"2.0","id":"slow-1","method":"tools/call","params":{"name":"sleep","arguments":{"ms":5000}}}"#;
    let started = Instant::now();
    let (status, msgs) = call(&url, sleep, &session).await;
    let took = started.elapsed();
    assert_eq!(status, 504, "{msgs:?}");
    assert_eq!(msgs[0]["id"], "slow-1");
    assert_eq!(msgs[0]["error"]["code"], -32011);
    assert!(took >= deadline && took <= deadline + Duration::from_millis(100), "{took:?}");

    // Bytes already out: the SSE stream gets a last error event and ends.
    let progress = r#"{"jsonrpc":"2.0","id":"slow-2","method":"tools/call","params":{"name":"progress","arguments":{"steps":100,"interval_ms":50},"_meta":{"progressToken":"p"}}}"#;
    let started = Instant::now();
    let resp = post(&url, progress, &session).await;
    assert_eq!(resp.status(), 200);
    let text = tokio::time::timeout(DEADLINE, resp.text()).await.unwrap().unwrap();
    let took = started.elapsed();
    let msgs = messages("text/event-stream", &text);
    assert!(msgs.iter().any(|m| m["method"] == "notifications/progress"), "{text}");
    let last = msgs.last().unwrap();
    assert_eq!((&last["id"], &last["error"]["code"]), (&serde_json::json!("slow-2"), &serde_json::json!(-32011)));
    assert!(took <= deadline + Duration::from_millis(100), "{took:?}");

    let poll = async {
        loop {
            let ids: Vec<_> = ledger.cancels.lock().unwrap().iter().map(|c| c["params"]["requestId"].clone()).collect();
            if ids.contains(&"slow-1".into()) && ids.contains(&"slow-2".into()) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    tokio::time::timeout(DEADLINE, poll).await.expect("notifications/cancelled never reached the instance");
    println!("deadline: 504 after {took:?}; both requests cancelled upstream");
}

/// Issue 12, with real `switchyard mock` processes and a real SIGKILL. The
/// gateway sits quiet for two probe intervals first (as a gateway does
/// before its traffic arrives), then load starts and one instance is killed. It is
/// ejected within milliseconds, and its health must still go `down` within
/// `interval × fall + timeout`: the old probe loop had decided, at the quiet
/// probe, to sleep a whole `idle_interval`, and the table showed the dead
/// instance `up` for that minute. The ejection (200 ms) is shorter than
/// detection; from the ejection on, the dead instance must get no request at
/// all, neither before it is marked down nor after the ejection ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_process_is_marked_down_while_ejected_and_gets_nothing_after() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let (interval, timeout, fall) = (Duration::from_millis(500), Duration::from_millis(300), 2);
    let mut procs = Vec::new();
    for _ in 0..3 {
        procs.push(fleet::process::Process::start(&[]).await);
    }
    let urls: Vec<String> = procs.iter().map(|p| p.url.clone()).collect();
    let health = format!(
        "health = {{ interval = \"{}ms\", timeout = \"{}ms\", fall = {fall} }}",
        interval.as_millis(),
        timeout.as_millis()
    );
    let gw = gateway(parse(&config_with("sigkill", &urls, &health, "outlier = { base_ejection = \"200ms\" }"))).await;
    for i in 0..3 {
        wait_instance(&gw, i, |inst| inst["health"] == "up").await;
    }
    // The scenario, not a wait for an event: a quiet spell of two probe
    // intervals before the traffic arrives, as on a gateway just started.
    tokio::time::sleep(interval * 2 + interval / 5).await;

    let load = Load::start(gw.url("/mcp"), 4, Duration::from_millis(2), &[Kind::List], "add");
    // The victim is the busiest instance, so that real requests see it die.
    let served = |t: &serde_json::Value| -> Vec<u64> {
        (0..3).map(|i| t["backends"][0]["instances"][i]["requests"].as_u64().unwrap_or(0)).collect()
    };
    let poll = async {
        loop {
            let counts = served(&table(&gw).await);
            if counts.iter().sum::<u64>() >= 90 {
                return counts;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    let before = tokio::time::timeout(DEADLINE, poll).await.expect("the load never reached the pool");
    let victim = (0..3).max_by_key(|i| before[*i]).unwrap_or(0);
    let killed = Instant::now();
    procs[victim].kill().await;
    let ejected = wait_instance(&gw, victim, |inst| inst["ejected"] == true).await;
    let at_ejection = table(&gw).await["backends"][0]["instances"][victim]["requests"].as_u64().unwrap();
    let upstream = format!("switchyard_upstream_requests_total{{backend=\"sigkill\",instance=\"{}\"}}", urls[victim]);
    let upstream_at_ejection = sample(&metrics(&gw).await, &upstream);
    let down = wait_instance(&gw, victim, |inst| inst["health"] == "down").await;
    let detection = down - killed;
    let lapsed = wait_instance(&gw, victim, |inst| inst["health"] == "down" && inst["ejected"] == false).await;

    // The load goes on: 300 more answered `tools/list` after the ejection
    // ended, none of them on the dead instance.
    let ok = "switchyard_requests_total{route=\"/mcp\",backend=\"sigkill\",method=\"tools/list\",outcome=\"ok\"}";
    let ok_at_lapse = sample(&metrics(&gw).await, ok);
    let m = wait_metrics(&gw, |m| sample(m, ok) >= ok_at_lapse + 300.0).await;
    let view = table(&gw).await;
    let dead = &view["backends"][0]["instances"][victim];
    let stats = load.finish().await;
    let bound = interval * fall + timeout;
    println!(
        "sigkill: requests per instance before the kill {before:?}, killed {victim}; ejected after {:?}, down after \
         {detection:?} (bound {bound:?}), ejection over after {:?}; requests to the dead instance at its ejection \
         {at_ejection}, at the end {} (metric {upstream_at_ejection} → {}); tools/list ok {} failed {}",
        ejected - killed,
        lapsed - killed,
        dead["requests"],
        sample(&m, &upstream),
        stats.ok(Kind::List),
        stats.failed(Kind::List).len(),
    );
    assert!(detection <= bound + SLACK, "down after {detection:?}, bound {bound:?}: {dead}");
    assert_eq!(dead["requests"].as_u64(), Some(at_ejection), "the dead instance got requests after its ejection");
    assert!(upstream_at_ejection >= before[victim] as f64, "{upstream} not counted");
    assert_eq!(sample(&m, &upstream), upstream_at_ejection, "{upstream} grew after the ejection");
    assert!(stats.failed(Kind::List).is_empty(), "tools/list failed: {:?}", stats.failed(Kind::List));
}
