//! Micro-benchmarks of what the resilience stages add to every request: the
//! balancer's pick, the retry budget's deposit, the copy kept for a retry,
//! and the live table's load accounting.
//!
//! Run: `cargo bench --bench resilience`.

use std::hint::black_box;
use std::sync::Arc;

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use http::Request;
use http_body_util::Full;
use switchyard::backend::Backend;
use switchyard::backend::{Tried, UpstreamRequest};
use switchyard::balance::Balancer;
use switchyard::config;
use switchyard::retry::budget::Budget;
use switchyard::stack::Stack;

/// A backend, its balancer (P2C, the default) and its stack.
fn backend(instances: usize) -> (Arc<Backend>, Balancer, Stack) {
    let cfg = config::Backend {
        instances: (0..instances)
            .map(|i| config::Instance {
                url: config::InstanceUrl(format!("http://10.0.0.{i}:3001/mcp").parse().unwrap()),
                weight: 1,
            })
            .collect(),
        ..Default::default()
    };
    let b = Arc::new(Backend::build(&cfg).unwrap());
    (b.clone(), Balancer::new(cfg.balance, instances), switchyard::stack::build(b, &cfg))
}

fn request() -> Request<Full<Bytes>> {
    let mut req = Request::new(Full::new(Bytes::from_static(br#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#)));
    for (k, v) in [
        ("content-type", "application/json"),
        ("accept", "application/json, text/event-stream"),
        ("mcp-protocol-version", "2026-07-28"),
        ("mcp-method", "tools/list"),
        ("x-forwarded-for", "127.0.0.1"),
        ("x-forwarded-proto", "http"),
        ("x-request-id", "0123456789abcdef0123456789abcdef"),
        ("user-agent", "bench/1.0"),
    ] {
        req.headers_mut().insert(k, v.parse().unwrap());
    }
    req
}

fn resilience(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    let _guard = rt.enter();
    let mut g = c.benchmark_group("resilience");
    for n in [3, 10] {
        let (b, balancer, _) = backend(n);
        g.bench_function(format!("pick_{n}_instances"), |bench| {
            bench.iter(|| balancer.pick(black_box(&b.instances), None).map(|p| p.instance.index))
        });
    }
    let (b, balancer, stack) = backend(3);
    let tried = Tried::default();
    tried.record(0);
    g.bench_function("pick_3_instances_avoiding_one", |bench| {
        bench.iter(|| balancer.pick(black_box(&b.instances), Some(&tried)).map(|p| p.instance.index))
    });
    let budget = Budget::new(20, 10);
    g.bench_function("budget_deposit", |bench| bench.iter(|| budget.deposit()));
    let req = UpstreamRequest::new(request(), None, stack.policy("tools/list", None, true));
    g.bench_function("clone_for_retry", |bench| bench.iter(|| black_box(&req).clone_for_retry()));
    g.bench_function("tried_alloc", |bench| bench.iter(|| Arc::new(Tried::default())));
    let record = b.instances[0].record.clone();
    g.bench_function("load_start_and_finish", |bench| bench.iter(|| drop(record.start())));
    g.finish();
}

criterion_group!(benches, resilience);
criterion_main!(benches);
