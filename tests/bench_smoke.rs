//! Smoke tests of `switchyard bench`: the library runner against the built-in
//! mock (every mix, both eras, HTTP/1.1 and h2c, open loop, through the
//! gateway), error counting by kind, and the real binary's `--json` file.

mod common;

use std::time::Duration;

use common::*;
use switchyard::bench::{self, BenchError, Era, Mix, Options, Report};
use switchyard::mock::MockOptions;

/// Runs the bench with a deadline and returns its report.
async fn bench_ok(opts: &Options) -> Report {
    tokio::time::timeout(DEADLINE, bench::run(opts)).await.expect("bench timed out").expect("bench failed")
}

fn opts(url: &str, mix: &str, era: Era, requests: u64) -> Options {
    Options {
        mix: mix.parse::<Mix>().unwrap(),
        era,
        concurrency: 4,
        requests: Some(requests),
        timeout: Duration::from_secs(5),
        ..Options::new(url)
    }
}

/// Requests counted, percentiles in order, a positive rate.
fn assert_well_formed(r: &Report, requests: u64) {
    assert_eq!(r.requests, requests, "{r}");
    let l = &r.latency_us;
    assert!(l.p50 > 0, "{r}");
    assert!(l.p50 <= l.p90 && l.p90 <= l.p99 && l.p99 <= l.p999 && l.p999 <= l.max, "{l:?}");
    assert!(l.min <= l.p50 && l.mean > 0.0, "{l:?}");
    assert!(r.rps > 0.0 && r.duration_s > 0.0, "{r}");
    assert_eq!(r.errors, r.errors_by_kind.values().sum::<u64>());
}

fn assert_clean(r: &Report, requests: u64) {
    assert_well_formed(r, requests);
    assert_eq!(r.errors, 0, "{r}");
}

#[tokio::test]
async fn every_mix_in_both_eras_runs_clean() {
    let backend = mock(MockOptions::default()).await;
    let url = backend.url("/mcp");
    for era in [Era::Session, Era::Stateless] {
        for mix in ["call", "list", "read", "churn", "call=8,list=1,read=1,churn=1"] {
            let r = bench_ok(&opts(&url, mix, era, 300)).await;
            assert_clean(&r, 300);
            assert_eq!((r.mix.as_str(), r.era.as_str(), r.concurrency), (mix, era.name(), 4));
        }
    }
    backend.stop().await;
}

#[tokio::test]
async fn json_only_backend_and_h2_and_warmup() {
    let backend = mock(MockOptions { json_only: true, ..Default::default() }).await;
    let url = backend.url("/mcp");
    for era in [Era::Session, Era::Stateless] {
        let r = bench_ok(&Options { h2: true, connections: 2, ..opts(&url, "call=1,read=1", era, 300) }).await;
        assert_clean(&r, 300);
        assert!(r.h2);
    }
    let warm = Options { warmup: Duration::from_millis(100), ..opts(&url, "list", Era::Session, 200) };
    let r = bench_ok(&warm).await;
    assert_clean(&r, 200);
    assert!(r.warmup_requests > 0, "{r}");
    backend.stop().await;
}

#[tokio::test]
async fn open_loop_keeps_to_the_rate() {
    let backend = mock(MockOptions::default()).await;
    let r = bench_ok(&Options { rate: Some(2000.0), ..opts(&backend.url("/mcp"), "call", Era::Stateless, 200) }).await;
    assert_clean(&r, 200);
    // 200 requests on a 0.5 ms grid take about 100 ms: never much faster.
    assert!(r.rps < 2600.0, "{r}");
    assert_eq!(r.rate, Some(2000.0));
    backend.stop().await;
}

#[tokio::test]
async fn jsonrpc_errors_are_counted_by_code() {
    let backend = mock(MockOptions::default()).await;
    let url = backend.url("/mcp");
    for era in [Era::Session, Era::Stateless] {
        let fail = Options { tool: "fail".into(), args: r#"{"code":-32099}"#.into(), ..opts(&url, "call", era, 200) };
        let r = bench_ok(&fail).await;
        assert_well_formed(&r, 200);
        assert_eq!(r.errors, 200, "{r}");
        assert_eq!(r.errors_by_kind.get("jsonrpc_-32099"), Some(&200), "{r}");
    }
    // Half the requests read a resource that does not exist.
    let half = Options { uri: "mock://nope".into(), ..opts(&url, "call=1,read=1", Era::Session, 400) };
    let r = bench_ok(&half).await;
    assert!(r.errors > 100 && r.errors < 300, "{r}");
    backend.stop().await;
}

#[tokio::test]
async fn setup_failures_abort_the_run() {
    let backend = mock(MockOptions::default()).await;
    let wrong_path = opts(&backend.url("/elsewhere"), "call", Era::Session, 10);
    let err = tokio::time::timeout(DEADLINE, bench::run(&wrong_path)).await.unwrap().unwrap_err();
    assert!(matches!(&err, BenchError::Setup(m) if m.contains("404")), "{err}");
    let https = opts("https://127.0.0.1:1/mcp", "call", Era::Session, 10);
    assert!(matches!(bench::run(&https).await, Err(BenchError::Url(_))));
    // A listener that never answers: connecting works, initialize times out.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", silent.local_addr().unwrap());
    let hang = Options { timeout: Duration::from_millis(200), ..opts(&url, "call", Era::Session, 10) };
    let err = tokio::time::timeout(DEADLINE, bench::run(&hang)).await.unwrap().unwrap_err();
    assert!(matches!(&err, BenchError::Setup(m) if m.contains("no answer")), "{err}");
    backend.stop().await;
}

#[tokio::test]
async fn runs_through_the_gateway_in_both_eras() {
    let backend = mock(MockOptions::default()).await;
    let gw = gateway(parse(&config_for(&[("/mcp", &backend.url("/mcp"))], ""))).await;
    for era in [Era::Session, Era::Stateless] {
        let r = bench_ok(&opts(&gw.url("/mcp"), "call=8,list=1,read=1,churn=1", era, 300)).await;
        assert_clean(&r, 300);
    }
    gw.stop().await;
    backend.stop().await;
}

#[tokio::test]
async fn the_binary_writes_the_json_report() {
    let backend = mock(MockOptions::default()).await;
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    let file = dir.join(format!("bench-smoke-{}.json", std::process::id()));
    let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["bench", &backend.url("/mcp"), "--requests", "200", "--quiet", "--json"])
        .arg(&file)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(DEADLINE, run).await.expect("bench binary timed out").unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("p99.9"), "{stdout}");
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    let _ = std::fs::remove_file(&file);
    for key in ["requests", "errors", "rps", "latency_us", "errors_by_kind", "duration_s", "concurrency", "mix", "era"]
    {
        assert!(json.get(key).is_some(), "missing {key} in {json}");
    }
    for key in ["p50", "p90", "p99", "p999", "max"] {
        assert!(json["latency_us"][key].as_u64().is_some(), "missing latency_us.{key} in {json}");
    }
    assert_eq!(json["requests"], 200);
    assert_eq!(json["errors"], 0);
    assert_eq!((json["mix"].as_str(), json["era"].as_str()), (Some("call"), Some("session")));
    backend.stop().await;
}
